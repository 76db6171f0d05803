//! Binary transfers are byte-exact: every byte value, large random files,
//! and offsets past 4 GiB (RFC 3659 section 5: REST in stream mode); the
//! byte paths of uploads: binary uploads spliced socket to pipe to file,
//! ASCII uploads converted, appends and restarts continuing where the file
//! stands.

use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::util::{lacking, pseudo_random, sha256, sha256_file, wait_until, Server, TempDir};

/// 4 GiB and 4 KiB: past every 32-bit size and offset.
const HUGE: u64 = (4 << 30) + 4096;
/// The distinctive last bytes of the huge file.
const TAIL_LEN: usize = 4096;

/// Creates the sparse huge file with its tail, or says why it cannot.
fn make_huge(path: &Path) -> Result<(), String> {
    let mut f = std::fs::File::create(path).map_err(|e| format!("create: {e}"))?;
    f.set_len(HUGE).map_err(|e| format!("set_len to {HUGE}: {e}"))?;
    f.seek(SeekFrom::Start(HUGE - TAIL_LEN as u64)).map_err(|e| format!("seek: {e}"))?;
    f.write_all(&pseudo_random(TAIL_LEN, 4242)).map_err(|e| format!("write the tail: {e}"))?;
    let blocks = std::os::unix::fs::MetadataExt::blocks(&f.metadata().unwrap());
    if blocks * 512 > 64 << 20 {
        return Err(format!("the file system does not keep the file sparse ({blocks} blocks)"));
    }
    Ok(())
}

/// Every byte value, in every position of a CRLF pair, survives TYPE I in
/// both directions; a second client reads back what the first stored.
#[test]
fn binary_transfers_are_byte_exact_in_both_directions() {
    let s = Server::start(&["-w"]);
    let mut every: Vec<u8> = (0..=255u8).cycle().take(256 * 64).collect();
    every.extend_from_slice(b"\r\n\n\r\r\r\n\0\xff\xff\xf4\xf2");
    every.extend(pseudo_random(3 << 20, 11));
    let mut a = s.anon();
    assert_eq!(a.code("TYPE I"), 200);
    assert_eq!(a.put_with("STOR every.bin", &every).code.0, 226);
    assert_eq!(sha256_file(&s.root.join("every.bin")), sha256(&every));
    let mut b = s.anon();
    let got = b.retr("every.bin");
    assert_eq!(got.len(), every.len());
    assert_eq!(sha256(&got), sha256(&every));
    assert!(got == every);
    // Over EPSV too, and the size agrees.
    assert_eq!(b.cmd("SIZE every.bin").lines[0], every.len().to_string());
    let mut d = b.epsv();
    assert_eq!(b.code("RETR every.bin"), 150);
    let mut again = Vec::new();
    d.read_to_end(&mut again).unwrap();
    assert_eq!(b.reply().code.0, 226);
    assert!(again == every);
}

/// A file of 4 GiB + 4 KiB: SIZE, LIST and MLSD give its size, REST past
/// 4 GiB then RETR sends exactly the tail, and REST past 4 GiB then STOR
/// resumes the upload there. The 4 GiB are never streamed: the REST paths
/// prove the 64-bit offsets.
#[test]
fn a_file_over_4_gib_keeps_its_size_and_its_tail_past_the_32_bit_offsets() {
    let mut why = None;
    let s = Server::start_with(
        |root| {
            if let Err(e) = make_huge(&root.join("huge.bin")) {
                why = Some(e);
            }
        },
        &["-w"],
    );
    if let Some(why) = why {
        return lacking("sparse", &format!("cannot make a sparse file of {HUGE} bytes here: {why}"));
    }
    let tail = pseudo_random(TAIL_LEN, 4242);
    let mut f = s.anon();
    let r = f.cmd("SIZE huge.bin");
    assert_eq!((r.code.0, r.lines[0].as_str()), (213, "4294971392"));
    assert!(f.listing("LIST huge.bin").contains(" 4294971392 "));
    assert!(f.listing("MLSD").contains("size=4294971392;"));

    assert_eq!(f.code(&format!("REST {}", HUGE - TAIL_LEN as u64)), 350);
    let got = f.retr("huge.bin");
    assert_eq!(got.len(), TAIL_LEN);
    assert!(got == tail, "the tail after REST differs");
    assert_eq!(f.code(&format!("REST {}", HUGE - 10)), 350);
    assert_eq!(f.retr("huge.bin"), tail[TAIL_LEN - 10..].to_vec());
    // The first byte past 4 GiB.
    assert_eq!(f.code("REST 4294967296"), 350);
    assert_eq!(f.retr("huge.bin"), tail.to_vec());
    assert_eq!(f.code(&format!("REST {}", HUGE + 1)), 350);
    let _d = f.pasv();
    assert_eq!(f.code("RETR huge.bin"), 554);

    // Resume an upload past 4 GiB: the last 10 bytes are replaced and 6 added.
    assert_eq!(f.code(&format!("REST {}", HUGE - 10)), 350);
    assert_eq!(f.put_with("STOR huge.bin", b"0123456789abcdef").code.0, 226);
    assert_eq!(f.cmd("SIZE huge.bin").lines[0], (HUGE + 6).to_string());
    let mut file = std::fs::File::open(s.root.join("huge.bin")).unwrap();
    file.seek(SeekFrom::Start(HUGE - 20)).unwrap();
    let mut end = Vec::new();
    file.read_to_end(&mut end).unwrap();
    let mut want = tail[TAIL_LEN - 20..TAIL_LEN - 10].to_vec();
    want.extend_from_slice(b"0123456789abcdef");
    assert_eq!(end, want);
}

/// The names of upload temporaries in `dir`, with their sizes.
fn temporaries(dir: &Path) -> Vec<u64> {
    std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with(".forkftp."))
        .map(|e| e.metadata().map(|m| m.len()).unwrap_or(0))
        .collect()
}

/// A client killed in the middle of STOR (curl, SIGKILL: the kernel closes
/// its control and data connections) leaves the previous file as it was and
/// no `.forkftp.*` temporary behind.
#[test]
fn an_upload_cut_by_a_killed_client_leaves_the_old_file_and_no_temporary() {
    let s = Server::start_with(|root| std::fs::write(root.join("keep.bin"), b"old content").unwrap(), &["-w"]);
    let local = TempDir::new("killed-upload");
    let src = local.join("new.bin");
    std::fs::write(&src, pseudo_random(8 << 20, 31)).unwrap();
    let mut curl = Command::new("curl")
        .args(["-sS", "--max-time", "30", "--limit-rate", "512K", "-T"])
        .arg(&src)
        .arg(format!("ftp://{}/keep.bin", s.addr))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("curl (installed by .ci/run)");
    let started = wait_until(Duration::from_secs(15), || temporaries(s.root.path()).iter().any(|&n| n > 0));
    curl.kill().unwrap();
    curl.wait().unwrap();
    assert!(started, "the upload never started; log:\n{}", s.log_text());
    assert!(
        wait_until(Duration::from_secs(10), || s.log_text().contains("(incomplete)")),
        "the server did not notice the cut; log:\n{}",
        s.log_text()
    );
    assert_eq!(std::fs::read(s.root.join("keep.bin")).unwrap(), b"old content");
    assert!(temporaries(s.root.path()).is_empty(), "a temporary was left behind");
    // The server still takes uploads.
    let mut f = s.anon();
    assert_eq!(f.put_with("STOR keep.bin", b"new content").code.0, 226);
    assert_eq!(std::fs::read(s.root.join("keep.bin")).unwrap(), b"new content");
}

/// Fifty clients killed (SIGKILL) right after sending part of a STOR: a
/// dying client's kernel releases its sockets last-opened first, so the
/// server sees the data connection end some microseconds before the control
/// connection. Each time the upload is known to be cut: the old file stays.
#[test]
fn an_upload_whose_client_dies_with_its_data_connection_is_not_kept() {
    const ROUNDS: usize = 50;
    // Each round forks a child that uploads half a file and kills itself.
    let script = r#"
import os, signal, socket, sys
port, rounds = int(sys.argv[1]), int(sys.argv[2])
def reply(f):
    return f.readline()  # every reply used here is one line
for _ in range(rounds):
    pid = os.fork()
    if pid == 0:
        c = socket.create_connection(("127.0.0.1", port))
        f = c.makefile("rb")
        reply(f)
        for cmd in (b"USER anonymous", b"PASS x@y", b"PASV"):
            c.sendall(cmd + b"\r\n")
            last = reply(f)
        h = last[last.index(b"(") + 1 : last.index(b")")].split(b",")
        d = socket.create_connection(("127.0.0.1", int(h[4]) * 256 + int(h[5])))
        c.sendall(b"STOR keep.bin\r\n")
        assert reply(f).startswith(b"150")
        d.sendall(b"x" * 50000)
        os.kill(os.getpid(), signal.SIGKILL)
    _, status = os.waitpid(pid, 0)
    assert os.WIFSIGNALED(status), "a client did not get to its SIGKILL"
print("killed", rounds)
"#;
    let s = Server::start_with(|root| std::fs::write(root.join("keep.bin"), b"old content").unwrap(), &["-w"]);
    let mut py = Command::new("python3");
    py.args(["-c", script, &s.addr.port().to_string(), &ROUNDS.to_string()]);
    crate::util::run_tool(&mut py, Duration::from_secs(60)).assert_ok("python3 killed clients");
    let cut = || s.log_text().matches("STOR /keep.bin").count();
    assert!(wait_until(Duration::from_secs(10), || cut() == ROUNDS), "{}", s.log_text());
    assert_eq!(s.log_text().matches("(incomplete)").count(), ROUNDS, "{}", s.log_text());
    assert_eq!(std::fs::read(s.root.join("keep.bin")).unwrap(), b"old content");
    assert!(temporaries(s.root.path()).is_empty(), "a temporary was left behind");
}

/// Bigger than the 1 MiB splice pipe many times over, and not a multiple of it.
const BIG: usize = 9 * 1024 * 1024 + 12_345;

#[test]
fn a_binary_upload_of_several_mebibytes_arrives_byte_exact() {
    let s = Server::start(&["-w"]);
    let mut f = s.anon();
    let content = pseudo_random(BIG, 41);
    assert_eq!(f.put_with("STOR big.bin", &content).code.0, 226);
    assert!(std::fs::read(s.root.join("big.bin")).unwrap() == content, "stored file differs");
    assert!(f.retr("big.bin") == content, "downloaded file differs");
}

#[test]
fn appe_and_rest_stor_continue_where_the_file_stands() {
    let s = Server::start(&["-w"]);
    let mut f = s.anon();
    let a = pseudo_random(3 * 1024 * 1024 + 7, 1);
    let b = pseudo_random(2 * 1024 * 1024 + 3, 2);
    assert_eq!(f.put_with("STOR f.bin", &a).code.0, 226);
    assert_eq!(f.put_with("APPE f.bin", &b).code.0, 226);
    let mut want = [a.clone(), b.clone()].concat();
    assert!(std::fs::read(s.root.join("f.bin")).unwrap() == want, "APPE");
    // RFC 3659 section 5: REST then STOR overwrites from the offset on.
    assert_eq!(f.code("REST 1000"), 350);
    assert_eq!(f.put_with("STOR f.bin", &b).code.0, 226);
    want.truncate(1000);
    want.extend_from_slice(&b);
    assert!(std::fs::read(s.root.join("f.bin")).unwrap() == want, "REST+STOR");
}

#[test]
fn an_ascii_upload_still_turns_crlf_into_lf() {
    let s = Server::start(&["-w"]);
    let mut f = s.anon();
    assert_eq!(f.code("TYPE A"), 200);
    let mut text = Vec::new();
    for i in 0..100_000 {
        text.extend_from_slice(format!("line {i}\r\n").as_bytes());
    }
    assert_eq!(f.put_with("STOR t.txt", &text).code.0, 226);
    let stored = std::fs::read(s.root.join("t.txt")).unwrap();
    let want: Vec<u8> = text.iter().copied().filter(|&b| b != b'\r').collect();
    assert!(stored == want, "ASCII upload not converted");
}
