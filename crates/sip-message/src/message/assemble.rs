//! A message assembled from where its writer put each line (the
//! builder), giving exactly what [`parse`](super::parse::parse) gives for
//! the same bytes: the line search is replaced by checks that it would
//! find the same lines, and everything after it (names, values, limits,
//! the eagerly decoded headers, the body) is the parser's own code.

use bytes::Bytes;

use super::parse::{
    blank_line, check_head, check_line, check_size, continues, eager, empty, find_mark, finish,
    name_of, plain, raw_name, value_span,
};
use super::{Base, HeaderField, Inner, Message, StartLine, Version};
use crate::error::{ParseError, ParseErrorKind as K};
use crate::header_name::HeaderName;
use crate::limits::ParseLimits;

/// One header line, its name decided: the name (`name_len` bytes from
/// `start`), the first colon, and the CRLF that ends the line.
#[derive(Clone, Copy)]
struct Line {
    name: HeaderName,
    name_len: usize,
    start: usize,
    colon: usize,
    end: usize,
}

/// The field of a header line: its value span, after the eager
/// decoding of the headers [`Base`] holds.
#[inline(always)]
fn field(
    buf: &Bytes,
    base: &mut Base,
    line: Line,
    limits: &ParseLimits,
) -> Result<HeaderField, ParseError> {
    let b: &[u8] = buf;
    let value = value_span(&b[..line.end], line.colon + 1);
    if line.name.is_eager() {
        eager(
            buf,
            base,
            line.name,
            &b[value.range()],
            value.start as usize,
            limits,
        )?;
    }
    Ok(HeaderField {
        name: line.name,
        name_len: u16::try_from(line.name_len)
            .map_err(|_| ParseError::new(K::LineTooLong, line.start))?,
        start: line.start as u32,
        value,
    })
}

/// Where a writer (the builder) put one header line of its output: the
/// line start, the colon after the name and the CRLF. `name` is the
/// known name written in its canonical form from `start` to `colon`, or
/// `None` for a name the parser's own rule is to decide.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Laid {
    pub(crate) name: Option<HeaderName>,
    pub(crate) start: usize,
    pub(crate) colon: usize,
    pub(crate) end: usize,
}

/// The message [`Message::parse`] makes of `buf` (default limits), made
/// without searching for the line ends: `buf` holds a `SIP/2.0` start
/// line ending at `start_end` that reads as `start` (see
/// [`request_line`](super::parse::request_line) and
/// [`status_line`](super::parse::status_line)) and the header `lines` as
/// laid out, then the blank line and the body. Every claim of the layout
/// is checked, and every check and decoding after the search is the
/// parser's own code; where the parser could read the bytes otherwise (a
/// control byte in a line, a fold, an odd name, a limit) or fails, `buf`
/// is handed back for the parser to decide.
pub(crate) fn assemble(
    buf: Bytes,
    start: StartLine,
    start_end: usize,
    lines: &[Laid],
) -> Result<Message, Bytes> {
    let limits = ParseLimits::default();
    // Assembled in place, as in the parser.
    let mut msg = empty(start, Version::SIP_2_0);
    match lay_out(&buf, &mut msg, start_end, lines, &limits) {
        Some(pos) => {
            finish(buf, &mut msg, pos);
            Ok(Message(std::sync::Arc::new(msg)))
        }
        None => Err(buf),
    }
}

/// The header fields of [`assemble`] and where the body starts; `None`
/// where the parser could differ.
#[inline(always)]
fn lay_out(
    buf: &Bytes,
    msg: &mut Inner,
    start_end: usize,
    lines: &[Laid],
    limits: &ParseLimits,
) -> Option<usize> {
    let b: &[u8] = buf;
    check_size(b.len(), limits).ok()?;
    // No CRLF before the start line (§7.5) and none inside it: the
    // parser's line search ends where the layout says.
    if b.get(start_end..start_end + 2)? != b"\r\n"
        || !plain(b.get(..start_end)?)
        || start_end > limits.max_line_length
    {
        return None;
    }
    let mut pos = start_end + 2;
    for l in lines {
        check_head(pos, limits).ok()?;
        if l.start != pos || blank_line(b, pos).ok()? {
            return None;
        }
        let line = laid_line(b, l, msg.headers.len(), limits)?;
        let f = field(buf, &mut msg.base, line, limits).ok()?;
        msg.headers.push(f);
        pos = l.end + 2;
    }
    check_head(pos, limits).ok()?;
    if !blank_line(b, pos).ok()? {
        return None;
    }
    Some(pos + 2)
}

/// The line the parser would find at `l.start`, if it finds `l`: the
/// colon search stops at `l.colon` (no control byte or colon in the
/// name), the line search at `l.end` (none in the value), no fold
/// follows, and the limits hold.
#[inline(always)]
fn laid_line(b: &[u8], l: &Laid, count: usize, limits: &ParseLimits) -> Option<Line> {
    let name_bytes = b.get(l.start..l.colon)?;
    let value = b.get(l.colon + 1..l.end)?;
    if b[l.colon] != b':'
        || b.get(l.end..l.end + 2)? != b"\r\n"
        || !plain(value)
        || continues(b, l.end)
    {
        return None;
    }
    check_line(count, l.start, l.end, limits).ok()?;
    let (name, name_len) = match l.name {
        Some(h) if h != HeaderName::Other => {
            // Canonical names are letters and '-' (header_name.rs).
            debug_assert_eq!(name_bytes, h.as_str().as_bytes());
            (h, name_bytes.len())
        }
        _ => {
            if find_mark::<true>(name_bytes, 0).is_some() {
                return None;
            }
            let raw = raw_name(b, l.start, l.colon);
            (name_of(b, l.start, raw).ok()?, raw.len())
        }
    };
    Some(Line {
        name,
        name_len,
        start: l.start,
        colon: l.colon,
        end: l.end,
    })
}
