//! The ASCII representation type (`TYPE A`, RFC 959 section 3.1.1.1): on
//! the wire every line ends in CRLF. Pure converters, fed a chunk at a time,
//! each carrying across chunks what a chunk boundary may split; shared by
//! the server and the client.

/// LF to CRLF, for text going out (ASCII downloads, client uploads).
#[derive(Debug, Default)]
pub struct ToCrlf {
    /// The previous chunk ended in CR: a LF opening this one already has it.
    last_cr: bool,
}

impl ToCrlf {
    /// Appends `input` to `out`, each bare LF as CRLF.
    pub fn convert(&mut self, input: &[u8], out: &mut Vec<u8>) {
        for &b in input {
            if b == b'\n' && !self.last_cr {
                out.push(b'\r');
            }
            out.push(b);
            self.last_cr = b == b'\r';
        }
    }
}

/// CRLF to LF, for text coming in (ASCII uploads, client downloads).
#[derive(Debug, Default)]
pub struct FromCrlf {
    /// A CR ended the previous chunk: held back until the next byte says
    /// whether it is half of a CRLF.
    pending_cr: bool,
}

impl FromCrlf {
    /// Appends `input` to `out`, each CRLF as LF.
    pub fn convert(&mut self, input: &[u8], out: &mut Vec<u8>) {
        for &b in input {
            if self.pending_cr && b != b'\n' {
                out.push(b'\r');
            }
            self.pending_cr = false;
            if b == b'\r' {
                self.pending_cr = true;
            } else {
                out.push(b);
            }
        }
    }

    /// The text has ended: a CR held back is written after all.
    pub fn finish(self, out: &mut Vec<u8>) {
        if self.pending_cr {
            out.push(b'\r');
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ascii_download_turns_lf_into_crlf_once() {
        let mut out = Vec::new();
        let mut to = ToCrlf::default();
        to.convert(b"a\nb\r", &mut out);
        to.convert(b"\nc\n", &mut out);
        assert_eq!(out, b"a\r\nb\r\nc\r\n");
    }

    #[test]
    fn ascii_upload_turns_crlf_into_lf_across_chunks() {
        let mut out = Vec::new();
        let mut from = FromCrlf::default();
        from.convert(b"a\r\nb\r", &mut out);
        assert_eq!(out, b"a\nb");
        from.convert(b"\nc\rd\r", &mut out);
        from.finish(&mut out);
        assert_eq!(out, b"a\nb\nc\rd\r");
    }
}
