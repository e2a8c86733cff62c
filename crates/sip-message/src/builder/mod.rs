//! Building and serializing outgoing messages.
//!
//! A builder collects the start line, headers in order (typed or raw) and
//! a body; [`Builder::encode`] writes the wire form in one allocation and
//! computes Content-Length (any Content-Length given by hand is dropped).
//! [`Builder::build`] gives the [`Message`] that parsing those bytes
//! gives, assembled from where the writer put each line.

mod reason;
mod spare;

use std::fmt;

use bytes::Bytes;
use bytestring::ByteString;

pub use reason::reason_phrase;

use crate::error::ParseError;
use crate::header_name::HeaderName;
use crate::headers::TypedHeader;
use crate::message::{request_line, status_line, Laid, Message, StartLine as Line};
use crate::method::Method;
use crate::uri::Uri;

/// A header name: known, or raw text kept in the builder's value buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Name {
    Known(HeaderName),
    Raw(std::ops::Range<usize>),
}

/// One header. Its whole line (`Name: value\r\n`) is written in the
/// builder's buffer when added, so an unchanged builder encodes its
/// headers with a single copy.
#[derive(Debug, Clone)]
struct Entry {
    name: Name,
    line: std::ops::Range<usize>,
    value: std::ops::Range<usize>,
}

impl Entry {
    /// Where this line lies when written from `at` on.
    #[inline(always)]
    fn laid(&self, at: usize) -> Laid {
        // The value follows `Name: ` (see begin_line).
        let value_at = at + (self.value.start - self.line.start);
        Laid {
            name: match self.name {
                Name::Known(h) => Some(h),
                Name::Raw(_) => None,
            },
            start: at,
            colon: value_at.saturating_sub(2),
            end: value_at + self.value.len(),
        }
    }
}

/// Content-Length (computed, RFC 3261 §20.14), blank line and body.
#[inline(always)]
fn write_tail(out: &mut Vec<u8>, body: &[u8], lay: &mut impl FnMut(Laid)) {
    let start = out.len();
    out.extend_from_slice(b"Content-Length: ");
    crate::encode::put_u64(out, body.len() as u64);
    lay(Laid {
        name: Some(HeaderName::ContentLength),
        start,
        colon: start + "Content-Length".len(),
        end: out.len(),
    });
    out.extend_from_slice(b"\r\n\r\n");
    out.extend_from_slice(body);
}

/// The header lines of one message as [`Builder::write`] lays them out
/// (a SIP message seldom has more).
type Layout = smallvec::SmallVec<[Laid; 24]>;

/// The message in `buf`, laid out as `lines` after a start line that
/// ends at `start_end` and reads as `start`: assembled from the layout
/// where that gives what the parser gives, else parsed.
#[inline(always)]
fn assemble(
    buf: Bytes,
    start: Option<Line>,
    start_end: usize,
    lines: &Layout,
) -> Result<Message, ParseError> {
    match start {
        Some(start) => Message::assemble(buf, start, start_end, lines).or_else(Message::parse),
        None => Message::parse(buf),
    }
}

/// The request line of a [`RequestBuilder`].
#[derive(Debug, Clone)]
pub struct RequestLine {
    method: Method,
    uri: ByteString,
}

/// The status line of a [`ResponseBuilder`].
#[derive(Debug, Clone)]
pub struct StatusLine {
    code: u16,
    reason: ByteString,
    to_tag: Option<ByteString>,
}

/// A message under construction; see [`RequestBuilder`] and [`ResponseBuilder`].
#[derive(Debug, Clone)]
#[must_use]
pub struct Builder<K> {
    start: K,
    entries: Vec<Entry>,
    values: Vec<u8>,
    /// True while `entries` cover `values` in order, without gaps.
    in_order: bool,
    /// A Content-Length line was added at some point (encode drops it).
    had_content_length: bool,
    body: Bytes,
}

/// The buffers go back to this thread's spares ([`spare`]).
impl<K> Drop for Builder<K> {
    fn drop(&mut self) {
        spare::give(
            std::mem::take(&mut self.entries),
            std::mem::take(&mut self.values),
        );
    }
}

/// Builds a request.
pub type RequestBuilder = Builder<RequestLine>;
/// Builds a response.
pub type ResponseBuilder = Builder<StatusLine>;

impl<K> Builder<K> {
    fn with_start(start: K) -> Self {
        let (entries, values) = spare::take();
        Builder {
            start,
            entries,
            values,
            in_order: true,
            had_content_length: false,
            body: Bytes::new(),
        }
    }

    /// The name for `name`, storing unknown names in the value buffer.
    #[inline]
    fn name_of(&mut self, name: &str) -> Name {
        match HeaderName::from_bytes(name.as_bytes()) {
            HeaderName::Other => {
                // Stored out of line: the buffer no longer holds only lines.
                self.in_order = false;
                let start = self.values.len();
                self.values.extend_from_slice(name.as_bytes());
                Name::Raw(start..self.values.len())
            }
            h => Name::Known(h),
        }
    }

    /// Writes `Name: ` and returns where the line starts.
    #[inline]
    fn begin_line(&mut self, name: &Name) -> usize {
        let line = self.values.len();
        match name {
            Name::Known(h) => {
                // A fixed-size copy of the padded "Name: " (no copy call for
                // a variable length), then the padding is cut off.
                let (padded, len) = crate::header_name::name_colon(*h);
                self.values.extend_from_slice(padded);
                self.values.truncate(line + len);
            }
            Name::Raw(r) => {
                self.values.extend_from_within(r.clone());
                self.values.extend_from_slice(b": ");
            }
        }
        line
    }

    fn name_bytes<'a>(&'a self, n: &'a Name) -> &'a [u8] {
        match n {
            Name::Known(h) => h.as_str().as_bytes(),
            Name::Raw(r) => &self.values[r.clone()],
        }
    }

    /// True if the two names are the same header.
    fn same(&self, a: &Name, b: &Name) -> bool {
        match (a, b) {
            (Name::Known(x), Name::Known(y)) => x == y,
            (Name::Raw(_), Name::Raw(_)) => {
                self.name_bytes(a).eq_ignore_ascii_case(self.name_bytes(b))
            }
            _ => false,
        }
    }

    #[inline]
    fn push_value(&mut self, name: Name, value: &str, at: Option<usize>) {
        let line = self.begin_line(&name);
        let start = self.values.len();
        self.values.extend_from_slice(value.as_bytes());
        self.push_entry(name, line, start, at);
    }

    #[inline]
    fn push_typed<H: TypedHeader + fmt::Display>(&mut self, h: &H, at: Option<usize>) {
        let name = Name::Known(H::NAME);
        let line = self.begin_line(&name);
        let start = self.values.len();
        h.encode_value(&mut self.values);
        self.push_entry(name, line, start, at);
    }

    #[inline]
    fn push_entry(&mut self, name: Name, line: usize, start: usize, at: Option<usize>) {
        self.had_content_length |= name == Name::Known(HeaderName::ContentLength);
        let value = start..self.values.len();
        self.values.extend_from_slice(b"\r\n");
        let entry = Entry {
            name,
            line: line..self.values.len(),
            value,
        };
        match at {
            Some(i) if i < self.entries.len() => {
                self.in_order = false;
                self.entries.insert(i, entry);
            }
            _ => self.entries.push(entry),
        }
    }

    /// Appends a typed header.
    #[inline]
    pub fn header<H: TypedHeader + fmt::Display>(mut self, h: &H) -> Self {
        self.push_typed(h, None);
        self
    }

    /// Puts a typed header before every other header (a new top Via).
    #[inline]
    pub fn header_first<H: TypedHeader + fmt::Display>(mut self, h: &H) -> Self {
        self.push_typed(h, Some(0));
        self
    }

    /// Replaces every line of a typed header by this value (at the place
    /// of the first one, or at the end).
    #[inline]
    pub fn replace<H: TypedHeader + fmt::Display>(mut self, h: &H) -> Self {
        self.replace_typed(h);
        self
    }

    fn replace_typed<H: TypedHeader + fmt::Display>(&mut self, h: &H) {
        let at = self.position(&Name::Known(H::NAME));
        let before = self.entries.len();
        self.entries.retain(|e| e.name != Name::Known(H::NAME));
        self.in_order &= self.entries.len() == before;
        self.push_typed(h, at);
    }

    /// Appends a header given as text. Known names (long or compact) are
    /// recognised; the value is written as given.
    #[inline]
    pub fn raw_header(mut self, name: &str, value: &str) -> Self {
        self.push_raw(name, value, None);
        self
    }

    /// [`raw_header`](Self::raw_header) in place: for a builder filled
    /// across branches or in a loop, where each by-value call moves the
    /// whole builder (a copy of some 160 bytes per header).
    ///
    /// ```
    /// use sip_message::{uri::Uri, Method, RequestBuilder};
    /// let uri: Uri = "sip:bob@example.com".parse().unwrap();
    /// let mut b = RequestBuilder::new(Method::Options, &uri);
    /// for hop in ["<sip:p1.example.com;lr>", "<sip:p2.example.com;lr>"] {
    ///     b.add_raw_header("Route", hop);
    /// }
    /// b.add_raw_header("Max-Forwards", "70").add_raw_header("Call-ID", "a84b4c76e66710");
    /// let text = String::from_utf8(b.encode().to_vec()).unwrap();
    /// assert!(text.contains("Route: <sip:p1.example.com;lr>\r\nRoute: <sip:p2.example.com;lr>\r\n"));
    /// ```
    #[inline]
    pub fn add_raw_header(&mut self, name: &str, value: &str) -> &mut Self {
        self.push_raw(name, value, None);
        self
    }

    /// [`header`](Self::header) in place (see
    /// [`add_raw_header`](Self::add_raw_header)).
    #[inline]
    pub fn add_header<H: TypedHeader + fmt::Display>(&mut self, h: &H) -> &mut Self {
        self.push_typed(h, None);
        self
    }

    #[inline]
    fn push_raw(&mut self, name: &str, value: &str, at: Option<usize>) {
        let n = self.name_of(name);
        self.push_value(n, value, at);
    }

    /// Replaces every line of a header by this raw value.
    #[inline]
    pub fn replace_raw(mut self, name: &str, value: &str) -> Self {
        self.replace_raw_value(name, value);
        self
    }

    fn replace_raw_value(&mut self, name: &str, value: &str) {
        let n = self.name_of(name);
        let at = self.position(&n);
        self.remove_name(&n);
        self.push_value(n, value, at);
    }

    fn remove_name(&mut self, n: &Name) {
        let keep: Vec<bool> = self
            .entries
            .iter()
            .map(|e| !self.same(&e.name, n))
            .collect();
        if keep.iter().any(|k| !k) {
            self.in_order = false;
        }
        let mut k = keep.iter();
        self.entries.retain(|_| *k.next().unwrap_or(&true));
    }

    /// Inserts a raw header before every other header.
    #[inline]
    pub fn raw_header_first(mut self, name: &str, value: &str) -> Self {
        self.push_raw(name, value, Some(0));
        self
    }

    /// Removes every line of a header (by name, any case, compact forms included).
    #[inline]
    pub fn remove(mut self, name: &str) -> Self {
        let n = self.name_of(name);
        self.remove_name(&n);
        self
    }

    /// True if a header of this name has been added.
    pub fn has(&self, name: &str) -> bool {
        let known = HeaderName::from_bytes(name.as_bytes());
        self.entries.iter().any(|e| match &e.name {
            Name::Known(h) => *h == known && known != HeaderName::Other,
            Name::Raw(r) => {
                known == HeaderName::Other
                    && self.values[r.clone()].eq_ignore_ascii_case(name.as_bytes())
            }
        })
    }

    fn position(&self, n: &Name) -> Option<usize> {
        self.entries.iter().position(|e| self.same(&e.name, n))
    }

    /// Sets the body and its Content-Type. An empty `content_type` leaves
    /// any Content-Type header already added (typed or raw) as it is.
    #[inline]
    pub fn body(mut self, content_type: &str, body: impl Into<Bytes>) -> Self {
        if !content_type.is_empty() {
            self.replace_raw_value("Content-Type", content_type);
        }
        self.body = body.into();
        self
    }

    /// True if the header lines are `values` as it stands: added in
    /// order, none removed, no Content-Length among them.
    fn lines_are_values(&self) -> bool {
        let cl = Name::Known(HeaderName::ContentLength);
        self.in_order && !(self.had_content_length && self.entries.iter().any(|e| e.name == cl))
    }

    /// Header lines, Content-Length (computed, RFC 3261 §20.14), blank
    /// line and body; `lay` hears where each line went.
    #[inline(always)]
    fn write_rest(&self, out: &mut Vec<u8>, lay: &mut impl FnMut(Laid)) {
        let cl = Name::Known(HeaderName::ContentLength);
        if self.lines_are_values() {
            let at = out.len();
            out.extend_from_slice(&self.values);
            for e in &self.entries {
                lay(e.laid(at + e.line.start));
            }
        } else {
            for e in self.entries.iter().filter(|e| e.name != cl) {
                lay(e.laid(out.len()));
                out.extend_from_slice(&self.values[e.line.clone()]);
            }
        }
        write_tail(out, &self.body, lay);
    }

    /// Exactly the number of bytes [`Builder::write_rest`] writes, so the
    /// output buffer is allocated once and becomes `Bytes` without a
    /// second allocation (a `Vec` whose length is its capacity).
    fn rest_len(&self) -> usize {
        let lines = if self.lines_are_values() {
            self.values.len()
        } else {
            let cl = Name::Known(HeaderName::ContentLength);
            self.entries
                .iter()
                .filter(|e| e.name != cl)
                .map(|e| e.line.len())
                .sum()
        };
        lines
            + b"Content-Length: \r\n\r\n".len()
            + crate::encode::decimal_len(self.body.len() as u64)
            + self.body.len()
    }
}

impl Builder<RequestLine> {
    /// A request with this method and Request-URI (its text is shared, not copied).
    pub fn new(method: Method, uri: &Uri) -> Self {
        Builder::with_start(RequestLine {
            method,
            uri: uri.raw_text().clone(),
        })
    }

    /// Copies every line of the named headers from `msg`, in the order they
    /// appear there (e.g. the Via, Route, From, Call-ID of an INVITE into
    /// its CANCEL, RFC 3261 §9.1).
    pub fn copy_from(mut self, msg: &Message, names: &[HeaderName]) -> Self {
        for h in msg.headers() {
            if names.contains(&h.name) && h.name != HeaderName::Other {
                let name = Name::Known(h.name);
                let line = self.begin_line(&name);
                let start = self.values.len();
                self.values.extend_from_slice(h.value);
                self.push_entry(name, line, start, None);
            }
        }
        self
    }

    /// Serializes the request.
    pub fn encode(&self) -> Bytes {
        self.write(&mut |_| {}).0
    }

    /// The request and where its start line ends; `lay` hears where
    /// each header line went.
    #[inline(always)]
    fn write(&self, lay: &mut impl FnMut(Laid)) -> (Bytes, usize) {
        let method = self.start.method.as_str().as_bytes();
        let uri = self.start.uri.as_bytes();
        let len = method.len() + uri.len() + b"  SIP/2.0\r\n".len() + self.rest_len();
        let mut out = Vec::with_capacity(len);
        out.extend_from_slice(method);
        out.push(b' ');
        out.extend_from_slice(uri);
        out.extend_from_slice(b" SIP/2.0");
        let start_end = out.len();
        out.extend_from_slice(b"\r\n");
        self.write_rest(&mut out, lay);
        debug_assert_eq!(out.len(), len);
        (Bytes::from(out), start_end)
    }

    /// The request as [`Message::parse`] reads what
    /// [`encode`](Builder::encode) writes (the same message or the same
    /// error), without searching its lines again.
    pub fn build(&self) -> Result<Message, ParseError> {
        let mut lines = Layout::new();
        let (buf, start_end) = self.write(&mut |l| lines.push(l));
        let method = &self.start.method;
        let uri_at = method.as_str().len() + 1;
        let start = request_line(method, uri_at, self.start.uri.as_bytes());
        assemble(buf, start, start_end, &lines)
    }
}

impl Builder<StatusLine> {
    /// A response with this code and its usual reason phrase.
    pub fn new(code: u16) -> Self {
        Builder::with_start(StatusLine {
            code,
            reason: reason_phrase(code).into(),
            to_tag: None,
        })
    }

    /// A response to `req` that copies Via (all values, in order), From,
    /// To, Call-ID and CSeq (RFC 3261 §8.2.6.2), and Timestamp for a 100
    /// (§8.2.6.1).
    pub fn from_request(req: &Message, code: u16) -> Self {
        let mut b = Builder::<StatusLine>::new(code);
        for h in req.headers() {
            let copy = matches!(
                h.name,
                HeaderName::Via
                    | HeaderName::From
                    | HeaderName::To
                    | HeaderName::CallId
                    | HeaderName::CSeq
            ) || (code == 100 && h.name == HeaderName::Timestamp);
            if copy {
                let name = Name::Known(h.name);
                let line = b.begin_line(&name);
                let start = b.values.len();
                b.values.extend_from_slice(h.value);
                b.push_entry(name, line, start, None);
            }
        }
        b
    }

    /// Sets the reason phrase.
    #[inline]
    pub fn reason(mut self, reason: &str) -> Self {
        self.start.reason = reason.into();
        self
    }

    /// Adds `;tag=` to To if it has no tag yet (RFC 3261 §8.2.6.2).
    #[inline]
    pub fn with_to_tag(mut self, tag: &str) -> Self {
        self.start.to_tag = Some(tag.into());
        self
    }

    /// Serializes the response.
    pub fn encode(&self) -> Bytes {
        self.write(&mut |_| {}).0
    }

    /// The response and where its status line ends; `lay` hears where
    /// each header line went.
    #[inline(always)]
    fn write(&self, lay: &mut impl FnMut(Laid)) -> (Bytes, usize) {
        let reason = self.start.reason.as_bytes();
        let head_len = b"SIP/2.0  \r\n".len()
            + crate::encode::decimal_len(u64::from(self.start.code))
            + reason.len();
        // RFC 3261 §8.2.6.2: the To of the response gets the tag if it has
        // none yet; that one line is written anew, the others as they are.
        let to = self.start.to_tag.as_ref().and_then(|tag| {
            let i = self.position(&Name::Known(HeaderName::To))?;
            let v = &self.values[self.entries[i].value.clone()];
            matches!(crate::headers::eager_tag(v), Some(None))
                .then(|| (i, String::from_utf8_lossy(v), tag))
        });
        let write_head = |out: &mut Vec<u8>| {
            out.extend_from_slice(b"SIP/2.0 ");
            crate::encode::put_u64(out, u64::from(self.start.code));
            out.push(b' ');
            out.extend_from_slice(reason);
            let start_end = out.len();
            out.extend_from_slice(b"\r\n");
            start_end
        };
        let Some((to_at, to_value, tag)) = to else {
            let len = head_len + self.rest_len();
            let mut out = Vec::with_capacity(len);
            let start_end = write_head(&mut out);
            self.write_rest(&mut out, lay);
            debug_assert_eq!(out.len(), len);
            return (Bytes::from(out), start_end);
        };
        let lines = || {
            self.entries
                .iter()
                .enumerate()
                .filter(|(_, e)| e.name != Name::Known(HeaderName::ContentLength))
        };
        let new_to_len = b"To: ;tag=\r\n".len() + to_value.len() + tag.len();
        let len = head_len
            + lines()
                .map(|(i, e)| if i == to_at { new_to_len } else { e.line.len() })
                .sum::<usize>()
            + b"Content-Length: \r\n\r\n".len()
            + crate::encode::decimal_len(self.body.len() as u64)
            + self.body.len();
        let mut out = Vec::with_capacity(len);
        let start_end = write_head(&mut out);
        for (i, e) in lines() {
            if i == to_at {
                let start = out.len();
                out.extend_from_slice(b"To: ");
                out.extend_from_slice(to_value.as_bytes());
                out.extend_from_slice(b";tag=");
                out.extend_from_slice(tag.as_bytes());
                lay(Laid {
                    name: Some(HeaderName::To),
                    start,
                    colon: start + "To".len(),
                    end: out.len(),
                });
                out.extend_from_slice(b"\r\n");
            } else {
                lay(e.laid(out.len()));
                out.extend_from_slice(&self.values[e.line.clone()]);
            }
        }
        write_tail(&mut out, &self.body, lay);
        debug_assert_eq!(out.len(), len);
        (Bytes::from(out), start_end)
    }

    /// The response as [`Message::parse`] reads what
    /// [`encode`](Builder::encode) writes (the same message or the same
    /// error), without searching its lines again.
    pub fn build(&self) -> Result<Message, ParseError> {
        let mut lines = Layout::new();
        let (buf, start_end) = self.write(&mut |l| lines.push(l));
        let code = self.start.code;
        let reason_at = "SIP/2.0  ".len() + crate::encode::decimal_len(u64::from(code));
        let start = status_line(code, reason_at, self.start.reason.as_bytes());
        assemble(buf, start, start_end, &lines)
    }
}

#[cfg(test)]
mod tests;
