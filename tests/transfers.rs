//! The byte paths of transfers: binary uploads spliced socket to pipe to
//! file, ASCII uploads converted, appends and restarts continuing where the
//! file stands.

use crate::util::{pseudo_random, Server};

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
