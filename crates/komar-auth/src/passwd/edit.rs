//! Rewriting an existing password file the way `mosquitto_passwd` does
//! (`pwfile_iterate` and its callbacks): every line must be
//! `username:password` (after `strtok` on `:` and trimming, both non-empty —
//! so comments and blank lines count as corrupt), untouched lines are copied
//! byte for byte, and the named user's lines are replaced or dropped.
//!
//! Differences from `mosquitto_passwd` 2.0.11, all on its error paths:
//! a last line without a newline gets one before a new line is appended
//! (2.0.11 glues the two lines together); adding a user to a file with a
//! corrupt line fails instead of writing the lines before it plus the new
//! user; converting (`-U`) an empty file succeeds instead of exiting 1
//! silently.

use super::io::PasswdIo;
use crate::ctext;
use crate::hash::HashKind;

/// One line of the file, split as `mosquitto_passwd` splits it.
struct Entry<'a> {
    /// The whole line including its `\n` (absent on a last line without one).
    raw: &'a [u8],
    user: &'a [u8],
    password: &'a [u8],
}

/// Call `each` for every line; stop at the first corrupt line with
/// "Error: Corrupt password file at line N." and exit code 1.
fn each_line<'a>(
    content: &'a [u8],
    io: &mut dyn PasswdIo,
    mut each: impl FnMut(&Entry<'a>, &mut dyn PasswdIo) -> Result<(), i32>,
) -> Result<(), i32> {
    for (index, raw) in content.split_inclusive(|&b| b == b'\n').enumerate() {
        let mut fields = ctext::tokens_bytes(raw, b':');
        let (user, password) = match (fields.next(), fields.next()) {
            (Some(u), Some(p)) => (ctext::trim_bytes(u), ctext::trim_bytes(p)),
            _ => (&b""[..], &b""[..]),
        };
        if user.is_empty() || password.is_empty() {
            let _ = writeln!(
                io.stderr(),
                "Error: Corrupt password file at line {}.",
                index + 1
            );
            return Err(1);
        }
        each(
            &Entry {
                raw,
                user,
                password,
            },
            io,
        )?;
    }
    Ok(())
}

/// Append a line, ending it with `\n` if it had none.
fn push_line(out: &mut Vec<u8>, raw: &[u8]) {
    out.extend_from_slice(raw);
    if !raw.ends_with(b"\n") {
        out.push(b'\n');
    }
}

/// `output_new_password`: `user:<hash>\n`.
pub(super) fn new_line(
    out: &mut Vec<u8>,
    user: &[u8],
    password: &[u8],
    kind: HashKind,
    io: &mut dyn PasswdIo,
) -> Result<(), i32> {
    match crate::hash::hash_password(password, kind) {
        Ok(field) => {
            out.extend_from_slice(user);
            out.push(b':');
            out.extend_from_slice(field.as_bytes());
            out.push(b'\n');
            Ok(())
        }
        Err(_) => {
            let _ = writeln!(io.stderr(), "Error: Unable to hash password.");
            Err(1)
        }
    }
}

/// `-D`: drop every line of `user`.
pub(super) fn delete_user(
    content: &[u8],
    user: &str,
    io: &mut dyn PasswdIo,
) -> Result<Vec<u8>, i32> {
    let mut out = Vec::with_capacity(content.len());
    let mut found = false;
    let walked = each_line(content, io, |entry, _| {
        if entry.user == user.as_bytes() {
            found = true;
        } else {
            push_line(&mut out, entry.raw);
        }
        Ok(())
    });
    if !found {
        let _ = writeln!(
            io.stderr(),
            "Warning: User {user} not found in password file."
        );
        return Err(1);
    }
    walked.map(|()| out)
}

/// Add `user` or replace every line of it with a fresh hash of `password`.
pub(super) fn set_user(
    content: &[u8],
    user: &str,
    password: &[u8],
    kind: HashKind,
    io: &mut dyn PasswdIo,
) -> Result<Vec<u8>, i32> {
    let mut out = Vec::with_capacity(content.len() + 200);
    let mut found = false;
    each_line(content, io, |entry, io| {
        if entry.user == user.as_bytes() {
            found = true;
            new_line(&mut out, entry.user, password, kind, io)
        } else {
            push_line(&mut out, entry.raw);
            Ok(())
        }
    })?;
    if !found {
        new_line(&mut out, user.as_bytes(), password, kind, io)?;
    }
    Ok(out)
}

/// `-U`: hash every line's plain-text password. Running it twice hashes the
/// hashes, as with `mosquitto_passwd`.
pub(super) fn hash_plaintext(
    content: &[u8],
    kind: HashKind,
    io: &mut dyn PasswdIo,
) -> Result<Vec<u8>, i32> {
    let mut out = Vec::with_capacity(content.len() * 2);
    each_line(content, io, |entry, io| {
        new_line(&mut out, entry.user, entry.password, kind, io)
    })?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::passwd::MemoryIo;
    use crate::PasswordFile;

    fn kind() -> HashKind {
        HashKind::Sha512
    }

    fn text(v: &[u8]) -> String {
        String::from_utf8(v.to_vec()).unwrap()
    }

    #[test]
    fn set_replaces_or_appends() {
        let mut io = MemoryIo::default();
        let first = set_user(b"", "a", b"1", kind(), &mut io).unwrap();
        let second = set_user(&first, "b", b"2", kind(), &mut io).unwrap();
        let third = set_user(&second, "a", b"3", kind(), &mut io).unwrap();
        let (file, errors) = PasswordFile::parse(&text(&third));
        assert!(errors.is_empty());
        assert!(file.verify("a", b"3") && file.verify("b", b"2"));
        assert!(text(&third).starts_with("a:$6$"), "order kept");
        assert!(io.err.is_empty());
    }

    #[test]
    fn unterminated_last_line_gets_a_newline() {
        let mut io = MemoryIo::default();
        let out = set_user(b"x:plain", "y", b"2", kind(), &mut io).unwrap();
        assert!(text(&out).starts_with("x:plain\ny:$6$"));
    }

    #[test]
    fn corrupt_lines_are_reported() {
        for (content, line) in [
            (&b"# comment\n"[..], 1),
            (b"a:b\n\n", 2),
            (b"a:b\nnocolon\n", 2),
            (b"a:b\n :x\n", 2),
            (b"a:b\nx:  \n", 2),
        ] {
            let mut io = MemoryIo::default();
            assert_eq!(set_user(content, "z", b"p", kind(), &mut io), Err(1));
            assert_eq!(
                io.err_text(),
                format!("Error: Corrupt password file at line {line}.\n")
            );
        }
    }

    #[test]
    fn delete_reports_missing_user() {
        let mut io = MemoryIo::default();
        assert_eq!(delete_user(b"a:b\n", "c", &mut io), Err(1));
        assert_eq!(
            io.err_text(),
            "Warning: User c not found in password file.\n"
        );
        let mut io = MemoryIo::default();
        assert_eq!(
            delete_user(b"a:b\nc:d\na:e\n", "a", &mut io).unwrap(),
            b"c:d\n"
        );
    }

    #[test]
    fn plaintext_is_hashed_field_two_only() {
        let mut io = MemoryIo::default();
        let out = hash_plaintext(b"u1:pw1\nu2: pw2 :ignored\n", kind(), &mut io).unwrap();
        let (file, errors) = PasswordFile::parse(&text(&out));
        assert!(errors.is_empty());
        assert!(file.verify("u1", b"pw1") && file.verify("u2", b"pw2"));
    }
}
