//! Uploads made fast (issue 15). One that replaces a file changes the name
//! from the old file to the new one in one step; the old file's other names
//! and open readers keep it whole, and the worker lets go of it after the
//! `226`. The worker wakes once per 64 KiB of an upload, yet a client that
//! trickles bytes is not taken for a stalled one.

use std::io::{Read, Write};
use std::path::Path;
use std::time::Duration;

use crate::util::{pseudo_random, wait_until, Server};

/// True when `dir` holds no upload temporary.
fn no_temporaries(dir: &Path) -> bool {
    std::fs::read_dir(dir).unwrap().flatten().all(|e| !e.file_name().to_string_lossy().starts_with(".forkftp."))
}

/// Descriptors of `pid` that name a deleted file.
fn deleted_files_held(pid: i32) -> Vec<String> {
    let Ok(dir) = std::fs::read_dir(format!("/proc/{pid}/fd")) else { return Vec::new() };
    dir.flatten()
        .filter_map(|e| std::fs::read_link(e.path()).ok())
        .map(|p| p.display().to_string())
        .filter(|p| p.ends_with("(deleted)"))
        .collect()
}

#[test]
fn an_upload_over_a_file_replaces_it_and_its_other_names_keep_the_old_file() {
    let old = pseudo_random(3 << 20, 1);
    let s = Server::start_with(
        |root| {
            std::fs::write(root.join("data.bin"), &old).unwrap();
            std::fs::hard_link(root.join("data.bin"), root.join("other-name.bin")).unwrap();
        },
        &["-w"],
    );
    let new = pseudo_random(2 << 20, 2);
    let mut f = s.anon();
    assert_eq!(f.put_with("STOR data.bin", &new).code.0, 226);
    assert_eq!(std::fs::read(s.root.join("data.bin")).unwrap(), new);
    // As with rename(2): the name moves to the new file, the old file lives
    // on under its other name.
    assert_eq!(std::fs::read(s.root.join("other-name.bin")).unwrap(), old);
    assert!(no_temporaries(s.root.path()));
    f.quit();
}

#[test]
fn a_download_running_during_an_overwrite_gets_the_old_file_whole() {
    let old = pseudo_random(8 << 20, 3);
    let s = Server::start_with(|root| std::fs::write(root.join("big.bin"), &old).unwrap(), &["-w"]);
    let mut reader = s.anon();
    let mut data = reader.pasv();
    assert_eq!(reader.code("RETR big.bin"), 150);
    let mut got = vec![0u8; 1 << 20];
    data.read_exact(&mut got).unwrap();
    // The download is under way (and stalls on its socket buffers) while
    // another client replaces the file.
    let new = pseudo_random(4 << 20, 4);
    let mut writer = s.anon();
    assert_eq!(writer.put_with("STOR big.bin", &new).code.0, 226);
    data.read_to_end(&mut got).unwrap();
    assert_eq!(reader.reply().code.0, 226);
    assert!(got == old, "the download got {} bytes, not the old file", got.len());
    assert_eq!(std::fs::read(s.root.join("big.bin")).unwrap(), new);
    assert!(no_temporaries(s.root.path()));
}

#[test]
fn a_directory_made_at_the_name_during_an_upload_stays_and_the_upload_is_refused() {
    let s = Server::start(&["-w"]);
    let mut f = s.anon();
    let mut data = f.pasv();
    assert_eq!(f.code("STOR late.bin"), 150);
    data.write_all(&pseudo_random(1 << 20, 5)).unwrap();
    // The name did not exist when the upload began; now a directory holds it.
    std::fs::create_dir(s.root.join("late.bin")).unwrap();
    std::fs::write(s.root.join("late.bin/inside.txt"), b"kept").unwrap();
    drop(data);
    let r = f.reply();
    assert_eq!(r.code.0, 550, "{r:?}");
    assert!(s.root.join("late.bin").is_dir());
    assert_eq!(std::fs::read(s.root.join("late.bin/inside.txt")).unwrap(), b"kept");
    assert!(no_temporaries(s.root.path()));
    assert_eq!(f.code("NOOP"), 200);
}

#[test]
fn replaced_files_are_let_go_by_the_worker_after_each_reply() {
    let s = Server::start(&["-w"]);
    let mut f = s.anon();
    let worker = s.worker_serving(f.stream.local_addr().unwrap()).expect("the client's worker");
    // Large and small, one after another: each replaced file is let go by
    // the worker's helper thread after the 226, the previous one first.
    for (i, size) in [(0, 20 << 20), (1, 20 << 20), (2, 1 << 20), (3, 24 << 20)] {
        let content = pseudo_random(size, 10 + i);
        assert_eq!(f.put_with("STOR same.bin", &content).code.0, 226);
        assert!(
            wait_until(Duration::from_secs(10), || deleted_files_held(worker).is_empty()),
            "worker {worker} still holds {:?} after upload {i}",
            deleted_files_held(worker)
        );
        assert_eq!(std::fs::read(s.root.join("same.bin")).unwrap(), content);
    }
    assert!(no_temporaries(s.root.path()));
    assert_eq!(f.code("NOOP"), 200);
    f.quit();
}

#[test]
fn an_upload_trickling_below_the_wake_up_mark_is_not_taken_for_stalled() {
    // Stall timeout 2 s; the client sends 100 bytes every 200 ms for 3.2 s,
    // never reaching the 64 KiB at which the worker is woken.
    let s = Server::start(&["-w", "--stall-timeout", "2"]);
    let mut f = s.anon();
    let mut data = f.pasv();
    assert_eq!(f.code("STOR slow.bin"), 150);
    let content = pseudo_random(1600, 20);
    for chunk in content.chunks(100) {
        data.write_all(chunk).unwrap();
        std::thread::sleep(Duration::from_millis(200));
    }
    drop(data);
    let r = f.reply();
    assert_eq!(r.code.0, 226, "{r:?}");
    assert_eq!(std::fs::read(s.root.join("slow.bin")).unwrap(), content);
}

#[test]
fn an_upload_that_really_stalls_still_times_out() {
    let s = Server::start(&["-w", "--stall-timeout", "1"]);
    let mut f = s.anon();
    let mut data = f.pasv();
    assert_eq!(f.code("STOR stuck.bin"), 150);
    data.write_all(&[7u8; 100]).unwrap();
    // Nothing more: the 100 bytes are read at the first timeout, then the
    // next one finds nothing.
    let r = f.reply();
    assert_eq!(r.code.0, 421, "{r:?}");
    assert!(!s.root.join("stuck.bin").exists());
    assert!(no_temporaries(s.root.path()));
}
