//! %-escaping of URI parts (RFC 3261 §19.1.2, §25.1 `escaped`).
//!
//! A caller builds `<sip:host;method=REGISTER?contact=*&expires=10>`-style
//! URIs by escaping each part with the matching [`UriPart`]; a header value
//! such as `<sip:a@b>` becomes `%3Csip:a@b%3E`.

use std::borrow::Cow;

use crate::lex;

/// Which part of a SIP URI a string is meant for; each part has its own set
/// of characters that may appear unescaped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum UriPart {
    /// `user`: unreserved and user-unreserved.
    User,
    /// `password`.
    Password,
    /// `pname` / `pvalue` of a uri-parameter.
    Param,
    /// `hname` / `hvalue` of a URI header.
    Header,
}

fn allowed(part: UriPart, b: u8) -> bool {
    match part {
        UriPart::User => lex::is_unreserved(b) || lex::is_user_unreserved(b),
        UriPart::Password => lex::is_password(b),
        UriPart::Param => lex::is_unreserved(b) || lex::is_param_unreserved(b),
        UriPart::Header => lex::is_unreserved(b) || lex::is_hnv_unreserved(b),
    }
}

/// Escapes every octet of `s` that may not appear as itself in `part`.
///
/// ```
/// use sip_message::uri::{escape, UriPart};
/// assert_eq!(escape("<sip:a@b>", UriPart::Header), "%3Csip:a%40b%3E");
/// assert_eq!(escape("I have spaces", UriPart::User), "I%20have%20spaces");
/// ```
pub fn escape(s: &str, part: UriPart) -> Cow<'_, str> {
    if s.bytes().all(|b| allowed(part, b)) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for b in s.bytes() {
        if allowed(part, b) {
            out.push(b as char);
        } else {
            out.push('%');
            out.push(char::from(b"0123456789ABCDEF"[usize::from(b >> 4)]));
            out.push(char::from(b"0123456789ABCDEF"[usize::from(b & 15)]));
        }
    }
    Cow::Owned(out)
}

/// Decodes `%HH` escapes. A `%` not followed by two hex digits is kept as
/// it is. The result is bytes: an escape may produce any octet, NUL
/// included (RFC 4475 §3.1.1.4).
///
/// ```
/// use sip_message::uri::unescape;
/// assert_eq!(&*unescape("%75se%72"), b"user");
/// assert_eq!(&*unescape("null-%00-null"), b"null-\0-null");
/// ```
pub fn unescape(s: &str) -> Cow<'_, [u8]> {
    let b = s.as_bytes();
    if !b.contains(&b'%') {
        return Cow::Borrowed(b);
    }
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() && lex::is_hex(b[i + 1]) && lex::is_hex(b[i + 2]) {
            out.push(hex(b[i + 1]) << 4 | hex(b[i + 2]));
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    Cow::Owned(out)
}

/// [`unescape`] as text, with invalid UTF-8 replaced.
pub fn unescape_str(s: &str) -> Cow<'_, str> {
    match unescape(s) {
        Cow::Borrowed(_) => Cow::Borrowed(s),
        Cow::Owned(v) => Cow::Owned(String::from_utf8_lossy(&v).into_owned()),
    }
}

fn hex(b: u8) -> u8 {
    match b {
        b'0'..=b'9' => b - b'0',
        b'a'..=b'f' => b - b'a' + 10,
        _ => b - b'A' + 10,
    }
}

/// True if every `%` in `s` starts a valid escape and every other octet
/// satisfies `ok`.
pub(crate) fn valid_escaped(s: &[u8], ok: impl Fn(u8) -> bool) -> Result<(), usize> {
    let mut i = 0;
    while i < s.len() {
        if s[i] == b'%' {
            if i + 2 < s.len() && lex::is_hex(s[i + 1]) && lex::is_hex(s[i + 2]) {
                i += 3;
                continue;
            }
            return Err(i);
        }
        if !ok(s[i]) {
            return Err(i);
        }
        i += 1;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_roundtrip() {
        for s in ["alice", "a b;c", "<sip:x@y;lr>", "100%", "é"] {
            for p in [
                UriPart::User,
                UriPart::Password,
                UriPart::Param,
                UriPart::Header,
            ] {
                let e = escape(s, p);
                assert_eq!(&*unescape(&e), s.as_bytes(), "{s} {p:?}");
                assert!(valid_escaped(e.as_bytes(), |b| allowed(p, b)).is_ok());
            }
        }
    }

    #[test]
    fn bad_escapes_are_kept_or_rejected() {
        assert_eq!(&*unescape("%Z%45"), b"%ZE");
        assert!(valid_escaped(b"a%4", |_| true).is_err());
        assert!(valid_escaped(b"a%4g", |_| true).is_err());
        assert!(valid_escaped(b"a%41", |b| b == b'a').is_ok());
    }
}
