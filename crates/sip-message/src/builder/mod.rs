//! Building and serializing outgoing messages.
//!
//! A builder collects the start line, headers in order (typed or raw) and
//! a body; [`Builder::encode`] writes the wire form in one allocation and
//! computes Content-Length (any Content-Length given by hand is dropped).
//! [`Builder::build`] parses the result back into a [`Message`].

mod reason;

use std::fmt::{self, Write as _};

use bytes::{BufMut, Bytes, BytesMut};
use bytestring::ByteString;

pub use reason::reason_phrase;

use crate::error::ParseError;
use crate::header_name::HeaderName;
use crate::headers::TypedHeader;
use crate::message::Message;
use crate::method::Method;
use crate::uri::Uri;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Name {
    Known(HeaderName),
    Raw(ByteString),
}

impl Name {
    fn of(name: &str) -> Name {
        match HeaderName::from_bytes(name.as_bytes()) {
            HeaderName::Other => Name::Raw(name.into()),
            h => Name::Known(h),
        }
    }
    fn as_str(&self) -> &str {
        match self {
            Name::Known(h) => h.as_str(),
            Name::Raw(r) => r,
        }
    }
}

#[derive(Debug, Clone)]
struct Entry {
    name: Name,
    value: std::ops::Range<usize>,
}

/// The request line of a [`RequestBuilder`].
#[derive(Debug, Clone)]
pub struct RequestLine {
    method: Method,
    uri: Uri,
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
    values: BytesMut,
    body: Bytes,
}

/// Builds a request.
pub type RequestBuilder = Builder<RequestLine>;
/// Builds a response.
pub type ResponseBuilder = Builder<StatusLine>;

impl<K> Builder<K> {
    fn with_start(start: K) -> Self {
        Builder {
            start,
            entries: Vec::with_capacity(12),
            values: BytesMut::with_capacity(512),
            body: Bytes::new(),
        }
    }

    fn push_value(&mut self, name: Name, value: impl fmt::Display, at: Option<usize>) {
        let start = self.values.len();
        // Writing into BytesMut cannot fail.
        let _ = write!(self.values, "{value}");
        let entry = Entry {
            name,
            value: start..self.values.len(),
        };
        match at {
            Some(i) => self.entries.insert(i.min(self.entries.len()), entry),
            None => self.entries.push(entry),
        }
    }

    /// Appends a typed header.
    pub fn header<H: TypedHeader + fmt::Display>(mut self, h: &H) -> Self {
        self.push_value(Name::Known(H::NAME), h, None);
        self
    }

    /// Puts a typed header before every other header (a new top Via).
    pub fn header_first<H: TypedHeader + fmt::Display>(mut self, h: &H) -> Self {
        self.push_value(Name::Known(H::NAME), h, Some(0));
        self
    }

    /// Replaces every line of a typed header by this value (at the place
    /// of the first one, or at the end).
    pub fn replace<H: TypedHeader + fmt::Display>(mut self, h: &H) -> Self {
        let at = self.position(&Name::Known(H::NAME));
        self.entries.retain(|e| e.name != Name::Known(H::NAME));
        self.push_value(Name::Known(H::NAME), h, at);
        self
    }

    /// Appends a header given as text. Known names (long or compact) are
    /// recognised; the value is written as given.
    pub fn raw_header(mut self, name: &str, value: &str) -> Self {
        self.push_value(Name::of(name), value, None);
        self
    }

    /// Replaces every line of a header by this raw value.
    pub fn replace_raw(mut self, name: &str, value: &str) -> Self {
        let n = Name::of(name);
        let at = self.position(&n);
        self.entries.retain(|e| !same(&e.name, &n));
        self.push_value(n, value, at);
        self
    }

    /// Inserts a raw header before every other header.
    pub fn raw_header_first(mut self, name: &str, value: &str) -> Self {
        self.push_value(Name::of(name), value, Some(0));
        self
    }

    /// Removes every line of a header (by name, any case, compact forms included).
    pub fn remove(mut self, name: &str) -> Self {
        let n = Name::of(name);
        self.entries.retain(|e| !same(&e.name, &n));
        self
    }

    /// True if a header of this name has been added.
    pub fn has(&self, name: &str) -> bool {
        self.position(&Name::of(name)).is_some()
    }

    fn position(&self, n: &Name) -> Option<usize> {
        self.entries.iter().position(|e| same(&e.name, n))
    }

    /// Sets the body and its Content-Type. An empty `content_type` leaves
    /// any Content-Type header already added (typed or raw) as it is.
    pub fn body(mut self, content_type: &str, body: impl Into<Bytes>) -> Self {
        if !content_type.is_empty() {
            self = self.replace_raw("Content-Type", content_type);
        }
        self.body = body.into();
        self
    }

    fn write_rest(&self, out: &mut BytesMut) {
        for e in &self.entries {
            if e.name == Name::Known(HeaderName::ContentLength) {
                continue;
            }
            out.put_slice(e.name.as_str().as_bytes());
            out.put_slice(b": ");
            out.put_slice(&self.values[e.value.clone()]);
            out.put_slice(b"\r\n");
        }
        let _ = write!(out, "Content-Length: {}\r\n\r\n", self.body.len());
        out.put_slice(&self.body);
    }

    fn capacity(&self) -> usize {
        96 + self.values.len() + self.entries.len() * 24 + self.body.len()
    }
}

fn same(a: &Name, b: &Name) -> bool {
    match (a, b) {
        (Name::Known(x), Name::Known(y)) => x == y,
        (Name::Raw(x), Name::Raw(y)) => x.eq_ignore_ascii_case(y),
        _ => false,
    }
}

impl Builder<RequestLine> {
    /// A request with this method and Request-URI.
    pub fn new(method: Method, uri: Uri) -> Self {
        Builder::with_start(RequestLine { method, uri })
    }

    /// Serializes the request.
    pub fn encode(&self) -> Bytes {
        let mut out = BytesMut::with_capacity(self.capacity() + self.start.uri.as_str().len());
        let _ = write!(out, "{} {} SIP/2.0\r\n", self.start.method, self.start.uri);
        self.write_rest(&mut out);
        out.freeze()
    }

    /// Serializes and parses the request.
    pub fn build(&self) -> Result<Message, ParseError> {
        Message::parse(self.encode())
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
                let start = b.values.len();
                b.values.put_slice(h.value);
                b.entries.push(Entry {
                    name: Name::Known(h.name),
                    value: start..b.values.len(),
                });
            }
        }
        b
    }

    /// Sets the reason phrase.
    pub fn reason(mut self, reason: &str) -> Self {
        self.start.reason = reason.into();
        self
    }

    /// Adds `;tag=` to To if it has no tag yet (RFC 3261 §8.2.6.2).
    pub fn with_to_tag(mut self, tag: &str) -> Self {
        self.start.to_tag = Some(tag.into());
        self
    }

    /// Serializes the response.
    pub fn encode(&self) -> Bytes {
        let mut out = BytesMut::with_capacity(self.capacity() + self.start.reason.len());
        let _ = write!(out, "SIP/2.0 {} {}\r\n", self.start.code, self.start.reason);
        match &self.start.to_tag {
            Some(tag) => {
                let mut b = self.clone();
                if let Some(i) = b.position(&Name::Known(HeaderName::To)) {
                    let v = &b.values[b.entries[i].value.clone()];
                    if matches!(crate::headers::eager_tag(v), Some(None)) {
                        let new = format!("{};tag={tag}", String::from_utf8_lossy(v));
                        b.entries.remove(i);
                        b.push_value(Name::Known(HeaderName::To), new, Some(i));
                    }
                }
                b.write_rest(&mut out);
            }
            None => self.write_rest(&mut out),
        }
        out.freeze()
    }

    /// Serializes and parses the response.
    pub fn build(&self) -> Result<Message, ParseError> {
        Message::parse(self.encode())
    }
}
