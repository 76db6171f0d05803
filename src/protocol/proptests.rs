//! Property tests of the pure parsers: whatever bytes arrive, parsing is
//! bounded and never panics, and what we encode parses back to itself.

use proptest::prelude::*;

use super::ascii::{FromCrlf, ToCrlf};
use super::checksum::ALGOS;
use super::command::{parse, strip_telnet, Command, EpsvArg, MffFacts, ParseError, SiteCommand, TransferType};
use super::framer::{fits, Frame, LineFramer};
use super::reply::{parse_quoted_path, quote_path, Reply, ReplyCode, ReplyParser};
use crate::limits::MAX_COMMAND_LINE;

fn path_arg() -> impl Strategy<Value = String> {
    // Printable names with spaces, dots and slashes; no leading space so the
    // round trip is exact, no CR/LF/NUL (the parser refuses those).
    "[a-zA-Z0-9._/][a-zA-Z0-9 ._/~-]{0,40}"
}

fn command() -> impl Strategy<Value = Command> {
    prop_oneof![
        path_arg().prop_map(Command::Retr),
        path_arg().prop_map(Command::Stor),
        path_arg().prop_map(Command::Cwd),
        path_arg().prop_map(Command::Dele),
        path_arg().prop_map(Command::Rnfr),
        any::<u64>().prop_map(Command::Rest),
        (any::<[u8; 4]>(), 1u16..).prop_map(|(ip, port)| Command::Port((std::net::Ipv4Addr::from(ip), port).into())),
        (any::<[u8; 16]>(), any::<u16>())
            .prop_map(|(ip, port)| Command::Eprt((std::net::Ipv6Addr::from(ip), port).into())),
        Just(Command::Type(TransferType::Ascii)),
        Just(Command::Epsv(EpsvArg::All)),
        proptest::option::of(path_arg()).prop_map(Command::Mlsd),
        // The extensions (issue 14): times from year 0 to 9999.
        (-62_167_219_200i64..253_402_300_799, path_arg()).prop_map(|(t, p)| Command::Mfmt(t, p)),
        (proptest::option::of(-62_167_219_200i64..253_402_300_799), proptest::option::of(0u32..0o777), path_arg())
            .prop_filter("at least one fact", |(t, m, _)| t.is_some() || m.is_some())
            .prop_map(|(modify, mode, p)| Command::Mff(MffFacts { modify, mode }, p)),
        path_arg().prop_map(Command::Hash),
        (proptest::sample::select(ALGOS.to_vec()), path_arg()).prop_map(|(a, p)| Command::XHash(a, p)),
        (0u64..u64::MAX / 2, 0u64..u64::MAX / 2).prop_map(|(a, b)| Command::Rang(a.min(b), a.max(b))),
        (0u32..=0o777, path_arg()).prop_map(|(m, p)| Command::Site(SiteCommand::Chmod(m, p))),
        "[A-Z]{3,8}"
            .prop_filter("not a known verb", |v| matches!(parse(v.as_bytes()), Ok(Command::Unknown(_))))
            .prop_map(Command::Unknown),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn any_bytes_parse_without_panicking(line in proptest::collection::vec(any::<u8>(), 0..600)) {
        let _ = parse(&line);
        let _ = strip_telnet(&line);
    }

    #[test]
    fn lines_over_the_limit_are_refused(extra in 1usize..2000, byte in 0x20u8..0x7f) {
        let line = vec![byte; MAX_COMMAND_LINE + extra];
        prop_assert_eq!(parse(&line), Err(ParseError::TooLong));
    }

    #[test]
    fn encoded_commands_parse_back(cmd in command()) {
        prop_assert_eq!(parse(&cmd.encode()), Ok(cmd));
    }

    #[test]
    fn verbs_are_case_insensitive(cmd in command(), mask in any::<u8>()) {
        let line = cmd.to_line();
        let (verb, rest) = line.split_at(line.find(' ').unwrap_or(line.len()));
        let mixed: String = verb.chars().enumerate()
            .map(|(i, c)| if mask >> (i % 8) & 1 == 1 { c.to_ascii_lowercase() } else { c })
            .collect();
        prop_assert_eq!(parse(format!("{mixed}{rest}\n").as_bytes()), Ok(cmd));
    }

    #[test]
    fn replies_round_trip(code in 100u16..600, lines in proptest::collection::vec("[ -~]{0,60}", 1..6)) {
        let reply = Reply { code: ReplyCode(code), lines: lines.clone() };
        let wire = reply.encode();
        let mut p = ReplyParser::new();
        let mut got = None;
        for line in wire.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            if let Some(r) = p.feed(line).unwrap() {
                got = Some(r);
            }
        }
        let got = got.unwrap();
        prop_assert_eq!(got.code, reply.code);
        // Middle lines are indented by one space on the wire; the parser
        // removes exactly that space.
        prop_assert_eq!(got.lines, lines);
    }

    #[test]
    fn reply_parser_never_panics(lines in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..80), 0..20)) {
        let mut p = ReplyParser::new();
        for l in lines {
            if p.feed(&l).is_err() {
                p = ReplyParser::new();
            }
        }
    }

    /// The fuzzer's finding: a line `parse` accepts must still parse once
    /// re-encoded with CRLF, however it ended and however close to the
    /// limit it is (the limit is defined once, in `framer::fits`).
    #[test]
    fn every_line_accepted_reencodes_into_a_line_that_parses_back(
        verb in prop_oneof![Just("DELE"), Just("RETR"), Just("USER"), Just("PASS"), Just("stat"), Just("SITE"), Just("LIST -la")],
        below in 0usize..8,
        end in prop_oneof![Just(&b"\r\n"[..]), Just(&b"\n"[..]), Just(&b"\r"[..]), Just(&b""[..])],
    ) {
        let arg_len = MAX_COMMAND_LINE.saturating_sub(verb.len() + 1 + below);
        let mut line = format!("{verb} {}", "a".repeat(arg_len)).into_bytes();
        line.extend_from_slice(end);
        if let Ok(cmd) = parse(&line) {
            let wire = cmd.encode();
            prop_assert!(fits(wire.len() - 2, MAX_COMMAND_LINE), "{} bytes re-encoded", wire.len());
            prop_assert_eq!(parse(&wire), Ok(cmd));
        }
    }

    /// The framer gives the same lines however the bytes are cut and
    /// whenever they are popped: each complete line, or `TooLong` once for a
    /// line over the limit (complete or not).
    #[test]
    fn framing_does_not_depend_on_how_bytes_arrive(
        wire in proptest::collection::vec(prop_oneof![Just(b'a'), Just(b'\r'), Just(b'\n')], 0..200),
        cut in 1usize..40,
        pop_each_time in any::<bool>(),
    ) {
        let max = 12;
        let mut want = Vec::new();
        let mut segments: Vec<&[u8]> = wire.split(|&b| b == b'\n').collect();
        let tail = segments.pop().unwrap_or(&[]);
        for seg in segments {
            let content = seg.strip_suffix(b"\r").unwrap_or(seg);
            want.push(fits(content.len(), max).then(|| content.to_vec()));
        }
        if tail.len() >= max {
            want.push(None);
        }
        let mut f = LineFramer::new(max);
        let mut got = Vec::new();
        let pop = |f: &mut LineFramer, got: &mut Vec<Option<Vec<u8>>>| {
            while let Some(frame) = f.next_frame() {
                got.push(match frame { Frame::Line(l) => Some(l.to_vec()), Frame::TooLong => None });
            }
        };
        for piece in wire.chunks(cut) {
            f.push(piece);
            if pop_each_time {
                pop(&mut f, &mut got);
                // Only the unfinished line is left, and at most `max` of it.
                prop_assert!(f.buffered() <= max);
            }
        }
        pop(&mut f, &mut got);
        prop_assert_eq!(got, want);
    }

    /// RFC 959 Appendix II: whatever the path, the 257 reply gives it back.
    #[test]
    fn quoted_paths_read_back(path in "[ -~]{0,40}", rest in "[ -~]{0,20}") {
        prop_assert_eq!(parse_quoted_path(&format!("{} {rest}", quote_path(&path))), Some(path));
    }

    /// RFC 959 3.1.1.1: text without CR goes out with CRLF and comes back
    /// the same, however the chunks are cut on either side.
    #[test]
    fn ascii_text_survives_the_wire(
        text in proptest::collection::vec(prop_oneof![Just(b'a'), Just(b'\n'), Just(b' ')], 0..300),
        cut_out in 1usize..50,
        cut_in in 1usize..50,
    ) {
        let mut wire = Vec::new();
        let mut to = ToCrlf::default();
        for c in text.chunks(cut_out) {
            to.convert(c, &mut wire);
        }
        prop_assert_eq!(wire.iter().filter(|&&b| b == b'\r').count(), text.iter().filter(|&&b| b == b'\n').count());
        let mut back = Vec::new();
        let mut from = FromCrlf::default();
        for c in wire.chunks(cut_in) {
            from.convert(c, &mut back);
        }
        from.finish(&mut back);
        prop_assert_eq!(back, text);
    }

    /// Whatever bytes arrive, CRLF to LF loses nothing but the CR of a CRLF.
    #[test]
    fn ascii_uploads_keep_lone_crs(wire in proptest::collection::vec(prop_oneof![Just(b'a'), Just(b'\r'), Just(b'\n')], 0..200), cut in 1usize..30) {
        let mut whole = Vec::new();
        let mut from = FromCrlf::default();
        from.convert(&wire, &mut whole);
        from.finish(&mut whole);
        let mut pieces = Vec::new();
        let mut from = FromCrlf::default();
        for c in wire.chunks(cut) {
            from.convert(c, &mut pieces);
        }
        from.finish(&mut pieces);
        prop_assert_eq!(&pieces, &whole);
        let crlf = wire.windows(2).filter(|w| w == b"\r\n").count();
        prop_assert_eq!(whole.len(), wire.len() - crlf);
    }
}

// The PROXY header, both versions (HAProxy's proxy-protocol.txt).
mod proxy_header {
    use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

    use proptest::prelude::*;

    use crate::limits::PROXY_V2_MAX_LEN;
    use crate::protocol::proxy::{
        encode_v1, encode_v2, parse, wanted, Parsed, ProxyHeader, V1_MAX_LEN, V2_FIXED_LEN, V2_SIGNATURE,
    };

    /// Two addresses of one family (v4, or v6 that is not IPv4-mapped),
    /// which both encoders keep as they are.
    fn pair() -> impl Strategy<Value = (SocketAddr, SocketAddr)> {
        let v4 = (any::<[u8; 4]>(), any::<u16>(), any::<[u8; 4]>(), any::<u16>()).prop_map(|(a, p, b, q)| {
            (SocketAddr::new(Ipv4Addr::from(a).into(), p), SocketAddr::new(Ipv4Addr::from(b).into(), q))
        });
        let v6addr = any::<[u8; 16]>().prop_map(|o| {
            let ip = Ipv6Addr::from(o);
            IpAddr::V6(if ip.to_ipv4_mapped().is_some() { Ipv6Addr::LOCALHOST } else { ip })
        });
        let v6 = (v6addr.clone(), any::<u16>(), v6addr, any::<u16>())
            .prop_map(|(a, p, b, q)| (SocketAddr::new(a, p), SocketAddr::new(b, q)));
        prop_oneof![v4, v6]
    }

    /// Bytes that look like a v2 header often enough to get past the
    /// signature: the signature, then anything.
    fn v2ish() -> impl Strategy<Value = Vec<u8>> {
        proptest::collection::vec(any::<u8>(), 0..400).prop_map(|tail| [V2_SIGNATURE.as_slice(), &tail].concat())
    }

    /// Reads `stream` as a server does: `wanted` bytes at a time, until the
    /// parser decides. Returns the decision and how many bytes were taken.
    fn read_like_a_server(stream: &[u8]) -> (Result<Parsed, crate::protocol::proxy::ProxyError>, usize) {
        let mut taken = 0;
        loop {
            match parse(&stream[..taken]) {
                Ok(Parsed::Incomplete) if taken < stream.len() => {
                    taken = (taken + wanted(&stream[..taken])).min(stream.len())
                }
                other => return (other, taken),
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

        /// Whatever bytes arrive: no panic, a header never claims more bytes
        /// than it was given nor more than its version's limit.
        #[test]
        fn any_bytes_give_a_bounded_answer(bytes in prop_oneof![proptest::collection::vec(any::<u8>(), 0..3000), v2ish()]) {
            match parse(&bytes) {
                Ok(Parsed::Header(_, n)) => prop_assert!(n <= bytes.len() && n <= V1_MAX_LEN.max(PROXY_V2_MAX_LEN)),
                Ok(Parsed::Incomplete) => prop_assert!(bytes.len() < PROXY_V2_MAX_LEN),
                Err(_) => {}
            }
        }

        /// What we encode parses back, and a server reading it followed by
        /// the client's own bytes takes the header and not one byte more.
        #[test]
        fn headers_round_trip_and_reading_stops_at_their_end(
            (s, d) in pair(),
            v2 in any::<bool>(),
            after in proptest::collection::vec(any::<u8>(), 0..64),
        ) {
            let header = if v2 { encode_v2(s, d) } else { encode_v1(s, d).into_bytes() };
            let stream = [header.as_slice(), &after].concat();
            let (parsed, taken) = read_like_a_server(&stream);
            prop_assert_eq!(parsed, Ok(Parsed::Header(ProxyHeader::Tcp { source: s, destination: d }, header.len())));
            prop_assert_eq!(taken, header.len());
        }

        /// However a v2-looking stream goes on, the reader never takes a
        /// byte past the length its fixed part announces.
        #[test]
        fn reading_stops_at_the_announced_length(stream in v2ish()) {
            let (_, taken) = read_like_a_server(&stream);
            let announced = match stream.get(14..16) {
                Some(l) => V2_FIXED_LEN + usize::from(u16::from_be_bytes([l[0], l[1]])),
                None => V2_FIXED_LEN,
            };
            prop_assert!(taken <= announced, "took {} of a header announcing {}", taken, announced);
        }
    }
}
