//! Many clients at once: parallel downloads stay byte-identical, the pool
//! serves more clients than it started with, and what one client uploads
//! another downloads whole.

use crate::util::{pseudo_random, sha256, sha256_file, Ftp, Server};
use std::sync::{Arc, Barrier};

/// Twenty clients, logged in together on a pool started with four workers,
/// download the same file at the same moment: every copy has the file's
/// sha256.
#[test]
fn twenty_clients_download_at_once_and_every_copy_is_identical() {
    const CLIENTS: usize = 20;
    let content = pseudo_random(2 << 20, 20);
    let c = content.clone();
    let s = Server::start_with(move |root| std::fs::write(root.join("shared.bin"), &c).unwrap(), &["--workers", "4"]);
    let want = sha256_file(&s.root.join("shared.bin"));
    assert_eq!(want, sha256(&content));
    let barrier = Arc::new(Barrier::new(CLIENTS));
    let handles: Vec<_> = (0..CLIENTS)
        .map(|_| {
            let (addr, barrier) = (s.addr, barrier.clone());
            std::thread::spawn(move || {
                let mut f = Ftp::connect(addr);
                f.login("anonymous", "crowd@example.com");
                let mut data = f.pasv();
                // Everyone holds a session before anyone downloads: the pool
                // had to grow from 4 workers to 20.
                barrier.wait();
                assert_eq!(f.code("RETR shared.bin"), 150);
                let mut got = Vec::new();
                std::io::Read::read_to_end(&mut data, &mut got).unwrap();
                assert_eq!(f.reply().code.0, 226);
                f.quit();
                sha256(&got)
            })
        })
        .collect();
    for h in handles {
        assert_eq!(h.join().expect("a client failed"), want);
    }
}

/// What one client uploads, a second client downloads byte for byte, while
/// the first is still connected; both sessions go on.
#[test]
fn a_file_uploaded_by_one_client_is_downloaded_whole_by_another() {
    let s = Server::start(&["-w"]);
    let content = pseudo_random(1 << 20, 99);
    let mut up = s.anon();
    assert_eq!(up.put_with("STOR handover.bin", &content).code.0, 226);
    let mut down = s.anon();
    let got = down.retr("handover.bin");
    assert_eq!(sha256(&got), sha256(&content));
    assert!(got == content);
    assert_eq!(up.code("NOOP"), 200);
    assert_eq!(down.code("NOOP"), 200);
}

/// Ten clients upload ten different files at the same time: each file ends
/// up with its own bytes, none mixed, no temporary left.
#[test]
fn ten_clients_upload_at_once_and_no_upload_mixes_with_another() {
    const CLIENTS: usize = 10;
    let s = Server::start(&["-w", "--workers", "4"]);
    let barrier = Arc::new(Barrier::new(CLIENTS));
    let handles: Vec<_> = (0..CLIENTS)
        .map(|i| {
            let (addr, barrier) = (s.addr, barrier.clone());
            std::thread::spawn(move || {
                let mut f = Ftp::connect(addr);
                f.login("anonymous", "x@y");
                barrier.wait();
                let r = f.put_with(&format!("STOR up{i}.bin"), &pseudo_random(300_000, i as u64));
                assert_eq!(r.code.0, 226);
                f.quit();
            })
        })
        .collect();
    for h in handles {
        h.join().expect("an upload failed");
    }
    for i in 0..CLIENTS {
        let got = std::fs::read(s.root.join(&format!("up{i}.bin"))).unwrap();
        assert!(got == pseudo_random(300_000, i as u64), "up{i}.bin differs");
    }
    let temps = std::fs::read_dir(s.root.path())
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with(".forkftp."))
        .count();
    assert_eq!(temps, 0);
    // The pool still serves.
    assert_eq!(s.anon().retr("up3.bin").len(), 300_000);
}
