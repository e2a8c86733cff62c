//! Robustness over mutated wire messages, deterministic and bounded.
//!
//! Every corpus and bench message is mutated with a seeded xorshift PRNG
//! (byte flips, inserted delimiters and high octets, deleted, duplicated
//! or swapped lines, splices of two messages, huge numbers in CSeq,
//! Content-Length and ports, folds, bare CR/LF, oversize lines). For each
//! mutant, everything a stack calls on received bytes runs: framing,
//! parsing (default and small limits), `check_syntax`, every typed header
//! exported from `sip_message::headers`, the Request-URI, validation, a
//! response built from the request (parsed again) and the transport's
//! top-Via edit. Nothing may panic.
//!
//! On the same mutants: framing of every prefix is bounded and monotonic,
//! typed values survive Display and the builder, and the eagerly decoded
//! fields agree with the typed headers. The last part checks that
//! [`ParseLimits`] reject oversize input with the kind of error that names
//! the limit.
//!
//! About 20,000 mutants in all, a few seconds in a debug build;
//! `SIP_MUTANTS_SCALE=k` multiplies them for a longer search.

mod common;

use std::panic::{catch_unwind, AssertUnwindSafe};

use sip_message::framing::{self, Status};
use sip_message::headers::{
    Accept, Allow, AllowEvents, Authorization, CSeq, CallId, Contact, ContentLength, ContentType,
    Date, Event, Expires, From as FromHdr, MaxForwards, MinExpires, MinSE, Path, ProxyAuthenticate,
    ProxyAuthorization, ProxyRequire, RAck, RSeq, Reason, RecordRoute, ReferTo, Require,
    RetryAfter, Route, SessionExpires, SipETag, SipIfMatch, SubscriptionState, Supported, To,
    TypedHeader, Unsupported, Via, WwwAuthenticate,
};
use sip_message::validate::{validate_request, validate_response, Policy};
use sip_message::{
    HeaderName, Message, Method, ParseErrorKind, ParseLimits, RequestBuilder, ResponseBuilder, Uri,
    ViaEditError,
};

// ---------------------------------------------------------------------------
// Inputs
// ---------------------------------------------------------------------------

/// xorshift64* (Vigna): small, fast, good enough to drive mutations.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed.max(1))
    }
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    /// A number in `0..n` (`n > 0`).
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

/// Every corpus and bench message in wire form (see `common`).
fn seeds() -> Vec<Vec<u8>> {
    common::wire_messages()
        .into_iter()
        .map(|(_, m)| m)
        .collect()
}

const BYTES: &[u8] =
    b"\r\n\0\"<>;,%:@[]\\ \t=?&/()*'{}#\x01\x7f\x80\xbf\xc3\xa9\xe2\xff0123456789aZ";

const NUMBERS: &[&str] = &[
    "0",
    "00000000000000000000000000000000001",
    "255",
    "256",
    "65535",
    "65536",
    "4294967295",
    "4294967296",
    "18446744073709551615",
    "18446744073709551616",
    "340282366920938463463374607431768211456",
    "99999999999999999999999999999999999999999999999999",
    "-1",
    "",
];

/// Lines that reach the less travelled paths of the header grammars.
const LINES: &[&[u8]] = &[
    b"Content-Length: 4294967295",
    b"Content-Length: 4294967296",
    b"l: 99999999999999999999",
    b"Content-Length: 0",
    b"Content-Length: 1",
    b"Content-Length:\r\n 3",
    b"CSeq: 4294967296 INVITE",
    b"CSeq: 4294967295 X",
    b"CSeq: 1",
    b"Max-Forwards: 256",
    b"Via: SIP/2.0/UDP [::1]:65536;branch=z9hG4bK;rport=99999",
    b"Via: SIP/2.0/UDP h;received=::ffff:1.2.3.4;rport;rport=1;branch=a;branch=b",
    b"Via: SIP/2.0/UDP [2001:db8:::1];maddr=[::1];ttl=999",
    b"Via: SIP / 2.0 / TCP h:0 , SIP/2.0/UDP \"x\",",
    b"v: SIP/2.0/UDP 255.255.255.255",
    b"Via: SIP/2.0/UDP h;x=\"a,b\";y=\"\\\"\"",
    b"Contact: *",
    b"Contact: *, <sip:a>",
    b"m: \"a,b\" <sip:a@b;x=1,2>;expires=4294967296;q=1.5",
    b"To: \"\\\" <sip:a@b>;tag=",
    b"To: <sip:a@b>;tag;tag=x",
    b"From: <sip:%00@[::1]:0;lr?a=b>;tag=\"x\"",
    b"From: a b c <tel:+1>;tag=\xff",
    b"f: <sip:a@b",
    b"Route: <sip:a>,,,<",
    b"Record-Route: <sip:a;lr>, <sips:b>",
    b"Retry-After: 5 ((((",
    b"Retry-After: 5 (a\\)b) ;duration=4294967296",
    b"Retry-After: 5 )",
    b"Date: Sat, 99 Nov 9999 99:99:99 GMT",
    b"Date: Thu, 01 Jan 1970 00:00:00 GMT",
    b"Authorization: Digest a=\"",
    b"Authorization: Digest username=\"a\", realm=b, ,",
    b"WWW-Authenticate: Digest realm=\"a\\\"\", qop=\"auth,auth-int\", stale=TRUE",
    b"Accept: */*;q=",
    b"Accept:",
    b"Supported:",
    b"Require: ,",
    b"Allow: INVITE,,ACK",
    b"Event: a;id",
    b"o: presence.winfo;id=\"\"",
    b"Subscription-State: terminated;reason=giveup;retry-after=4294967296",
    b"RAck: 1 2",
    b"RAck: 4294967296 1 INVITE",
    b"RSeq: 4294967296",
    b"Session-Expires: 90;refresher=uac;refresher",
    b"Min-SE: 4294967296",
    b"Reason: SIP;cause=200;text=\"a\", Q.850;cause=99999",
    b"Refer-To: <sip:a?Replaces=x%3Bto-tag%3D1>",
    b"SIP-ETag: \xff",
    b"Call-ID: a@b@c",
    b"i: \"<>\"",
    b"Content-Type: application/sdp;;",
    b"c: /",
    b"Expires: 4294967296",
    b"Timestamp: 1.5 0.2",
    b" folded continuation",
    b"\tfolded continuation",
    b"X-Empty:",
    b":",
    b"NoColon",
];

/// Applies one to four random mutations.
fn mutate(rng: &mut Rng, input: &[u8], seeds: &[Vec<u8>]) -> Vec<u8> {
    let mut b = input.to_vec();
    for _ in 0..1 + rng.below(4) {
        mutate_once(rng, &mut b, seeds);
    }
    b
}

fn line_starts(b: &[u8]) -> Vec<usize> {
    let mut v = vec![0];
    v.extend(
        b.windows(2)
            .enumerate()
            .filter(|(_, w)| *w == b"\r\n")
            .map(|(i, _)| i + 2),
    );
    v
}

fn line_at(b: &[u8], start: usize) -> std::ops::Range<usize> {
    let end = b[start..]
        .windows(2)
        .position(|w| w == b"\r\n")
        .map_or(b.len(), |p| start + p + 2);
    start..end
}

fn mutate_once(rng: &mut Rng, b: &mut Vec<u8>, seeds: &[Vec<u8>]) {
    let pos = |rng: &mut Rng, b: &Vec<u8>| rng.below(b.len() + 1);
    match rng.below(16) {
        0 if !b.is_empty() => {
            let i = rng.below(b.len());
            b[i] ^= 1 << rng.below(8);
        }
        1 if !b.is_empty() => {
            let i = rng.below(b.len());
            b[i] = *rng.pick(BYTES);
        }
        2 => {
            let i = pos(rng, b);
            let n = 1 + rng.below(3);
            for _ in 0..n {
                let c = *rng.pick(BYTES);
                b.insert(i, c);
            }
        }
        3 if !b.is_empty() => {
            let i = rng.below(b.len());
            let n = (1 + rng.below(16)).min(b.len() - i);
            b.drain(i..i + n);
        }
        4 => {
            // Duplicate a line.
            let starts = line_starts(b);
            let r = line_at(b, *rng.pick(&starts));
            let line = b[r.clone()].to_vec();
            b.splice(r.end..r.end, line);
        }
        5 => {
            // Delete a line.
            let starts = line_starts(b);
            let r = line_at(b, *rng.pick(&starts));
            b.drain(r);
        }
        6 => {
            // Swap two lines (the later one first, so ranges stay valid).
            let starts = line_starts(b);
            let (x, y) = (*rng.pick(&starts), *rng.pick(&starts));
            let (lo, hi) = (x.min(y), x.max(y));
            let r1 = line_at(b, lo);
            let r2 = line_at(b, hi);
            if r1.end <= r2.start {
                let l1 = b[r1.clone()].to_vec();
                let l2 = b[r2.clone()].to_vec();
                b.splice(r2, l1);
                b.splice(r1, l2);
            }
        }
        7 => {
            let i = pos(rng, b);
            b.truncate(i);
        }
        8 => {
            // Splice: a prefix of this message and a suffix of another.
            let other = rng.pick(seeds);
            let i = pos(rng, b);
            let j = rng.below(other.len() + 1);
            b.truncate(i);
            b.extend_from_slice(&other[j..]);
        }
        9 => {
            // Replace a run of digits by an extreme number.
            let digits: Vec<usize> = (0..b.len()).filter(|&i| b[i].is_ascii_digit()).collect();
            if !digits.is_empty() {
                let s = *rng.pick(&digits);
                let e = (s..b.len())
                    .find(|&i| !b[i].is_ascii_digit())
                    .unwrap_or(b.len());
                b.splice(s..e, rng.pick(NUMBERS).bytes());
            }
        }
        10 => {
            // Insert a tricky header line at a line start.
            let starts = line_starts(b);
            let at = *rng.pick(&starts);
            let mut line = rng.pick(LINES).to_vec();
            line.extend_from_slice(b"\r\n");
            b.splice(at..at, line);
        }
        11 => {
            // Break a line ending: bare LF, bare CR, or a fold.
            let starts = line_starts(b);
            let at = *rng.pick(&starts);
            if at >= 2 {
                const ENDS: [&[u8]; 5] = [b"\n", b"\r", b"\r\n ", b"\r\n\t", b""];
                let with = *rng.pick(&ENDS);
                b.splice(at - 2..at, with.iter().copied());
            }
        }
        12 => {
            // Repeat a line many times (header count and Via limits).
            let starts = line_starts(b);
            let r = line_at(b, *rng.pick(&starts));
            let line = b[r.clone()].to_vec();
            // Mostly a few dozen; sometimes past the default limits
            // (256 headers, 70 Vias).
            let n = if rng.below(8) == 0 {
                260
            } else {
                4 + rng.below(60)
            };
            let block: Vec<u8> = line.iter().copied().cycle().take(line.len() * n).collect();
            b.splice(r.end..r.end, block);
        }
        13 => {
            // A very long run inside a line (line and head limits).
            let i = pos(rng, b);
            // Mostly short; sometimes past the default line limit (16 kB).
            let n = if rng.below(8) == 0 {
                17_000
            } else {
                50 + rng.below(1000)
            };
            let c = *rng.pick(b"a,;\" ");
            b.splice(i..i, std::iter::repeat_n(c, n));
        }
        14 => {
            // Replace the body (and what follows the head) by random bytes.
            if let Some(p) = b.windows(4).position(|w| w == b"\r\n\r\n") {
                b.truncate(p + 4);
                let n = rng.below(200);
                for _ in 0..n {
                    let c = rng.next() as u8;
                    b.push(c);
                }
            }
        }
        _ => {
            // Prefix CRLFs (RFC 3261 §7.5) or keep-alives.
            let n = rng.below(3);
            for _ in 0..n {
                b.splice(0..0, *b"\r\n");
            }
        }
    }
}

/// `count` mutants, deterministic for `seed`, round-robin over the seeds.
///
/// `SIP_MUTANTS_SCALE=k` runs `k` times as many (for a longer search, e.g.
/// `SIP_MUTANTS_SCALE=100 cargo test --release --test never_panics`).
fn mutants(seed: u64, count: usize) -> impl Iterator<Item = Vec<u8>> {
    let scale = std::env::var("SIP_MUTANTS_SCALE")
        .ok()
        .and_then(|s| s.parse::<usize>().ok())
        .unwrap_or(1)
        .max(1);
    let count = count * scale;
    let seeds = seeds();
    let mut rng = Rng::new(seed);
    (0..count).map(move |i| {
        let base = &seeds[i % seeds.len()];
        mutate(&mut rng, base, &seeds)
    })
}

/// The input as a Rust byte-string literal, for a report.
fn literal(b: &[u8]) -> String {
    format!("b\"{}\"", b.escape_ascii())
}

/// Runs `f` on `input`; a panic is reported with the input, then re-raised.
fn guarded<T>(input: &[u8], what: &str, f: impl FnOnce() -> T) -> T {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(v) => v,
        Err(e) => {
            eprintln!("{what} panicked on input {}", literal(input));
            std::panic::resume_unwind(e)
        }
    }
}

// ---------------------------------------------------------------------------
// What runs on each mutant
// ---------------------------------------------------------------------------

/// Decodes every value of `H` and uses what it decoded.
fn touch_all<H: TypedHeader + std::fmt::Debug + std::fmt::Display>(msg: &Message) -> usize {
    let mut n = 0;
    for v in msg.get_all::<H>() {
        match v {
            Ok(h) => {
                n += format!("{h:?}").len() + h.to_string().len();
            }
            Err(e) => n += e.to_string().len(),
        }
    }
    n += msg.get::<H>().is_ok() as usize;
    n
}

macro_rules! for_every_header_type {
    ($mac:ident, $($arg:expr),*) => {
        $mac!(
            [$($arg),*],
            Accept, Allow, AllowEvents, Authorization, CSeq, CallId, Contact, ContentLength,
            ContentType, Date, Event, Expires, FromHdr, MaxForwards, MinExpires, MinSE, Path,
            ProxyAuthenticate, ProxyAuthorization, ProxyRequire, RAck, RSeq, Reason, RecordRoute,
            ReferTo, Require, RetryAfter, Route, SessionExpires, SipETag, SipIfMatch,
            SubscriptionState, Supported, To, Unsupported, Via, WwwAuthenticate
        )
    };
}

macro_rules! touch_types {
    ([$msg:expr], $($t:ty),*) => {{
        let mut n = 0;
        $( n += touch_all::<$t>($msg); )*
        n
    }};
}

fn touch_uri(u: &Uri) -> usize {
    let mut n = u.to_string().len() + u.scheme().len();
    if let Some(s) = u.as_sip() {
        n += s.user().map_or(0, str::len) + s.password().map_or(0, str::len);
        n += s.host().to_string().len() + usize::from(s.port().unwrap_or(0));
        n += s.params().iter().count() + s.headers().count();
        n += s.transport().map_or(0, str::len) + usize::from(s.ttl().unwrap_or(0));
        n += usize::from(s.lr()) + s.header_unescaped("subject").map_or(0, |h| h.len());
        if let Ok(again) = s.to_builder().build() {
            n += again.as_str().len();
        }
    }
    n
}

/// Everything a stack does with a parsed message. Returns a number so the
/// work cannot be optimised away.
fn touch_message(msg: &Message) -> usize {
    let mut n = format!("{msg:?}").len();
    n += msg.as_bytes().len() + msg.body().len() + msg.body_bytes().len();
    n += usize::from(msg.is_request()) + msg.method().map_or(0, |m| m.as_str().len());
    n += msg.request_uri_str().map_or(0, str::len);
    if let Some(Ok(u)) = msg.request_uri() {
        n += touch_uri(&u);
    }
    n += usize::from(msg.status().unwrap_or(0)) + msg.reason_phrase().map_or(0, |r| r.len());
    n += msg.version().to_string().len();
    if let Some(v) = msg.top_via() {
        n += format!("{v:?}").len();
        n += v.transport_name().len() + v.host().len() + v.params().len();
        n += usize::from(v.port().unwrap_or(0)) + v.branch().map_or(0, str::len);
        n += v.received().map_or(0, str::len) + v.maddr().map_or(0, str::len);
        n += usize::from(v.has_rfc3261_branch())
            + v.sent_by_host().map_or(0, |h| h.to_string().len());
        n += format!("{:?}{:?}", v.rport(), v.transport()).len();
    }
    n += msg.via_count();
    n += msg.cseq().map_or(0, |(s, m)| s as usize + m.as_str().len());
    n += msg.call_id().map_or(0, str::len);
    n += msg.from_tag().map_or(0, str::len) + msg.to_tag().map_or(0, str::len);
    n += msg.content_length().unwrap_or(0) as usize + usize::from(msg.content_length_conflict());
    n += usize::from(msg.max_forwards().unwrap_or(0));
    for (i, h) in msg.headers().enumerate() {
        n += h.raw_name_str().len() + h.value_str().len() + h.name.to_string().len();
        // Lookups by name are linear; a few suffice (mutants repeat lines).
        if i < 24 {
            n += msg.values_by_name(h.raw_name_str()).count();
            n += msg.values(h.name).count() + usize::from(msg.has(h.name));
        }
    }
    n += match msg.check_syntax() {
        Ok(()) => 1,
        Err(e) => e.to_string().len(),
    };
    n += for_every_header_type!(touch_types, msg);
    let addrs = msg
        .get_all::<FromHdr>()
        .map(|f| f.map(|f| f.0))
        .chain(msg.get_all::<To>().map(|t| t.map(|t| t.0)))
        .chain(msg.get_all::<Route>().map(|r| r.map(|r| r.0)))
        .chain(msg.get_all::<ReferTo>().map(|r| r.map(|r| r.0)));
    for a in addrs.flatten() {
        n += a.display_name().map_or(0, |d| d.len()) + a.tag().map_or(0, str::len);
        n += touch_uri(a.uri());
    }
    for c in msg.get_all::<Contact>().flatten() {
        n += c.expires().unwrap_or(0) as usize + c.q().map_or(0, |q| (q * 10.0) as usize);
        if let Some(a) = c.addr() {
            n += touch_uri(a.uri());
        }
    }
    for v in msg.get_all::<Via>().flatten() {
        n += v.branch().map_or(0, str::len) + v.received().map_or(0, str::len);
        n += format!("{:?}{:?}", v.rport(), v.ttl()).len() + v.host().to_string().len();
    }
    for a in msg.get_all::<Authorization>().flatten() {
        n += a.qop().len() + a.realm().map_or(0, |r| r.len()) + usize::from(a.stale());
    }
    for s in msg.get_all::<SubscriptionState>().flatten() {
        n += format!("{:?}{:?}{:?}", s.reason(), s.expires(), s.retry_after()).len();
    }
    for r in msg.get_all::<Reason>().flatten() {
        n += usize::from(r.cause().unwrap_or(0)) + r.text().map_or(0, |t| t.len());
    }
    for r in msg.get_all::<RetryAfter>().flatten() {
        n += r.duration().unwrap_or(0) as usize;
    }
    for s in msg.get_all::<SessionExpires>().flatten() {
        n += format!("{:?}", s.refresher()).len();
    }
    for d in msg.get_all::<Date>().flatten() {
        n += d.unix_seconds() as usize % 7;
        let _ = d.to_system_time();
    }
    for p in validate_request(msg, &Policy::default()) {
        n += format!("{p:?}").len() + usize::from(p.status_code().unwrap_or(0));
    }
    for p in validate_response(msg) {
        n += format!("{p:?}").len() + usize::from(p.status_code().unwrap_or(0));
    }
    n
}

/// A response built from the parsed message must parse again (it holds
/// only lines the request already had, which parsed).
fn respond(input: &[u8], msg: &Message, code: u16, tag: Option<&str>) -> Result<(), String> {
    let mut b = ResponseBuilder::from_request(msg, code);
    if let Some(t) = tag {
        b = b.with_to_tag(t);
    }
    let bytes = b.encode();
    match Message::parse(bytes.clone()) {
        Ok(r) => {
            let _ = r.check_syntax();
            let _ = validate_response(&r);
            Ok(())
        }
        Err(e) => Err(format!(
            "response {code} to {} does not parse: {e}\nresponse: {}",
            literal(input),
            literal(&bytes)
        )),
    }
}

/// The transport's edit of the top Via (RFC 3261 §18.2.1): it works on any
/// message whose top Via decodes, and changes the first value only.
fn edit_top_via(input: &[u8], msg: &Message) -> Result<(), String> {
    let edited = msg.with_top_via(|v| {
        v.params_mut().set("received", Some("192.0.2.1"));
        v.params_mut().set("rport", Some("5060"));
    });
    let fail = |what: String| Err(format!("with_top_via: {what}; input {}", literal(input)));
    match edited {
        Ok(m) => {
            let first = m.get::<Via>().map_err(|e| format!("edited Via: {e}"))?;
            if first.received() != Some("192.0.2.1") || m.via_count() != msg.via_count() {
                return fail(format!(
                    "edited to {:?}",
                    String::from_utf8_lossy(m.as_bytes())
                ));
            }
            if m.headers().count() != msg.headers().count() || m.body_bytes() != msg.body_bytes() {
                return fail("other lines changed".into());
            }
            Ok(())
        }
        Err(ViaEditError::NoVia) if msg.top_via().is_none() => Ok(()),
        Err(ViaEditError::Malformed) if msg.get::<Via>().is_err() => Ok(()),
        Err(ViaEditError::Reparse(e))
            if matches!(
                e.kind,
                ParseErrorKind::TooLarge | ParseErrorKind::LineTooLong
            ) =>
        {
            Ok(())
        }
        Err(e) => fail(e.to_string()),
    }
}

fn small_limits() -> ParseLimits {
    ParseLimits {
        max_message_size: 2048,
        max_head_size: 1024,
        max_headers: 16,
        max_line_length: 256,
        max_vias: 4,
    }
}

/// A message `parse_with(limits)` accepted is within those limits.
fn check_within_limits(input: &[u8], msg: &Message, l: &ParseLimits) -> Result<(), String> {
    let fail = |what: &str| Err(format!("{what} accepted with {l:?}: {}", literal(input)));
    if input.len() > l.max_message_size {
        return fail("oversize message");
    }
    if msg.headers().count() > l.max_headers {
        return fail("too many headers");
    }
    if msg.via_count() > l.max_vias {
        return fail("too many Vias");
    }
    // A line is at least its name, the colon and its value.
    if msg
        .headers()
        .any(|h| h.raw_name.len() + 1 + h.value.len() > l.max_line_length)
    {
        return fail("overlong line");
    }
    let head = msg.as_bytes().len() - msg.body_bytes().len();
    if head > l.max_head_size + 2 + l.max_line_length {
        return fail("oversize header section");
    }
    Ok(())
}

/// Framing invariants on one buffer.
fn check_framing(input: &[u8], buf: &[u8]) -> Result<Status, String> {
    let s = guarded(input, "framing::check", || framing::check(buf));
    match s {
        Ok(Status::Complete(n)) if n == 0 || n > buf.len() => Err(format!(
            "framing::check claims Complete({n}) of {} bytes: {}",
            buf.len(),
            literal(buf)
        )),
        Ok(Status::KeepAlive { len, .. }) if len > buf.len() || len == 0 => Err(format!(
            "framing::check claims a keep-alive of {len} in {} bytes",
            literal(buf)
        )),
        Ok(s) => Ok(s),
        Err(_) => Ok(Status::Partial),
    }
}

/// Runs everything on `input`; `Ok(true)` if it parsed.
fn exercise(input: &[u8]) -> Result<bool, String> {
    check_framing(input, input)?;
    let small = small_limits();
    let _ = guarded(input, "framing::check_with", || {
        framing::check_with(input, &small)
    });
    if let Ok(m) = guarded(input, "Message::parse_with", || {
        Message::parse_with(input.to_vec(), &small)
    }) {
        check_within_limits(input, &m, &small)?;
    }
    let parsed = guarded(input, "Message::parse", || Message::parse(input.to_vec()));
    let msg = match parsed {
        Ok(m) => m,
        Err(e) => {
            let _ = e.to_string();
            return Ok(false);
        }
    };
    if !input.starts_with(msg.as_bytes()) {
        return Err(format!("as_bytes is not a prefix of {}", literal(input)));
    }
    guarded(input, "accessors", || touch_message(&msg));
    guarded(input, "with_top_via", || edit_top_via(input, &msg))?;
    guarded(input, "ResponseBuilder", || {
        respond(input, &msg, 100, None)?;
        respond(input, &msg, 200, Some("t1"))?;
        respond(input, &msg, 487, Some("t2"))
    })?;
    guarded(input, "re-parse of as_bytes", || {
        Message::parse(msg.as_bytes().clone())
            .map(|_| true)
            .map_err(|e| format!("as_bytes does not parse again ({e}): {}", literal(input)))
    })
}

// ---------------------------------------------------------------------------
// Tests over mutants
// ---------------------------------------------------------------------------

// About 20,000 mutants over the whole file, split so that the tests,
// which run in parallel, each take a few seconds in a debug build.
const MUTANTS: usize = 8_000;

#[test]
fn no_mutant_of_a_corpus_message_makes_anything_panic() {
    let mut parsed = 0;
    let mut failures = Vec::new();
    for m in mutants(0x5EED_0001, MUTANTS) {
        match exercise(&m) {
            Ok(true) => parsed += 1,
            Ok(false) => {}
            Err(e) => failures.push(e),
        }
    }
    // The mutations must leave many messages parseable, or the accessors
    // are barely exercised.
    assert!(
        parsed > MUTANTS / 5,
        "only {parsed} of {MUTANTS} mutants parsed"
    );
    failures.sort_by_key(String::len);
    assert!(
        failures.is_empty(),
        "{} failures; shortest:\n{}",
        failures.len(),
        failures
            .iter()
            .take(3)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n\n")
    );
}

/// Framing over every prefix of some mutants: never a frame longer than
/// the buffer, and once a prefix holds a whole message, every longer
/// prefix frames the same message.
#[test]
fn framing_of_every_prefix_of_mutants_is_bounded_and_monotonic() {
    for (k, m) in mutants(0x5EED_0002, 400).enumerate() {
        if k % 10 != 0 {
            continue;
        }
        let mut complete: Option<usize> = None;
        for n in 0..=m.len() {
            let s = check_framing(&m, &m[..n]).unwrap_or_else(|e| panic!("{e}"));
            if let Some(c) = complete {
                assert_eq!(
                    s,
                    Status::Complete(c),
                    "prefix {n} of {} after Complete({c})",
                    literal(&m)
                );
            } else if let Status::Complete(c) = s {
                complete = Some(c);
            }
        }
    }
}

/// Display of a value decoded from a mutant decodes to the same value,
/// and so does the line the builder writes for it.
#[test]
fn typed_values_decoded_from_mutants_survive_display_and_the_builder() {
    fn check<H>(input: &[u8], msg: &Message, out: &mut Vec<String>)
    where
        H: TypedHeader + std::fmt::Display + std::fmt::Debug + PartialEq,
    {
        for h in msg.get_all::<H>().flatten() {
            let text = h.to_string();
            match H::from_value(&text) {
                Ok(again) if again == h => {}
                other => out.push(format!(
                    "{}: {h:?} displays as {text:?}, which decodes to {other:?}; input {}",
                    H::NAME,
                    literal(input)
                )),
            }
            if H::NAME == HeaderName::ContentLength {
                continue;
            }
            let uri: Uri = "sip:x".parse().expect("uri");
            let built = RequestBuilder::new(Method::Options, &uri)
                .header(&h)
                .encode();
            match Message::parse(built.clone()).map(|m| m.get::<H>()) {
                Ok(Ok(again)) if again == h => {}
                other => out.push(format!(
                    "{}: {h:?} written by the builder as {} reads back as {other:?}; input {}",
                    H::NAME,
                    literal(&built),
                    literal(input)
                )),
            }
        }
    }
    macro_rules! check_types {
        ([$input:expr, $msg:expr, $out:expr], $($t:ty),*) => {
            $( check::<$t>($input, $msg, $out); )*
        };
    }
    let mut failures = Vec::new();
    for m in mutants(0x5EED_0003, 3_000) {
        let Ok(msg) = Message::parse(m.clone()) else {
            continue;
        };
        for_every_header_type!(check_types, &m, &msg, &mut failures);
    }
    failures.sort_by_key(String::len);
    failures.dedup_by(|a, b| a.split(';').next() == b.split(';').next());
    assert!(
        failures.is_empty(),
        "{} failures; shortest:\n{}",
        failures.len(),
        failures
            .iter()
            .take(5)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
}

fn count_named<'a>(names: impl Iterator<Item = &'a str>, name: &str) -> usize {
    names.filter(|n| n.eq_ignore_ascii_case(name)).count()
}

/// What `parse` decodes eagerly (CSeq, Call-ID, Max-Forwards, tags,
/// Content-Length, Via count, top Via) agrees with the typed headers on
/// every mutant that decodes.
///
/// Known disagreements are left out here and have their own reproducers
/// below: several From/To lines, and a `tag` (or a Via `branch`,
/// `received`, `rport`, `maddr`) parameter given twice.
#[test]
fn eagerly_decoded_fields_agree_with_typed_headers_on_mutants() {
    let mut failures = Vec::new();
    let mut compared = 0;
    for m in mutants(0x5EED_0004, 4_000) {
        let Ok(msg) = Message::parse(m.clone()) else {
            continue;
        };
        if msg.check_syntax().is_err() {
            continue;
        }
        compared += 1;
        let mut diff = |what: &str, a: String, b: String| {
            if a != b {
                failures.push(format!(
                    "{what}: eager {a} vs typed {b}; input {}",
                    literal(&m)
                ));
            }
        };
        if let Ok(c) = msg.get::<CSeq>() {
            diff(
                "CSeq",
                format!("{:?}", msg.cseq()),
                format!("{:?}", Some((c.seq(), c.method()))),
            );
        }
        if let Ok(c) = msg.get::<CallId>() {
            diff(
                "Call-ID",
                format!("{:?}", msg.call_id()),
                format!("{:?}", Some(c.as_str())),
            );
        }
        if let Ok(c) = msg.get::<MaxForwards>() {
            diff(
                "Max-Forwards",
                format!("{:?}", msg.max_forwards()),
                format!("{:?}", Some(c.0)),
            );
        }
        if msg.values(HeaderName::From).count() == 1 {
            if let Ok(f) = msg.get::<FromHdr>() {
                if count_named(f.params().iter().map(|p| p.name()), "tag") <= 1 {
                    diff(
                        "From tag",
                        format!("{:?}", msg.from_tag()),
                        format!("{:?}", f.tag()),
                    );
                }
            }
        }
        if msg.values(HeaderName::To).count() == 1 {
            if let Ok(t) = msg.get::<To>() {
                if count_named(t.params().iter().map(|p| p.name()), "tag") <= 1 {
                    diff(
                        "To tag",
                        format!("{:?}", msg.to_tag()),
                        format!("{:?}", t.tag()),
                    );
                }
            }
        }
        if msg.content_length().is_some() && !msg.content_length_conflict() {
            if let Ok(cl) = msg.get::<ContentLength>() {
                diff(
                    "Content-Length",
                    format!("{:?}", msg.content_length()),
                    format!("{:?}", Some(cl.0)),
                );
            }
        }
        let vias: Vec<Via> = msg.get_all::<Via>().flatten().collect();
        diff(
            "Via count",
            msg.via_count().to_string(),
            vias.len().to_string(),
        );
        let (Some(top), Some(v)) = (msg.top_via(), vias.first()) else {
            continue;
        };
        diff(
            "top Via sent-by",
            format!(
                "{:?} {} {:?} {:?}",
                top.transport(),
                top.transport_name(),
                top.sent_by_host(),
                top.port()
            ),
            format!(
                "{:?} {} {:?} {:?}",
                v.transport(),
                v.transport_name(),
                Some(v.host()),
                v.port()
            ),
        );
        let repeated = ["branch", "received", "rport", "maddr"]
            .iter()
            .any(|n| count_named(v.params().iter().map(|p| p.name()), n) > 1);
        if !repeated {
            diff(
                "top Via parameters",
                format!(
                    "{:?} {:?} {:?} {:?}",
                    top.branch(),
                    top.received(),
                    top.rport(),
                    top.maddr()
                ),
                format!(
                    "{:?} {:?} {:?} {:?}",
                    v.branch(),
                    v.received(),
                    v.rport(),
                    v.maddr()
                ),
            );
        }
    }
    assert!(compared > 400, "only {compared} mutants decode");
    failures.sort_by_key(String::len);
    assert!(
        failures.is_empty(),
        "{} failures; shortest:\n{}",
        failures.len(),
        failures
            .iter()
            .take(5)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
}

/// The top Via that transactions match on (RFC 3261 §17.2.3) is the first
/// Via value; with a parameter given twice, `top_via()` and
/// `get::<Via>()` must still report the same one.
#[test]
fn top_via_and_typed_via_agree_on_a_repeated_parameter() {
    let msg = Message::parse(
        &b"OPTIONS sip:a SIP/2.0\r\nVia: SIP/2.0/UDP h;rport;rport=1;branch=z9hG4bKa;branch=z9hG4bKb\r\n\
Content-Length: 0\r\n\r\n"[..],
    )
    .expect("parses");
    let typed = msg.get::<Via>().expect("Via decodes");
    let top = msg.top_via().expect("top Via");
    assert_eq!(top.branch(), typed.branch());
    assert_eq!(top.rport(), typed.rport());
}

/// `to_tag()` and `get::<To>().tag()` read the same parameter when `tag`
/// is given twice, the first time without a value.
#[test]
fn eager_tag_and_typed_tag_agree_on_a_valueless_tag() {
    let msg = Message::parse(
        &b"OPTIONS sip:a SIP/2.0\r\nTo: <sip:a@b>;tag;tag=x\r\nContent-Length: 0\r\n\r\n"[..],
    )
    .expect("parses");
    let typed = msg.get::<To>().expect("To decodes");
    assert_eq!(msg.to_tag(), typed.tag());
}

// ---------------------------------------------------------------------------
// ParseLimits: oversize input is rejected with the kind that names the limit
// ---------------------------------------------------------------------------

fn kind(input: &[u8], limits: &ParseLimits) -> Result<(), ParseErrorKind> {
    Message::parse_with(input.to_vec(), limits)
        .map(|_| ())
        .map_err(|e| e.kind)
}

/// A request with `extra` header lines before Content-Length.
fn request_with(extra: &[String]) -> Vec<u8> {
    let mut s = String::from("OPTIONS sip:bob@example.com SIP/2.0\r\n");
    for l in extra {
        s.push_str(l);
        s.push_str("\r\n");
    }
    s.push_str("Content-Length: 0\r\n\r\n");
    s.into_bytes()
}

#[test]
fn message_over_max_message_size_is_rejected_as_too_large() {
    let limits = ParseLimits {
        max_message_size: 200,
        ..ParseLimits::default()
    };
    let head = request_with(&[]);
    let mut exact = head.clone();
    exact.resize(200, b'x');
    assert_eq!(kind(&exact, &limits), Ok(()));
    let mut over = exact.clone();
    over.push(b'x');
    assert_eq!(kind(&over, &limits), Err(ParseErrorKind::TooLarge));
    // A body declared beyond the limit cannot be framed on a stream.
    let declared = b"OPTIONS sip:a@b SIP/2.0\r\nContent-Length: 500\r\n\r\n";
    assert_eq!(
        framing::check_with(declared, &limits).map_err(|e| e.kind),
        Err(ParseErrorKind::TooLarge)
    );
    let declared = b"OPTIONS sip:a@b SIP/2.0\r\nContent-Length: 4294967295\r\n\r\n";
    assert_eq!(
        framing::check(declared).map_err(|e| e.kind),
        Err(ParseErrorKind::TooLarge)
    );
}

#[test]
fn header_section_over_max_head_size_is_rejected_as_too_large() {
    let limits = ParseLimits {
        max_head_size: 300,
        ..ParseLimits::default()
    };
    let many: Vec<String> = (0..20)
        .map(|i| format!("X-Pad-{i}: {}", "p".repeat(20)))
        .collect();
    let input = request_with(&many);
    assert!(input.len() > 600);
    assert_eq!(kind(&input, &limits), Err(ParseErrorKind::TooLarge));
    assert_eq!(
        kind(&request_with(&many[..2]), &limits),
        Ok(()),
        "a small head is accepted"
    );
    // Framing gives up on a head that does not end within the limit.
    let unfinished = &input[..input.len() - 4];
    assert_eq!(
        framing::check_with(unfinished, &limits).map_err(|e| e.kind),
        Err(ParseErrorKind::TooLarge)
    );
}

#[test]
fn more_headers_than_max_headers_are_rejected_as_too_many_headers() {
    let limits = ParseLimits {
        max_headers: 8,
        ..ParseLimits::default()
    };
    // Content-Length is the eighth header line.
    let seven: Vec<String> = (0..7).map(|i| format!("X-H{i}: v")).collect();
    assert_eq!(kind(&request_with(&seven), &limits), Ok(()));
    let eight: Vec<String> = (0..8).map(|i| format!("X-H{i}: v")).collect();
    assert_eq!(
        kind(&request_with(&eight), &limits),
        Err(ParseErrorKind::TooManyHeaders)
    );
    let many: Vec<String> = (0..300).map(|i| format!("X-H{i}: v")).collect();
    assert_eq!(
        kind(&request_with(&many), &ParseLimits::default()),
        Err(ParseErrorKind::TooManyHeaders)
    );
}

#[test]
fn line_longer_than_max_line_length_is_rejected_as_line_too_long() {
    let limits = ParseLimits {
        max_line_length: 100,
        ..ParseLimits::default()
    };
    let line = |len: usize| format!("Subject: {}", "s".repeat(len - "Subject: ".len()));
    assert_eq!(kind(&request_with(&[line(100)]), &limits), Ok(()));
    assert_eq!(
        kind(&request_with(&[line(101)]), &limits),
        Err(ParseErrorKind::LineTooLong)
    );
    // Folds count: two short lines that are one header.
    let folded = format!("Subject: {}\r\n {}", "a".repeat(60), "b".repeat(60));
    assert_eq!(
        kind(&request_with(&[folded]), &limits),
        Err(ParseErrorKind::LineTooLong)
    );
    // The start line too.
    let start = format!(
        "OPTIONS sip:{}@example.com SIP/2.0\r\n\r\n",
        "u".repeat(100)
    );
    assert_eq!(
        kind(start.as_bytes(), &limits),
        Err(ParseErrorKind::LineTooLong)
    );
    // The default limit holds against a 20 kB line.
    assert_eq!(
        kind(&request_with(&[line(20_000)]), &ParseLimits::default()),
        Err(ParseErrorKind::LineTooLong)
    );
}

#[test]
fn more_vias_than_max_vias_are_rejected_as_too_many_vias() {
    let limits = ParseLimits {
        max_vias: 3,
        ..ParseLimits::default()
    };
    let via = |i: usize| format!("SIP/2.0/UDP h{i}.example.com;branch=z9hG4bK{i}");
    let lines = |n: usize| -> Vec<String> { (0..n).map(|i| format!("Via: {}", via(i))).collect() };
    assert_eq!(kind(&request_with(&lines(3)), &limits), Ok(()));
    assert_eq!(
        kind(&request_with(&lines(4)), &limits),
        Err(ParseErrorKind::TooManyVias)
    );
    // Comma-separated values count one by one, on the first line or later.
    let one_line = format!("Via: {}", (0..4).map(via).collect::<Vec<_>>().join(", "));
    assert_eq!(
        kind(&request_with(&[one_line]), &limits),
        Err(ParseErrorKind::TooManyVias)
    );
    let mixed = vec![
        format!("Via: {}", via(0)),
        format!("v: {}, {} ,{}", via(1), via(2), via(3)),
    ];
    assert_eq!(
        kind(&request_with(&mixed), &limits),
        Err(ParseErrorKind::TooManyVias)
    );
    // A quoted comma is not a separator.
    let quoted = vec![format!("Via: {};x=\"a,b,c,d\", {}", via(0), via(1))];
    assert_eq!(kind(&request_with(&quoted), &limits), Ok(()));
    // The default limit (70) holds.
    assert_eq!(
        kind(&request_with(&lines(71)), &ParseLimits::default()),
        Err(ParseErrorKind::TooManyVias)
    );
}

#[test]
fn mutants_accepted_under_small_limits_are_within_them() {
    let small = small_limits();
    let mut accepted = 0;
    for m in mutants(0x5EED_0005, 3_000) {
        if let Ok(msg) = Message::parse_with(m.clone(), &small) {
            accepted += 1;
            check_within_limits(&m, &msg, &small).unwrap_or_else(|e| panic!("{e}"));
        }
    }
    assert!(accepted > 300, "only {accepted} mutants accepted");
}

/// Framing and parsing use the same `max_head_size`: a head that framing
/// passes as complete is not rejected by `parse_with` for its size.
#[test]
fn framing_and_parse_agree_on_the_head_size_limit() {
    let limits = ParseLimits {
        max_head_size: 40,
        ..ParseLimits::default()
    };
    let m: &[u8] = b"OPTIONS sip:a@b SIP/2.0\r\nX: aaaaaaaaaaaa\r\n\r\n";
    let framed = framing::check_with(m, &limits).map_err(|e| e.kind);
    let parsed = kind(m, &limits);
    assert_eq!(
        framed.is_ok(),
        parsed.is_ok(),
        "framing {framed:?}, parse {parsed:?}"
    );
}
