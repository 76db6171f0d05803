//! The configuration files: `--config FILE`, one key per option, the
//! command line over the file, errors with file and line, SIGHUP, `config
//! --print`, and the commented examples in `dist/`.

use std::time::Duration;

use nix::sys::signal::Signal;

use super::{run, stderr, stdout, write_file, FTPMASTER, FTPSERVER};
use crate::util::daemon::Daemon;
use crate::util::{Server, TempDir, READY};

/// Uploads `name` (PASV, STOR): the final reply's code.
fn stor(f: &mut crate::util::Ftp, name: &str) -> u16 {
    use std::io::Write;
    let mut data = f.pasv();
    let r = f.cmd(&format!("STOR {name}"));
    if r.code.0 != 150 {
        return r.code.0;
    }
    data.write_all(b"content").unwrap();
    drop(data);
    f.reply().code.0
}

/// The workers count in the first line of `ftpserver status`.
fn workers_in_status(status: &str) -> usize {
    crate::util::status_number(status, "workers") as usize
}

#[test]
fn a_configuration_file_sets_every_kind_of_option() {
    let dir = TempDir::new("config");
    let users = write_file(&dir, "users", "");
    let cfg = write_file(
        &dir,
        "ftpserver.toml",
        &format!(
            "# flags, numbers, lists, paths and an alias\nwrite = true\nworkers = 2\nmin-spare = 0\n\
             user = [\"alice:wonderland\", \"bob:builder\"]\nusers = {:?}\npublic-addr = \"127.0.0.1\"\nverbose = 1\n",
            users.display().to_string()
        ),
    );
    let s = Server::start(&["--config", cfg.to_str().unwrap()]);
    assert!(crate::util::wait_until(Duration::from_secs(5), || workers_in_status(&s.status()) == 2), "{}", s.status());
    // write = true: anonymous may upload.
    let mut f = s.anon();
    assert_eq!(stor(&mut f, "up.txt"), 226);
    f.quit();
    // Both accounts of the list exist.
    for (u, p) in [("alice", "wonderland"), ("bob", "builder")] {
        let mut f = s.connect();
        f.login(u, p);
        f.quit();
    }
    // verbose = 1 logs every command.
    assert!(
        crate::util::wait_until(Duration::from_secs(5), || s.log_text().contains(": STOR up.txt")),
        "{}",
        s.log_text()
    );
}

#[test]
fn options_on_the_command_line_win_over_the_file() {
    let dir = TempDir::new("config");
    let cfg = write_file(&dir, "f.toml", "workers = 5\nmin-spare = 0\nverbose = 1\nuser = [\"alice:x\"]\n");
    let s = Server::start(&["--config", cfg.to_str().unwrap(), "--workers", "2", "--user", "carol:y"]);
    assert!(crate::util::wait_until(Duration::from_secs(5), || workers_in_status(&s.status()) == 2), "{}", s.status());
    // The command line's list replaces the file's.
    let mut f = s.connect();
    f.login("carol", "y");
    f.quit();
    let mut f = s.connect();
    assert_eq!(f.code("USER alice"), 331);
    assert_eq!(f.code("PASS x"), 530);
}

#[test]
fn unknown_keys_and_bad_values_are_refused_with_file_line_and_the_valid_keys() {
    let dir = TempDir::new("config");
    let root = dir.path().to_str().unwrap();
    let cfg = write_file(&dir, "bad.toml", "# a comment\nworkers = 2\nmax_workers = 3\n");
    let out = run(FTPSERVER, &["--config", cfg.to_str().unwrap(), "--root", root, "--listen", "127.0.0.1:0"]);
    assert!(!out.status.success());
    let e = stderr(&out);
    assert!(
        e.contains(&format!("{}:3: unknown key \"max_workers\" (did you mean \"max-workers\"?)", cfg.display())),
        "{e}"
    );
    assert!(e.contains("valid keys: listen, root, workers, write, no-anonymous,"), "{e}");
    assert!(e.contains("xferlog") && e.contains("metrics") && e.contains("pid-file"), "{e}");

    let cfg = write_file(&dir, "bad2.toml", "\nworkers = \"many\"\n");
    let e = stderr(&run(FTPSERVER, &["--config", cfg.to_str().unwrap(), "--root", root]));
    assert!(e.contains(&format!("{}:2: workers = \"many\": invalid digit found in string", cfg.display())), "{e}");

    // A value that only the checks after parsing refuse names its line too.
    let cfg = write_file(&dir, "bad3.toml", "max-workers = 4\nworkers = 9\n");
    let e = stderr(&run(FTPSERVER, &["--config", cfg.to_str().unwrap(), "--root", root]));
    assert!(e.contains(&format!("{}:2: --workers must be between 1 and --max-workers (4)", cfg.display())), "{e}");

    // TOML syntax: line and column.
    let cfg = write_file(&dir, "bad4.toml", "workers = 2\nwrite = tru\n");
    let e = stderr(&run(FTPSERVER, &["--config", cfg.to_str().unwrap(), "--root", root]));
    assert!(e.contains(&format!("{}:2:9:", cfg.display())), "{e}");

    // A file that does not exist.
    let e = stderr(&run(FTPSERVER, &["--config", "/nonexistent/ftpserver.toml", "--root", root]));
    assert!(e.contains("/nonexistent/ftpserver.toml: No such file"), "{e}");
}

#[test]
fn sighup_reads_the_file_again_and_a_bad_file_keeps_the_running_configuration() {
    let dir = TempDir::new("config");
    let cfg = write_file(&dir, "f.toml", "write = false\n");
    let s = Server::start(&["--config", cfg.to_str().unwrap()]);
    let mut f = s.anon();
    assert_eq!(stor(&mut f, "a.txt"), 550);
    f.quit();

    write_file(&dir, "f.toml", "write = true\n");
    s.signal(Signal::SIGHUP);
    assert!(crate::util::wait_until(READY, || s.log_text().contains("reloaded the configuration (generation 2)")));
    let mut f = s.anon();
    assert_eq!(stor(&mut f, "a.txt"), 226);
    f.quit();

    write_file(&dir, "f.toml", "write = true\nwrite_access = 1\n");
    s.signal(Signal::SIGHUP);
    let expected =
        format!("reload failed, keeping the running configuration: {}:2: unknown key \"write_access\"", cfg.display());
    assert!(crate::util::wait_until(READY, || s.log_text().contains(&expected)), "{}", s.log_text());
    let mut f = s.anon();
    assert_eq!(stor(&mut f, "b.txt"), 226, "the running configuration (write = true) stays");
    f.quit();
}

#[test]
fn config_print_shows_the_effective_configuration_and_no_secret() {
    let dir = TempDir::new("config");
    let cfg = write_file(&dir, "f.toml", "workers = 3\nuser = [\"alice:s3cret-pw\"]\nlisten = \"127.0.0.1:2999\"\n");
    let root = dir.path().to_str().unwrap();
    let out = run(
        FTPSERVER,
        &["config", "--print", "--config", cfg.to_str().unwrap(), "--", "--listen", "127.0.0.1:0", "--root", root],
    );
    assert!(out.status.success());
    let p = stdout(&out);
    assert!(p.contains(&format!("workers = 3  # {}:1\n", cfg.display())), "{p}");
    assert!(p.contains("user = [\"alice:****\"]"), "{p}");
    assert!(p.contains("listen = \"127.0.0.1:0\"  # command line\n"), "{p}");
    let default_max = forkftp::limits::DEFAULT_MAX_WORKERS;
    assert!(p.contains(&format!("max-workers = {default_max}  # default\n")), "{p}");
    assert!(p.contains("# xferlog is not set\n"), "{p}");
    assert!(!p.contains("s3cret"), "{p}");
    // Without --print: checked, and said so; a bad file fails.
    let out = run(FTPSERVER, &["config", "--config", cfg.to_str().unwrap(), "--", "--root", root]);
    assert!(out.status.success() && stdout(&out).contains("configuration OK"));
    let bad = write_file(&dir, "bad.toml", "workers = 0\n");
    let out = run(FTPSERVER, &["config", "--config", bad.to_str().unwrap(), "--", "--root", root]);
    assert!(!out.status.success() && stderr(&out).contains(&format!("{}:1: --workers", bad.display())));
}

/// Every key `PROGRAM config --example` names is in the example file of
/// `dist/`, and that file is a valid configuration (its root given here).
fn dist_example_is_complete(program: &str, file: &str, extra: &[&str]) {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("dist").join(file);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let example = stdout(&run(program, &["config", "--example"]));
    let keys: Vec<&str> =
        example.lines().filter_map(|l| l.strip_prefix('#')?.split_once(" = ").map(|(k, _)| k)).collect();
    assert!(keys.len() > 5, "{example}");
    let missing: Vec<&&str> = keys
        .iter()
        .filter(|k| !text.lines().any(|l| l.trim_start_matches('#').starts_with(&format!("{k} = "))))
        .collect();
    assert!(
        missing.is_empty(),
        "dist/{file} lacks {missing:?}: add them (`{} config --example` prints every key with its help)",
        program.rsplit('/').next().unwrap()
    );
    let mut args = vec!["config", "--config", path.to_str().unwrap(), "--"];
    args.extend(extra);
    let out = run(program, &args);
    assert!(out.status.success(), "dist/{file}: {}", stderr(&out));
}

#[test]
fn the_examples_in_dist_name_every_option_and_are_valid() {
    let dir = TempDir::new("config");
    dist_example_is_complete(
        FTPSERVER,
        "ftpserver.toml",
        &["--root", dir.path().to_str().unwrap(), "--run-as", "nobody"],
    );
    dist_example_is_complete(FTPMASTER, "ftpmaster.toml", &[]);
}

#[test]
fn ftpmaster_reads_its_file_and_refuses_unknown_keys() {
    let dir = TempDir::new("config");
    let cfg = write_file(&dir, "m.toml", "listen = \"127.0.0.1:0\"\nregistry = \"127.0.0.1:0\"\nverbose = 1\n");
    let mut m = Daemon::spawn(FTPMASTER, &["--config".to_string(), cfg.display().to_string()], "master");
    let line = m.wait_for_line("forkftp master: clients on ");
    assert!(line.contains("clients on 127.0.0.1:") && line.contains("slaves register on 127.0.0.1:"), "{line}");
    m.signal(Signal::SIGHUP);
    m.wait_for_line("reloaded the configuration");
    write_file(&dir, "m.toml", "listen = \"127.0.0.1:0\"\nworkers = 3\n");
    m.signal(Signal::SIGHUP);
    let line = m.wait_for_line("reload failed, keeping the running configuration:");
    assert!(line.contains(&format!("{}:2: unknown key \"workers\"", cfg.display())), "{line}");
    assert!(line.contains("valid keys: listen, registry, key-file, log-file, verbose, quiet,"), "{line}");
}
