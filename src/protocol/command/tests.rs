//! Unit tests of the command parser and encoder (property tests are in
//! `protocol::proptests`).

use super::*;

#[test]
fn verbs_are_case_insensitive() {
    assert_eq!(parse(b"noop\r\n"), Ok(Command::Noop));
    assert_eq!(parse(b"NoOp"), Ok(Command::Noop));
    assert_eq!(parse(b"retr a.txt\r\n"), Ok(Command::Retr("a.txt".into())));
}

/// RFC 959 4.1: lines end in CRLF; a bare LF is accepted as well.
#[test]
fn crlf_and_lf_both_end_a_line() {
    assert_eq!(parse(b"PWD\r\n"), parse(b"PWD\n"));
}

#[test]
fn paths_keep_their_spaces() {
    assert_eq!(parse(b"RETR my file .txt\r\n"), Ok(Command::Retr("my file .txt".into())));
    assert_eq!(parse(b"CWD  two\r\n"), Ok(Command::Cwd(" two".into())));
}

/// HELP names exactly the verbs the parser knows.
#[test]
fn every_listed_verb_is_known() {
    for v in VERBS {
        let known = |line: &str| !matches!(parse(line.as_bytes()), Ok(Command::Unknown(_)));
        assert!(known(v) && known(&format!("{v} x")), "{v}");
    }
    for v in ["XYZZY", "ADAT", "MIC", "XSHA"] {
        assert!(!VERBS.contains(&v) && parse(v.as_bytes()) == Ok(Command::Unknown(v.into())));
    }
}

/// RFC 2228 and RFC 4217: the security verbs, their arguments checked.
#[test]
fn ftps_verbs_parse() {
    assert_eq!(parse(b"AUTH tls\r\n"), Ok(Command::Auth("TLS".into())));
    assert_eq!(parse(b"PBSZ 0"), Ok(Command::Pbsz(0)));
    assert_eq!(parse(b"prot p"), Ok(Command::Prot('P')));
    assert_eq!(parse(b"CCC"), Ok(Command::Ccc));
    assert!(matches!(parse(b"AUTH"), Err(ParseError::MissingArgument("AUTH"))));
    assert!(matches!(parse(b"PBSZ x"), Err(ParseError::BadArgument("PBSZ", _))));
    assert!(matches!(parse(b"PROT PP"), Err(ParseError::BadArgument("PROT", _))));
    assert!(matches!(parse(b"CCC now"), Err(ParseError::UnexpectedArgument("CCC"))));
    assert_eq!(Command::Prot('P').to_line(), "PROT P");
}

#[test]
fn unknown_verbs_are_values() {
    assert_eq!(parse(b"SITE EXEC ls"), Ok(Command::Site(SiteCommand::Unknown("EXEC".into()))));
    assert_eq!(parse(b"XYZZY"), Ok(Command::Unknown("XYZZY".into())));
}

#[test]
fn garbage_is_an_error_not_a_panic() {
    assert_eq!(parse(b""), Err(ParseError::Empty));
    assert_eq!(parse(b"\r\n"), Err(ParseError::Empty));
    assert_eq!(parse(b"RETR a\0b"), Err(ParseError::Nul));
    assert_eq!(parse(b"RETR \xc3\x28"), Err(ParseError::NotUtf8));
    assert_eq!(parse(b"12345"), Err(ParseError::BadVerb));
    assert_eq!(parse(&[b'A'; MAX_COMMAND_LINE + 1]), Err(ParseError::TooLong));
}

#[test]
fn argument_rules() {
    assert_eq!(parse(b"NOOP x"), Err(ParseError::UnexpectedArgument("NOOP")));
    assert_eq!(parse(b"RETR"), Err(ParseError::MissingArgument("RETR")));
    assert_eq!(parse(b"REST -1"), Err(ParseError::BadArgument("REST", "offset must be a decimal number")));
    assert_eq!(parse(b"REST 4294967296000"), Ok(Command::Rest(4_294_967_296_000)));
    assert_eq!(parse(b"USER"), Err(ParseError::MissingArgument("USER")));
}

#[test]
fn type_mode_stru() {
    assert_eq!(parse(b"TYPE A"), Ok(Command::Type(TransferType::Ascii)));
    assert_eq!(parse(b"TYPE a n"), Ok(Command::Type(TransferType::Ascii)));
    assert_eq!(parse(b"TYPE I"), Ok(Command::Type(TransferType::Image)));
    assert_eq!(parse(b"TYPE L 8"), Ok(Command::Type(TransferType::Image)));
    assert_eq!(parse(b"TYPE E"), Err(ParseError::Unsupported("TYPE")));
    assert_eq!(parse(b"TYPE Q"), Err(ParseError::BadArgument("TYPE", "unknown type")));
    assert_eq!(parse(b"MODE s"), Ok(Command::Mode('S')));
    assert_eq!(parse(b"MODE B"), Err(ParseError::Unsupported("MODE")));
    assert_eq!(parse(b"STRU R"), Err(ParseError::Unsupported("STRU")));
}

/// The address codec is tested in `protocol::address`; here, how its
/// refusals become parse errors (RFC 959 4.1.2, RFC 2428 section 2).
#[test]
fn port_and_eprt_arguments() {
    assert_eq!(parse(b"PORT 127,0,0,1,4,1"), Ok(Command::Port("127.0.0.1:1025".parse().unwrap())));
    assert_eq!(parse(b"PORT 127,0,0,1,4"), Err(ParseError::BadArgument("PORT", "expected h1,h2,h3,h4,p1,p2")));
    assert_eq!(parse(b"EPRT !2!::1!5282!"), Ok(Command::Eprt("[::1]:5282".parse().unwrap())));
    assert_eq!(parse(b"EPRT |3|x|1|"), Err(ParseError::Unsupported("EPRT")));
    assert!(matches!(parse(b"EPRT |1|::1|1|"), Err(ParseError::BadArgument("EPRT", _))));
}

/// RFC 2428 section 3: EPSV, EPSV 1|2, EPSV ALL.
#[test]
fn epsv_argument() {
    assert_eq!(parse(b"EPSV"), Ok(Command::Epsv(EpsvArg::Any)));
    assert_eq!(parse(b"epsv all"), Ok(Command::Epsv(EpsvArg::All)));
    assert_eq!(parse(b"EPSV 2"), Ok(Command::Epsv(EpsvArg::Protocol(2))));
    assert!(parse(b"EPSV x").is_err());
}

/// RFC 959 4.1.3: ABOR preceded by Telnet IP and Synch (IAC IP IAC DM).
#[test]
fn abor_after_telnet_interrupt() {
    assert_eq!(parse(b"\xff\xf4\xff\xf2ABOR\r\n"), Ok(Command::Abor));
    // DM taken out of band: a stray IAC remains.
    assert_eq!(parse(b"\xff\xf4\xffABOR\r\n"), Ok(Command::Abor));
    assert_eq!(strip_telnet(b"a\xff\xffb").as_ref(), b"a\xffb");
}

#[test]
fn ls_options_are_removed() {
    assert_eq!(parse(b"LIST -la"), Ok(Command::List(None)));
    assert_eq!(parse(b"LIST -a -l dir"), Ok(Command::List(Some("dir".into()))));
    assert_eq!(parse(b"NLST -"), Ok(Command::Nlst(Some("-".into()))));
    assert_eq!(parse(b"LIST dir"), Ok(Command::List(Some("dir".into()))));
}

/// Found by the fuzzer: blanks alone are no argument.
#[test]
fn blank_arguments_are_missing_arguments() {
    assert_eq!(parse(b"OPTS   "), Err(ParseError::MissingArgument("OPTS")));
    assert_eq!(parse(b"HELP   "), Ok(Command::Help(None)));
}

#[test]
fn opts_names_are_upper_cased() {
    assert_eq!(parse(b"OPTS utf8 on"), Ok(Command::Opts("UTF8".into(), Some("on".into()))));
    assert_eq!(parse(b"OPTS MLST type;size;"), Ok(Command::Opts("MLST".into(), Some("type;size;".into()))));
}

#[test]
fn passwords_never_print() {
    let c = parse(b"PASS hunter2").unwrap();
    assert!(!format!("{c:?}").contains("hunter2"));
    assert_eq!(c.loggable(), "PASS ****");
}

#[test]
fn encode_then_parse_round_trips() {
    let cmds = [
        Command::Retr("a b".into()),
        Command::Port("10.0.0.1:2000".parse().unwrap()),
        Command::Eprt("[::1]:3000".parse().unwrap()),
        Command::Rest(77),
        Command::Type(TransferType::Ascii),
        Command::Epsv(EpsvArg::All),
        Command::List(Some("dir".into())),
    ];
    for c in cmds {
        assert_eq!(parse(&c.encode()), Ok(c));
    }
}

/// draft-somers-ftp-mfxx section 3: `MFMT YYYYMMDDHHMMSS path`, UTC.
#[test]
fn mfmt_takes_a_time_and_a_path() {
    assert_eq!(parse(b"MFMT 20000229235959 my file.txt"), Ok(Command::Mfmt(951_868_799, "my file.txt".into())));
    assert_eq!(parse(b"mfmt 20000229235959.5 f"), Ok(Command::Mfmt(951_868_799, "f".into())));
    let bad = Err(ParseError::BadArgument("MFMT", "expected YYYYMMDDHHMMSS and a path"));
    for line in ["MFMT 2000022923595 f", "MFMT 20001329000000 f", "MFMT 20000229235959", "MFMT f"] {
        assert_eq!(parse(line.as_bytes()), bad, "{line}");
    }
    assert_eq!(parse(b"MFMT"), Err(ParseError::MissingArgument("MFMT")));
}

/// draft-somers-ftp-mfxx section 4: `MFF fact=value;...; path`.
#[test]
fn mff_takes_facts_and_a_path() {
    let both = MffFacts { modify: Some(951_868_799), mode: Some(0o644) };
    assert_eq!(parse(b"MFF modify=20000229235959;UNIX.mode=0644; a b"), Ok(Command::Mff(both, "a b".into())));
    assert_eq!(
        parse(b"MFF Modify=20000229235959; f"),
        Ok(Command::Mff(MffFacts { modify: Some(951_868_799), mode: None }, "f".into()))
    );
    let bad = Err(ParseError::BadArgument("MFF", "expected fact=value; and a path"));
    for line in ["MFF modify=1 f", "MFF modify; f", "MFF =1; f", "MFF nothing"] {
        assert_eq!(parse(line.as_bytes()), bad, "{line}");
    }
    assert_eq!(parse(b"MFF modify=2000; f"), Err(ParseError::BadArgument("MFF", "modify= takes YYYYMMDDHHMMSS")));
    assert_eq!(
        parse(b"MFF UNIX.mode=4755; f"),
        Err(ParseError::BadArgument("MFF", "only the permission bits 0-777 may be set"))
    );
    assert_eq!(parse(b"MFF UNIX.owner=0; f"), Err(ParseError::Unsupported("MFF")), "504: a fact we cannot set");
}

/// draft-bryan-ftpext-hash section 3 and the X verbs of ProFTPD's mod_digest.
#[test]
fn hash_verbs_name_their_algorithm() {
    assert_eq!(parse(b"HASH a b.iso"), Ok(Command::Hash("a b.iso".into())));
    assert_eq!(parse(b"HASH"), Err(ParseError::MissingArgument("HASH")));
    assert_eq!(parse(b"xsha256 f"), Ok(Command::XHash(Algo::Sha256, "f".into())));
    assert_eq!(parse(b"XSHA512 f"), Ok(Command::XHash(Algo::Sha512, "f".into())));
    assert_eq!(parse(b"XSHA1 f"), Ok(Command::XHash(Algo::Sha1, "f".into())));
    assert_eq!(parse(b"XMD5 f"), Ok(Command::XHash(Algo::Md5, "f".into())));
    assert_eq!(parse(b"XCRC f"), Ok(Command::XHash(Algo::Crc32, "f".into())));
    assert_eq!(parse(b"XMD5"), Err(ParseError::MissingArgument("XMD5")));
    assert_eq!(parse(b"X5SHA f"), Err(ParseError::BadVerb), "digits only at the end");
    assert_eq!(parse(b"XSHA384 f"), Ok(Command::Unknown("XSHA384".into())));
}

/// draft-bryan-ftp-range section 3: inclusive octets; `RANG 1 0` resets.
#[test]
fn rang_takes_two_positions() {
    assert_eq!(parse(b"RANG 0 49"), Ok(Command::Rang(0, 49)));
    assert_eq!(parse(b"RANG 1 0"), Ok(Command::Rang(1, 0)));
    assert_eq!(parse(b"RANG 7 7"), Ok(Command::Rang(7, 7)));
    assert_eq!(parse(b"RANG 9 3"), Err(ParseError::BadArgument("RANG", "the first octet comes after the last")));
    for line in ["RANG 1", "RANG a b", "RANG 1 2 3", "RANG -1 2"] {
        assert_eq!(parse(line.as_bytes()), Err(ParseError::BadArgument("RANG", "expected two octet positions")));
    }
}

#[test]
fn site_subcommands() {
    assert_eq!(parse(b"SITE CHMOD 644 a b"), Ok(Command::Site(SiteCommand::Chmod(0o644, "a b".into()))));
    assert_eq!(parse(b"site chmod 0755 d"), Ok(Command::Site(SiteCommand::Chmod(0o755, "d".into()))));
    assert_eq!(
        parse(b"SITE CHMOD 4755 f"),
        Err(ParseError::BadArgument("SITE CHMOD", "only the permission bits 0-777 may be set"))
    );
    assert!(parse(b"SITE CHMOD 1777 d").map_err(|e| e.to_string()).unwrap_err().contains("0-777"));
    assert_eq!(parse(b"SITE CHMOD 8 f"), Err(ParseError::BadArgument("SITE CHMOD", "expected an octal mode")));
    assert_eq!(parse(b"SITE CHMOD 644"), Err(ParseError::MissingArgument("SITE CHMOD")));
    assert_eq!(parse(b"SITE UMASK"), Ok(Command::Site(SiteCommand::Umask(None))));
    assert_eq!(parse(b"SITE UMASK 027"), Ok(Command::Site(SiteCommand::Umask(Some(0o27)))));
    assert_eq!(
        parse(b"SITE UMASK 2777"),
        Err(ParseError::BadArgument("SITE UMASK", "only the permission bits 0-777 may be set"))
    );
    assert_eq!(parse(b"SITE HELP"), Ok(Command::Site(SiteCommand::Help)));
    assert_eq!(parse(b"SITE"), Err(ParseError::MissingArgument("SITE")));
    assert_eq!(parse(b"AVBL"), Ok(Command::Avbl(None)));
    assert_eq!(parse(b"AVBL up load"), Ok(Command::Avbl(Some("up load".into()))));
}

/// The client sends what the server parses back into the same command.
#[test]
fn extension_commands_encode_to_what_parses_back() {
    for c in [
        Command::Mfmt(951_868_799, "a b.txt".into()),
        Command::Mff(MffFacts { modify: Some(951_868_799), mode: Some(0o600) }, "f".into()),
        Command::Hash("f g".into()),
        Command::XHash(Algo::Sha512, "f".into()),
        Command::XHash(Algo::Crc32, "f".into()),
        Command::Rang(0, 49),
        Command::Avbl(None),
        Command::Avbl(Some("d".into())),
        Command::Site(SiteCommand::Chmod(0o640, "f".into())),
        Command::Site(SiteCommand::Umask(Some(0o7))),
        Command::Site(SiteCommand::Umask(None)),
        Command::Site(SiteCommand::Help),
    ] {
        assert_eq!(parse(&c.encode()), Ok(c.clone()), "{}", c.to_line());
    }
}
