//! Problems found while reading a configuration: fatal errors and the
//! notices Mosquitto would log (warnings). Both carry the file and line they
//! refer to and display as `file:line: message`.
//!
//! Line 0 means "the file as a whole" (for example a main file that cannot
//! be read).

use std::fmt;
use std::path::{Path, PathBuf};

/// Where something was written: a file and a 1-based line number.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Location {
    /// The file, as it was named (main file path or include_dir entry).
    pub file: PathBuf,
    /// 1-based line number; 0 for the file as a whole.
    pub line: usize,
}

impl Location {
    /// A location in `file` at `line`.
    #[must_use]
    pub fn new(file: impl Into<PathBuf>, line: usize) -> Self {
        Self {
            file: file.into(),
            line,
        }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.file.display(), self.line)
    }
}

/// One fatal problem: the configuration cannot be used as written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}:{}: {}", file.display(), line, message)]
pub struct ConfigError {
    /// File the problem is in.
    pub file: PathBuf,
    /// 1-based line; 0 when the problem concerns the whole file.
    pub line: usize,
    /// What was wrong and what was expected.
    pub message: String,
}

impl ConfigError {
    /// An error at `loc`.
    #[must_use]
    pub fn at(loc: &Location, message: impl Into<String>) -> Self {
        Self {
            file: loc.file.clone(),
            line: loc.line,
            message: message.into(),
        }
    }

    /// The location of this error.
    #[must_use]
    pub fn location(&self) -> Location {
        Location::new(self.file.clone(), self.line)
    }
}

/// A notice that does not stop the broker: a deprecated option, a value
/// Mosquitto silently clamps, text it ignores. The broker decides whether
/// and how to log these.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigWarning {
    /// File the notice is about.
    pub file: PathBuf,
    /// 1-based line.
    pub line: usize,
    /// What Mosquitto (and Komar) does with the value.
    pub message: String,
}

impl fmt::Display for ConfigWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.file.display(), self.line, self.message)
    }
}

/// Every error found in a configuration (parsing does not stop at the first
/// one). Never empty when returned as an `Err`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConfigErrors {
    /// The errors in the order they were found (file order, then line).
    pub errors: Vec<ConfigError>,
}

impl ConfigErrors {
    /// A list holding one error about `file` as a whole or at `line`.
    #[must_use]
    pub fn single(file: &Path, line: usize, message: impl Into<String>) -> Self {
        Self {
            errors: vec![ConfigError {
                file: file.to_path_buf(),
                line,
                message: message.into(),
            }],
        }
    }

    /// Number of errors.
    #[must_use]
    pub fn len(&self) -> usize {
        self.errors.len()
    }

    /// True when there is no error (never the case for a returned `Err`).
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.errors.is_empty()
    }

    /// Iterate over the errors.
    pub fn iter(&self) -> std::slice::Iter<'_, ConfigError> {
        self.errors.iter()
    }
}

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.errors.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl<'a> IntoIterator for &'a ConfigErrors {
    type Item = &'a ConfigError;
    type IntoIter = std::slice::Iter<'a, ConfigError>;
    fn into_iter(self) -> Self::IntoIter {
        self.errors.iter()
    }
}

/// A value that could not be turned into what an option expects. Its
/// message names the option and the accepted forms.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ValueError(pub String);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn displays_file_line_message() {
        let e = ConfigError {
            file: "/etc/mosquitto/mosquitto.conf".into(),
            line: 7,
            message: "unknown option 'x'".into(),
        };
        assert_eq!(
            e.to_string(),
            "/etc/mosquitto/mosquitto.conf:7: unknown option 'x'"
        );
        let all = ConfigErrors {
            errors: vec![e.clone(), e],
        };
        assert_eq!(all.to_string().lines().count(), 2);
    }
}
