//! [`Message`]: a parsed request or response that keeps the received bytes
//! and exposes everything as views of them.

mod assemble;
mod parse;
mod splice;
mod top_via;

use std::borrow::Cow;
use std::fmt;

use bytes::Bytes;

pub(crate) use assemble::Laid;
pub(crate) use parse::{request_line, status_line};
pub use top_via::TopVia;

use crate::error::{HeaderError, ParseError, UriError};
use crate::header_name::HeaderName;
use crate::headers::TypedHeader;
use crate::lex;
use crate::limits::ParseLimits;
use crate::method::Method;
use crate::uri::Uri;

/// A byte range of the message buffer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Span {
    pub(crate) start: u32,
    pub(crate) end: u32,
}

impl Span {
    pub(crate) fn new(start: usize, end: usize) -> Span {
        // Messages are bounded by ParseLimits far below 4 GiB.
        Span {
            start: start as u32,
            end: end as u32,
        }
    }
    pub(crate) fn range(self) -> std::ops::Range<usize> {
        self.start as usize..self.end as usize
    }
}

/// One header line: its name, where the line (and so its raw name)
/// starts, the raw name's length, and the value span. 16 bytes.
#[derive(Debug, Clone, Copy)]
#[cfg_attr(test, derive(PartialEq, Eq))]
pub(crate) struct HeaderField {
    pub(crate) name: HeaderName,
    pub(crate) name_len: u16,
    pub(crate) start: u32,
    pub(crate) value: Span,
}

impl HeaderField {
    fn raw_name(&self) -> Span {
        Span {
            start: self.start,
            end: self.start + u32::from(self.name_len),
        }
    }
}

/// `SIP/major.minor`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Version {
    /// Major number.
    pub major: u32,
    /// Minor number.
    pub minor: u32,
}

impl Version {
    /// SIP/2.0.
    pub const SIP_2_0: Version = Version { major: 2, minor: 0 };
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SIP/{}.{}", self.major, self.minor)
    }
}

#[derive(Debug, Clone)]
#[cfg_attr(test, derive(PartialEq, Eq))]
pub(crate) enum StartLine {
    Request { method: Method, uri: Span },
    Response { code: u16, reason: Span },
}

/// The headers decoded while parsing: what transactions and dialogs match on.
#[derive(Debug, Clone, Default)]
#[cfg_attr(test, derive(PartialEq, Eq))]
pub(crate) struct Base {
    pub(crate) via: Option<top_via::ViaSpans>,
    pub(crate) via_count: u32,
    pub(crate) cseq: Option<(u32, Method)>,
    pub(crate) call_id: Option<Span>,
    pub(crate) from_tag: Option<Span>,
    pub(crate) to_tag: Option<Span>,
    /// The first From / To line was decoded (later ones are not eager).
    pub(crate) from_seen: bool,
    pub(crate) to_seen: bool,
    pub(crate) content_length: Option<u32>,
    pub(crate) content_length_conflict: bool,
    pub(crate) max_forwards: Option<u8>,
}

/// A parsed SIP request or response.
///
/// Parsing keeps the received [`Bytes`] and records where the start line,
/// each header and the body lie. Only what transactions and dialogs match
/// on is decoded at once (top Via, CSeq, Call-ID, From/To tags,
/// Content-Length, Max-Forwards); every other header is decoded when asked
/// for, with [`Message::get`] and [`Message::get_all`].
///
/// ```
/// use sip_message::{Message, Method, headers::Contact};
///
/// let msg = Message::parse(&b"INVITE sip:bob@biloxi.com SIP/2.0\r\n\
/// Via: SIP/2.0/UDP pc33.atlanta.com;branch=z9hG4bK776asdhds\r\n\
/// Max-Forwards: 70\r\n\
/// To: Bob <sip:bob@biloxi.com>\r\n\
/// From: Alice <sip:alice@atlanta.com>;tag=1928301774\r\n\
/// Call-ID: a84b4c76e66710@pc33.atlanta.com\r\n\
/// CSeq: 314159 INVITE\r\n\
/// Contact: <sip:alice@pc33.atlanta.com>\r\n\
/// Content-Length: 0\r\n\r\n"[..])?;
///
/// assert_eq!(msg.method(), Some(&Method::Invite));
/// assert_eq!(msg.top_via().unwrap().branch(), Some("z9hG4bK776asdhds"));
/// assert_eq!(msg.cseq(), Some((314159, &Method::Invite)));
/// assert_eq!(msg.call_id(), Some("a84b4c76e66710@pc33.atlanta.com"));
/// assert_eq!(msg.from_tag(), Some("1928301774"));
/// assert_eq!(msg.to_tag(), None);
/// let contact = msg.get::<Contact>()?;
/// assert_eq!(contact.addr().unwrap().uri().to_string(), "sip:alice@pc33.atlanta.com");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// A `Message` is a cheap handle: cloning it shares the parsed view and
/// the bytes (one reference count), so layers pass messages around freely.
#[derive(Clone)]
pub struct Message(std::sync::Arc<Inner>);

/// Everything parsing records; tests compare two of them field by field.
#[cfg_attr(test, derive(Debug, PartialEq, Eq))]
pub(crate) struct Inner {
    pub(crate) buf: Bytes,
    pub(crate) start: StartLine,
    pub(crate) version: Version,
    pub(crate) headers: smallvec::SmallVec<[HeaderField; 20]>,
    pub(crate) body: Span,
    pub(crate) base: Base,
}

impl Message {
    /// Parses one message from a datagram or a framed stream chunk, with
    /// the default [`ParseLimits`].
    ///
    /// Octets after the body that Content-Length declares are ignored
    /// (RFC 3261 §18.3, RFC 4475 §3.1.1.8). Without Content-Length the
    /// body runs to the end of the input (datagram rule of §18.3). A body
    /// shorter than Content-Length is kept as received and reported by
    /// [`validate`](crate::validate).
    pub fn parse(buf: impl Into<Bytes>) -> Result<Message, ParseError> {
        Self::parse_with(buf, &ParseLimits::default())
    }

    /// [`Message::parse`] with explicit limits.
    pub fn parse_with(buf: impl Into<Bytes>, limits: &ParseLimits) -> Result<Message, ParseError> {
        parse::parse(buf.into(), limits)
    }

    /// What [`Message::parse`] makes of `buf`, which a writer laid out
    /// as `lines` after a start line that ends at `start_end` and reads
    /// as `start`; `Err(buf)` where only the parser can tell (see
    /// [`assemble::assemble`]).
    pub(crate) fn assemble(
        buf: Bytes,
        start: StartLine,
        start_end: usize,
        lines: &[Laid],
    ) -> Result<Message, Bytes> {
        assemble::assemble(buf, start, start_end, lines)
    }

    /// Everything the parser recorded (buffer, start line, header
    /// fields, body span, eagerly decoded headers), for tests that
    /// compare two ways of making a message.
    #[cfg(test)]
    pub(crate) fn inner(&self) -> &Inner {
        &self.0
    }

    fn slice(&self, s: Span) -> &[u8] {
        &self.0.buf[s.range()]
    }

    fn str_of(&self, s: Span) -> &str {
        // Eagerly decoded spans were checked to be tokens or words (ASCII).
        std::str::from_utf8(self.slice(s)).unwrap_or_default()
    }

    /// The message bytes (start line through the end of the body; trailing
    /// octets after the body are not included).
    pub fn as_bytes(&self) -> &Bytes {
        &self.0.buf
    }

    /// True for a request.
    pub fn is_request(&self) -> bool {
        matches!(self.0.start, StartLine::Request { .. })
    }

    /// The request method, for a request.
    pub fn method(&self) -> Option<&Method> {
        match &self.0.start {
            StartLine::Request { method, .. } => Some(method),
            StartLine::Response { .. } => None,
        }
    }

    /// The Request-URI text, for a request.
    pub fn request_uri_str(&self) -> Option<&str> {
        match &self.0.start {
            StartLine::Request { uri, .. } => std::str::from_utf8(self.slice(*uri)).ok(),
            StartLine::Response { .. } => None,
        }
    }

    /// The Request-URI, parsed, for a request.
    pub fn request_uri(&self) -> Option<Result<Uri, UriError>> {
        match &self.0.start {
            StartLine::Request { uri, .. } => Some(Uri::parse_in(&self.0.buf, self.slice(*uri))),
            StartLine::Response { .. } => None,
        }
    }

    /// The status code, for a response.
    pub fn status(&self) -> Option<u16> {
        match self.0.start {
            StartLine::Response { code, .. } => Some(code),
            StartLine::Request { .. } => None,
        }
    }

    /// The reason phrase, for a response (invalid UTF-8 replaced).
    pub fn reason_phrase(&self) -> Option<Cow<'_, str>> {
        match self.0.start {
            StartLine::Response { reason, .. } => Some(String::from_utf8_lossy(self.slice(reason))),
            StartLine::Request { .. } => None,
        }
    }

    /// The SIP version of the start line.
    pub fn version(&self) -> Version {
        self.0.version
    }

    /// The top Via, decoded at parse time.
    pub fn top_via(&self) -> Option<TopVia<'_>> {
        self.0.base.via.as_ref().map(|v| v.view(&self.0.buf))
    }

    /// Number of Via values (all lines, comma-separated values counted).
    pub fn via_count(&self) -> usize {
        self.0.base.via_count as usize
    }

    /// CSeq number and method.
    pub fn cseq(&self) -> Option<(u32, &Method)> {
        self.0.base.cseq.as_ref().map(|(n, m)| (*n, m))
    }

    /// Call-ID.
    pub fn call_id(&self) -> Option<&str> {
        self.0.base.call_id.map(|s| self.str_of(s))
    }

    /// The From tag.
    pub fn from_tag(&self) -> Option<&str> {
        self.0.base.from_tag.map(|s| self.str_of(s))
    }

    /// The To tag.
    pub fn to_tag(&self) -> Option<&str> {
        self.0.base.to_tag.map(|s| self.str_of(s))
    }

    /// Content-Length as declared.
    pub fn content_length(&self) -> Option<u32> {
        self.0.base.content_length
    }

    /// True if two Content-Length values disagree (RFC 4475 §3.3.9); the
    /// first one framed the body.
    pub fn content_length_conflict(&self) -> bool {
        self.0.base.content_length_conflict
    }

    /// Max-Forwards.
    pub fn max_forwards(&self) -> Option<u8> {
        self.0.base.max_forwards
    }

    /// The body (a view of the message buffer).
    pub fn body(&self) -> Bytes {
        self.0.buf.slice(self.0.body.range())
    }

    /// The body as a byte slice.
    pub fn body_bytes(&self) -> &[u8] {
        self.slice(self.0.body)
    }

    /// Every header line in order.
    pub fn headers(&self) -> impl Iterator<Item = HeaderRef<'_>> {
        self.0.headers.iter().map(move |h| HeaderRef {
            name: h.name,
            raw_name: self.slice(h.raw_name()),
            value: self.slice(h.value),
        })
    }

    /// The raw values of every line of a known header, in order.
    pub fn values(&self, name: HeaderName) -> impl Iterator<Item = &[u8]> {
        self.0
            .headers
            .iter()
            .filter(move |h| h.name == name)
            .map(move |h| self.slice(h.value))
    }

    /// The raw elements of a comma-separated list header (Contact, Route,
    /// Allow, ...: RFC 3261 §7.3.1), across all its lines: each line split
    /// at commas outside quotes and angle brackets, elements trimmed.
    ///
    /// ```
    /// use sip_message::{HeaderName, Message};
    /// let m = Message::parse(&b"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\n\
    /// From: <sip:a@h>;tag=1\r\nTo: <sip:a@h>;tag=2\r\nCall-ID: c\r\nCSeq: 1 REGISTER\r\n\
    /// Contact: \"A, B\" <sip:a@192.0.2.1>;expires=60, <sip:a@192.0.2.2>\r\n\
    /// Contact: <sip:a@192.0.2.3>\r\nContent-Length: 0\r\n\r\n"[..])?;
    /// let contacts: Vec<&[u8]> = m.list_values(HeaderName::Contact).collect();
    /// assert_eq!(contacts, [
    ///     &b"\"A, B\" <sip:a@192.0.2.1>;expires=60"[..],
    ///     b"<sip:a@192.0.2.2>",
    ///     b"<sip:a@192.0.2.3>",
    /// ]);
    /// # Ok::<(), sip_message::ParseError>(())
    /// ```
    pub fn list_values(&self, name: HeaderName) -> impl Iterator<Item = &[u8]> {
        self.values(name)
            .flat_map(lex::split_commas)
            .map(lex::trim)
            .filter(|v| !v.is_empty())
    }

    /// The raw values of every line whose name matches `name` (any header,
    /// known or not; compact forms of known headers included).
    pub fn values_by_name<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a [u8]> + 'a {
        let known = HeaderName::from_bytes(name.as_bytes());
        self.0
            .headers
            .iter()
            .filter(move |h| {
                if known == HeaderName::Other {
                    h.name == HeaderName::Other
                        && lex::eq_ic(self.slice(h.raw_name()), name.as_bytes())
                } else {
                    h.name == known
                }
            })
            .map(move |h| self.slice(h.value))
    }

    /// True if at least one line of this header is present.
    pub fn has(&self, name: HeaderName) -> bool {
        self.0.headers.iter().any(|h| h.name == name)
    }

    /// The first value of a typed header (for a list header, the first
    /// element of its first line).
    pub fn get<H: TypedHeader>(&self) -> Result<H, HeaderError> {
        self.get_all::<H>()
            .next()
            .unwrap_or(Err(HeaderError::Missing(H::NAME)))
    }

    /// Every value of a typed header, across all its lines; list headers
    /// are split at commas outside quotes and angle brackets.
    pub fn get_all<H: TypedHeader>(&self) -> impl Iterator<Item = Result<H, HeaderError>> + '_ {
        self.0
            .headers
            .iter()
            .filter(|h| h.name == H::NAME)
            .flat_map(move |h| {
                let v = self.slice(h.value);
                let empty_ok = H::EMPTY_OK && lex::trim(v).is_empty();
                let parts: smallvec::SmallVec<[&[u8]; 4]> = if !H::LIST {
                    smallvec::smallvec![v]
                } else if empty_ok {
                    smallvec::SmallVec::new()
                } else {
                    lex::split_commas(v).collect()
                };
                let start = h.value.start as usize;
                parts.into_iter().map(move |p| {
                    H::decode(&self.0.buf, p).ok_or(HeaderError::malformed(
                        H::NAME,
                        start + lex::offset_in(self.slice(h.value), p),
                    ))
                })
            })
    }

    /// A copy of this message whose top Via value is `f` applied to it:
    /// the transport fills in sent-by (RFC 3261 §18.1.1) and adds
    /// `received`/`rport` (§18.2.1, RFC 3581) with it. Only the first Via
    /// value changes; every other byte is kept.
    ///
    /// ```
    /// use sip_message::Message;
    /// let m = Message::parse(&b"OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK1;rport, SIP/2.0/UDP x\r\n\
    /// Call-ID: c\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"[..])?;
    /// let m2 = m.with_top_via(|v| {
    ///     v.params_mut().set("received", Some("192.0.2.7"));
    ///     v.params_mut().set("rport", Some("40000"));
    /// })?;
    /// assert_eq!(m2.top_via().unwrap().received(), Some("192.0.2.7"));
    /// assert_eq!(m2.via_count(), 2);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn with_top_via(
        &self,
        f: impl FnOnce(&mut crate::headers::Via),
    ) -> Result<Message, ViaEditError> {
        let spans = self.0.base.via.as_ref().ok_or(ViaEditError::NoVia)?;
        let el = spans.element;
        let mut via = <crate::headers::Via as TypedHeader>::decode(&self.0.buf, self.slice(el))
            .ok_or(ViaEditError::Malformed)?;
        f(&mut via);
        let mut out = Vec::with_capacity(self.0.buf.len() + 64);
        out.extend_from_slice(&self.0.buf[..el.start as usize]);
        via.encode_value(&mut out);
        out.extend_from_slice(&self.0.buf[el.end as usize..]);
        Message::parse(out).map_err(ViaEditError::Reparse)
    }

    /// Decodes every header this crate knows, the Request-URI and the URIs
    /// in them, and reports the first failure. A strict receiver calls it
    /// after [`Message::parse`], which decodes only what matching needs.
    pub fn check_syntax(&self) -> Result<(), SyntaxError> {
        crate::validate::check_syntax(self)
    }
}

/// Why [`Message::with_top_via`] could not edit the top Via.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ViaEditError {
    /// The message has no Via.
    #[error("the message has no Via")]
    NoVia,
    /// The top Via does not decode as a typed Via.
    #[error("the top Via is malformed")]
    Malformed,
    /// The edited message does not parse (e.g. it grew past the limits).
    #[error("the edited message does not parse: {0}")]
    Reparse(ParseError),
}

/// Where [`Message::check_syntax`] found a problem.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SyntaxError {
    /// The Request-URI does not parse.
    #[error("malformed Request-URI: {0}")]
    RequestUri(UriError),
    /// The Request-URI carries headers (`?...`), which RFC 3261 §19.1.5 forbids.
    #[error("the Request-URI carries URI headers")]
    RequestUriHeaders,
    /// A header does not decode.
    #[error(transparent)]
    Header(#[from] HeaderError),
}

/// A header line seen through [`Message::headers`].
#[derive(Debug, Clone, Copy)]
pub struct HeaderRef<'a> {
    /// The header (compact forms folded; [`HeaderName::Other`] if unknown).
    pub name: HeaderName,
    /// The name as written.
    pub raw_name: &'a [u8],
    /// The value as written, without the leading white space and CRLF;
    /// folds are kept.
    pub value: &'a [u8],
}

impl HeaderRef<'_> {
    /// The name as written, as text.
    pub fn raw_name_str(&self) -> &str {
        std::str::from_utf8(self.raw_name).unwrap_or_default()
    }
    /// The value as text (invalid UTF-8 replaced).
    pub fn value_str(&self) -> Cow<'_, str> {
        String::from_utf8_lossy(self.value)
    }
}

impl fmt::Debug for Message {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let head_end = self.0.body.start as usize;
        f.debug_struct("Message")
            .field("head", &String::from_utf8_lossy(&self.0.buf[..head_end]))
            .field("body_len", &(self.0.body.end - self.0.body.start))
            .finish()
    }
}

impl PartialEq for Message {
    /// Two messages are equal when their bytes are.
    fn eq(&self, other: &Message) -> bool {
        self.0.buf == other.0.buf
    }
}
