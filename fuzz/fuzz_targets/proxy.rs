//! Fuzzes the PROXY protocol v1 header parser (what a slave reads from its
//! master before anything else): any bytes give a header, "read more" or a
//! refusal, never a panic; a header never claims more bytes than it read,
//! and what we encode parses back to the same addresses.
#![no_main]

use forkftp::protocol::proxy::{encode_v1, parse_v1, Parsed, ProxyHeader, V1_MAX_LEN};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    match parse_v1(data) {
        Ok(Parsed::Header(h, len)) => {
            assert!(len <= data.len() && len <= V1_MAX_LEN, "length {len} of {}", data.len());
            if let ProxyHeader::Tcp { source, destination } = h {
                let again = encode_v1(source, destination);
                assert_eq!(parse_v1(again.as_bytes()), Ok(Parsed::Header(h, again.len())));
            }
        }
        Ok(Parsed::Incomplete) => assert!(data.len() < V1_MAX_LEN),
        Err(_) => {}
    }
});
