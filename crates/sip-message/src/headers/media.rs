//! Content-Type (RFC 3261 §20.15) and Accept (RFC 3261 §20.1).

use std::fmt;

use bytes::Bytes;
use bytestring::ByteString;
use smallvec::SmallVec;

use super::TypedHeader;
use crate::header_name::HeaderName;
use crate::lex::{self, sep, skip_ws, token};
use crate::params::Params;

/// `type/subtype *(;param)`; in Accept, either part may be `*`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MediaType {
    mtype: ByteString,
    subtype: ByteString,
    params: Params,
}

impl MediaType {
    /// A media type without parameters, e.g. `("application", "sdp")`.
    pub fn new(mtype: &str, subtype: &str) -> MediaType {
        MediaType {
            mtype: mtype.into(),
            subtype: subtype.into(),
            params: Params::new(),
        }
    }
    /// The type (`application`).
    pub fn mtype(&self) -> &str {
        &self.mtype
    }
    /// The subtype (`sdp`).
    pub fn subtype(&self) -> &str {
        &self.subtype
    }
    /// The parameters (`charset`, `boundary`, `q`, ...).
    pub fn params(&self) -> &Params {
        &self.params
    }
    /// Case-insensitive comparison of type and subtype.
    pub fn is(&self, mtype: &str, subtype: &str) -> bool {
        self.mtype.eq_ignore_ascii_case(mtype) && self.subtype.eq_ignore_ascii_case(subtype)
    }
    /// True if this (possibly wildcard) range covers `other`.
    pub fn matches(&self, other: &MediaType) -> bool {
        (&*self.mtype == "*" || self.mtype.eq_ignore_ascii_case(&other.mtype))
            && (&*self.subtype == "*" || self.subtype.eq_ignore_ascii_case(&other.subtype))
    }

    fn decode_in(src: &Bytes, value: &[u8]) -> Option<MediaType> {
        let v = skip_ws(value);
        let (r, t) = token(v).ok()?;
        let (r, ()) = sep(b'/')(r).ok()?;
        let (r, s) = token(r).ok()?;
        let mut raw = SmallVec::new();
        let (r, ()) = lex::params(r, &mut raw).ok()?;
        if !skip_ws(r).is_empty() {
            return None;
        }
        Some(MediaType {
            mtype: lex::text(src, t)?,
            subtype: lex::text(src, s)?,
            params: Params::from_raw(src, &raw)?,
        })
    }
}

impl fmt::Display for MediaType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.mtype)?;
        f.write_str("/")?;
        f.write_str(&self.subtype)?;
        fmt::Display::fmt(&self.params, f)
    }
}

/// Content-Type.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ContentType(pub MediaType);

impl TypedHeader for ContentType {
    const NAME: HeaderName = HeaderName::ContentType;
    fn encode_value(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self.0.mtype.as_bytes());
        out.push(b'/');
        out.extend_from_slice(self.0.subtype.as_bytes());
        self.0.params.encode(out);
    }
    fn decode(src: &Bytes, value: &[u8]) -> Option<Self> {
        MediaType::decode_in(src, value).map(ContentType)
    }
}

impl fmt::Display for ContentType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl std::ops::Deref for ContentType {
    type Target = MediaType;
    fn deref(&self) -> &MediaType {
        &self.0
    }
}

/// One media range of Accept (may be empty: `Accept:` accepts nothing).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Accept(pub MediaType);

impl TypedHeader for Accept {
    const NAME: HeaderName = HeaderName::Accept;
    const LIST: bool = true;
    const EMPTY_OK: bool = true;
    fn decode(src: &Bytes, value: &[u8]) -> Option<Self> {
        MediaType::decode_in(src, value).map(Accept)
    }
}

impl fmt::Display for Accept {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl std::ops::Deref for Accept {
    type Target = MediaType;
    fn deref(&self) -> &MediaType {
        &self.0
    }
}
