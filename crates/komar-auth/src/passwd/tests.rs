//! `passwd_main` against the behaviour of `mosquitto_passwd` 2.0.11 as
//! observed by running it (messages, exit codes, file contents).

use super::*;
use crate::PasswordFile;
use std::path::Path;

struct Dir(PathBuf);

impl Dir {
    fn new(tag: &str) -> Dir {
        let mut salt = [0u8; 8];
        getrandom::fill(&mut salt).unwrap();
        let path = std::env::temp_dir().join(format!(
            "komar-passwd-{tag}-{}-{}",
            std::process::id(),
            u64::from_le_bytes(salt)
        ));
        fs::create_dir_all(&path).unwrap();
        Dir(path)
    }

    fn file(&self, name: &str) -> String {
        self.0.join(name).to_string_lossy().into_owned()
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn run(args: &[&str], io: &mut MemoryIo) -> i32 {
    let args: Vec<String> = args.iter().map(|s| (*s).to_owned()).collect();
    passwd_main(&args, io)
}

fn run_batch(args: &[&str]) -> (i32, MemoryIo) {
    let mut io = MemoryIo::default();
    let code = run(args, &mut io);
    (code, io)
}

fn load(path: &str) -> PasswordFile {
    let text = fs::read_to_string(path).unwrap();
    let (file, errors) = PasswordFile::parse(&text);
    assert!(errors.is_empty(), "{errors:?}");
    file
}

#[test]
fn create_then_add_update_delete() {
    let d = Dir::new("cycle");
    let f = d.file("pw");
    assert_eq!(run_batch(&["-c", "-b", &f, "alice", "a1"]).0, 0);
    assert_eq!(run_batch(&["-b", &f, "bob", "b1"]).0, 0);
    assert_eq!(run_batch(&["-H", "sha512", "-b", &f, "alice", "a2"]).0, 0);
    let file = load(&f);
    assert!(file.verify("alice", b"a2") && !file.verify("alice", b"a1"));
    assert!(file.verify("bob", b"b1"));
    assert_eq!(file.get("alice").unwrap().kind(), HashKind::Sha512);
    assert_eq!(run_batch(&["-D", &f, "alice"]).0, 0);
    let file = load(&f);
    assert!(!file.has_user("alice") && file.has_user("bob"));
}

#[test]
fn line_format_is_mosquittos() {
    let d = Dir::new("format");
    let f = d.file("pw");
    assert_eq!(run_batch(&["-c", "-b", &f, "u", "p"]).0, 0);
    let text = fs::read_to_string(&f).unwrap();
    let line = text.strip_suffix('\n').unwrap();
    let (user, hash) = line.split_once(':').unwrap();
    assert_eq!(user, "u");
    let parts: Vec<&str> = hash.split('$').collect();
    assert_eq!(parts[..3], ["", "7", "1000"]);
    assert_eq!((parts[3].len(), parts[4].len()), (16, 88));
    assert_eq!(run_batch(&["-I", "5", "-c", "-b", &f, "u", "p"]).0, 0);
    assert!(fs::read_to_string(&f).unwrap().starts_with("u:$7$5$"));
}

#[test]
fn interactive_prompts_and_mismatch() {
    let d = Dir::new("prompt");
    let f = d.file("pw");
    let mut io = MemoryIo::with_input(["abc\n", "abc\r\n"]);
    assert_eq!(run(&["-c", &f, "u"], &mut io), 0);
    assert_eq!(io.out_text(), "Password: \nReenter password: \n");
    assert!(load(&f).verify("u", b"abc"));

    let mut io = MemoryIo::with_input(["abc", "abd"]);
    assert_eq!(run(&[&f, "u"], &mut io), 2);
    assert_eq!(io.err_text(), "Error: Passwords do not match.\n");
    assert!(load(&f).verify("u", b"abc"), "file untouched");

    let mut io = MemoryIo::with_input(["\n"]);
    assert_eq!(run(&["-c", &d.file("new"), "u"], &mut io), 1);
    assert_eq!(io.out_text(), "Password: ");
    assert_eq!(io.err_text(), "Error: Empty password.\n");
    assert!(!Path::new(&d.file("new")).exists());

    let mut io = MemoryIo::default();
    assert_eq!(run(&["-c", &d.file("new"), "u"], &mut io), 1);
    assert_eq!(io.err_text(), "Error: Empty password.\n");
}

#[test]
fn argument_errors_match_mosquitto() {
    let cases: &[(&[&str], &str)] = &[
        (
            &["-H"],
            "Error: -H argument given but not enough other arguments.\n",
        ),
        (
            &["-H", "md5", "-b", "f", "u", "p"],
            "Error: Unknown hash type 'md5'\n",
        ),
        (
            &["-I"],
            "Error: -I argument given but not enough other arguments.\n",
        ),
        (
            &["-I", "0", "-b", "f", "u", "p"],
            "Error: Number of iterations must be > 0.\n",
        ),
        (
            &["-I", "abc", "-b", "f", "u", "p"],
            "Error: Number of iterations must be > 0.\n",
        ),
        (
            &["-c", "-D", "f", "u"],
            "Error: -c and -D cannot be used together.\n",
        ),
        (
            &["-c", "-U", "f"],
            "Error: -c and -U cannot be used together.\n",
        ),
        (
            &["-D", "-U", "f"],
            "Error: -D and -U cannot be used together.\n",
        ),
        (
            &["-b", "-D", "f", "u"],
            "Error: -b and -D cannot be used together.\n",
        ),
        (
            &["-c", "-b", "f", "u"],
            "Error: -c argument given but password file, username, or password missing.\n",
        ),
        (
            &["-c", "f"],
            "Error: -c argument given but password file or username missing.\n",
        ),
        (
            &["-D", "f"],
            "Error: -D argument given but password file or username missing.\n",
        ),
        (
            &["-U"],
            "Error: -U argument given but password file missing.\n",
        ),
        (
            &["-U", "f", "g"],
            "Error: -U argument given but password file missing.\n",
        ),
        (
            &["-b", "f", "a:b", "p"],
            "Error: Username must not contain the ':' character.\n",
        ),
        (
            &["-b", "f", "a\tb", "p"],
            "Error: Username must not contain control characters.\n",
        ),
    ];
    for (args, want) in cases {
        let (code, io) = run_batch(args);
        assert_eq!(code, 1, "{args:?}");
        assert_eq!(io.err_text(), *want, "{args:?}");
        assert!(io.out.is_empty(), "{args:?}");
    }
    let long = "x".repeat(65_536);
    let (code, io) = run_batch(&["-b", "f", "u", &long]);
    assert_eq!(code, 1);
    assert_eq!(
        io.err_text(),
        "Error: Password must be less than 65536 characters long.\n"
    );
}

#[test]
fn usage_goes_to_stdout_with_code_1() {
    for args in [
        &[][..],
        &["-b", "f", "u"],
        &["f"],
        &["f", "u", "p"],
        &["--help"],
    ] {
        let (code, io) = run_batch(args);
        assert_eq!(code, 1, "{args:?}");
        assert!(io.out_text().contains("Usage: komar passwd"), "{args:?}");
        assert!(io.err.is_empty());
    }
}

#[test]
fn file_errors() {
    let d = Dir::new("files");
    let missing = d.file("missing");
    let (code, io) = run_batch(&["-b", &missing, "u", "p"]);
    assert_eq!(code, 1);
    assert_eq!(
        io.err_text(),
        format!("Error: Unable to open password file {missing}. No such file or directory.\n")
    );
    let (code, io) = run_batch(&["-D", &missing, "u"]);
    assert_eq!(code, 1);
    assert!(io
        .err_text()
        .starts_with("Error: Unable to open password file"));

    let f = d.file("pw");
    fs::write(&f, "a:b\n").unwrap();
    let (code, io) = run_batch(&["-D", &f, "nobody"]);
    assert_eq!(code, 1);
    assert_eq!(
        io.err_text(),
        "Warning: User nobody not found in password file.\n"
    );
    assert_eq!(fs::read_to_string(&f).unwrap(), "a:b\n");

    fs::write(&f, "# comment\nu:p\n").unwrap();
    let (code, io) = run_batch(&["-b", &f, "u", "p"]);
    assert_eq!(code, 1);
    assert_eq!(io.err_text(), "Error: Corrupt password file at line 1.\n");

    let nodir = d.file("no/such/pw");
    let (code, io) = run_batch(&["-c", "-b", &nodir, "u", "p"]);
    assert_eq!(code, 1);
    assert_eq!(
        io.err_text(),
        format!("Error: Unable to open file {nodir} for writing. No such file or directory.\n")
    );
}

#[test]
fn convert_plaintext_file() {
    let d = Dir::new("convert");
    let f = d.file("pw");
    fs::write(&f, "u1:pw1\nu2:pw2\n").unwrap();
    let (code, io) = run_batch(&["-I", "3", "-U", &f]);
    assert_eq!(code, 0, "{}", io.err_text());
    let file = load(&f);
    assert!(file.verify("u1", b"pw1") && file.verify("u2", b"pw2"));
    assert!(fs::read_to_string(&f).unwrap().contains("$7$3$"));

    fs::write(&f, "u1:pw1\nu2:pw2\n\n").unwrap();
    let (code, io) = run_batch(&["-U", &f]);
    assert_eq!(code, 1);
    assert_eq!(io.err_text(), "Error: Corrupt password file at line 3.\n");
    assert_eq!(fs::read_to_string(&f).unwrap(), "u1:pw1\nu2:pw2\n\n");
}

#[test]
fn argon2id_files_verify() {
    let d = Dir::new("argon");
    let f = d.file("pw");
    assert_eq!(
        run_batch(&["-H", "argon2id", "-c", "-b", &f, "u", "p"]).0,
        0
    );
    let text = fs::read_to_string(&f).unwrap();
    assert!(
        text.starts_with("u:$argon2id$v=19$m=47104,t=1,p=1$"),
        "{text}"
    );
    assert!(load(&f).verify("u", b"p"));
}

#[cfg(unix)]
#[test]
fn symlinked_file_is_updated_through_the_link() {
    let d = Dir::new("link");
    let target = d.file("real");
    let link = d.file("link");
    assert_eq!(run_batch(&["-c", "-b", &target, "a", "1"]).0, 0);
    std::os::unix::fs::symlink(&target, &link).unwrap();
    assert_eq!(run_batch(&["-b", &link, "b", "2"]).0, 0);
    assert!(fs::symlink_metadata(&link)
        .unwrap()
        .file_type()
        .is_symlink());
    assert!(load(&target).verify("b", b"2"));
}
