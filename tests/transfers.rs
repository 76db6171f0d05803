//! Binary transfers are byte-exact: every byte value, large random files,
//! and offsets past 4 GiB (RFC 3659 section 5: REST in stream mode).

use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;

use crate::util::{pseudo_random, sha256, sha256_file, Server};

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
        eprintln!("skipped: cannot make a sparse file of {HUGE} bytes here: {why}");
        return;
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
