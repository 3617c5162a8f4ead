//! Where `komar passwd` talks to the user: the [`PasswdIo`] trait, the
//! terminal implementation the binary uses ([`TerminalIo`]) and an in-memory
//! one for tests ([`MemoryIo`]).

use std::collections::VecDeque;
use std::io::{self, BufRead, IsTerminal, Read, Write};

/// Longest password line read (Mosquitto's `MAX_BUFFER_LEN` is 65500).
const MAX_LINE: u64 = 65_536;

/// Output streams and the password reader of `komar passwd`.
pub trait PasswdIo {
    /// Where prompts and the usage text go (Mosquitto: stdout).
    fn stdout(&mut self) -> &mut dyn Write;
    /// Where errors go (Mosquitto: stderr).
    fn stderr(&mut self) -> &mut dyn Write;
    /// Read one line of password input without echoing it. The prompt has
    /// already been written to [`PasswdIo::stdout`]. Returns the line with or
    /// without its line ending, or `None` at end of input.
    ///
    /// # Errors
    /// Any read error; `komar passwd` treats it like an empty password.
    fn read_password(&mut self) -> io::Result<Option<String>>;
}

/// The real terminal: stdout, stderr, and stdin read without echo when it
/// is a terminal (through `rpassword`), or line by line when it is a pipe
/// (so `printf 'pw\npw\n' | komar passwd -c file user` works, as with
/// `mosquitto_passwd`).
#[derive(Debug)]
pub struct TerminalIo {
    stdout: io::Stdout,
    stderr: io::Stderr,
}

impl TerminalIo {
    /// The process's standard streams.
    pub fn new() -> TerminalIo {
        TerminalIo {
            stdout: io::stdout(),
            stderr: io::stderr(),
        }
    }
}

impl Default for TerminalIo {
    fn default() -> TerminalIo {
        TerminalIo::new()
    }
}

impl PasswdIo for TerminalIo {
    fn stdout(&mut self) -> &mut dyn Write {
        &mut self.stdout
    }

    fn stderr(&mut self) -> &mut dyn Write {
        &mut self.stderr
    }

    fn read_password(&mut self) -> io::Result<Option<String>> {
        self.stdout.flush()?;
        let stdin = io::stdin();
        if stdin.is_terminal() {
            return rpassword::read_password().map(Some);
        }
        let mut line = String::new();
        let n = stdin.lock().take(MAX_LINE).read_line(&mut line)?;
        Ok((n > 0).then_some(line))
    }
}

/// In-memory [`PasswdIo`]: scripted password lines in, captured output out.
#[derive(Debug, Default, Clone)]
pub struct MemoryIo {
    /// Everything written to stdout.
    pub out: Vec<u8>,
    /// Everything written to stderr.
    pub err: Vec<u8>,
    /// Lines handed out by `read_password`, front first; empty = end of input.
    pub input: VecDeque<String>,
}

impl MemoryIo {
    /// An io whose password reads return `lines` in order.
    pub fn with_input<I, S>(lines: I) -> MemoryIo
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        MemoryIo {
            input: lines.into_iter().map(Into::into).collect(),
            ..MemoryIo::default()
        }
    }

    /// stdout as text.
    pub fn out_text(&self) -> String {
        String::from_utf8_lossy(&self.out).into_owned()
    }

    /// stderr as text.
    pub fn err_text(&self) -> String {
        String::from_utf8_lossy(&self.err).into_owned()
    }
}

impl PasswdIo for MemoryIo {
    fn stdout(&mut self) -> &mut dyn Write {
        &mut self.out
    }

    fn stderr(&mut self) -> &mut dyn Write {
        &mut self.err
    }

    fn read_password(&mut self) -> io::Result<Option<String>> {
        Ok(self.input.pop_front())
    }
}
