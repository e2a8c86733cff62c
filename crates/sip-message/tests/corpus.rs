//! RFC 4475 and RFC 5118 torture messages, driven by `testdata/corpus/MANIFEST.tsv`.
//!
//! One test per file. Each names the outcome this crate gives, and the test
//! also checks that the outcome agrees with the manifest's verdict:
//! - `valid`: [`Message::parse`] succeeds, every known header decodes with
//!   its typed accessor ([`Message::check_syntax`]), and the validation
//!   helpers find nothing wrong.
//! - `invalid-parse`: rejected, either by `Message::parse` (eagerly decoded
//!   parts: start line, top Via, CSeq, Call-ID, From/To, Content-Length,
//!   Max-Forwards) or, for a header that is decoded on demand, by the typed
//!   accessor (`check_syntax`). The table says which and with what.
//! - `valid-syntax-semantic-error`: parses, and the validation helpers
//!   report the specific problem RFC 4475 describes.

use std::path::PathBuf;

mod common;

use common::corpus_message;
use sip_message::validate::{validate_request, validate_response, Policy, Problem};
use sip_message::{HeaderName, Message, ParseErrorKind as K, SyntaxError};

#[derive(Debug)]
enum Expect {
    /// Parses, decodes, validates clean.
    Valid,
    /// Parses and decodes; validation reports only these (documented) problems.
    ValidWith(fn(&Problem) -> bool),
    /// `Message::parse` fails with this kind.
    ParseFails(K),
    /// Parses, but `check_syntax` fails with this.
    SyntaxFails(fn(&SyntaxError) -> bool),
    /// Parses and decodes; validation reports a problem matching this.
    Semantic(fn(&Problem) -> bool),
}

fn manifest_verdict(path: &str) -> String {
    let m = std::fs::read_to_string(
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("testdata/corpus/MANIFEST.tsv"),
    )
    .unwrap();
    m.lines()
        .skip(1)
        .map(|l| l.split('\t').collect::<Vec<_>>())
        .find(|c| c[0] == path)
        .map(|c| c[3].to_owned())
        .unwrap_or_else(|| panic!("{path} not in MANIFEST.tsv"))
}

/// A policy that accepts anything that is not a protocol error, so that
/// `valid` messages (unknown methods, odd bodies) are judged on syntax.
fn permissive() -> Policy {
    Policy {
        methods: None,
        accepted_bodies: None,
        ..Policy::default()
    }
}

fn problems(msg: &Message, policy: &Policy) -> Vec<Problem> {
    if msg.is_request() {
        validate_request(msg, policy)
    } else {
        validate_response(msg)
    }
}

fn run(path: &str, expect: Expect) {
    let verdict = manifest_verdict(path);
    let agrees = match &expect {
        Expect::Valid | Expect::ValidWith(_) => verdict == "valid",
        Expect::ParseFails(_) | Expect::SyntaxFails(_) => verdict == "invalid-parse",
        Expect::Semantic(_) => verdict == "valid-syntax-semantic-error",
    };
    assert!(
        agrees,
        "{path}: manifest says {verdict}, test expects {expect:?}"
    );
    let bytes = corpus_message(path);
    let parsed = Message::parse(bytes.clone());
    match expect {
        Expect::ParseFails(kind) => {
            let e = parsed.expect_err("must not parse");
            assert_eq!(e.kind, kind, "{path}: {e}");
        }
        Expect::SyntaxFails(check) => {
            let msg = parsed.unwrap_or_else(|e| panic!("{path}: {e}"));
            let e = msg.check_syntax().expect_err("must fail typed decoding");
            assert!(check(&e), "{path}: {e:?}");
        }
        Expect::Valid | Expect::ValidWith(_) => {
            let msg = parsed.unwrap_or_else(|e| panic!("{path}: {e}"));
            msg.check_syntax().unwrap_or_else(|e| panic!("{path}: {e}"));
            let found = problems(&msg, &permissive());
            let tolerated = match expect {
                Expect::ValidWith(f) => f,
                _ => |_: &Problem| false,
            };
            assert!(found.iter().all(tolerated), "{path}: {found:?}");
            // Every header line is reachable by name with its raw value.
            for h in msg.headers() {
                assert!(msg.values_by_name(h.raw_name_str()).next().is_some());
            }
        }
        Expect::Semantic(check) => {
            let msg = parsed.unwrap_or_else(|e| panic!("{path}: {e}"));
            let found = problems(&msg, &Policy::default());
            assert!(found.iter().any(check), "{path}: {found:?}");
        }
    }
}

macro_rules! corpus {
    ($( $test:ident: $path:literal => $expect:expr; )*) => {
        $(
            #[test]
            fn $test() {
                run($path, $expect);
            }
        )*

        /// Every manifest row has a test above, and no test names a file
        /// the manifest lacks.
        #[test]
        fn every_manifest_file_has_a_test() {
            let tested: Vec<&str> = vec![$($path),*];
            let m = std::fs::read_to_string(
                PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("testdata/corpus/MANIFEST.tsv"),
            )
            .unwrap();
            let files: Vec<&str> = m.lines().skip(1).filter_map(|l| l.split('\t').next()).collect();
            for f in &files {
                assert!(tested.contains(f), "{f} has no test");
            }
            assert_eq!(files.len(), tested.len());
        }
    };
}

corpus! {
    // ---- RFC 4475 §3.1.1: valid messages
    rfc4475_3_1_1_1_wsinv: "rfc4475/wsinv.dat" => Expect::Valid;
    rfc4475_3_1_1_2_intmeth: "rfc4475/intmeth.dat" => Expect::Valid;
    rfc4475_3_1_1_3_esc01: "rfc4475/esc01.dat" => Expect::Valid;
    rfc4475_3_1_1_4_escnull: "rfc4475/escnull.dat" => Expect::Valid;
    rfc4475_3_1_1_5_esc02: "rfc4475/esc02.dat" => Expect::Valid;
    rfc4475_3_1_1_6_lwsdisp: "rfc4475/lwsdisp.dat" => Expect::Valid;
    rfc4475_3_1_1_7_longreq: "rfc4475/longreq.dat" => Expect::Valid;
    rfc4475_3_1_1_8_dblreq: "rfc4475/dblreq.dat" => Expect::Valid;
    rfc4475_3_1_1_9_semiuri: "rfc4475/semiuri.dat" => Expect::Valid;
    rfc4475_3_1_1_10_transports: "rfc4475/transports.dat" => Expect::Valid;
    rfc4475_3_1_1_11_mpart01: "rfc4475/mpart01.dat" => Expect::Valid;
    rfc4475_3_1_1_12_unreason: "rfc4475/unreason.dat" => Expect::Valid;
    rfc4475_3_1_1_13_noreason: "rfc4475/noreason.dat" => Expect::Valid;

    // ---- RFC 4475 §3.1.2: invalid messages
    rfc4475_3_1_2_1_badinv01: "rfc4475/badinv01.dat" => Expect::ParseFails(K::HeaderValue(HeaderName::Via));
    rfc4475_3_1_2_2_clerr: "rfc4475/clerr.dat" =>
        Expect::Semantic(|p| matches!(p, Problem::ContentLengthMismatch { declared: 9999, .. }));
    rfc4475_3_1_2_3_ncl: "rfc4475/ncl.dat" => Expect::ParseFails(K::ContentLength);
    rfc4475_3_1_2_4_scalar02: "rfc4475/scalar02.dat" => Expect::ParseFails(K::HeaderValue(HeaderName::CSeq));
    rfc4475_3_1_2_5_scalarlg: "rfc4475/scalarlg.dat" => Expect::ParseFails(K::HeaderValue(HeaderName::CSeq));
    rfc4475_3_1_2_6_quotbal: "rfc4475/quotbal.dat" => Expect::ParseFails(K::HeaderValue(HeaderName::To));
    rfc4475_3_1_2_7_ltgtruri: "rfc4475/ltgtruri.dat" => Expect::ParseFails(K::RequestUri);
    rfc4475_3_1_2_8_lwsruri: "rfc4475/lwsruri.dat" => Expect::ParseFails(K::StartLine);
    // The second SP leaves an empty Request-URI, so the SIP-Version check fails.
    rfc4475_3_1_2_9_lwsstart: "rfc4475/lwsstart.dat" => Expect::ParseFails(K::StartLine);
    rfc4475_3_1_2_10_trws: "rfc4475/trws.dat" => Expect::ParseFails(K::StartLine);
    // Request-URI headers are legal URI syntax but forbidden in a
    // Request-URI (RFC 3261 §19.1.5); the Request-URI is decoded on demand.
    rfc4475_3_1_2_11_escruri: "rfc4475/escruri.dat" =>
        Expect::SyntaxFails(|e| matches!(e, SyntaxError::RequestUriHeaders));
    // Date is decoded on demand; RFC 4475 §3.1.2.12 lets an element that
    // does not use Date ignore it.
    rfc4475_3_1_2_12_baddate: "rfc4475/baddate.dat" =>
        Expect::SyntaxFails(|e| matches!(e, SyntaxError::Header(h) if format!("{h}").contains("Date")));
    rfc4475_3_1_2_13_regbadct: "rfc4475/regbadct.dat" =>
        Expect::SyntaxFails(|e| matches!(e, SyntaxError::Header(h) if format!("{h}").contains("Contact")));
    rfc4475_3_1_2_14_badaspec: "rfc4475/badaspec.dat" => Expect::ParseFails(K::HeaderValue(HeaderName::To));
    rfc4475_3_1_2_15_baddn: "rfc4475/baddn.dat" => Expect::ParseFails(K::HeaderValue(HeaderName::From));
    rfc4475_3_1_2_16_badvers: "rfc4475/badvers.dat" =>
        Expect::Semantic(|p| matches!(p, Problem::VersionNotSupported(v) if v.major == 7));
    rfc4475_3_1_2_17_mismatch01: "rfc4475/mismatch01.dat" =>
        Expect::Semantic(|p| *p == Problem::CSeqMethodMismatch);
    rfc4475_3_1_2_18_mismatch02: "rfc4475/mismatch02.dat" =>
        Expect::Semantic(|p| *p == Problem::CSeqMethodMismatch);
    rfc4475_3_1_2_19_bigcode: "rfc4475/bigcode.dat" => Expect::ParseFails(K::StatusCode);

    // ---- RFC 4475 §3.2, §3.3: semantics
    rfc4475_3_2_1_badbranch: "rfc4475/badbranch.dat" => Expect::Semantic(|p| *p == Problem::BareMagicCookie);
    rfc4475_3_3_1_insuf: "rfc4475/insuf.dat" =>
        Expect::Semantic(|p| *p == Problem::MissingHeader(HeaderName::CallId));
    rfc4475_3_3_2_unkscm: "rfc4475/unkscm.dat" => Expect::Semantic(|p| *p == Problem::UnsupportedUriScheme);
    rfc4475_3_3_3_novelsc: "rfc4475/novelsc.dat" => Expect::Semantic(|p| *p == Problem::UnsupportedUriScheme);
    rfc4475_3_3_4_unksm2: "rfc4475/unksm2.dat" => Expect::Semantic(|p| *p == Problem::NonSipAddressOfRecord);
    rfc4475_3_3_5_bext01: "rfc4475/bext01.dat" => Expect::Semantic(|p| matches!(p,
        Problem::BadExtension(t) if t == &["nothingSupportsThis", "nothingSupportsThisEither"]));
    rfc4475_3_3_6_invut: "rfc4475/invut.dat" => Expect::Semantic(|p| *p == Problem::UnsupportedMediaType);
    rfc4475_3_3_7_regaut01: "rfc4475/regaut01.dat" => Expect::Semantic(|p| *p == Problem::UnsupportedAuthScheme);
    rfc4475_3_3_8_multi01: "rfc4475/multi01.dat" =>
        Expect::Semantic(|p| *p == Problem::RepeatedHeader(HeaderName::CallId));
    rfc4475_3_3_9_mcl01: "rfc4475/mcl01.dat" => Expect::Semantic(|p| *p == Problem::ConflictingContentLength);
    rfc4475_3_3_10_bcast: "rfc4475/bcast.dat" => Expect::Semantic(|p| *p == Problem::BroadcastVia);
    rfc4475_3_3_11_zeromf: "rfc4475/zeromf.dat" => Expect::Valid;
    rfc4475_3_3_12_cparam01: "rfc4475/cparam01.dat" => Expect::Valid;
    rfc4475_3_3_13_cparam02: "rfc4475/cparam02.dat" => Expect::Valid;
    rfc4475_3_3_14_regescrt: "rfc4475/regescrt.dat" => Expect::Valid;
    rfc4475_3_3_15_sdp01: "rfc4475/sdp01.dat" => Expect::Semantic(|p| *p == Problem::NotAcceptable);
    rfc4475_3_4_1_inv2543: "rfc4475/inv2543.dat" => Expect::Valid;
    rfc4475_test_dat_extra: "rfc4475/test.dat" => Expect::ParseFails(K::StartLine);

    // ---- RFC 5118 §4: IPv6
    rfc5118_4_1_ipv6_good: "rfc5118/ipv6-good" => Expect::Valid;
    rfc5118_4_2_ipv6_bad: "rfc5118/ipv6-bad" =>
        Expect::SyntaxFails(|e| matches!(e, SyntaxError::RequestUri(_)));
    rfc5118_4_3_port_ambiguous: "rfc5118/port-ambiguous" => Expect::Valid;
    rfc5118_4_4_port_unambiguous: "rfc5118/port-unambiguous" => Expect::Valid;
    rfc5118_4_5_received_with_delim: "rfc5118/via-received-param-with-delim" => Expect::Valid;
    rfc5118_4_5_received_no_delim: "rfc5118/via-received-param-no-delim" => Expect::Valid;
    // The archived Content-Length (268) exceeds the body (RFC 5118 §4.6 text
    // is about the SDP; the length is an archive defect, see corpus README).
    rfc5118_4_6_ipv6_in_sdp: "rfc5118/ipv6-in-sdp" =>
        Expect::ValidWith(|p| matches!(p, Problem::ContentLengthMismatch { declared: 268, .. }));
    rfc5118_4_7_mult_ip_in_header: "rfc5118/mult-ip-in-header" => Expect::Valid;
    rfc5118_4_8_mult_ip_in_sdp: "rfc5118/mult-ip-in-sdp" => Expect::Valid;
    rfc5118_4_9_ipv4_mapped: "rfc5118/ipv4-mapped-ipv6" => Expect::Valid;
    rfc5118_4_10_three_colons: "rfc5118/ipv6-bug-abnf-3-colons" => Expect::Valid;
    rfc5118_4_10_two_colons: "rfc5118/ipv6-correct-abnf-2-colons" => Expect::Valid;
}
