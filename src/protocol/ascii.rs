//! The ASCII representation type (`TYPE A`, RFC 959 section 3.1.1.1): on
//! the wire every line ends in CRLF. Pure converters, fed a chunk at a time,
//! shared by the server and the client.

/// Converts LF to CRLF; `last_cr` says whether the previous chunk ended in
/// CR (so a CRLF split across chunks is not doubled). Returns the new state.
pub fn to_crlf(input: &[u8], out: &mut Vec<u8>, mut last_cr: bool) -> bool {
    for &b in input {
        if b == b'\n' && !last_cr {
            out.push(b'\r');
        }
        out.push(b);
        last_cr = b == b'\r';
    }
    last_cr
}

/// Converts CRLF to LF; `pending_cr` says whether the previous chunk ended in
/// a CR that was held back. Returns the new state.
pub fn from_crlf(input: &[u8], out: &mut Vec<u8>, mut pending_cr: bool) -> bool {
    for &b in input {
        if pending_cr && b != b'\n' {
            out.push(b'\r');
        }
        pending_cr = false;
        if b == b'\r' {
            pending_cr = true;
        } else {
            out.push(b);
        }
    }
    pending_cr
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ascii_download_turns_lf_into_crlf_once() {
        let mut out = Vec::new();
        let st = to_crlf(b"a\nb\r", &mut out, false);
        to_crlf(b"\nc\n", &mut out, st);
        assert_eq!(out, b"a\r\nb\r\nc\r\n");
    }

    #[test]
    fn ascii_upload_turns_crlf_into_lf_across_chunks() {
        let mut out = Vec::new();
        let p = from_crlf(b"a\r\nb\r", &mut out, false);
        assert!(p);
        let p = from_crlf(b"\nc\rd", &mut out, p);
        assert!(!p);
        assert_eq!(out, b"a\nb\nc\rd");
    }
}
