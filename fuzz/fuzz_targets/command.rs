//! Fuzzes the control-line parser and the path normalizer: any bytes a
//! client can send must give a `Command` or a `ParseError`, never a panic,
//! and a path argument must stay inside the root.
#![no_main]

use forkftp::protocol::{parse, Command};
use forkftp::server::vpath::VPath;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(cmd) = parse(data) {
        // What parses must encode and parse back the same.
        let again = parse(&cmd.encode());
        assert_eq!(again.as_ref(), Ok(&cmd), "round trip of {cmd:?}");
        if let Command::Retr(p) | Command::Stor(p) | Command::Cwd(p) | Command::Dele(p) = &cmd {
            if let Ok(v) = VPath::root().join(p) {
                assert!(v.as_str().starts_with('/'));
                assert!(v.components().all(|c| c != ".." && c != "."));
            }
        }
    }
});
