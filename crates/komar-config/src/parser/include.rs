//! `include_dir`: which files of the directory are loaded and in which
//! order (Mosquitto's `config__get_dir_files` and `scmp_p`), and reading
//! them with a fresh per-file context.

use std::cmp::Ordering;
use std::path::{Path, PathBuf};

use super::args::{err, Args, OptResult};
use super::{FileCtx, Parser};
use crate::error::Location;
use crate::lexer;

impl Parser<'_> {
    /// `include_dir <dir>`: load `*.conf` from `dir` in Mosquitto's order.
    pub(super) fn include_dir(
        &mut self,
        a: &mut Args<'_>,
        ctx: &FileCtx,
        loc: &Location,
    ) -> OptResult {
        if !ctx.main {
            return Err(err(
                "'include_dir' is only allowed in the main configuration file \
                 (Mosquitto 2.0 silently ignores it in included files, 2.1 rejects it)",
            ));
        }
        let dir = a
            .raw_rest()
            .map(|s| s.trim_matches(lexer::is_c_space))
            .filter(|s| !s.is_empty())
            .ok_or_else(|| err("'include_dir' needs a directory"))?;
        let entries = self
            .loader
            .list_dir(Path::new(dir))
            .map_err(|e| err(format!("cannot open include_dir '{dir}': {e}")))?;
        let mut files: Vec<PathBuf> = entries.into_iter().filter(|p| is_conf_file(p)).collect();
        files.sort_by(|x, y| mosquitto_path_cmp(x, y));
        for file in files {
            if self.stopped {
                break;
            }
            match self.loader.read(&file) {
                Ok(text) => {
                    self.cfg.files.push(file.clone());
                    let mut sub = FileCtx::new(file, false);
                    self.parse_text(&text, &mut sub);
                }
                Err(e) => self.error(
                    loc,
                    format!("cannot read included config file '{}': {e}", file.display()),
                ),
            }
        }
        Ok(())
    }
}

/// Mosquitto loads `include_dir` entries whose name is longer than five
/// bytes and ends in `.conf`.
fn is_conf_file(path: &Path) -> bool {
    path.file_name()
        .map(|n| n.to_string_lossy())
        .is_some_and(|n| n.len() > 5 && n.ends_with(".conf"))
}

/// Mosquitto's `scmp_p`: compare case-insensitively first, then by case,
/// so `B.conf` < `a.conf` < `b.conf` (upper case before lower case of the
/// same letter). Bytes are compared as C `char` (signed, as on x86).
fn mosquitto_path_cmp(a: &Path, b: &Path) -> Ordering {
    let a = a.to_string_lossy();
    let b = b.to_string_lossy();
    mosquitto_cmp(a.as_bytes(), b.as_bytes())
}

pub(crate) fn mosquitto_cmp(a: &[u8], b: &[u8]) -> Ordering {
    let signed = |c: u8| i16::from(i8::from_ne_bytes([c]));
    for (&x, &y) in a.iter().zip(b) {
        let ux = signed(x.to_ascii_uppercase());
        let uy = signed(y.to_ascii_uppercase());
        if ux != uy {
            return ux.cmp(&uy);
        }
        if x != y {
            return signed(x).cmp(&signed(y));
        }
    }
    a.len().cmp(&b.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn include_order_is_case_insensitive_then_upper_first() {
        let mut names = vec![
            "b.conf", "a.conf", "B.conf", "A.conf", "_x.conf", "10.conf", "9.conf",
        ];
        names.sort_by(|x, y| mosquitto_cmp(x.as_bytes(), y.as_bytes()));
        assert_eq!(
            names,
            vec!["10.conf", "9.conf", "A.conf", "a.conf", "B.conf", "b.conf", "_x.conf"]
        );
    }

    #[test]
    fn conf_file_filter() {
        assert!(is_conf_file(Path::new("/d/a.conf")));
        assert!(!is_conf_file(Path::new("/d/.conf")));
        assert!(!is_conf_file(Path::new("/d/a.conf~")));
        assert!(!is_conf_file(Path::new("/d/a.CONF")));
        assert!(!is_conf_file(Path::new("/d/README")));
    }
}
