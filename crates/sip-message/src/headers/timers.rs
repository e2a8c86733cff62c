//! Retry-After (RFC 3261 §20.33), Session-Expires and Min-SE (RFC 4028).

use std::fmt;

use bytes::Bytes;
use bytestring::ByteString;
use smallvec::SmallVec;

use super::TypedHeader;
use crate::header_name::HeaderName;
use crate::lex::{self, skip_ws};
use crate::params::Params;

fn delta_and_params(
    src: &Bytes,
    value: &[u8],
    comment: bool,
) -> Option<(u32, Option<ByteString>, Params)> {
    let v = skip_ws(value);
    let (mut r, delta) = lex::digits::<u32>(v).ok()?;
    let mut text = None;
    if comment {
        let c = skip_ws(r);
        if c.first() == Some(&b'(') {
            let (rest, body) = comment_text(c)?;
            text = Some(lex::text(src, body)?);
            r = rest;
        }
    }
    let mut raw = SmallVec::new();
    let (r, ()) = lex::params(r, &mut raw).ok()?;
    if !skip_ws(r).is_empty() {
        return None;
    }
    Some((delta, text, Params::from_raw(src, &raw)?))
}

/// `comment = LPAREN *(ctext / quoted-pair / comment) RPAREN`, nested.
fn comment_text(i: &[u8]) -> Option<(&[u8], &[u8])> {
    let mut depth = 0usize;
    let mut p = 0;
    while p < i.len() {
        match i[p] {
            b'\\' => p += 1,
            b'(' => depth += 1,
            b')' => {
                depth -= 1;
                if depth == 0 {
                    return Some((&i[p + 1..], &i[1..p]));
                }
            }
            _ => {}
        }
        p += 1;
    }
    None
}

/// `Retry-After: delta-seconds [ comment ] *( ;duration | ;param )`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RetryAfter {
    /// Seconds to wait.
    pub delta: u32,
    /// The comment text, without parentheses.
    pub comment: Option<ByteString>,
    /// Parameters (`duration`).
    pub params: Params,
}

impl RetryAfter {
    /// `duration` in seconds.
    pub fn duration(&self) -> Option<u32> {
        self.params
            .value("duration")
            .and_then(|v| lex::number(v.as_bytes()))
    }
}

impl TypedHeader for RetryAfter {
    const NAME: HeaderName = HeaderName::RetryAfter;
    fn decode(src: &Bytes, value: &[u8]) -> Option<Self> {
        let (delta, comment, params) = delta_and_params(src, value, true)?;
        Some(RetryAfter {
            delta,
            comment,
            params,
        })
    }
}

impl fmt::Display for RetryAfter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.delta)?;
        if let Some(c) = &self.comment {
            write!(f, " ({c})")?;
        }
        write!(f, "{}", self.params)
    }
}

/// Who refreshes a session (RFC 4028 §4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Refresher {
    /// `uac`
    Uac,
    /// `uas`
    Uas,
}

/// `Session-Expires: delta-seconds *(;refresher=uac|uas|;param)`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SessionExpires {
    /// Session interval in seconds.
    pub delta: u32,
    /// Parameters.
    pub params: Params,
}

impl SessionExpires {
    /// `refresher`.
    pub fn refresher(&self) -> Option<Refresher> {
        match self.params.value("refresher")? {
            r if r.eq_ignore_ascii_case("uac") => Some(Refresher::Uac),
            r if r.eq_ignore_ascii_case("uas") => Some(Refresher::Uas),
            _ => None,
        }
    }
}

impl TypedHeader for SessionExpires {
    const NAME: HeaderName = HeaderName::SessionExpires;
    fn encode_value(&self, out: &mut Vec<u8>) {
        crate::encode::put_u64(out, u64::from(self.delta));
        self.params.encode(out);
    }
    fn decode(src: &Bytes, value: &[u8]) -> Option<Self> {
        let (delta, _, params) = delta_and_params(src, value, false)?;
        Some(SessionExpires { delta, params })
    }
}

impl fmt::Display for SessionExpires {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.delta, f)?;
        fmt::Display::fmt(&self.params, f)
    }
}

/// `Min-SE: delta-seconds *(;param)` (RFC 4028 §5).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MinSE {
    /// Minimum session interval in seconds.
    pub delta: u32,
    /// Parameters.
    pub params: Params,
}

impl TypedHeader for MinSE {
    const NAME: HeaderName = HeaderName::MinSE;
    fn decode(src: &Bytes, value: &[u8]) -> Option<Self> {
        let (delta, _, params) = delta_and_params(src, value, false)?;
        Some(MinSE { delta, params })
    }
}

impl fmt::Display for MinSE {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}", self.delta, self.params)
    }
}
