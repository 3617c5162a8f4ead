//! What the connection reports to the application, in the order the
//! connection task handled it: messages, optionally every packet sent and
//! received, and finally why the connection closed.

use komar_proto::{Disconnect, Packet, Publish};
use tokio::sync::mpsc;

use crate::error::ClientError;

/// One report from the connection task.
#[derive(Debug)]
pub enum Event {
    /// An application message from the broker. Its topic is always the
    /// full topic: a 5.0 topic alias has been resolved (the alias property
    /// is kept).
    Message(Publish),
    /// A packet was queued for the socket (only with `trace_packets`).
    Sent(Packet),
    /// A packet arrived (only with `trace_packets`).
    Received(Packet),
    /// The connection is closed; always the last event.
    Closed(CloseReason),
}

/// Why a connection closed.
#[derive(Debug)]
pub enum CloseReason {
    /// This client disconnected: [`crate::Client::disconnect`] or every
    /// client handle was dropped.
    Local,
    /// The broker sent DISCONNECT (5.0).
    Server(Disconnect),
    /// The connection failed.
    Error(ClientError),
}

/// The stream of [`Event`]s of one connection.
#[derive(Debug)]
pub struct Events {
    pub(crate) rx: mpsc::Receiver<Event>,
}

impl Events {
    /// The next event; `None` once [`Event::Closed`] has been received.
    pub async fn recv(&mut self) -> Option<Event> {
        self.rx.recv().await
    }

    /// The next event if one is ready.
    pub fn try_recv(&mut self) -> Option<Event> {
        self.rx.try_recv().ok()
    }

    /// The next application message, skipping traced packets; `Err` with
    /// the close reason when the connection ends first.
    ///
    /// # Errors
    /// The connection closed; the reason says how.
    pub async fn next_message(&mut self) -> Result<Publish, CloseReason> {
        loop {
            match self.rx.recv().await {
                Some(Event::Message(p)) => return Ok(p),
                Some(Event::Closed(r)) => return Err(r),
                Some(_) => {}
                None => return Err(CloseReason::Local),
            }
        }
    }
}
