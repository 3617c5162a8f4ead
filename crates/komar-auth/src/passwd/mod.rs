//! `komar passwd`: the `mosquitto_passwd` command line as a library, so the
//! binary only supplies the terminal ([`TerminalIo`]) and the exit code.
//!
//! Flags, messages and exit codes follow Debian's `mosquitto_passwd` 2.0.11
//! (checked by running it): usage → 1 (usage on stdout), any error → 1,
//! interactive passwords that differ → 2. Additions: `-H argon2id` (as in
//! Mosquitto 2.1), `-I` also applies to `-U`, the default iteration count is
//! 1000 (2.0.11 writes 101), and files are replaced atomically (temporary
//! file + rename) instead of being rewritten in place through a backup.

mod atomic;
mod edit;
mod io;

pub use self::io::{MemoryIo, PasswdIo, TerminalIo};

use std::fs;
use std::io::Read;
use std::num::NonZeroU32;
use std::path::PathBuf;

use crate::ctext;
use crate::hash::{username_is_valid, HashKind, DEFAULT_ITERATIONS};

const USAGE: &str = "\
komar passwd is a tool for managing password files for mosquitto and komar.

Usage: komar passwd [-H sha512 | -H sha512-pbkdf2 | -H argon2id | -H scram-sha-256 | -H scram-sha-512] [-I iterations] [-c | -D] passwordfile username
       komar passwd [-H sha512 | -H sha512-pbkdf2 | -H argon2id] [-I iterations] [-c] -b passwordfile username password
       komar passwd [-H sha512 | -H sha512-pbkdf2 | -H argon2id] [-I iterations] -U passwordfile
 -b : run in batch mode to allow passing passwords on the command line.
 -c : create a new password file. This will overwrite existing files.
 -D : delete the username rather than adding/updating its password.
 -H : specify the hashing algorithm. Defaults to sha512-pbkdf2, which is recommended.
      scram-sha-256 and scram-sha-512 write SCRAM credentials for Komar's scram_file
      (MQTT 5 enhanced authentication), not password_file entries.
      Mosquitto 1.6 and earlier defaulted to sha512; argon2id needs Mosquitto 2.1.
 -I : number of sha512-pbkdf2 iterations (default 1000).
 -U : update a plain text password file to use hashed passwords.

See https://mosquitto.org/ for more information.
";

/// Longest password accepted on the command line.
const MAX_PASSWORD: usize = 65_535;

/// SCRAM credentials' default PBKDF2 iterations (RFC 7677 §4).
const SCRAM_DEFAULT_ITERATIONS: NonZeroU32 = match NonZeroU32::new(4096) {
    Some(n) => n,
    None => NonZeroU32::MIN,
};

#[derive(Clone, Copy, PartialEq, Eq)]
enum Algorithm {
    Pbkdf2,
    Sha512,
    Argon2id,
    Scram(crate::scram::Mechanism),
}

/// What the command line asked for.
struct Request<'a> {
    kind: HashKind,
    mode: Mode<'a>,
}

enum Mode<'a> {
    /// `-c`: write a file with just this user.
    Create {
        file: &'a str,
        user: &'a str,
        password: Option<&'a str>,
    },
    /// `-D`.
    Delete { file: &'a str, user: &'a str },
    /// `-U`.
    Convert { file: &'a str },
    /// Add or change one user.
    Set {
        file: &'a str,
        user: &'a str,
        password: Option<&'a str>,
    },
}

/// Run `komar passwd` with `args` (the arguments after the command name)
/// and return the process exit code: 0 on success, 1 on errors and usage,
/// 2 when the two interactive passwords differ.
pub fn passwd_main(args: &[String], io: &mut dyn PasswdIo) -> i32 {
    let result = parse_args(args, io).and_then(|request| run(request, io));
    let _ = io.stdout().flush();
    match result {
        Ok(()) => 0,
        Err(code) => code,
    }
}

fn fail(io: &mut dyn PasswdIo, message: &str) -> i32 {
    let _ = writeln!(io.stderr(), "{message}");
    1
}

fn usage(io: &mut dyn PasswdIo) -> i32 {
    let _ = write!(io.stdout(), "{USAGE}");
    1
}

fn parse_args<'a>(args: &'a [String], io: &mut dyn PasswdIo) -> Result<Request<'a>, i32> {
    if args.is_empty() {
        return Err(usage(io));
    }
    let mut algorithm = Algorithm::Pbkdf2;
    let mut iterations = DEFAULT_ITERATIONS;
    let mut iterations_given = false;
    let (mut batch, mut create, mut delete, mut convert) = (false, false, false, false);
    let mut idx = 0;
    while let Some(arg) = args.get(idx) {
        match arg.as_str() {
            "-H" => {
                let Some(value) = args.get(idx + 1) else {
                    return Err(fail(
                        io,
                        "Error: -H argument given but not enough other arguments.",
                    ));
                };
                algorithm = match value.as_str() {
                    "sha512" => Algorithm::Sha512,
                    "sha512-pbkdf2" => Algorithm::Pbkdf2,
                    "argon2id" => Algorithm::Argon2id,
                    "scram-sha-256" => Algorithm::Scram(crate::scram::Mechanism::Sha256),
                    "scram-sha-512" => Algorithm::Scram(crate::scram::Mechanism::Sha512),
                    other => return Err(fail(io, &format!("Error: Unknown hash type '{other}'"))),
                };
                idx += 1;
            }
            "-I" => {
                let Some(value) = args.get(idx + 1) else {
                    return Err(fail(
                        io,
                        "Error: -I argument given but not enough other arguments.",
                    ));
                };
                iterations = ctext::atoi(value)
                    .and_then(|n| u32::try_from(n).ok())
                    .and_then(NonZeroU32::new)
                    .ok_or_else(|| fail(io, "Error: Number of iterations must be > 0."))?;
                iterations_given = true;
                idx += 1;
            }
            "-b" => batch = true,
            "-c" => create = true,
            "-D" => delete = true,
            "-U" => convert = true,
            _ => break,
        }
        idx += 1;
    }
    for (a, b, message) in [
        (create, delete, "Error: -c and -D cannot be used together."),
        (create, convert, "Error: -c and -U cannot be used together."),
        (delete, convert, "Error: -D and -U cannot be used together."),
        (delete, batch, "Error: -b and -D cannot be used together."),
    ] {
        if a && b {
            return Err(fail(io, message));
        }
    }
    let rest: Vec<&str> = args.iter().skip(idx).map(String::as_str).collect();
    let mode =
        if create {
            match (batch, rest.as_slice()) {
                (true, [file, user, password, ..]) => Mode::Create {
                    file,
                    user,
                    password: Some(password),
                },
                (true, _) => return Err(fail(
                    io,
                    "Error: -c argument given but password file, username, or password missing.",
                )),
                (false, [file, user, ..]) => Mode::Create {
                    file,
                    user,
                    password: None,
                },
                (false, _) => {
                    return Err(fail(
                        io,
                        "Error: -c argument given but password file or username missing.",
                    ))
                }
            }
        } else if delete {
            match rest.as_slice() {
                [file, user, ..] => Mode::Delete { file, user },
                _ => {
                    return Err(fail(
                        io,
                        "Error: -D argument given but password file or username missing.",
                    ))
                }
            }
        } else if convert {
            match rest.as_slice() {
                [file] => Mode::Convert { file },
                _ => {
                    return Err(fail(
                        io,
                        "Error: -U argument given but password file missing.",
                    ))
                }
            }
        } else {
            match (batch, rest.as_slice()) {
                (true, [file, user, password]) => Mode::Set {
                    file,
                    user,
                    password: Some(password),
                },
                (false, [file, user]) => Mode::Set {
                    file,
                    user,
                    password: None,
                },
                _ => return Err(usage(io)),
            }
        };
    let kind = match algorithm {
        Algorithm::Pbkdf2 => HashKind::Sha512Pbkdf2 { iterations },
        Algorithm::Sha512 => HashKind::Sha512,
        Algorithm::Argon2id => HashKind::Argon2id,
        Algorithm::Scram(mechanism) => HashKind::Scram {
            mechanism,
            // RFC 7677 §4: at least 4096 iterations.
            iterations: if iterations_given {
                iterations
            } else {
                SCRAM_DEFAULT_ITERATIONS
            },
        },
    };
    Ok(Request { kind, mode })
}

fn run(request: Request<'_>, io: &mut dyn PasswdIo) -> Result<(), i32> {
    let (file, user, password) = match &request.mode {
        Mode::Create {
            file,
            user,
            password,
        }
        | Mode::Set {
            file,
            user,
            password,
        } => (*file, Some(*user), *password),
        Mode::Delete { file, user } => (*file, Some(*user), None),
        Mode::Convert { file } => (*file, None, None),
    };
    if let Some(user) = user {
        check_username(user, io)?;
    }
    if password.is_some_and(|p| p.len() > MAX_PASSWORD) {
        return Err(fail(
            io,
            "Error: Password must be less than 65536 characters long.",
        ));
    }
    let path = resolve(file, io)?;
    let shown = path.display().to_string();
    let kind = request.kind;

    if let Mode::Create { user, password, .. } = request.mode {
        let password = match password {
            Some(p) => p.to_owned(),
            None => ask_password(io)?,
        };
        let mut out = Vec::new();
        edit::new_line(&mut out, user.as_bytes(), password.as_bytes(), kind, io)?;
        return atomic::write_atomically(&path, &out).map_err(|e| {
            fail(
                io,
                &format!(
                    "Error: Unable to open file {shown} for writing. {}.",
                    strerror(&e)
                ),
            )
        });
    }

    // `mosquitto_passwd` opens the file read-write before anything else.
    let content = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&path)
        .and_then(|mut f| {
            let mut buf = Vec::new();
            f.read_to_end(&mut buf).map(|_| buf)
        })
        .map_err(|e| {
            fail(
                io,
                &format!(
                    "Error: Unable to open password file {shown}. {}.",
                    strerror(&e)
                ),
            )
        })?;

    let updated = match request.mode {
        Mode::Delete { user, .. } => edit::delete_user(&content, user, io)?,
        Mode::Convert { .. } => edit::hash_plaintext(&content, kind, io)?,
        Mode::Set { user, password, .. } => {
            let password = match password {
                Some(p) => p.to_owned(),
                None => ask_password(io)?,
            };
            edit::set_user(&content, user, password.as_bytes(), kind, io)?
        }
        Mode::Create { .. } => return Ok(()),
    };
    atomic::write_atomically(&path, &updated).map_err(|e| {
        let _ = writeln!(io.stderr(), "Error occurred updating password file.");
        fail(
            io,
            &format!(
                "Error: Unable to replace {shown}: {}. The file is unchanged.",
                strerror(&e)
            ),
        )
    })
}

fn check_username(user: &str, io: &mut dyn PasswdIo) -> Result<(), i32> {
    if username_is_valid(user.as_bytes()) {
        return Ok(());
    }
    let message = if user.len() > 65_535 {
        "Error: Username must be less than 65536 characters long."
    } else if user.contains(':') && !user.bytes().any(|b| b.is_ascii_control()) {
        "Error: Username must not contain the ':' character."
    } else {
        "Error: Username must not contain control characters."
    };
    Err(fail(io, message))
}

/// `realpath`, or the name as given when it does not exist yet.
fn resolve(file: &str, io: &mut dyn PasswdIo) -> Result<PathBuf, i32> {
    match fs::canonicalize(file) {
        Ok(p) => Ok(p),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(PathBuf::from(file)),
        Err(e) => Err(fail(
            io,
            &format!("Error reading password file: {}", strerror(&e)),
        )),
    }
}

/// `get_password("Password: ", "Reenter password: ")`.
fn ask_password(io: &mut dyn PasswdIo) -> Result<String, i32> {
    let first = prompt(io, "Password: ")?;
    let second = prompt(io, "Reenter password: ")?;
    if first != second {
        let _ = writeln!(io.stderr(), "Error: Passwords do not match.");
        return Err(2);
    }
    Ok(first)
}

fn prompt(io: &mut dyn PasswdIo, text: &str) -> Result<String, i32> {
    let _ = write!(io.stdout(), "{text}");
    let _ = io.stdout().flush();
    let line = io.read_password().ok().flatten().unwrap_or_default();
    let password = line.trim_end_matches(['\n', '\r']);
    if password.is_empty() {
        let _ = io.stdout().flush();
        return Err(fail(io, "Error: Empty password."));
    }
    let _ = writeln!(io.stdout());
    Ok(password.to_owned())
}

/// The C library's wording for an I/O error, without Rust's "(os error N)".
fn strerror(e: &std::io::Error) -> String {
    let text = e.to_string();
    match text.find(" (os error ") {
        Some(cut) => text.get(..cut).unwrap_or(&text).to_owned(),
        None => text,
    }
}

#[cfg(test)]
mod tests;
