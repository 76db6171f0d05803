//! The little HTTP/1.x that `/metrics` and `/health` need (RFC 9112),
//! pure: a bounded parser of a request's head, and the encoder of a
//! response that closes the connection.
//!
//! Security: the head is read into a buffer of at most a few KiB (the
//! caller's bound); a head that does not end within it is refused (`431`),
//! and so is anything but `GET` and `HEAD` (`405`) or a request line that
//! is not `METHOD SP TARGET SP HTTP/1.x` (`400`). A request body is never
//! read: every response closes the connection.

/// A request's method, of those served.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    /// `GET`.
    Get,
    /// `HEAD`: the same response without its body.
    Head,
}

/// A request head, parsed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    /// Its method.
    pub method: Method,
    /// The path of its target, without the query.
    pub path: String,
}

/// Why a request is refused, as the status it gets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HttpError {
    /// 400: not an HTTP/1.x request line, or a malformed header line.
    BadRequest,
    /// 405: a method other than GET or HEAD.
    MethodNotAllowed,
    /// 431: the head does not end within the bound.
    TooLarge,
}

impl HttpError {
    /// The status code of the response.
    pub fn status(self) -> u16 {
        match self {
            HttpError::BadRequest => 400,
            HttpError::MethodNotAllowed => 405,
            HttpError::TooLarge => 431,
        }
    }
}

/// Where the head ends in `buf` (after its empty line; a bare LF is
/// accepted for CRLF, RFC 9112 section 2.2), if it does.
fn head_end(buf: &[u8]) -> Option<usize> {
    let mut line_start = 0;
    for (i, &b) in buf.iter().enumerate() {
        if b == b'\n' {
            let line = &buf[line_start..i];
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            if line.is_empty() && line_start > 0 {
                return Some(i + 1);
            }
            line_start = i + 1;
        }
    }
    None
}

/// Parses the head at the start of `buf`: `Ok(None)` while it is
/// incomplete and still within `max` bytes.
pub fn parse_head(buf: &[u8], max: usize) -> Result<Option<Request>, HttpError> {
    let Some(end) = head_end(&buf[..buf.len().min(max)]) else {
        return if buf.len() >= max { Err(HttpError::TooLarge) } else { Ok(None) };
    };
    let head = std::str::from_utf8(&buf[..end]).map_err(|_| HttpError::BadRequest)?;
    let mut lines = head.lines();
    let request_line = lines.next().ok_or(HttpError::BadRequest)?;
    let mut parts = request_line.split(' ');
    let (Some(method), Some(target), Some(version), None) = (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(HttpError::BadRequest);
    };
    if !matches!(version, "HTTP/1.0" | "HTTP/1.1") || !target.starts_with('/') {
        return Err(HttpError::BadRequest);
    }
    // Header lines are `name: value`; their content is not needed.
    for line in lines.map(|l| l.trim_end_matches('\r')).filter(|l| !l.is_empty()) {
        let (name, _) = line.split_once(':').ok_or(HttpError::BadRequest)?;
        if name.is_empty() || name.contains(|c: char| c.is_whitespace() || c.is_control()) {
            return Err(HttpError::BadRequest);
        }
    }
    let method = match method {
        "GET" => Method::Get,
        "HEAD" => Method::Head,
        m if !m.is_empty() && m.bytes().all(|b| b.is_ascii_uppercase()) => return Err(HttpError::MethodNotAllowed),
        _ => return Err(HttpError::BadRequest),
    };
    let path = target.split('?').next().unwrap_or(target).to_string();
    Ok(Some(Request { method, path }))
}

/// The reason phrase of the statuses used.
fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        431 => "Request Header Fields Too Large",
        503 => "Service Unavailable",
        _ => "Error",
    }
}

/// A complete response that closes the connection; without its body for
/// `HEAD` (`head_only`), its `Content-Length` unchanged.
pub fn response(status: u16, content_type: &str, body: &[u8], head_only: bool) -> Vec<u8> {
    let mut out = format!(
        "HTTP/1.1 {status} {}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n{}\r\n",
        reason(status),
        body.len(),
        if status == 405 { "Allow: GET, HEAD\r\n" } else { "" }
    )
    .into_bytes();
    if !head_only {
        out.extend_from_slice(body);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get(path: &str) -> Request {
        Request { method: Method::Get, path: path.into() }
    }

    #[test]
    fn a_request_head_ends_at_its_empty_line() {
        let req = b"GET /metrics HTTP/1.1\r\nHost: x\r\nAccept: text/plain\r\n\r\n";
        assert_eq!(parse_head(req, 1024), Ok(Some(get("/metrics"))));
        // RFC 9112 section 2.2: a bare LF ends a line too.
        assert_eq!(
            parse_head(b"HEAD /health?x=1 HTTP/1.0\n\n", 1024),
            Ok(Some(Request { method: Method::Head, path: "/health".into() }))
        );
        for partial in [&b""[..], b"GET", b"GET /metrics HTTP/1.1\r\n", b"GET / HTTP/1.1\r\nHost: x\r\n\r"] {
            assert_eq!(parse_head(partial, 1024), Ok(None), "{partial:?}");
        }
    }

    #[test]
    fn a_bad_or_endless_head_is_refused() {
        assert_eq!(parse_head(b"POST /metrics HTTP/1.1\r\n\r\n", 1024), Err(HttpError::MethodNotAllowed));
        assert_eq!(parse_head(b"GET /metrics\r\n\r\n", 1024), Err(HttpError::BadRequest));
        assert_eq!(parse_head(b"GET  /metrics HTTP/1.1\r\n\r\n", 1024), Err(HttpError::BadRequest));
        assert_eq!(parse_head(b"GET metrics HTTP/1.1\r\n\r\n", 1024), Err(HttpError::BadRequest));
        assert_eq!(parse_head(b"GET / HTTP/2\r\n\r\n", 1024), Err(HttpError::BadRequest));
        assert_eq!(parse_head(b"GET / HTTP/1.1\r\nno colon\r\n\r\n", 1024), Err(HttpError::BadRequest));
        assert_eq!(parse_head(b"GET / HTTP/1.1\r\nX\xff: y\r\n\r\n", 1024), Err(HttpError::BadRequest));
        let endless = [b'a'; 64];
        assert_eq!(parse_head(&endless, 64), Err(HttpError::TooLarge));
        let long_header = [&b"GET / HTTP/1.1\r\nX: "[..], &[b'y'; 100], b"\r\n\r\n"].concat();
        assert_eq!(parse_head(&long_header, 64), Err(HttpError::TooLarge));
    }

    proptest::proptest! {
        /// Whatever bytes arrive, the parser answers within its bound and
        /// never panics; what it accepts names a path.
        #[test]
        fn any_bytes_are_parsed_or_refused(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..2048), max in 1usize..1024) {
            if let Ok(Some(r)) = parse_head(&bytes, max) {
                proptest::prop_assert!(r.path.starts_with('/'));
            }
            if bytes.len() >= max {
                proptest::prop_assert!(parse_head(&bytes, max) != Ok(None));
            }
        }

        /// A request arriving in pieces is incomplete until its last byte.
        #[test]
        fn a_request_in_pieces_is_complete_at_its_end(path in "/[a-z0-9/._-]{0,40}", host in "[a-z]{1,20}") {
            let req = format!("GET {path}?q=1 HTTP/1.1\r\nHost: {host}\r\n\r\n");
            for cut in 0..req.len() {
                proptest::prop_assert_eq!(parse_head(&req.as_bytes()[..cut], 1024), Ok(None));
            }
            proptest::prop_assert_eq!(parse_head(req.as_bytes(), 1024), Ok(Some(get(&path))));
        }
    }

    #[test]
    fn responses_close_and_head_has_no_body() {
        let r = response(200, "text/plain", b"ok\n", false);
        assert_eq!(
            r,
            b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 3\r\nConnection: close\r\n\r\nok\n"
        );
        let h = response(200, "text/plain", b"ok\n", true);
        assert!(h.ends_with(b"Content-Length: 3\r\nConnection: close\r\n\r\n"));
        assert!(String::from_utf8(response(405, "text/plain", b"", false)).unwrap().contains("Allow: GET, HEAD\r\n"));
    }
}
