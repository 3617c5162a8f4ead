//! The tools' standard streams: where output and errors go (the real
//! stdio, or buffers in tests), with mosquitto's two kinds of error
//! printing — always (`fprintf(stderr)`) and unless `--quiet`
//! (`err_printf`).

use std::io::{Read, Write};

/// The streams a tool runs with.
pub struct ToolIo {
    /// Messages and debug output.
    pub stdout: Box<dyn Write + Send>,
    /// Errors.
    pub stderr: Box<dyn Write + Send>,
    /// Input for `-s` and `-l`.
    pub stdin: Box<dyn Read + Send>,
    /// End on SIGINT / SIGTERM as mosquitto's tools do (off in tests).
    pub handle_signals: bool,
}

impl std::fmt::Debug for ToolIo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ToolIo")
            .field("handle_signals", &self.handle_signals)
            .finish_non_exhaustive()
    }
}

impl ToolIo {
    /// The process's own stdin, stdout and stderr, with signal handling.
    pub fn std() -> ToolIo {
        ToolIo {
            stdout: Box::new(std::io::stdout()),
            stderr: Box::new(std::io::stderr()),
            stdin: Box::new(std::io::stdin()),
            handle_signals: true,
        }
    }
}

/// Output side of a running tool.
pub(crate) struct Term {
    out: std::io::BufWriter<Box<dyn Write + Send>>,
    err: Box<dyn Write + Send>,
    pub(crate) quiet: bool,
    /// A write to stdout failed (mosquitto_sub then disconnects).
    pub(crate) out_failed: bool,
}

impl Term {
    pub(crate) fn new(stdout: Box<dyn Write + Send>, stderr: Box<dyn Write + Send>) -> Term {
        Term {
            out: std::io::BufWriter::new(stdout),
            err: stderr,
            quiet: false,
            out_failed: false,
        }
    }

    /// Write to stdout (buffered until [`Term::flush`]).
    pub(crate) fn out(&mut self, b: &[u8]) {
        if self.out.write_all(b).is_err() {
            self.out_failed = true;
        }
    }

    pub(crate) fn flush(&mut self) {
        if self.out.flush().is_err() {
            self.out_failed = true;
        }
    }

    /// `fprintf(stderr, ...)`: printed even with `--quiet`.
    pub(crate) fn eprint(&mut self, s: &str) {
        self.flush();
        let _ = self.err.write_all(s.as_bytes());
        let _ = self.err.flush();
    }

    /// `err_printf`: suppressed by `--quiet`.
    pub(crate) fn err(&mut self, s: &str) {
        if !self.quiet {
            self.eprint(s);
        }
    }

    /// Raw error bytes (already filtered for quiet by the producer).
    pub(crate) fn err_bytes(&mut self, b: &[u8]) {
        if !b.is_empty() {
            self.flush();
            let _ = self.err.write_all(b);
            let _ = self.err.flush();
        }
    }

    /// A stderr writer for the option parser.
    pub(crate) fn err_writer(&mut self) -> &mut dyn Write {
        &mut self.err
    }
}
