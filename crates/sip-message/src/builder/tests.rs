//! `build()` must give exactly what `Message::parse(encode())` gives: the
//! same message (buffer, start line, every header field, body span, the
//! eagerly decoded headers) or the same error. Hand-written edge cases,
//! then builders made by a seeded generator.

use bytes::Bytes;
use bytestring::ByteString;

use super::{Layout, RequestBuilder, ResponseBuilder};
use crate::error::ParseError;
use crate::header_name::HeaderName;
use crate::headers::{CSeq, ContentLength, MaxForwards, NameAddr, To, Transport, Via};
use crate::message::{request_line, status_line, Message};
use crate::method::Method;
use crate::uri::{Host, Uri};

/// The two results agree field by field.
fn same(got: Result<Message, ParseError>, want: Result<Message, ParseError>, what: &[u8]) {
    match (got, want) {
        (Ok(g), Ok(w)) => assert_eq!(g.inner(), w.inner(), "{:?}", Bytes::from(what.to_vec())),
        (Err(g), Err(w)) => assert_eq!(g, w, "{:?}", Bytes::from(what.to_vec())),
        (g, w) => panic!(
            "build {g:?} but parse {w:?} for {:?}",
            Bytes::from(what.to_vec())
        ),
    }
}

/// True if the layout alone made the message (no parse).
fn quick_request(b: &RequestBuilder) -> bool {
    let mut lines = Layout::new();
    let (buf, start_end) = b.write(&mut |l| lines.push(l));
    let uri_at = b.start.method.as_str().len() + 1;
    request_line(&b.start.method, uri_at, b.start.uri.as_bytes())
        .is_some_and(|s| Message::assemble(buf, s, start_end, &lines).is_ok())
}

fn quick_response(b: &ResponseBuilder) -> bool {
    let mut lines = Layout::new();
    let (buf, start_end) = b.write(&mut |l| lines.push(l));
    let at = "SIP/2.0  ".len() + crate::encode::decimal_len(u64::from(b.start.code));
    status_line(b.start.code, at, b.start.reason.as_bytes())
        .is_some_and(|s| Message::assemble(buf, s, start_end, &lines).is_ok())
}

/// Checks a request builder; true if it took the quick path.
fn req(b: &RequestBuilder) -> bool {
    let bytes = b.encode();
    same(b.build(), Message::parse(bytes.clone()), &bytes);
    quick_request(b)
}

/// Checks a response builder; true if it took the quick path.
fn resp(b: &ResponseBuilder) -> bool {
    let bytes = b.encode();
    same(b.build(), Message::parse(bytes.clone()), &bytes);
    quick_response(b)
}

fn uri(s: &str) -> Uri {
    Uri::parse(s.to_owned()).unwrap_or_else(|e| panic!("{s}: {e:?}"))
}

fn invite() -> RequestBuilder {
    RequestBuilder::new(Method::Invite, &uri("sip:bob@biloxi.example.com"))
        .raw_header(
            "Via",
            "SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK776asdhds;rport",
        )
        .raw_header("Max-Forwards", "70")
        .raw_header(
            "From",
            "Alice <sip:alice@atlanta.example.com>;tag=1928301774",
        )
        .raw_header("To", "Bob <sip:bob@biloxi.example.com>")
        .raw_header("Call-ID", "a84b4c76e66710@pc33.atlanta.example.com")
        .header(&CSeq::new(314159, Method::Invite))
        .raw_header("Contact", "<sip:alice@192.0.2.1:5060>")
        .raw_header("Allow", "INVITE, ACK, CANCEL, OPTIONS, BYE")
        .raw_header("User-Agent", "test")
}

fn parsed(text: &str) -> Message {
    Message::parse(Bytes::from(text.to_owned())).unwrap_or_else(|e| panic!("{e:?}: {text}"))
}

const REQUEST: &str = "INVITE sip:bob@b SIP/2.0\r\n\
    Via: SIP/2.0/UDP h1;branch=z9hG4bK1, SIP/2.0/TCP h2;branch=z9hG4bK2\r\n\
    v: SIP/2.0/UDP h3;branch=z9hG4bK3\r\n\
    f: <sip:a@a>;tag=1\r\n\
    To: <sip:b@b>\r\n\
    i: cid@h\r\n\
    CSeq: 7 INVITE\r\n\
    Timestamp: 54\r\n\
    Route: <sip:p1>\r\n\
    Subject: folded\r\n value\r\n\
    X-Odd:   spaced   \r\n\
    l: 4\r\n\r\nbody";

#[test]
fn usual_messages_take_the_quick_path() {
    let sdp = "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\n";
    assert!(req(&invite()));
    assert!(req(&invite().body("application/sdp", sdp)));
    assert!(req(&invite().header_first(&Via::new(
        Transport::Tcp,
        Host::Ipv4([192, 0, 2, 9].into()),
        Some(5070),
        "z9hG4bKtop",
    ))));
    assert!(req(&invite().replace(&MaxForwards(69))));
    assert!(req(&invite().remove("Allow")));
    let m = parsed(REQUEST);
    assert!(resp(&ResponseBuilder::new(200).raw_header("Call-ID", "x")));
    // The fold of Subject is not copied; the rest is.
    assert!(resp(&ResponseBuilder::from_request(&m, 180)));
    assert!(resp(
        &ResponseBuilder::from_request(&m, 200).with_to_tag("as83")
    ));
    assert!(resp(&ResponseBuilder::from_request(&m, 100)));
    let names = [HeaderName::Via, HeaderName::From, HeaderName::CallId];
    assert!(req(
        &RequestBuilder::new(Method::Cancel, &uri("sip:bob@b")).copy_from(&m, &names)
    ));
}

#[test]
fn raw_text_the_parser_reads_otherwise_is_left_to_it() {
    let base = || RequestBuilder::new(Method::Options, &uri("sip:a@b"));
    let odd_values = [
        "",
        " ",
        "   ",
        " x",
        "x ",
        "  x  ",
        "\tx",
        "x\t",
        "a\r\nb",
        "a\r\n b",
        "a\r\n\tb",
        "a\r\n",
        "\r\n",
        "a\nb",
        "a\rb",
        "a\r",
        "\x00",
        "a\x0bb",
        "a\x0db",
        "a\x0eb",
        "a\x1fb",
        "a\x7fb",
        "é",
        "x\r\nVia: SIP/2.0/UDP evil;branch=z9hG4bKevil",
        "x\r\n\r\nbody",
        "x\r\nContent-Length: 99",
    ];
    let names = [
        "Via",
        "v",
        "From",
        "f",
        "To",
        "t",
        "Call-ID",
        "i",
        "CSeq",
        "Max-Forwards",
        "Content-Length",
        "l",
        "Subject",
        "X-Unknown",
        "x",
        "",
        " ",
        " X",
        "X ",
        "Via ",
        "\tVia",
        "X:Y",
        "X\r\nY",
        "X\nY",
        "Bad Name",
        "B@d",
        "é",
        "Content-Length ",
        // CR folds to '-' in the name lookup, which assumes none.
        "Call\rID",
        "Call\nID",
        "Max\rForwards",
    ];
    for n in names {
        for v in odd_values {
            req(&base().raw_header(n, v));
            req(&base().raw_header_first(n, v).raw_header("To", "<sip:b>"));
            req(&invite().raw_header(n, v));
            req(&invite().replace_raw(n, v));
            resp(&ResponseBuilder::new(200).raw_header(n, v));
            resp(
                &ResponseBuilder::new(200)
                    .raw_header("To", v)
                    .with_to_tag("t"),
            );
            resp(
                &ResponseBuilder::new(200)
                    .raw_header("To", "<sip:b>")
                    .with_to_tag(v),
            );
        }
        req(&invite().remove(n));
    }
    // Values the parser trims or reads as written, on the quick path.
    assert!(req(&base().raw_header("Subject", "")));
    assert!(req(&base().raw_header("Subject", "  both ends  ")));
    assert!(req(&base().raw_header("Call-ID", " c@h ")));
    assert!(req(&base().raw_header("X-Unknown", "v")));
    assert!(req(&base().raw_header("x", "compact unknown")));
    assert!(req(&base().raw_header("Subject", "é \u{7f}")));
    // Lines the parser would split, join or reject are not.
    assert!(!quick_request(&base().raw_header("Subject", "a\r\nb: c")));
    assert!(!quick_request(&base().raw_header("Subject", "a\r\n b")));
    assert!(!quick_request(&base().raw_header(" X", "v")));
    // A name with trailing white space: the parser's own name rule.
    assert!(req(&base().raw_header("X ", "v")));
    assert!(!quick_request(&base().raw_header("Bad Name", "v")));
}

#[test]
fn eager_headers_decode_as_the_parser_does() {
    let base = || RequestBuilder::new(Method::Register, &uri("sip:reg.example.com"));
    let cases: &[(&str, &[&str])] = &[
        (
            "Via",
            &[
                "SIP/2.0/UDP h;branch=z9hG4bK1",
                "SIP/2.0/UDP h;branch=z9hG4bK1, SIP/2.0/TCP g",
                "SIP/2.0/UDP [2001:db8::1]:5060;branch=z9hG4bK1;received=1.2.3.4;rport=9",
                "SIP/2.0/UDP h ; branch = z9hG4bK1",
                "SIP/2.0/UDP",
                "bad via",
                "SIP/2.0/UDP h;branch=\"q\", x",
                "SIP/2.0/UDP h,,,,",
                &"SIP/2.0/UDP h, ".repeat(80),
            ],
        ),
        (
            "CSeq",
            &["1 INVITE", "1 FOO", "x INVITE", "99999999999 INVITE", ""],
        ),
        ("Call-ID", &["a@b", "a b", "", "@"]),
        (
            "From",
            &[
                "<sip:a>;tag=1",
                "<sip:a>",
                "<sip:a",
                "\"x\" <sip:a>;tag=\"q\"",
                "",
            ],
        ),
        ("To", &["<sip:a>;tag=1", "sip:a;tag=2", "<<>>"]),
        ("Content-Length", &["0", "4", "-1", "99999999999", "x"]),
        ("Max-Forwards", &["70", "0", "255", "256", "-1", "x", ""]),
    ];
    for (n, values) in cases {
        for v in *values {
            req(&base().raw_header(n, v));
            req(&base().raw_header(n, v).raw_header(n, "second"));
            req(&base().raw_header(n, v).body("text/plain", "body"));
            resp(&ResponseBuilder::new(180).raw_header(n, v));
            resp(
                &ResponseBuilder::new(180)
                    .raw_header("Via", "SIP/2.0/UDP x")
                    .raw_header(n, v),
            );
        }
    }
    // A Content-Length given by hand is dropped, typed or raw, any number.
    let hand = invite()
        .header(&ContentLength(99))
        .raw_header("l", "7")
        .raw_header("Content-Length", "5");
    assert!(req(&hand.clone().body("text/plain", "abc")));
    assert!(req(&hand));
    // Missing headers.
    assert!(req(&RequestBuilder::new(Method::Ack, &uri("sip:a@b"))));
    assert!(resp(&ResponseBuilder::new(200)));
}

#[test]
fn start_lines_the_parser_may_reject() {
    let methods = [
        Method::Invite,
        Method::Other(ByteString::from("FOO")),
        Method::Other(ByteString::from("")),
        Method::Other(ByteString::from("A B")),
        Method::Other(ByteString::from("A\r\nB")),
        Method::Other(ByteString::from("\r\nINVITE")),
        Method::Other(ByteString::from("X:Y")),
        Method::Other(ByteString::from("é")),
        Method::Other(ByteString::from("SIP/2.0")),
    ];
    for text in [
        "sip:a@b",
        "sips:a@b:5061;transport=tls",
        "tel:+1-212-555-0100",
        "urn:service:sos",
        "x:y",
    ] {
        let Ok(u) = Uri::parse(text.to_owned()) else {
            continue;
        };
        for m in &methods {
            req(&RequestBuilder::new(m.clone(), &u).raw_header("Call-ID", "c"));
        }
    }
    for code in [0, 1, 99, 100, 183, 200, 699, 700, 999, 1000, 65535] {
        for reason in ["", "OK", " x ", "A\r\nB", "A\nB", "é", "A B C"] {
            resp(&ResponseBuilder::new(code));
            resp(&ResponseBuilder::new(code).reason(reason));
        }
    }
}

#[test]
fn limits_on_both_sides_of_the_edge() {
    let base = || RequestBuilder::new(Method::Message, &uri("sip:a@b"));
    // Line length: the default limit is 16 KiB, `Subject: ` included.
    for len in [16 * 1024 - 10, 16 * 1024 - 9, 16 * 1024 - 8, 16 * 1024 + 1] {
        let b = base().raw_header("Subject", &"s".repeat(len));
        req(&b);
        resp(&ResponseBuilder::new(200).reason(&"r".repeat(len)));
    }
    // Header count: 256 lines, Content-Length among them.
    for n in [254, 255, 256, 300] {
        let mut b = base();
        for i in 0..n {
            b = b.raw_header("X-N", &i.to_string());
        }
        req(&b);
    }
    // Header section: 64 KiB.
    for extra in [0, 1, 2, 3, 1000] {
        let mut b = base();
        let mut v = "v".repeat(1000);
        for _ in 0..64 {
            b = b.raw_header("X-Big", &v);
        }
        v.truncate(extra);
        b = b.raw_header("X", &v);
        req(&b);
    }
    // Whole message: 256 KiB.
    for len in [256 * 1024 - 60, 256 * 1024 - 50, 256 * 1024, 300 * 1024] {
        req(&base().body("text/plain", vec![b'b'; len]));
    }
    // Via values: at most 70.
    for n in [69, 70, 71] {
        let mut b = base();
        for _ in 0..n {
            b = b.raw_header("Via", "SIP/2.0/UDP h;branch=z9hG4bK1");
        }
        req(&b);
    }
}

#[test]
fn copied_and_answered_lines() {
    let requests = [
        REQUEST.to_owned(),
        "BYE sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nTo: <sip:b>;tag=x\r\n\
         From: <sip:a>;tag=y\r\nCall-ID: c\r\nCSeq: 2 BYE\r\n\r\n"
            .to_owned(),
        "OPTIONS sip:a@b SIP/2.0\r\nTo:<sip:b>\r\nFrom :\t<sip:a>\r\nvia:SIP/2.0/UDP h\r\n\
         CALL-ID:  c  \r\ncseq: 1 OPTIONS\r\n\r\n"
            .to_owned(),
        "OPTIONS sip:a@b SIP/2.0\r\nSubject: \r\nTo: <sip:b> \r\n\r\n".to_owned(),
        "OPTIONS sip:a@b SIP/2.0\r\nTo: <sip:b\u{e9}>\r\nTo: <sip:c>\r\n\r\n".to_owned(),
    ];
    let all = [
        HeaderName::Via,
        HeaderName::From,
        HeaderName::To,
        HeaderName::CallId,
        HeaderName::CSeq,
        HeaderName::Route,
        HeaderName::Subject,
        HeaderName::ContentLength,
        HeaderName::Other,
    ];
    for text in &requests {
        let m = parsed(text);
        for code in [100, 180, 200, 487] {
            resp(&ResponseBuilder::from_request(&m, code));
            resp(&ResponseBuilder::from_request(&m, code).with_to_tag("t1"));
            resp(&ResponseBuilder::from_request(&m, code).with_to_tag(""));
            resp(
                &ResponseBuilder::from_request(&m, code)
                    .with_to_tag("t2")
                    .body("application/sdp", "v=0\r\n"),
            );
        }
        for n in 0..all.len() {
            req(&RequestBuilder::new(Method::Ack, &uri("sip:a@b")).copy_from(&m, &all[..n]));
            req(&invite().copy_from(&m, &all[n..]));
        }
    }
    // Not UTF-8: the To is rewritten with the bytes replaced.
    let m = Message::parse(Bytes::from_static(
        b"OPTIONS sip:a@b SIP/2.0\r\nTo: <sip:b\xff>\r\nCSeq: 1 OPTIONS\r\n\r\n",
    ))
    .unwrap_or_else(|e| panic!("{e:?}"));
    resp(&ResponseBuilder::from_request(&m, 200).with_to_tag("x"));
    resp(&ResponseBuilder::from_request(&m, 200));
}

/// A small seeded generator (xorshift64*): the same builders every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

const NAMES: &[&str] = &[
    "Via",
    "v",
    "VIA",
    "From",
    "f",
    "To",
    "t",
    "Call-ID",
    "i",
    "CSeq",
    "Max-Forwards",
    "Content-Length",
    "l",
    "Contact",
    "m",
    "Route",
    "Subject",
    "s",
    "Timestamp",
    "X-Foo",
    "x-foo",
    "X",
    "",
    " X",
    "X ",
    "X:",
    "X\r\n",
    "Bad Name",
    "Call\rID",
    "\u{e9}",
];

const PIECES: &[&str] = &[
    "SIP/2.0/UDP h;branch=z9hG4bK",
    "SIP/2.0/TCP 192.0.2.1:5060",
    ";rport",
    ";tag=",
    "<sip:a@b>",
    "\"Al\" <sip:al@x>",
    "1 INVITE",
    "2 BYE",
    "70",
    "0",
    "-1",
    "4294967296",
    "abc",
    "a@b",
    ", ",
    ",",
    " ",
    "\t",
    "\r\n",
    "\r\n ",
    "\r",
    "\n",
    "\x01",
    "\u{e9}",
    "\"",
    "\"q\"",
    ";",
    "=",
    ":",
];

fn value(rng: &mut Rng) -> String {
    let n = rng.below(5);
    let mut v = String::new();
    for _ in 0..n {
        let piece: &&str = rng.pick(PIECES);
        v.push_str(piece);
    }
    if rng.below(50) == 0 {
        v.push_str(&"y".repeat(rng.below(20_000)));
    }
    v
}

/// One random edit of a builder of either kind.
macro_rules! edit {
    ($rng:expr, $b:expr) => {{
        let rng: &mut Rng = $rng;
        let b = $b;
        let n = *rng.pick(NAMES);
        match rng.below(12) {
            0 => b.raw_header_first(n, &value(rng)),
            1 => b.replace_raw(n, &value(rng)),
            2 => b.remove(n),
            3 => b.header(&CSeq::new(rng.next() as u32, Method::Bye)),
            4 => b.header_first(&Via::new(
                Transport::Udp,
                Host::Ipv4([10, 0, 0, 1].into()),
                Some(rng.below(70_000) as u16),
                "z9hG4bKr",
            )),
            5 => b.replace(&MaxForwards(rng.below(256) as u8)),
            6 => b.header(&ContentLength(rng.below(10) as u32)),
            7 => b.header(&To(NameAddr::new(uri("sip:to@x")))),
            8 => {
                let body = "b".repeat(rng.below(8));
                let ct = if rng.below(2) == 0 { "text/plain" } else { "" };
                b.body(ct, body)
            }
            _ => b.raw_header(n, &value(rng)),
        }
    }};
}

#[test]
fn generated_builders_build_what_their_bytes_parse_to() {
    let mut rng = Rng(0x005e_ed0f_b11d);
    let requests = [
        parsed(REQUEST),
        invite().build().unwrap_or_else(|e| panic!("{e:?}")),
    ];
    let methods = [
        Method::Invite,
        Method::Ack,
        Method::Bye,
        Method::Other("FOO".into()),
    ];
    let (mut quick, mut total) = (0, 0);
    for _ in 0..3000 {
        let edits = rng.below(14);
        let q = if rng.below(2) == 0 {
            let m = rng.pick(&methods).clone();
            let mut b = RequestBuilder::new(m, &uri("sip:bob@b"));
            if rng.below(3) == 0 {
                let names = [HeaderName::Via, HeaderName::To, HeaderName::CSeq];
                b = b.copy_from(rng.pick(&requests), &names[..rng.below(4)]);
            }
            for _ in 0..edits {
                b = edit!(&mut rng, b);
            }
            req(&b)
        } else {
            let code = *rng.pick(&[100, 180, 200, 404, 99, 700]);
            let mut b = if rng.below(2) == 0 {
                ResponseBuilder::from_request(rng.pick(&requests), code)
            } else {
                ResponseBuilder::new(code)
            };
            for _ in 0..edits {
                b = edit!(&mut rng, b);
            }
            if rng.below(2) == 0 {
                let tag = value(&mut rng);
                b = b.with_to_tag(&tag);
            }
            resp(&b)
        };
        quick += usize::from(q);
        total += 1;
    }
    // Both paths are exercised.
    assert!(
        quick > total / 10 && quick < total * 9 / 10,
        "{quick} of {total}"
    );
}

/// Every file under `dir`, recursively.
fn files(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            files(&p, out);
        } else {
            out.push(p);
        }
    }
}

/// The torture messages of RFC 4475 / RFC 5118 and the bench messages:
/// answered (with and without a To tag) and copied line by line.
#[test]
fn corpus_messages_answered_and_copied() {
    let root = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("testdata");
    let mut paths = Vec::new();
    files(&root, &mut paths);
    let mut parsed_count = 0;
    for p in paths {
        let Ok(data) = std::fs::read(&p) else {
            continue;
        };
        let Ok(m) = Message::parse(data) else {
            continue;
        };
        parsed_count += 1;
        for code in [100, 200, 486] {
            resp(&ResponseBuilder::from_request(&m, code));
            resp(&ResponseBuilder::from_request(&m, code).with_to_tag("c0rpus"));
        }
        if let (Some(method), Some(Ok(u))) = (m.method(), m.request_uri()) {
            let names: Vec<HeaderName> = m.headers().map(|h| h.name).collect();
            req(&RequestBuilder::new(method.clone(), &u).copy_from(&m, &names));
            req(&RequestBuilder::new(method.clone(), &u)
                .copy_from(&m, &names)
                .body("application/sdp", m.body()));
        }
    }
    assert!(parsed_count > 30, "{parsed_count}");
}

/// `Message::assemble` checks every claim of a layout: laid out wrongly
/// (lines shifted, colons or ends off by a few bytes, names claimed raw),
/// it never panics, and whatever it accepts is what the parser makes of
/// the bytes.
#[test]
fn wrong_layouts_are_caught() {
    use crate::message::Laid;
    let mut rng = Rng(0x0bad_1a70);
    let head = "OPTIONS sip:a@b SIP/2.0\r\n";
    let start_end = head.len() - 2;
    let (mut taken, mut left) = (0, 0);
    for _ in 0..4000 {
        // A head of random lines, some of them odd.
        let mut text = String::from(head);
        let mut lines = Vec::new();
        for _ in 0..rng.below(6) {
            let start = text.len();
            let name = *rng.pick(&["Via", "To", "Call-ID", "X-A", "l", "Max-Forwards"]);
            text.push_str(name);
            text.push(':');
            let colon = text.len() - 1;
            text.push(' ');
            text.push_str(&value(&mut rng));
            let end = text.len();
            text.push_str("\r\n");
            lines.push((name, start, colon, end));
        }
        text.push_str("\r\n");
        text.push_str(&"b".repeat(rng.below(3)));
        let buf = Bytes::from(text);
        let shift = |rng: &mut Rng, x: usize| match rng.below(8) {
            0 => x.saturating_sub(1),
            1 => x + 1,
            2 => x + 2,
            _ => x,
        };
        let mut laid: Vec<Laid> = Vec::new();
        for &(name, start, colon, end) in &lines {
            let (start, colon, end) = (
                shift(&mut rng, start),
                shift(&mut rng, colon),
                shift(&mut rng, end),
            );
            // A known name is claimed only where it is written canonically.
            let h = HeaderName::from_bytes(name.as_bytes());
            let canonical = buf.get(start..colon) == Some(h.as_str().as_bytes());
            let name = (canonical && h != HeaderName::Other && rng.below(2) == 0).then_some(h);
            laid.push(Laid {
                name,
                start,
                colon,
                end,
            });
        }
        if rng.below(10) == 0 {
            laid.pop();
        }
        let start = request_line(&Method::Options, 8, b"sip:a@b");
        let Some(start) = start else {
            panic!("the request line is plain");
        };
        let start_end = shift(&mut rng, start_end);
        match Message::assemble(buf.clone(), start, start_end, &laid) {
            Ok(m) => {
                let p = Message::parse(buf.clone())
                    .unwrap_or_else(|e| panic!("{e:?} {buf:?} {laid:?}"));
                assert_eq!(m.inner(), p.inner(), "{buf:?} {laid:?}");
                taken += 1;
            }
            Err(back) => {
                assert_eq!(back, buf);
                left += 1;
            }
        }
    }
    assert!(
        taken > 200 && left > 200,
        "{taken} taken, {left} left to the parser"
    );
}
