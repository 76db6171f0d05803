//! Downloads and uploads against our `ftpserver`: byte-identical large
//! files, resume (RFC 3659 section 5) of downloads and uploads, partial
//! files that must not be trusted, and no wrong file left behind.

use std::time::Duration;

use super::{assert_same_bytes, client_args, read, run_c, Dirs, Proc};
use crate::util::{pseudo_random, wait_until, Server};

const MIB: usize = 1024 * 1024;

#[test]
fn large_binary_files_are_byte_identical_both_ways() {
    let data = pseudo_random(24 * MIB + 123, 7);
    let s = Server::start_with(|root| std::fs::write(root.join("big.bin"), &data).unwrap(), &["-w"]);
    let d = Dirs::new("cl-large");
    let o = run_c(s.addr, &d.local, "get big.bin; put big.bin back.bin", &[]);
    assert_eq!(o.code(), Some(0), "{o}");
    assert_same_bytes(&read(&d.local.join("big.bin")), &data, "download");
    assert_same_bytes(&read(&s.root.join("back.bin")), &data, "upload");
    assert!(o.stdout.contains(&format!("{} bytes received in ", data.len())), "{o}");
    assert!(o.stdout.contains(&format!("{} bytes sent in ", data.len())), "{o}");
}

/// The progress line is for terminals: a script's output has none.
#[test]
fn no_progress_is_shown_when_stdout_is_not_a_terminal() {
    let data = pseudo_random(3 * MIB, 8);
    let s = Server::start_with(|root| std::fs::write(root.join("f.bin"), &data).unwrap(), &[]);
    let d = Dirs::new("cl-noprogress");
    let o = run_c(s.addr, &d.local, "get f.bin", &["--limit-rate", "8m"]);
    assert_eq!(o.code(), Some(0), "{o}");
    assert!(!o.stdout.contains('\r') && !o.stdout.contains("%]"), "{o}");
    assert!(o.stdout.contains(&format!("{} bytes received in ", data.len())), "{o}");
}

/// Ctrl-C (SIGINT) during a script aborts the transfer with ABOR, keeps the
/// partial file and exits 130; the next `get` resumes it with REST and the
/// result is byte-identical.
#[test]
fn an_interrupted_download_keeps_its_partial_file_and_resumes_to_identical_bytes() {
    let data = pseudo_random(4 * MIB, 9);
    let s = Server::start_with(|root| std::fs::write(root.join("big.bin"), &data).unwrap(), &[]);
    let d = Dirs::new("cl-sigint");
    let part = d.local.join("big.bin.part");
    let args = client_args(s.addr, &d.local, &["--limit-rate", "1m", "-c", "get big.bin; get hello.txt"]);
    let p = Proc::spawn(&args, None, &[], d.base.path());
    let started = wait_until(Duration::from_secs(20), || std::fs::metadata(&part).is_ok_and(|m| m.len() > 0));
    assert!(started, "no partial file appeared");
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(p.pid()), nix::sys::signal::Signal::SIGINT).unwrap();
    let o = p.finish();
    assert_eq!(o.code(), Some(130), "{o}");
    assert!(o.stdout.contains("partial file kept"), "{o}");
    // After ABOR the replies are back in step: QUIT gets its 221.
    assert!(o.stdout.contains("221 "), "{o}");
    assert!(!d.local.join("big.bin").exists(), "no file under the final name");
    assert!(!d.local.join("hello.txt").exists(), "the script stopped at Ctrl-C");
    let kept = read(&part);
    assert!(!kept.is_empty() && kept.len() < data.len(), "partial: {} bytes", kept.len());
    assert_same_bytes(&kept, &data[..kept.len()], "the partial file is a prefix");

    let o = run_c(s.addr, &d.local, "get big.bin", &[]);
    assert_eq!(o.code(), Some(0), "{o}");
    assert!(o.stdout.contains(&format!("resumed at byte {}", kept.len())), "{o}");
    assert_same_bytes(&read(&d.local.join("big.bin")), &data, "resumed download");
    assert!(!part.exists());
}

/// The C original's stage 2: a partial download is completed with REST, only
/// the missing bytes (and a check window) cross the network.
#[test]
fn a_partial_download_resumes_with_rest_and_is_byte_identical() {
    let data = pseudo_random(2 * MIB, 10);
    let s = Server::start_with(|root| std::fs::write(root.join("f.bin"), &data).unwrap(), &[]);
    let d = Dirs::new("cl-resume");
    std::fs::create_dir_all(&d.local).unwrap();
    let have = 1_500_000;
    std::fs::write(d.local.join("f.bin.part"), &data[..have]).unwrap();
    let o = run_c(s.addr, &d.local, "get f.bin", &["-v"]);
    assert_eq!(o.code(), Some(0), "{o}");
    assert!(o.stdout.contains(&format!("Resuming f.bin at byte {have}")), "{o}");
    // RFC 3659 5.3: REST before RETR; the client checks the last 64 KiB it has.
    let from = have - 64 * 1024;
    assert!(o.stdout.contains(&format!("---> REST {from}")), "{o}");
    assert!(o.stdout.contains(&format!("{} bytes received in ", data.len() - from)), "{o}");
    assert_same_bytes(&read(&d.local.join("f.bin")), &data, "resumed download");
    assert!(!d.local.join("f.bin.part").exists());
}

/// A partial file that is not the start of the remote file would give a
/// wrong file if completed: it is started over.
#[test]
fn a_partial_file_of_another_file_is_started_over() {
    let data = pseudo_random(MIB, 11);
    let s = Server::start_with(|root| std::fs::write(root.join("f.bin"), &data).unwrap(), &[]);
    let d = Dirs::new("cl-mismatch");
    std::fs::create_dir_all(&d.local).unwrap();
    std::fs::write(d.local.join("f.bin.part"), pseudo_random(300_000, 99)).unwrap();
    let o = run_c(s.addr, &d.local, "get f.bin", &[]);
    assert_eq!(o.code(), Some(0), "{o}");
    assert!(o.stdout.contains("is not the start of the remote file: starting over"), "{o}");
    assert_same_bytes(&read(&d.local.join("f.bin")), &data, "download after a wrong partial file");
}

#[test]
fn a_partial_file_larger_than_the_remote_file_is_started_over() {
    let data = pseudo_random(100_000, 12);
    let s = Server::start_with(|root| std::fs::write(root.join("f.bin"), &data).unwrap(), &[]);
    let d = Dirs::new("cl-larger");
    std::fs::create_dir_all(&d.local).unwrap();
    let mut longer = data.clone();
    longer.extend_from_slice(b"old trailing bytes");
    std::fs::write(d.local.join("f.bin.part"), &longer).unwrap();
    let o = run_c(s.addr, &d.local, "get f.bin", &[]);
    assert_eq!(o.code(), Some(0), "{o}");
    assert!(o.stdout.contains("larger than the remote file: starting over"), "{o}");
    assert_same_bytes(&read(&d.local.join("f.bin")), &data, "download");
}

#[test]
fn get_f_starts_over_instead_of_resuming() {
    let data = pseudo_random(200_000, 13);
    let s = Server::start_with(|root| std::fs::write(root.join("f.bin"), &data).unwrap(), &[]);
    let d = Dirs::new("cl-force");
    std::fs::create_dir_all(&d.local).unwrap();
    std::fs::write(d.local.join("f.bin.part"), &data[..150_000]).unwrap();
    let o = run_c(s.addr, &d.local, "get -f f.bin", &[]);
    assert_eq!(o.code(), Some(0), "{o}");
    assert!(!o.stdout.contains("Resuming") && !o.stdout.contains("resumed"), "{o}");
    assert!(o.stdout.contains("200000 bytes received in "), "{o}");
    assert_same_bytes(&read(&d.local.join("f.bin")), &data, "download");
}

/// The C original opened the local file without truncation and kept old
/// trailing bytes: a download over a longer file must give the exact file.
#[test]
fn a_download_over_a_longer_local_file_leaves_no_old_bytes() {
    let s = Server::start(&[]);
    let d = Dirs::new("cl-trunc");
    std::fs::create_dir_all(&d.local).unwrap();
    std::fs::write(d.local.join("hello.txt"), vec![b'x'; 10_000]).unwrap();
    let o = run_c(s.addr, &d.local, "get hello.txt; ascii; get hello.txt h2.txt", &[]);
    assert_eq!(o.code(), Some(0), "{o}");
    assert_eq!(read(&d.local.join("hello.txt")), b"hello world\n");
    std::fs::write(d.local.join("h3.txt.part"), vec![b'y'; 10_000]).unwrap();
    let o = run_c(s.addr, &d.local, "ascii; get hello.txt h3.txt", &[]);
    assert_eq!(o.code(), Some(0), "{o}");
    assert_eq!(read(&d.local.join("h3.txt")), b"hello world\n", "ASCII mode never resumes");
}

#[test]
fn a_failed_download_leaves_no_file_and_says_why() {
    let s = Server::start(&[]);
    let d = Dirs::new("cl-nofile");
    let o = run_c(s.addr, &d.local, "get nosuch.txt", &[]);
    assert_eq!(o.code(), Some(1), "{o}");
    assert!(o.stderr.contains("550 nosuch.txt: No such file"), "{o}");
    assert!(!d.local.join("nosuch.txt").exists() && !d.local.join("nosuch.txt.part").exists());
}

/// A local disk error is one clear line, and the session goes on.
#[test]
fn a_local_error_fails_the_command_and_the_session_goes_on() {
    let s = Server::start(&[]);
    let d = Dirs::new("cl-localerr");
    std::fs::create_dir_all(&d.local).unwrap();
    std::fs::write(d.local.join("afile"), b"not a directory").unwrap();
    let o = run_c(s.addr, &d.local, "get hello.txt afile/inside.txt; put missing.bin; get hello.txt", &[]);
    assert_eq!(o.code(), Some(1), "{o}");
    assert!(o.stderr.contains("afile/inside.txt.part: Not a directory"), "{o}");
    assert!(o.stderr.contains("missing.bin: No such file or directory"), "{o}");
    assert_eq!(read(&d.local.join("hello.txt")), b"hello world\n");
}

/// An upload the server holds in part (APPE or REST+STOR were cut) is
/// completed with REST+STOR once its last bytes match the local file.
#[test]
fn an_interrupted_upload_resumes_with_rest_and_stor() {
    let data = pseudo_random(3 * MIB, 14);
    let have = 2_000_000;
    let s = Server::start_with(|root| std::fs::write(root.join("up.bin"), &data[..have]).unwrap(), &["-w"]);
    let d = Dirs::new("cl-putresume");
    std::fs::create_dir_all(&d.local).unwrap();
    std::fs::write(d.local.join("up.bin"), &data).unwrap();
    let o = run_c(s.addr, &d.local, "put up.bin", &["-v"]);
    assert_eq!(o.code(), Some(0), "{o}");
    assert!(o.stdout.contains(&format!("---> REST {have}")), "{o}");
    assert!(o.stdout.contains(&format!("{} bytes sent in ", data.len() - have)), "{o}");
    assert!(o.stdout.contains(&format!("resumed at byte {have}")), "{o}");
    assert_same_bytes(&read(&s.root.join("up.bin")), &data, "resumed upload");
}

/// A shorter remote file that is another file is replaced, not appended to.
#[test]
fn an_upload_over_a_different_shorter_file_sends_everything() {
    let data = pseudo_random(MIB, 15);
    let s =
        Server::start_with(|root| std::fs::write(root.join("up.bin"), pseudo_random(500_000, 16)).unwrap(), &["-w"]);
    let d = Dirs::new("cl-putother");
    std::fs::create_dir_all(&d.local).unwrap();
    std::fs::write(d.local.join("up.bin"), &data).unwrap();
    let o = run_c(s.addr, &d.local, "put up.bin", &[]);
    assert_eq!(o.code(), Some(0), "{o}");
    assert!(!o.stdout.contains("Resuming"), "{o}");
    assert_same_bytes(&read(&s.root.join("up.bin")), &data, "upload");
    // put -f never resumes.
    std::fs::write(s.root.join("up.bin"), &data[..1000]).unwrap();
    let o = run_c(s.addr, &d.local, "put -f up.bin", &[]);
    assert_eq!(o.code(), Some(0), "{o}");
    assert!(o.stdout.contains(&format!("{} bytes sent in ", data.len())), "{o}");
    assert_same_bytes(&read(&s.root.join("up.bin")), &data, "forced upload");
}

#[test]
fn uploads_refused_by_a_read_only_server_fail_clearly() {
    let s = Server::start(&[]);
    let d = Dirs::new("cl-readonly");
    std::fs::create_dir_all(&d.local).unwrap();
    std::fs::write(d.local.join("x.txt"), b"x").unwrap();
    let o = run_c(s.addr, &d.local, "put x.txt; mkdir d", &[]);
    assert_eq!(o.code(), Some(1), "{o}");
    assert_eq!(o.stderr.matches("550").count(), 2, "{o}");
}
