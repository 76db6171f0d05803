//! The same client against pyftpdlib, a server nobody here wrote: it answers
//! 125 where ours says 150, refuses SIZE in ASCII mode, writes uploads in
//! place, and (started with --no-epsv) refuses EPSV and EPRT.

use super::{assert_same_bytes, client_args, read, run_c, Dirs, Proc, PyFtpd};
use crate::util::pseudo_random;

const MIB: usize = 1024 * 1024;

#[test]
fn pyftpdlib_download_list_upload_and_the_other_commands() {
    let data = pseudo_random(5 * MIB + 7, 21);
    let py = PyFtpd::start(|root| std::fs::write(root.join("big.bin"), &data).unwrap(), &[]);
    let d = Dirs::new("py-basic");
    std::fs::create_dir_all(&d.local).unwrap();
    std::fs::write(d.local.join("up file.bin"), &data).unwrap();
    let cmds = "ls; get big.bin; get hello.txt; put 'up file.bin'; size 'up file.bin'; mkdir dir; cd dir; pwd; \
                cd ..; rename 'up file.bin' dir/moved.bin; rm dir/moved.bin; rmdir dir; ascii; get hello.txt h.txt";
    let o = run_c(py.addr, &d.local, cmds, &[]);
    assert_eq!(o.code(), Some(0), "{o}\n{}", py.log_text());
    assert!(o.stdout.contains("big.bin") && o.stdout.contains("hello.txt"), "listing:\n{o}");
    assert_same_bytes(&read(&d.local.join("big.bin")), &data, "download from pyftpdlib");
    assert_eq!(read(&d.local.join("hello.txt")), b"hello world\n");
    assert_eq!(read(&d.local.join("h.txt")), b"hello world\n", "ASCII round trip");
    assert!(o.stdout.contains(&format!("up file.bin: {} bytes", data.len())), "{o}");
    assert!(o.stdout.contains("257 \"/dir\""), "{o}");
    assert!(!py.root.join("dir").exists() && !py.root.join("up file.bin").exists());
    assert!(o.stdout.contains(&format!("{} bytes sent in ", data.len())), "{o}");
}

#[test]
fn pyftpdlib_resumes_partial_downloads_and_uploads_to_identical_files() {
    let data = pseudo_random(3 * MIB, 22);
    let have_up = 1_234_567;
    let py = PyFtpd::start(
        |root| {
            std::fs::write(root.join("f.bin"), &data).unwrap();
            std::fs::write(root.join("up.bin"), &data[..have_up]).unwrap();
        },
        &[],
    );
    let d = Dirs::new("py-resume");
    std::fs::create_dir_all(&d.local).unwrap();
    let have = 2_000_000;
    std::fs::write(d.local.join("f.bin.part"), &data[..have]).unwrap();
    std::fs::write(d.local.join("up.bin"), &data).unwrap();
    let o = run_c(py.addr, &d.local, "get f.bin; put up.bin", &["-v"]);
    assert_eq!(o.code(), Some(0), "{o}");
    assert!(o.stdout.contains(&format!("resumed at byte {have}")), "{o}");
    assert_same_bytes(&read(&d.local.join("f.bin")), &data, "resumed download");
    assert!(o.stdout.contains(&format!("---> REST {have_up}")), "{o}");
    assert!(o.stdout.contains(&format!("resumed at byte {have_up}")), "{o}");
    assert_same_bytes(&read(&py.root.join("up.bin")), &data, "resumed upload");
    // pyftpdlib answers 125 when the passive connection is already open.
    assert!(o.stdout.contains("125 "), "{o}");
}

/// RFC 2428: a server without EPSV/EPRT answers 500; the client falls back
/// to PASV (RFC 959) and PORT. The long banner comes as a multi-line 220.
#[test]
fn pyftpdlib_without_epsv_falls_back_to_pasv_and_port() {
    let py = PyFtpd::start(|_| {}, &["--no-epsv", "--long-banner"]);
    let d = Dirs::new("py-noepsv");
    let o = run_c(py.addr, &d.local, "get hello.txt; ls; active; get hello.txt h2.txt", &["-v"]);
    assert_eq!(o.code(), Some(0), "{o}");
    assert!(o.stdout.contains("220-pyftpdlib test server"), "{o}");
    assert!(o.stdout.contains("---> EPSV\n500 "), "{o}");
    assert!(o.stdout.contains("---> PASV\n227 "), "{o}");
    assert_eq!(o.stdout.matches("---> EPSV").count(), 1, "EPSV is not asked again:\n{o}");
    assert!(o.stdout.contains("---> PORT 127,0,0,1,"), "{o}");
    assert_eq!(read(&d.local.join("hello.txt")), b"hello world\n");
    assert_eq!(read(&d.local.join("h2.txt")), b"hello world\n");
}

#[test]
fn pyftpdlib_user_login_and_missing_files() {
    let py = PyFtpd::start(|_| {}, &["--user", "bob:pw"]);
    let d = Dirs::new("py-user");
    let args = client_args(py.addr, &d.local, &["-u", "bob", "-c", "get hello.txt; get nosuch.txt"]);
    let o = Proc::spawn(&args, None, &[("FTP_PASSWORD", "pw")], d.base.path()).finish();
    assert_eq!(o.code(), Some(1), "{o}");
    assert_eq!(read(&d.local.join("hello.txt")), b"hello world\n");
    assert!(o.stderr.contains("550 "), "{o}");
    assert!(!d.local.join("nosuch.txt").exists() && !d.local.join("nosuch.txt.part").exists());
    let o = Proc::spawn(&args, None, &[("FTP_PASSWORD", "bad")], d.base.path()).finish();
    assert_eq!(o.code(), Some(1), "{o}");
    assert!(o.stderr.contains("530 "), "{o}");
}

/// A server without REST: a partial download is started over (never
/// completed wrongly), and an interrupted upload is completed with APPE.
#[test]
fn pyftpdlib_without_rest_starts_downloads_over_and_appends_uploads() {
    let data = pseudo_random(200_000, 23);
    let have_up = 50_000;
    let py = PyFtpd::start(
        |root| {
            std::fs::write(root.join("f.bin"), &data).unwrap();
            std::fs::write(root.join("up.bin"), &data[..have_up]).unwrap();
        },
        &["--no-rest"],
    );
    let d = Dirs::new("py-norest");
    std::fs::create_dir_all(&d.local).unwrap();
    std::fs::write(d.local.join("f.bin.part"), &data[..150_000]).unwrap();
    std::fs::write(d.local.join("up.bin"), &data).unwrap();
    let o = run_c(py.addr, &d.local, "get f.bin; put up.bin", &["-v"]);
    assert_eq!(o.code(), Some(0), "{o}");
    assert!(o.stdout.contains("The server cannot resume (500 "), "{o}");
    assert_same_bytes(&read(&d.local.join("f.bin")), &data, "download");
    assert!(o.stdout.contains("---> REST 50000\n500 "), "{o}");
    assert!(o.stdout.contains("---> APPE up.bin"), "{o}");
    assert!(o.stdout.contains(&format!("{} bytes sent in ", data.len() - have_up)), "{o}");
    assert_same_bytes(&read(&py.root.join("up.bin")), &data, "upload completed with APPE");
}
