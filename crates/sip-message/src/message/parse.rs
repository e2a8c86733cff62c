//! The message parser: start line, header lines (folds included), the
//! eagerly decoded headers, and the body.
//!
//! Line splitting is a hand-written word-at-a-time loop (it is the hot
//! path); the grammar of each eagerly decoded header is the same code the
//! typed headers use, with quick paths for the usual forms of From/To that
//! defer every other form to it.

use bytes::Bytes;
use memchr::memchr;
use smallvec::SmallVec;

use super::top_via::ViaSpans;
use super::{Base, HeaderField, Inner, Message, Span, StartLine, Version};
use crate::error::{ParseError, ParseErrorKind as K};
use crate::header_name::HeaderName;
use crate::headers::{self, rport_of, Transport};
use crate::lex::{self, offset_in};
use crate::limits::ParseLimits;
use crate::method::Method;

/// Bytes below this are controls: CR and LF among them, and HT, the one
/// control a header line commonly holds (as LWS).
const CTL_END: u8 = 0x0e;

/// Position of the first control byte (below [`CTL_END`]) at or after
/// `at`, or with `COLON` of the first control or `:`. Eight bytes per step
/// with the word tricks of `lex`: header lines are too short for a vector
/// search to pay for its setup.
#[inline(always)]
pub(super) fn find_mark<const COLON: bool>(b: &[u8], at: usize) -> Option<usize> {
    let hay = b.get(at..)?;
    let mut off = at;
    if !COLON {
        // Line ends: values run to tens of bytes, two words per step.
        let mut pairs = hay.chunks_exact(16);
        for c in pairs.by_ref() {
            let (lo, hi) = c.split_at(8);
            let m1 = lex::lt_mask(u64::from_le_bytes(lo.try_into().ok()?), CTL_END);
            let m2 = lex::lt_mask(u64::from_le_bytes(hi.try_into().ok()?), CTL_END);
            if m1 | m2 != 0 {
                return Some(if m1 != 0 {
                    off + lex::first_marked(m1)
                } else {
                    off + 8 + lex::first_marked(m2)
                });
            }
            off += 16;
        }
    }
    let mut chunks = b[off..].chunks_exact(8);
    for c in chunks.by_ref() {
        let w = u64::from_le_bytes(c.try_into().ok()?);
        let mut m = lex::lt_mask(w, CTL_END);
        if COLON {
            m |= lex::eq_mask(w, b':');
        }
        if m != 0 {
            return Some(off + lex::first_marked(m));
        }
        off += 8;
    }
    let p = chunks
        .remainder()
        .iter()
        .position(|c| *c < CTL_END || (COLON && *c == b':'))?;
    Some(off + p)
}

/// Position of the CRLF that ends the line, searching from `from`
/// (inside the line). RFC 3261 §7: lines end in CRLF; a bare LF is an
/// error, a bare CR is part of the line.
#[inline(always)]
fn line_end(b: &[u8], from: usize) -> Result<usize, ParseError> {
    let mut at = from;
    loop {
        let Some(p) = find_mark::<false>(b, at) else {
            return Err(ParseError::new(K::Incomplete, b.len()));
        };
        match b[p] {
            b'\r' if b.get(p + 1) == Some(&b'\n') => return Ok(p),
            b'\n' => return Err(ParseError::new(K::LineEnding, p)),
            // HT, a bare CR or another control: part of the line.
            _ => at = p + 1,
        }
    }
}

/// Position of the first `:` of the line that starts at `from`, if no CR
/// or LF comes before it (a header name holds neither, so the name found
/// this way is free of CR, which [`HeaderName::from_line`] relies on).
#[inline(always)]
fn find_colon(b: &[u8], from: usize) -> Option<usize> {
    let mut at = from;
    loop {
        let p = find_mark::<true>(b, at)?;
        match b[p] {
            b':' => return Some(p),
            b'\r' | b'\n' => return None,
            // HT (allowed before the colon, RFC 3261 §7.3.1) or another control.
            _ => at = p + 1,
        }
    }
}

/// The value of a header line `line[from..]` (after the colon; `line` is
/// the buffer up to the line's CRLF), less the white space and folds
/// around it (RFC 3261 §7.3.1: SWS after HCOLON; trailing white space is
/// not part of the value). An empty value sits at the CRLF.
#[inline(always)]
pub(super) fn value_span(line: &[u8], from: usize) -> Span {
    let end = line.len();
    // Nearly every line: one SP after the colon, no white space at the end.
    if from + 1 < end && line[from] == b' ' && line[from + 1] > b' ' && line[end - 1] > b' ' {
        return Span::new(from + 1, end);
    }
    let value = lex::trim(&line[from..]);
    let start = if value.is_empty() {
        end
    } else {
        offset_in(line, value)
    };
    Span::new(start, start + value.len())
}

pub(super) fn parse(buf: Bytes, limits: &ParseLimits) -> Result<Message, ParseError> {
    check_size(buf.len(), limits)?;
    let b: &[u8] = &buf;
    // RFC 3261 §7.5: ignore CRLFs before the start line.
    let mut pos = 0;
    while b[pos..].starts_with(b"\r\n") {
        pos += 2;
    }
    if pos >= b.len() {
        return Err(ParseError::new(K::Empty, pos));
    }
    let end = line_end(b, pos)?;
    if end - pos > limits.max_line_length {
        return Err(ParseError::new(K::LineTooLong, pos));
    }
    let (start, version) = start_line(&buf, pos, end)?;
    pos = end + 2;

    let mut msg = empty(start, version);
    let Inner {
        headers: fields,
        base,
        ..
    } = &mut msg;
    loop {
        check_head(pos, limits)?;
        if blank_line(b, pos)? {
            pos += 2;
            break;
        }
        // One header: a line plus every continuation line (SP/HT start).
        // The colon is looked for first, on the first physical line only
        // (a name cannot hold CR or LF); the line end is then searched
        // from the colon on.
        let line_start = pos;
        let colon = find_colon(b, pos);
        let mut end = line_end(b, colon.map_or(pos, |c| c + 1))?;
        while continues(b, end) {
            end = line_end(b, end + 2)?;
        }
        check_line(fields.len(), line_start, end, limits)?;
        // RFC 3261 §7.3.1: header-name HCOLON, where header-name = token
        // and HCOLON = *( SP / HTAB ) ":" SWS. The first colon ends the
        // name (a token holds none); what stands before it, less trailing
        // SP/HT, must be a non-empty token. A known name is one by
        // construction, so only unknown names are checked byte by byte.
        let Some(colon) = colon else {
            return Err(ParseError::new(K::HeaderName, line_start));
        };
        let raw_name = raw_name(b, line_start, colon);
        let name = name_of(b, line_start, raw_name)?;
        let value = value_span(&b[..end], colon + 1);
        if name.is_eager() {
            eager(
                &buf,
                base,
                name,
                &b[value.range()],
                value.start as usize,
                limits,
            )?;
        }
        fields.push(HeaderField {
            name,
            name_len: u16::try_from(raw_name.len())
                .map_err(|_| ParseError::new(K::LineTooLong, line_start))?,
            start: line_start as u32,
            value,
        });
        pos = end + 2;
    }

    finish(buf, &mut msg, pos);
    Ok(Message(std::sync::Arc::new(msg)))
}

/// RFC 3261 §7.3.1: header-name HCOLON, where header-name = token and
/// HCOLON = *( SP / HTAB ) ":" SWS. The first colon ends the name (a
/// token holds none): the raw name of the line at `start` is what stands
/// before the colon at `colon`, less trailing SP/HT.
#[inline(always)]
pub(super) fn raw_name(b: &[u8], start: usize, colon: usize) -> &[u8] {
    let mut raw_name = &b[start..colon];
    while let [rest @ .., b' ' | b'\t'] = raw_name {
        raw_name = rest;
    }
    raw_name
}

/// The header the raw name `raw` (at `start` of `b`, holding no CR or
/// LF) names: it must be a non-empty token. A known name is one by
/// construction, so only unknown names are checked byte by byte.
#[inline(always)]
pub(super) fn name_of(b: &[u8], start: usize, raw: &[u8]) -> Result<HeaderName, ParseError> {
    let name = HeaderName::from_line(b, start, raw.len());
    if name == HeaderName::Other && (raw.is_empty() || !raw.iter().all(|c| lex::is_token(*c))) {
        return Err(ParseError::new(K::HeaderName, start));
    }
    Ok(name)
}

/// The whole-message limit. Spans are u32: whatever the configured
/// limit, nothing above 4 GiB.
#[inline(always)]
pub(super) fn check_size(len: usize, limits: &ParseLimits) -> Result<(), ParseError> {
    let max = limits.max_message_size.min(u32::MAX as usize);
    if len > max {
        return Err(ParseError::new(K::TooLarge, max));
    }
    Ok(())
}

/// A message with its start line and nothing else yet. It is assembled
/// in place: moving the header list (hundreds of bytes inline) into a
/// struct at the end would copy it once more before the copy into the
/// Arc.
#[inline(always)]
pub(super) fn empty(start: StartLine, version: Version) -> Inner {
    Inner {
        buf: Bytes::new(),
        start,
        version,
        headers: SmallVec::new(),
        body: Span::default(),
        base: Base::default(),
    }
}

/// The header section, blank line included, may be `max_head_size`
/// bytes (as framing::check counts it): checked at each line start.
#[inline(always)]
pub(super) fn check_head(pos: usize, limits: &ParseLimits) -> Result<(), ParseError> {
    if pos + 2 > limits.max_head_size {
        return Err(ParseError::new(K::TooLarge, pos));
    }
    Ok(())
}

/// True if the blank line that ends the header section (RFC 3261 §7)
/// is at `pos`; an error if the input ends first.
#[inline(always)]
pub(super) fn blank_line(b: &[u8], pos: usize) -> Result<bool, ParseError> {
    match b.get(pos..pos + 2) {
        Some(b"\r\n") => Ok(true),
        _ if pos >= b.len() => Err(ParseError::new(K::Incomplete, pos)),
        _ => Ok(false),
    }
}

/// True if the line whose CRLF is at `end` continues on the next one
/// (a fold: the next line starts with SP or HT, RFC 3261 §7.3.1).
#[inline(always)]
pub(super) fn continues(b: &[u8], end: usize) -> bool {
    matches!(b.get(end + 2), Some(b' ' | b'\t'))
}

/// The limits on one header line `start..end` (folds included), the
/// `count`-th of the message.
#[inline(always)]
pub(super) fn check_line(
    count: usize,
    start: usize,
    end: usize,
    limits: &ParseLimits,
) -> Result<(), ParseError> {
    if end - start > limits.max_line_length {
        return Err(ParseError::new(K::LineTooLong, start));
    }
    if count >= limits.max_headers {
        return Err(ParseError::new(K::TooManyHeaders, start));
    }
    Ok(())
}

/// The body after the blank line that ends at `pos`: Content-Length
/// bytes (RFC 3261 §18.3; octets past them are dropped, a shorter body
/// is kept as received), or the rest of the datagram without one.
#[inline(always)]
pub(super) fn finish(mut buf: Bytes, msg: &mut Inner, pos: usize) {
    let available = buf.len() - pos;
    let body_len = match msg.base.content_length {
        Some(n) => (n as usize).min(available),
        None => available,
    };
    let body_end = pos + body_len;
    buf.truncate(body_end);
    msg.buf = buf;
    msg.body = Span::new(pos, body_end);
}

fn version(v: &[u8], at: usize) -> Result<Version, ParseError> {
    if v == b"SIP/2.0" {
        return Ok(Version::SIP_2_0);
    }
    // SIP-Version = "SIP" "/" 1*DIGIT "." 1*DIGIT (literal is case-insensitive)
    let err = ParseError::new(K::StartLine, at);
    if v.len() < 7 || !v[..4].eq_ignore_ascii_case(b"SIP/") {
        return Err(err);
    }
    let (maj, min) = v[4..].split_at(memchr(b'.', &v[4..]).ok_or(err)?);
    let num = |d: &[u8]| {
        if d.is_empty() || !d.iter().all(u8::is_ascii_digit) {
            None
        } else {
            lex::number::<u32>(d)
        }
    };
    Ok(Version {
        major: num(maj).ok_or(err)?,
        minor: num(&min[1..]).ok_or(err)?,
    })
}

/// The first SP of a start line: eight bytes per step (a method, a URI
/// or a version is tens of bytes at most, too short for a vector search
/// to pay for its setup).
#[inline(always)]
fn find_sp(line: &[u8]) -> Option<usize> {
    lex::find_by(line, |w| lex::eq_mask(w, b' '), |c| c == b' ')
}

fn start_line(buf: &Bytes, from: usize, end: usize) -> Result<(StartLine, Version), ParseError> {
    let b: &[u8] = buf;
    let line = &b[from..end];
    let err = |k, o: usize| ParseError::new(k, from + o);
    if line.len() >= 4 && line[..4].eq_ignore_ascii_case(b"SIP/") {
        // Status-Line = SIP-Version SP Status-Code SP Reason-Phrase
        let sp = find_sp(line).ok_or(err(K::StartLine, 0))?;
        let v = version(&line[..sp], from)?;
        let rest = &line[sp + 1..];
        let (code, reason_at) = match find_sp(rest) {
            Some(p) => (&rest[..p], sp + 1 + p + 1),
            // No SP before an empty reason phrase: accepted leniently.
            None => (rest, line.len()),
        };
        if code.len() != 3 || !code.iter().all(u8::is_ascii_digit) {
            return Err(err(K::StatusCode, sp + 1));
        }
        let code = lex::number::<u16>(code).unwrap_or(0);
        if !status_code_ok(code) {
            return Err(err(K::StatusCode, sp + 1));
        }
        let reason = Span::new(from + reason_at, end);
        return Ok((StartLine::Response { code, reason }, v));
    }
    // Request-Line = Method SP Request-URI SP SIP-Version, single SPs
    // (RFC 4475 §3.1.2.9 and §3.1.2.10 are rejected).
    let sp1 = find_sp(line).ok_or(err(K::StartLine, 0))?;
    let method = &line[..sp1];
    if method.is_empty() || !method.iter().all(|c| lex::is_token(*c)) {
        return Err(err(K::StartLine, 0));
    }
    let rest = &line[sp1 + 1..];
    let sp2 = find_sp(rest).ok_or(err(K::StartLine, sp1 + 1))?;
    let uri = &rest[..sp2];
    let v = version(&rest[sp2 + 1..], from + sp1 + sp2 + 2)?;
    if !request_uri_ok(uri) {
        return Err(err(K::RequestUri, sp1 + 1));
    }
    let method = Method::known(method).map_or_else(
        || {
            let s = lex::text(buf, method).ok_or(err(K::StartLine, 0))?;
            Ok(Method::Other(s))
        },
        Ok,
    )?;
    let uri_start = from + sp1 + 1;
    Ok((
        StartLine::Request {
            method,
            uri: Span::new(uri_start, uri_start + uri.len()),
        },
        v,
    ))
}

/// Request-URI = SIP-URI / SIPS-URI / absoluteURI (RFC 3261 §7.1): starts
/// with a scheme, holds no white space, controls, angle brackets or
/// quotes (the URI grammar is checked when the URI is decoded).
#[inline(always)]
fn request_uri_ok(uri: &[u8]) -> bool {
    let scheme_ok =
        uri.first().is_some_and(u8::is_ascii_alphabetic) && lex::scheme_colon(uri).is_some();
    scheme_ok && lex::all_request_uri(uri)
}

/// Status-Code = 3DIGIT, first digit 1 to 6 (RFC 3261 §7.2, §21).
#[inline(always)]
fn status_code_ok(code: u16) -> bool {
    (100..=699).contains(&code)
}

/// True if `b` holds no byte that ends a line or that the line search
/// treats specially (below [`CTL_END`]: CR, LF, HT...): a line search
/// over `b` finds nothing. Word at a time without a branch per word, the
/// tail as one more word that overlaps the last full one (a byte seen
/// twice changes nothing). A word's mask is non-zero exactly when one of
/// its bytes is below [`CTL_END`] (its lowest bit is exact, see `lex`).
#[inline(always)]
pub(super) fn plain(b: &[u8]) -> bool {
    let n = b.len();
    if n < 8 {
        return b.iter().all(|c| *c >= CTL_END);
    }
    let word = |c: &[u8]| c.try_into().map_or(0, u64::from_le_bytes);
    let chunks = b.chunks_exact(8);
    let m = chunks.fold(0, |m, c| m | lex::lt_mask(word(c), CTL_END));
    let tail = lex::lt_mask(word(&b[n - 8..]), CTL_END);
    m | tail == 0
}

/// The request line `<method> SP <uri> SP SIP/2.0` as [`start_line`]
/// reads it when the URI starts at `uri_at`, or `None` where it might
/// read it otherwise: the method is one the parser knows by name (so a
/// token, read back as the same method) and the URI passes the parser's
/// check (so holds no SP or control).
pub(crate) fn request_line(method: &Method, uri_at: usize, uri: &[u8]) -> Option<StartLine> {
    if matches!(method, Method::Other(_)) || !request_uri_ok(uri) {
        return None;
    }
    debug_assert_eq!(
        Method::known(method.as_str().as_bytes()).as_ref(),
        Some(method)
    );
    Some(StartLine::Request {
        method: method.clone(),
        uri: Span::new(uri_at, uri_at + uri.len()),
    })
}

/// The status line `SIP/2.0 SP <code> SP <reason>` as [`start_line`]
/// reads it when the reason starts at `reason_at`, or `None` where it
/// might read it otherwise: the code (written in decimal) is one the
/// parser accepts, so three digits, and the reason holds no control.
pub(crate) fn status_line(code: u16, reason_at: usize, reason: &[u8]) -> Option<StartLine> {
    if !status_code_ok(code) || !plain(reason) {
        return None;
    }
    Some(StartLine::Response {
        code,
        reason: Span::new(reason_at, reason_at + reason.len()),
    })
}

/// Decodes one line of a header that [`Base`] holds.
#[inline(always)]
pub(super) fn eager(
    buf: &Bytes,
    base: &mut Base,
    name: HeaderName,
    value: &[u8],
    at: usize,
    limits: &ParseLimits,
) -> Result<(), ParseError> {
    let err = || ParseError::new(K::HeaderValue(name), at);
    let b: &[u8] = buf;
    let span = |s: &[u8]| {
        let o = offset_in(b, s);
        Span::new(o, o + s.len())
    };
    match name {
        HeaderName::Via => eager_via(buf, base, value, at, limits)?,
        HeaderName::CSeq if base.cseq.is_none() => {
            let (n, m) = crate::headers::raw_cseq(value).ok_or_else(err)?;
            let method = match Method::known(m) {
                Some(k) => k,
                None => Method::Other(lex::text(buf, m).ok_or_else(err)?),
            };
            base.cseq = Some((n, method));
        }
        HeaderName::CallId if base.call_id.is_none() => {
            if !crate::headers::CallId::valid(value) {
                return Err(err());
            }
            base.call_id = Some(span(value));
        }
        HeaderName::From if !base.from_seen => {
            base.from_seen = true;
            base.from_tag = headers::eager_tag(value).ok_or_else(err)?.map(span);
        }
        HeaderName::To if !base.to_seen => {
            base.to_seen = true;
            base.to_tag = headers::eager_tag(value).ok_or_else(err)?.map(span);
        }
        HeaderName::ContentLength => {
            // Content-Length = 1*DIGIT (RFC 4475 §3.1.2.3 rejects "-999").
            let n = lex::number::<u32>(value).ok_or(ParseError::new(K::ContentLength, at))?;
            match base.content_length {
                None => base.content_length = Some(n),
                Some(prev) if prev != n => base.content_length_conflict = true,
                Some(_) => {}
            }
        }
        HeaderName::MaxForwards if base.max_forwards.is_none() => {
            base.max_forwards = Some(lex::number::<u8>(value).ok_or_else(err)?);
        }
        _ => {}
    }
    Ok(())
}

/// The parameters of the top Via that [`ViaSpans`] holds, as they are
/// read; the first of a repeated parameter counts, as in Params.
#[derive(Default)]
struct TopParams<'a> {
    branch: Option<Option<&'a [u8]>>,
    received: Option<Option<&'a [u8]>>,
    rport: Option<Option<&'a [u8]>>,
    maddr: Option<Option<&'a [u8]>>,
}

impl<'a> TopParams<'a> {
    #[inline(always)]
    fn on(&mut self, n: &'a [u8], val: Option<&'a [u8]>) {
        // Parameter names are case-insensitive (RFC 3261 §7.3.1); the
        // lower-case spelling everyone writes is compared first.
        let slot = match n {
            b"branch" => &mut self.branch,
            b"rport" => &mut self.rport,
            _ => match n.len() {
                6 if lex::eq_ic(n, b"branch") => &mut self.branch,
                8 if lex::eq_ic(n, b"received") => &mut self.received,
                5 if lex::eq_ic(n, b"rport") => &mut self.rport,
                5 if lex::eq_ic(n, b"maddr") => &mut self.maddr,
                _ => return,
            },
        };
        slot.get_or_insert(val);
    }
}

/// The top Via value in the form nearly every sender writes, with no
/// white space past the single SP: `SIP/2.0/<token> <host>[:<port>]`
/// then `;name[=value]` parameters to the end of `value` (host a name or
/// IPv4 address, values unquoted). `None` for every other form (IPv6,
/// white space or folds, a comma, quotes, a malformed value...), which
/// the full grammar of [`headers::scan_via`] then decides; where this
/// returns `Some`, the full grammar reads the same spans (a test checks).
/// `value` starts at offset `at` of the buffer.
#[inline(always)]
fn quick_via(value: &[u8], at: usize) -> Option<ViaSpans> {
    let span = |a: usize, z: usize| Span::new(at + a, at + z);
    let r = value.strip_prefix(b"SIP/2.0/")?;
    let t_end = 8 + r.iter().position(|c| !lex::is_token(*c))?;
    if t_end == 8 || value[t_end] != b' ' {
        return None;
    }
    let h = t_end + 1;
    let h_end = h + lex::host_run(value.get(h..)?);
    if h_end == h {
        return None;
    }
    let mut p = h_end;
    let port = if value.get(p) == Some(&b':') {
        let (rest, n) = lex::digits::<u16>(&value[p + 1..]).ok()?;
        p = value.len() - rest.len();
        Some(n)
    } else {
        None
    };
    let params_start = p;
    let mut prm = TopParams::default();
    while p < value.len() {
        if value[p] != b';' {
            return None;
        }
        let ns = p + 1;
        let mut ne = ns;
        while value.get(ne).is_some_and(|c| lex::is_token(*c)) {
            ne += 1;
        }
        if ne == ns {
            return None;
        }
        let name = &value[ns..ne];
        if value.get(ne) == Some(&b'=') {
            let v = &value[ne + 1..];
            if v.first() == Some(&b'"') {
                return None;
            }
            let (rest, v) = lex::gen_value(v).ok()?;
            prm.on(name, Some(v));
            p = value.len() - rest.len();
        } else {
            prm.on(name, None);
            p = ne;
        }
    }
    let transport = &value[8..t_end];
    let pspan = |v: Option<Option<&[u8]>>| {
        v.flatten()
            .map(|v| span(lex::offset_in(value, v), lex::offset_in(value, v) + v.len()))
    };
    Some(ViaSpans {
        transport: match transport {
            b"UDP" => Transport::Udp,
            b"TCP" => Transport::Tcp,
            _ => Transport::from_bytes(transport),
        },
        transport_name: span(8, t_end),
        host: span(h, h_end),
        port,
        branch: pspan(prm.branch),
        received: pspan(prm.received),
        rport: prm.rport.and_then(rport_of),
        maddr: pspan(prm.maddr),
        params: if params_start < value.len() {
            span(params_start, value.len())
        } else {
            Span::default()
        },
        element: span(0, value.len()),
    })
}

/// Decodes a Via line: the first value of the first line in full (the top
/// Via, RFC 3261 §18.2.1), every line's values counted.
#[inline(never)]
pub(super) fn eager_via(
    buf: &Bytes,
    base: &mut Base,
    value: &[u8],
    at: usize,
    limits: &ParseLimits,
) -> Result<(), ParseError> {
    if base.via.is_none() {
        if let Some(v) = quick_via(value, at) {
            base.via = Some(v);
            base.via_count += 1;
        } else {
            let (v, element_len) = full_via(buf, value, at)?;
            base.via = Some(v);
            base.via_count += 1 + count_values(&value[element_len..]);
        }
    } else {
        base.via_count += 1 + count_values(value);
    }
    if base.via_count as usize > limits.max_vias {
        return Err(ParseError::new(K::TooManyVias, at));
    }
    Ok(())
}

/// The top Via by the full grammar, and the length of the element.
#[inline(never)]
fn full_via(buf: &Bytes, value: &[u8], at: usize) -> Result<(ViaSpans, usize), ParseError> {
    let err = || ParseError::new(K::HeaderValue(HeaderName::Via), at);
    let b: &[u8] = buf;
    let span = |s: &[u8]| {
        let o = offset_in(b, s);
        Span::new(o, o + s.len())
    };
    let mut prm = TopParams::default();
    let mut first_param: Option<&[u8]> = None;
    let mut last_end: Option<&[u8]> = None;
    let (head, rest) = headers::scan_via(
        value,
        #[inline(always)]
        |n, val| {
            first_param.get_or_insert(n);
            last_end = Some(val.unwrap_or(n));
            prm.on(n, val);
        },
    )
    .ok_or_else(err)?;
    let rest = lex::skip_ws(rest);
    if !(rest.is_empty() || rest[0] == b',') {
        return Err(err());
    }
    let params = match (first_param, last_end) {
        (Some(first), Some(last)) => {
            let start = offset_in(b, first);
            // include the leading ';'
            let semi = b[..start].iter().rposition(|c| *c == b';').unwrap_or(start);
            Span::new(semi, offset_in(b, last) + last.len())
        }
        _ => Span::default(),
    };
    let element_len = value.len() - rest.len();
    Ok((
        ViaSpans {
            transport: Transport::from_bytes(head.transport),
            transport_name: span(head.transport),
            host: span(head.host),
            port: head.port,
            branch: prm.branch.flatten().map(span),
            received: prm.received.flatten().map(span),
            rport: prm.rport.and_then(rport_of),
            maddr: prm.maddr.flatten().map(span),
            params,
            element: Span::new(at, at + element_len),
        },
        element_len,
    ))
}

/// Number of commas that separate values (quote-aware only when needed:
/// one pass counts commas and notes quotes).
fn count_values(v: &[u8]) -> u32 {
    let (commas, quotes) = v.iter().fold((0u32, 0u32), |(c, q), b| {
        (c + u32::from(*b == b','), q + u32::from(*b == b'"'))
    });
    if quotes > 0 {
        lex::split_commas(v).count().saturating_sub(1) as u32
    } else {
        commas
    }
}

#[cfg(test)]
mod tests {
    use super::{find_colon, full_via, line_end, plain, quick_via};
    use crate::error::ParseErrorKind as K;

    /// The definitions the word scans must agree with.
    fn naive_line_end(b: &[u8], from: usize) -> Result<usize, (K, usize)> {
        match b[from..].iter().position(|c| *c == b'\n').map(|p| from + p) {
            Some(lf) if lf > from && b[lf - 1] == b'\r' => Ok(lf - 1),
            Some(lf) => Err((K::LineEnding, lf)),
            None => Err((K::Incomplete, b.len())),
        }
    }

    fn naive_colon(b: &[u8], from: usize) -> Option<usize> {
        let p = from
            + b[from..]
                .iter()
                .position(|c| matches!(c, b':' | b'\n' | b'\r'))?;
        (b[p] == b':').then_some(p)
    }

    #[test]
    fn plain_agrees_with_a_byte_by_byte_check() {
        // Every placement of two bytes around the control boundary in
        // up to 20 bytes: whole words, the overlapping tail word, short
        // inputs.
        let special = [
            0x00, b'\t', b'\n', b'\r', 0x0d, 0x0e, b' ', 0x80, 0x8d, 0xff,
        ];
        crate::lex::with_two_specials(20, &special, |b| {
            assert_eq!(plain(b), b.iter().all(|c| *c >= 0x0e), "{b:?}");
        });
    }

    #[test]
    fn word_scans_agree_with_naive_searches() {
        // Every placement of two special bytes (and a high-bit look-alike
        // after each) in a 40-byte line, from every start: line ends are
        // searched two words per step, then one, then byte by byte.
        const LEN: usize = 40;
        let special = [b'\n', b'\r', b':', b'\t', 0x0b, 0x8a, 0x8d, 0xba];
        let mut data = vec![b'a'; LEN];
        for i in 0..LEN {
            for j in i..LEN {
                for a in special {
                    for c in special {
                        data.fill(b'a');
                        data[i] = a;
                        data[j] = c;
                        for from in 0..LEN {
                            let got =
                                line_end(&data, from).map_err(|e| (e.kind, e.offset as usize));
                            assert_eq!(got, naive_line_end(&data, from), "{data:?} {from}");
                            assert_eq!(find_colon(&data, from), naive_colon(&data, from));
                        }
                    }
                }
            }
        }
        assert!(line_end(b"", 0).is_err());
        assert_eq!(find_colon(b"", 0), None);
    }

    /// Via values the quick path must read as the full grammar does, or
    /// leave to it.
    fn tricky_vias() -> Vec<String> {
        let mut v: Vec<String> = [
            "SIP/2.0/UDP 192.0.2.101:5060;branch=z9hG4bK776asdhds;rport",
            "SIP/2.0/UDP 192.0.2.101:5060;rport;branch=z9hG4bK776asdhds",
            "SIP/2.0/TCP host.example.com;branch=z9hG4bK1",
            "SIP/2.0/TLS host_1-a.example.com:5061;branch=z9hG4bK1;received=192.0.2.1;rport=4000",
            "SIP/2.0/WSS df7jal23ls0d.invalid;branch=z9hG4bKa;maddr=239.1.1.1;ttl=1",
            "SIP/2.0/udp h;BRANCH=z9hG4bKX;RPort;Received=1.2.3.4;MADDR=m",
            "SIP/2.0/UDP h;branch=first;branch=second;rport=1;rport",
            "SIP/2.0/UDP h;rport=70000",
            "SIP/2.0/UDP h;rport=",
            "SIP/2.0/UDP h;rport=x",
            "SIP/2.0/UDP h:99999;branch=z9hG4bK1",
            "SIP/2.0/UDP h:;branch=z9hG4bK1",
            "SIP/2.0/UDP h:0005060",
            "SIP/2.0/UDP h",
            "SIP/2.0/UDP h;",
            "SIP/2.0/UDP h;=x",
            "SIP/2.0/UDP h;branch",
            "SIP/2.0/UDP h;branch=",
            "SIP/2.0/UDP h;branch=\"q\"",
            "SIP/2.0/UDP h;x=[2001:db8::1];branch=b",
            "SIP/2.0/UDP h;received=2001:db8::9:255;branch=b",
            "SIP/2.0/UDP [2001:db8::9:1]:5070;branch=z9hG4bK6a;rport",
            "SIP/2.0/UDP [2001:db8::9:1];branch=z9hG4bK6a",
            "SIP/2.0/UDP  h;branch=b",
            "SIP/2.0/UDP\th;branch=b",
            "SIP/2.0/UDP h ;branch=b",
            "SIP/2.0/UDP h; branch=b",
            "SIP/2.0/UDP h;branch = b",
            "SIP/2.0/UDP h;branch=b ",
            "SIP/2.0/UDP h : 5060;branch=b",
            "SIP/2.0/UDP h;branch=b, SIP/2.0/TCP g;branch=c",
            "SIP/2.0/UDP h;branch=b,SIP/2.0/TCP g",
            "SIP/2.0/UDP h\r\n ;branch=b",
            "SIP/2.0/UDP h;branch=b\r\n\t;rport",
            "SIP / 2.0 / UDP h;branch=b",
            "sip/2.0/UDP h;branch=b",
            "SIP/2.0/ UDP h;branch=b",
            "SIP/2.0/ h;branch=b",
            "SIP/2.0/UDP",
            "SIP/2.0/UDP ",
            "SIP/2.0/UDPh;branch=b",
            "SIP/2.0/U@P h",
            "SIP/2.0/UDP h@x;branch=b",
            "SIP/2.0/UDP h;branch=b@x",
            "SIP/2.0/UDP h;branch=b;",
            "SIP/2.0/UDP h;bra@nch=b",
            "SIP/2.0/TLS-SCTP h;branch=b",
            "SIP/2.0/SCTP h;branch=b",
            "SIP/2.0/FOO h;branch=b",
            "SIP/2.0/ws h;branch=b",
            "SIP/3.0/UDP h;branch=b",
        ]
        .map(String::from)
        .to_vec();
        // Every case of each letter of the parameter names.
        for name in ["branch", "rport", "received", "maddr"] {
            for mask in [0u32, 1, 0b10101, u32::MAX] {
                let n: String = name
                    .chars()
                    .enumerate()
                    .map(|(i, c)| {
                        if mask >> i & 1 == 1 {
                            c.to_ascii_uppercase()
                        } else {
                            c
                        }
                    })
                    .collect();
                v.push(format!("SIP/2.0/UDP h:1;{n}=v1;{n}"));
                v.push(format!("SIP/2.0/UDP h:1;{n};{n}=v1"));
            }
        }
        v
    }

    #[test]
    fn quick_via_agrees_with_the_full_grammar() {
        let mut quick = 0;
        for value in tricky_vias() {
            // The value sits inside a buffer, as in a message.
            let buf = bytes::Bytes::from(format!("Via: {value}\r\n"));
            let at = 5;
            let v = &buf[at..at + value.len()];
            let full = full_via(&buf, v, at);
            if let Some(q) = quick_via(v, at) {
                quick += 1;
                let (f, len) = full.unwrap_or_else(|e| panic!("{value:?}: quick only: {e:?}"));
                assert_eq!(q, f, "{value:?}");
                assert_eq!(len, v.len(), "{value:?}");
            }
        }
        // The usual forms do take the quick path.
        assert!(quick >= 30, "{quick}");
        for usual in [
            "SIP/2.0/UDP 192.0.2.101:5060;branch=z9hG4bK776asdhds;rport",
            "SIP/2.0/TCP h;branch=z9hG4bK1",
            "SIP/2.0/UDP h;BRANCH=z9hG4bKX;RPort;Received=1.2.3.4;MADDR=m",
        ] {
            assert!(quick_via(usual.as_bytes(), 0).is_some(), "{usual}");
        }
    }
}
