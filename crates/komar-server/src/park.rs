//! The parking lot: idle connections wait here without a task.
//!
//! An idle client costs what its connection holds while it waits. As a
//! tokio task that is the task cell (384 bytes, 128-byte aligned), the
//! reactor's `ScheduledIo` for its socket (256 bytes, cache-padded) and
//! the `Arc` of the split socket (48 bytes): about 700 bytes per client on
//! top of its session and connection state. A connection with nothing to
//! do (no partial packet read, nothing to write, no answer waiting for the
//! store, nobody congested) instead leaves its task: its socket leaves the
//! tokio reactor and joins this lot's own epoll set, its session's wakers
//! (the outbox waker and the keep-alive alarm) become the lot entry, and
//! the task ends. The first of these to fire — bytes or end of stream on
//! the socket, a message queued for it, a take-over, a kick, the
//! keep-alive alarm, shutdown — takes the connection out and spawns a new
//! task that serves it where it left off. A parked connection costs its
//! entry here (about 80 bytes) and a slot in the token table.
//!
//! Parking has a price per wake (two `epoll_ctl` calls and a task spawn),
//! so a connection that keeps coming back quickly stops parking: after
//! [`QUICK_LIMIT`] wakes in a row within [`QUICK`] of parking it stays
//! in its task, and parks again only once its keep-alive alarm finds it
//! idle.
//!
//! Only plain TCP and Unix-socket connections park ([`Park`]): a TLS or
//! WebSocket connection keeps state in its transport that the lot does not
//! hold.
//!
//! Locking: the token table's mutex and each entry's mutex are leaves —
//! nothing else is locked while either is held — so waking an entry is
//! safe from any context, including under a session lock.

use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Wake, Waker};
use std::time::Duration;

use komar_core::Connection;
use mio::unix::SourceFd;
use mio::{Events, Interest, Token};
use parking_lot::Mutex;

use crate::listener::Slot;

/// A wake this soon after parking counts as quick.
pub(crate) const QUICK: Duration = Duration::from_millis(100);
/// Quick wakes in a row after which a connection stops parking.
pub(crate) const QUICK_LIMIT: u8 = 2;
/// The token of the lot's own waker (stop).
const STOP: Token = Token(usize::MAX);

/// A socket out of the tokio reactor.
#[derive(Debug)]
pub(crate) enum ParkedSocket {
    Tcp(std::net::TcpStream),
    Unix(std::os::unix::net::UnixStream),
}

impl ParkedSocket {
    pub fn fd(&self) -> RawFd {
        match self {
            ParkedSocket::Tcp(s) => s.as_raw_fd(),
            ParkedSocket::Unix(s) => s.as_raw_fd(),
        }
    }

    /// Whether a read would not wait: bytes, end of stream or an error
    /// are there. A socket back in the reactor is not readable for it
    /// until the reactor reports so, so a resumed connection must not
    /// take its first `Pending` read for idleness while this holds.
    pub fn has_input(&self) -> bool {
        let mut byte = [std::mem::MaybeUninit::uninit()];
        let peeked = match self {
            ParkedSocket::Tcp(s) => socket2::SockRef::from(s).peek(&mut byte),
            ParkedSocket::Unix(s) => socket2::SockRef::from(s).peek(&mut byte),
        };
        !matches!(peeked, Err(e) if e.kind() == io::ErrorKind::WouldBlock)
    }
}

/// A transport (read half `Self`, write half `W`) whose connections may
/// park. The default keeps every connection in its task.
pub(crate) trait Park<W>: Sized {
    /// Whether connections on this transport park.
    const PARKS: bool = false;
    /// The socket's descriptor (the lot's token for it). Called only when
    /// [`Park::PARKS`].
    fn socket_fd(&self) -> RawFd {
        -1
    }
    /// Take the socket out of the reactor (`None`: it could not leave and
    /// is closed). Called only when [`Park::PARKS`].
    fn park(self, _writer: W) -> Option<ParkedSocket> {
        None
    }
}

macro_rules! parks {
    ($read:ty, $write:ty, $variant:ident) => {
        impl Park<$write> for $read {
            const PARKS: bool = true;
            fn socket_fd(&self) -> RawFd {
                self.as_ref().as_raw_fd()
            }
            fn park(self, writer: $write) -> Option<ParkedSocket> {
                let s = self.reunite(writer).ok()?;
                s.into_std().ok().map(ParkedSocket::$variant)
            }
        }
    };
}

parks!(
    tokio::net::tcp::OwnedReadHalf,
    tokio::net::tcp::OwnedWriteHalf,
    Tcp
);
parks!(
    tokio::net::unix::OwnedReadHalf,
    tokio::net::unix::OwnedWriteHalf,
    Unix
);

/// A connection waiting in the lot.
pub(crate) struct Parked {
    pub conn: Box<Connection>,
    pub socket: ParkedSocket,
    pub slot: Slot,
    /// When it parked, on the broker clock (ms, wrapping: only compared
    /// with the time it wakes).
    pub at_ms: u32,
    /// Quick wakes in a row so far.
    pub quick: u8,
}

/// Where a parked connection stands.
enum State {
    /// Wakers handed out, the connection not yet in: a wake now is kept
    /// and acted on when it arrives.
    Arriving {
        woken: bool,
        fd: RawFd,
    },
    Parked(Parked),
    /// Taken out (or never parked): wakes are stale.
    Gone,
}

/// One parked connection, and the waker its session and the lot's epoll
/// set call. Its token is its socket's descriptor (unique while the
/// socket is open, and the lot lets go of it before the socket can
/// close), so the entry stores none: with the connection's slot one
/// pointer, an entry is 40 bytes, a 64-byte allocation with its `Arc`.
pub(crate) struct Entry {
    state: Mutex<State>,
}

impl Wake for Entry {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }
    fn wake_by_ref(self: &Arc<Self>) {
        let parked = {
            let mut state = self.state.lock();
            match &mut *state {
                State::Arriving { woken, .. } => {
                    *woken = true;
                    return;
                }
                State::Gone => return,
                State::Parked(_) => match std::mem::replace(&mut *state, State::Gone) {
                    State::Parked(p) => p,
                    _ => return,
                },
            }
        };
        let lot = &parked.slot.shared().lot;
        lot.leave(&parked.socket);
        let runtime = lot.runtime.clone();
        crate::driver::resume(parked, &runtime);
    }
}

/// The lot: the token table and the epoll set of parked sockets.
pub(crate) struct Lot {
    registry: mio::Registry,
    /// Taken by the thread that waits on the epoll set.
    poll: Mutex<Option<mio::Poll>>,
    waker: mio::Waker,
    /// The thread waits on the epoll set: connections may park.
    open: AtomicBool,
    stopping: AtomicBool,
    entries: Mutex<Table>,
    runtime: tokio::runtime::Handle,
}

impl std::fmt::Debug for Lot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lot")
            .field("parked", &self.entries.lock().len)
            .finish()
    }
}

/// Entries by socket descriptor.
#[derive(Default)]
struct Table {
    slots: Vec<Option<Arc<Entry>>>,
    len: usize,
}

impl Lot {
    /// A lot whose connections resume on `runtime`.
    pub fn new(runtime: tokio::runtime::Handle) -> io::Result<Arc<Lot>> {
        let poll = mio::Poll::new()?;
        let registry = poll.registry().try_clone()?;
        let waker = mio::Waker::new(&registry, STOP)?;
        Ok(Arc::new(Lot {
            registry,
            poll: Mutex::new(Some(poll)),
            waker,
            open: AtomicBool::new(false),
            stopping: AtomicBool::new(false),
            entries: Mutex::new(Table::default()),
            runtime,
        }))
    }

    /// Start the thread that wakes parked connections whose socket
    /// becomes readable (bytes, end of stream, error).
    pub fn start(self: &Arc<Self>) -> io::Result<()> {
        let Some(mut poll) = self.poll.lock().take() else {
            return Ok(());
        };
        let lot = self.clone();
        std::thread::Builder::new()
            .name("komar-lot".into())
            .stack_size(256 * 1024)
            .spawn(move || lot.run(&mut poll))?;
        self.open.store(true, Ordering::Release);
        Ok(())
    }

    /// Whether connections may park (the lot's thread runs).
    pub fn is_open(&self) -> bool {
        self.open.load(Ordering::Relaxed)
    }

    /// Stop the thread (connections still parked stay where they are).
    pub fn stop(&self) {
        self.open.store(false, Ordering::Release);
        self.stopping.store(true, Ordering::Release);
        let _ = self.waker.wake();
    }

    /// Connections parked now.
    pub fn parked(&self) -> usize {
        self.entries.lock().len
    }

    fn run(&self, poll: &mut mio::Poll) {
        let mut events = Events::with_capacity(256);
        let mut due = Vec::new();
        while !self.stopping.load(Ordering::Acquire) {
            if let Err(e) = poll.poll(&mut events, None) {
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                tracing::error!(error = %e, "parking lot: epoll failed; idle connections keep their tasks from now on");
                self.open.store(false, Ordering::Release);
                // Nothing watches the parked sockets any more: every
                // parked connection goes back to a task.
                let all: Vec<Arc<Entry>> = self
                    .entries
                    .lock()
                    .slots
                    .iter()
                    .flatten()
                    .cloned()
                    .collect();
                for entry in all {
                    entry.wake_by_ref();
                }
                return;
            }
            {
                let table = self.entries.lock();
                due.extend(
                    events
                        .iter()
                        .filter(|e| e.token() != STOP)
                        .filter_map(|e| table.slots.get(e.token().0)?.clone()),
                );
            }
            for entry in due.drain(..) {
                entry.wake_by_ref();
            }
        }
    }

    /// A new entry for the socket `fd`, arriving: its waker may be handed
    /// out before the connection is in ([`Lot::arrive`]). `None` if the
    /// descriptor has an entry already (never, while descriptors are
    /// unique: the connection then stays in its task).
    pub fn reserve(&self, fd: RawFd) -> Option<Arc<Entry>> {
        let i = usize::try_from(fd).ok()?;
        let mut table = self.entries.lock();
        if table.slots.len() <= i {
            table.slots.resize(i + 1, None);
        }
        let slot = table.slots.get_mut(i)?;
        if slot.is_some() {
            return None;
        }
        let entry = Arc::new(Entry {
            state: Mutex::new(State::Arriving { woken: false, fd }),
        });
        *slot = Some(entry.clone());
        table.len += 1;
        Some(entry)
    }

    /// Give an arriving entry up (the connection stays in its task).
    pub fn cancel(&self, entry: &Entry) {
        let state = std::mem::replace(&mut *entry.state.lock(), State::Gone);
        if let State::Arriving { fd, .. } = state {
            self.release(fd);
        }
    }

    /// Put the connection in `entry`; it wakes at once if a wake came
    /// while it was arriving. `Err` gives it back when its socket cannot
    /// join the epoll set.
    pub fn arrive(&self, entry: &Arc<Entry>, parked: Parked) -> Result<(), (Parked, io::Error)> {
        let fd = parked.socket.fd();
        // A descriptor is never negative ([`Lot::reserve`] refused it
        // already); no fallback token, which could alias `STOP`.
        let registered = usize::try_from(fd)
            .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))
            .and_then(|i| {
                self.registry
                    .register(&mut SourceFd(&fd), Token(i), Interest::READABLE)
            });
        if let Err(e) = registered {
            self.cancel(entry);
            return Err((parked, e));
        }
        let woken = {
            let mut state = entry.state.lock();
            let woken = matches!(*state, State::Arriving { woken: true, .. });
            *state = State::Parked(parked);
            woken
        };
        if woken {
            entry.wake_by_ref();
        }
        Ok(())
    }

    /// The connection on `socket` left: the socket leaves the epoll set,
    /// and its entry the table, before the socket can close.
    fn leave(&self, socket: &ParkedSocket) {
        let fd = socket.fd();
        let _ = self.registry.deregister(&mut SourceFd(&fd));
        self.release(fd);
    }

    fn release(&self, fd: RawFd) {
        let Ok(i) = usize::try_from(fd) else { return };
        let mut table = self.entries.lock();
        if let Some(slot @ Some(_)) = table.slots.get_mut(i) {
            *slot = None;
            table.len -= 1;
        }
    }
}

/// The waker of `entry`.
pub(crate) fn waker(entry: &Arc<Entry>) -> Waker {
    Waker::from(entry.clone())
}

#[cfg(test)]
mod size_tests {
    /// Every parked connection has one entry: 40 bytes, with the `Arc`
    /// counts a 64-byte malloc chunk (glibc: size + 8, rounded up to 16);
    /// one pointer for the slot and no token field keep it there.
    #[test]
    fn entry_stays_small() {
        let size = std::mem::size_of::<super::Entry>();
        assert!(size <= 40, "Entry is {size} bytes");
    }
}
