//! Headers whose value is one number, one token or a list of tokens.

use std::fmt;

use bytes::Bytes;
use bytestring::ByteString;

use super::TypedHeader;
use crate::header_name::HeaderName;
use crate::lex::{self, trim};
use crate::method::Method;

macro_rules! number_header {
    ($(#[$doc:meta])* $ty:ident($int:ty), $name:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $ty(pub $int);

        impl TypedHeader for $ty {
            const NAME: HeaderName = $name;
            fn decode(_src: &Bytes, value: &[u8]) -> Option<Self> {
                lex::number::<$int>(value).map($ty)
            }
            fn encode_value(&self, out: &mut Vec<u8>) {
                crate::encode::put_u64(out, u64::from(self.0));
            }
        }
        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}", self.0)
            }
        }
    };
}

number_header!(
    /// Max-Forwards, 0 to 255 (RFC 3261 §20.22).
    MaxForwards(u8), HeaderName::MaxForwards);
number_header!(
    /// Content-Length in octets (RFC 3261 §20.14).
    ContentLength(u32), HeaderName::ContentLength);
number_header!(
    /// Expires in seconds (RFC 3261 §20.19; delta-seconds fit 32 bits).
    Expires(u32), HeaderName::Expires);
number_header!(
    /// Min-Expires in seconds (RFC 3261 §20.23).
    MinExpires(u32), HeaderName::MinExpires);
number_header!(
    /// RSeq of a reliable provisional response (RFC 3262 §7.1).
    RSeq(u32), HeaderName::RSeq);

macro_rules! token_header {
    ($(#[$doc:meta])* $ty:ident, $name:expr, list = $list:expr, empty_ok = $empty:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        pub struct $ty(pub ByteString);

        impl $ty {
            /// The token.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }
        impl TypedHeader for $ty {
            const NAME: HeaderName = $name;
            const LIST: bool = $list;
            const EMPTY_OK: bool = $empty;
            fn decode(src: &Bytes, value: &[u8]) -> Option<Self> {
                let v = trim(value);
                if v.is_empty() || !v.iter().all(|b| lex::is_token(*b)) {
                    return None;
                }
                lex::text(src, v).map($ty)
            }
            fn encode_value(&self, out: &mut Vec<u8>) {
                out.extend_from_slice(self.0.as_bytes());
            }
        }
        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
        impl PartialEq<str> for $ty {
            fn eq(&self, other: &str) -> bool {
                &*self.0 == other
            }
        }
    };
}

token_header!(
    /// One option tag of Require (RFC 3261 §20.32).
    Require, HeaderName::Require, list = true, empty_ok = false);
token_header!(
    /// One option tag of Proxy-Require (RFC 3261 §20.29).
    ProxyRequire, HeaderName::ProxyRequire, list = true, empty_ok = false);
token_header!(
    /// One option tag of Supported (RFC 3261 §20.37; may be empty).
    Supported, HeaderName::Supported, list = true, empty_ok = true);
token_header!(
    /// One option tag of Unsupported (RFC 3261 §20.40).
    Unsupported, HeaderName::Unsupported, list = true, empty_ok = false);
token_header!(
    /// One event type of Allow-Events (RFC 6665 §8.2.2).
    AllowEvents, HeaderName::AllowEvents, list = true, empty_ok = false);
token_header!(
    /// SIP-ETag entity tag (RFC 3903 §11.3.1).
    SipETag, HeaderName::SipETag, list = false, empty_ok = false);
token_header!(
    /// SIP-If-Match entity tag (RFC 3903 §11.3.2).
    SipIfMatch, HeaderName::SipIfMatch, list = false, empty_ok = false);

/// One method of Allow (RFC 3261 §20.5; may be empty).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Allow(pub Method);

impl TypedHeader for Allow {
    const NAME: HeaderName = HeaderName::Allow;
    const LIST: bool = true;
    const EMPTY_OK: bool = true;
    fn decode(src: &Bytes, value: &[u8]) -> Option<Self> {
        let v = trim(value);
        if v.is_empty() || !v.iter().all(|b| lex::is_token(*b)) {
            return None;
        }
        super::cseq::method_in(src, v).map(Allow)
    }
}

impl fmt::Display for Allow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// Call-ID: `word [ "@" word ]` (RFC 3261 §20.8).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CallId(pub ByteString);

impl CallId {
    pub(crate) fn valid(v: &[u8]) -> bool {
        valid_call_id(trim(v))
    }
    /// The Call-ID text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Validates `word [ "@" word ]` (RFC 3261 §25.1 callid): '@' is not a
/// word character, so the first '@' splits the value into two words.
pub(crate) fn valid_call_id(v: &[u8]) -> bool {
    let n = lex::word_run(v);
    match v.get(n) {
        None => n > 0,
        Some(b'@') => {
            let host = &v[n + 1..];
            n > 0 && !host.is_empty() && lex::word_run(host) == host.len()
        }
        Some(_) => false,
    }
}

impl TypedHeader for CallId {
    const NAME: HeaderName = HeaderName::CallId;
    fn decode(src: &Bytes, value: &[u8]) -> Option<Self> {
        let v = trim(value);
        valid_call_id(v)
            .then(|| lex::text(src, v))
            .flatten()
            .map(CallId)
    }
}

impl fmt::Display for CallId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::valid_call_id;
    use crate::lex;

    /// `word [ "@" word ]` byte by byte, as the definition reads.
    fn naive(v: &[u8]) -> bool {
        match v.iter().position(|c| *c == b'@') {
            Some(i) => {
                let (a, b) = (&v[..i], &v[i + 1..]);
                !a.is_empty()
                    && !b.is_empty()
                    && a.iter().all(|c| lex::is_word(*c))
                    && b.iter().all(|c| lex::is_word(*c))
            }
            None => !v.is_empty() && v.iter().all(|c| lex::is_word(*c)),
        }
    }

    #[test]
    fn call_id_check_agrees_with_the_grammar() {
        let special = [b'@', b' ', b'"', b',', 0x80, b'.', b'\r'];
        lex::with_two_specials(20, &special, |v| {
            assert_eq!(valid_call_id(v), naive(v), "{v:?}");
        });
        assert!(!valid_call_id(b""));
        assert!(valid_call_id(b"a84b4c76e66710@pc33.atlanta.example.com"));
    }
}
