//! `ftpclient` against our own server's extensions (issue 14): `hash`,
//! `verify` and `get -c` through HASH and `OPTS HASH`, with a file changed
//! behind the client's back caught. (`mirror -R` setting times through
//! MFMT is in `trees`.)

use sha2::Digest;

use super::{read, run_c, Dirs};
use crate::util::{pseudo_random, Server};

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[test]
fn hash_verify_and_get_c_use_our_hash_command() {
    let data = pseudo_random(3_000_000, 71);
    let d2 = data.clone();
    let s = Server::start_with(move |root| std::fs::write(root.join("f.bin"), &d2).unwrap(), &["-v"]);
    let d = Dirs::new("ours-hash");
    let o =
        run_c(s.addr, &d.local, "hash f.bin; hash -a md5 f.bin; hash -a crc32 f.bin; get -c f.bin; verify f.bin", &[]);
    assert_eq!(o.code(), Some(0), "{o}");
    assert!(o.stdout.contains(&format!("SHA-256 {}  f.bin", hex(&sha2::Sha256::digest(&data)))), "{o}");
    assert!(o.stdout.contains(&format!("MD5 {}  f.bin", hex(&md5::Md5::digest(&data)))), "{o}");
    assert!(o.stdout.contains(&format!("CRC32 {:08x}  f.bin", crc32fast::hash(&data))), "{o}");
    assert_eq!(o.stdout.matches("f.bin: SHA-256 matches").count(), 2, "{o}");
    assert_eq!(read(&d.local.join("f.bin")), data);
    let log = s.log_text();
    for line in ["OPTS HASH MD5", "OPTS HASH CRC32", "OPTS HASH SHA-256", "HASH f.bin"] {
        assert!(log.contains(line), "{line} not in the server's log:\n{log}");
    }

    // The server's file changes: verify says so.
    std::fs::write(s.root.join("f.bin"), b"another file").unwrap();
    let o = run_c(s.addr, &d.local, "verify f.bin", &[]);
    assert_eq!(o.code(), Some(1), "{o}");
    assert!(o.stderr.contains("SHA-256 differs from the server's"), "{o}");
}
