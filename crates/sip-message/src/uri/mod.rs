//! URIs: `sip:`/`sips:` with the full RFC 3261 §19.1 / §25.1 grammar,
//! `tel:` (RFC 3966), and any other absolute URI kept opaque.
//!
//! A URI keeps the text it was parsed from and exposes its parts as views
//! of that text. Parts are kept escaped as written; [`unescape`] decodes.
//!
//! ```
//! use sip_message::uri::{Uri, SipUri, escape, UriPart};
//!
//! let uri: Uri = "sips:alice:secret@[2001:db8::1]:5061;transport=tcp;lr?subject=hi".parse()?;
//! let sip = uri.as_sip().unwrap();
//! assert!(sip.is_secure());
//! assert_eq!(sip.user(), Some("alice"));
//! assert_eq!(sip.port(), Some(5061));
//! assert_eq!(sip.transport(), Some("tcp"));
//! assert!(sip.lr());
//!
//! // Build <sip:host;method=REGISTER?contact=*&expires=10> with escaping.
//! let reg = SipUri::builder("registrar.example.com")
//!     .param("method", Some("REGISTER"))
//!     .header("contact", "<sip:bob@192.0.2.4>")
//!     .header("expires", "10")
//!     .build()?;
//! assert_eq!(reg.to_string(),
//!     "sip:registrar.example.com;method=REGISTER?contact=%3Csip:bob%40192.0.2.4%3E&expires=10");
//! assert_eq!(reg.header_unescaped("contact").as_deref(), Some("<sip:bob@192.0.2.4>"));
//! # Ok::<(), sip_message::UriError>(())
//! ```

mod escape;
mod host;
mod sip;

use std::fmt;

use bytes::Bytes;
use bytestring::ByteString;

pub use escape::{escape, unescape, unescape_str, UriPart};
pub use host::Host;
pub use sip::{SipUri, SipUriBuilder};

use crate::error::UriError;
use crate::params::Params;

/// Any URI that can appear in a SIP message.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
// SIP URIs are the common case; boxing them would allocate for every URI.
#[allow(clippy::large_enum_variant)]
pub enum Uri {
    /// `sip:` or `sips:`.
    Sip(SipUri),
    /// `tel:` (RFC 3966).
    Tel(TelUri),
    /// Any other `scheme:rest`, kept as written.
    Other(AbsoluteUri),
}

impl Uri {
    /// Parses URI text.
    pub fn parse(text: impl Into<Bytes>) -> Result<Uri, UriError> {
        let b: Bytes = text.into();
        Uri::parse_in(&b, &b)
    }

    /// Parses `part`, a slice of `src`, keeping views into `src`.
    pub(crate) fn parse_in(src: &Bytes, part: &[u8]) -> Result<Uri, UriError> {
        match Scheme::of(part)? {
            Scheme::Sip => SipUri::parse_in(src, part).map(Uri::Sip),
            Scheme::Tel => TelUri::parse_in(src, part).map(Uri::Tel),
            Scheme::Other => AbsoluteUri::parse_in(src, part).map(Uri::Other),
        }
    }

    /// Parses `part`, which a caller cut out of `src` (a header value of a
    /// received message, say): the URI keeps views of `src` instead of a
    /// copy. A `part` that does not lie inside `src` is copied. The URI
    /// keeps all of `src`'s buffer alive: for a URI kept long, parse a copy
    /// (`Uri::parse(Bytes::copy_from_slice(part))`).
    pub fn parse_within(src: &Bytes, part: &[u8]) -> Result<Uri, UriError> {
        let (s, p) = (src.as_ptr_range(), part.as_ptr_range());
        if s.start <= p.start && p.end <= s.end {
            Uri::parse_in(src, part)
        } else {
            Uri::parse(Bytes::copy_from_slice(part))
        }
    }

    /// Parses text already held as a `ByteString`: a SIP URI is read
    /// without another UTF-8 check.
    fn parse_text(raw: ByteString) -> Result<Uri, UriError> {
        match Scheme::of(raw.as_bytes())? {
            Scheme::Sip => SipUri::parse_text(raw).map(Uri::Sip),
            _ => Uri::parse_in(raw.as_bytes(), raw.as_bytes()),
        }
    }

    /// The SIP URI, if this is one.
    pub fn as_sip(&self) -> Option<&SipUri> {
        match self {
            Uri::Sip(u) => Some(u),
            _ => None,
        }
    }

    /// The scheme in lower case for sip, sips and tel; as written otherwise.
    pub fn scheme(&self) -> &str {
        match self {
            Uri::Sip(u) if u.is_secure() => "sips",
            Uri::Sip(_) => "sip",
            Uri::Tel(_) => "tel",
            Uri::Other(o) => o.scheme(),
        }
    }

    /// The URI text, shared.
    pub(crate) fn raw_text(&self) -> &ByteString {
        match self {
            Uri::Sip(u) => u.raw_text(),
            Uri::Tel(u) => &u.raw,
            Uri::Other(u) => &u.raw,
        }
    }

    /// The URI text.
    pub fn as_str(&self) -> &str {
        match self {
            Uri::Sip(u) => u.as_str(),
            Uri::Tel(u) => &u.raw,
            Uri::Other(u) => &u.raw,
        }
    }
}

impl fmt::Display for Uri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Uri {
    type Err = UriError;
    fn from_str(s: &str) -> Result<Uri, UriError> {
        Uri::parse_text(ByteString::from(s))
    }
}

/// The scheme families that have their own grammar.
enum Scheme {
    /// `sip` or `sips`, in any case (RFC 3261 §19.1.1).
    Sip,
    /// `tel` (RFC 3966).
    Tel,
    /// Anything else.
    Other,
}

impl Scheme {
    /// The scheme of URI text: what comes before its first colon.
    fn of(part: &[u8]) -> Result<Scheme, UriError> {
        // The spelling nearly every URI has, without the search.
        if part.starts_with(b"sip:") || part.starts_with(b"sips:") {
            return Ok(Scheme::Sip);
        }
        let colon = part
            .iter()
            .position(|b| *b == b':')
            .ok_or(UriError::at(0))?;
        let scheme = &part[..colon];
        Ok(
            if scheme.eq_ignore_ascii_case(b"sip") || scheme.eq_ignore_ascii_case(b"sips") {
                Scheme::Sip
            } else if scheme.eq_ignore_ascii_case(b"tel") {
                Scheme::Tel
            } else {
                Scheme::Other
            },
        )
    }
}

impl From<SipUri> for Uri {
    fn from(u: SipUri) -> Uri {
        Uri::Sip(u)
    }
}

/// A `tel:` URI (RFC 3966): the number and its parameters.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TelUri {
    raw: ByteString,
    number: ByteString,
    params: Params,
}

impl TelUri {
    fn parse_in(src: &Bytes, part: &[u8]) -> Result<TelUri, UriError> {
        let rest = &part[4..];
        let end = rest.iter().position(|b| *b == b';').unwrap_or(rest.len());
        let number = &rest[..end];
        // RFC 3966 §3: global numbers start with "+", local ones are hex
        // digits, "*" and "#"; visual separators "-" "." "(" ")".
        let ok = !number.is_empty()
            && number.iter().all(|b| {
                b.is_ascii_hexdigit() || matches!(b, b'+' | b'*' | b'#' | b'-' | b'.' | b'(' | b')')
            });
        if !ok {
            return Err(UriError::at(4));
        }
        let mut raw_params = smallvec::SmallVec::new();
        sip::uri_params(&rest[end..], &mut raw_params).map_err(|o| UriError::at(4 + end + o))?;
        Ok(TelUri {
            raw: crate::lex::text(src, part).ok_or(UriError::at(0))?,
            number: crate::lex::text(src, number).ok_or(UriError::at(4))?,
            params: Params::from_raw(src, &raw_params).ok_or(UriError::at(4))?,
        })
    }
    /// The number as written, visual separators included.
    pub fn number(&self) -> &str {
        &self.number
    }
    /// True for a global number (`+` prefix).
    pub fn is_global(&self) -> bool {
        self.number.starts_with('+')
    }
    /// The parameters (`;ext=`, `;phone-context=`, ...).
    pub fn params(&self) -> &Params {
        &self.params
    }
}

/// Any other absolute URI (`scheme:rest`), kept opaque.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AbsoluteUri {
    raw: ByteString,
    colon: usize,
}

impl AbsoluteUri {
    fn parse_in(src: &Bytes, part: &[u8]) -> Result<AbsoluteUri, UriError> {
        // RFC 3261 §25.1 absoluteURI: scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." )
        let colon = part
            .iter()
            .position(|b| *b == b':')
            .ok_or(UriError::at(0))?;
        let scheme = &part[..colon];
        let scheme_ok = scheme.first().is_some_and(u8::is_ascii_alphabetic)
            && scheme
                .iter()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'));
        if !scheme_ok {
            return Err(UriError::at(0));
        }
        let rest = &part[colon + 1..];
        if let Some(p) = rest.iter().position(|b| {
            b.is_ascii_whitespace() || b.is_ascii_control() || matches!(b, b'<' | b'>' | b'"')
        }) {
            return Err(UriError::at(colon + 1 + p));
        }
        if rest.is_empty() {
            return Err(UriError::at(colon + 1));
        }
        Ok(AbsoluteUri {
            raw: crate::lex::text(src, part).ok_or(UriError::at(0))?,
            colon,
        })
    }
    /// The scheme as written.
    pub fn scheme(&self) -> &str {
        &self.raw[..self.colon]
    }
    /// Everything after the colon.
    pub fn rest(&self) -> &str {
        &self.raw[self.colon + 1..]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scheme_shortcut_agrees_with_the_search() {
        for t in [
            "sip:a", "sips:a", "sip:", "sips:", "SIP:a", "sipx:a", "sip", "si:p", "tel:1",
            "x:sip:a", "",
        ] {
            let colon = t.find(':');
            let want = colon.map(|c| &t[..c]).map(|s| {
                if s.eq_ignore_ascii_case("sip") || s.eq_ignore_ascii_case("sips") {
                    "sip"
                } else if s.eq_ignore_ascii_case("tel") {
                    "tel"
                } else {
                    "other"
                }
            });
            let got = Scheme::of(t.as_bytes()).ok().map(|s| match s {
                Scheme::Sip => "sip",
                Scheme::Tel => "tel",
                Scheme::Other => "other",
            });
            assert_eq!(got, want, "{t:?}");
        }
    }

    #[test]
    fn tel_and_other_schemes() {
        let t: Uri = "tel:+1-201-555-0123;ext=42".parse().unwrap();
        match &t {
            Uri::Tel(t) => {
                assert!(t.is_global());
                assert_eq!(t.params().value("ext"), Some("42"));
            }
            _ => panic!("not tel"),
        }
        let o: Uri = "isbn:2983792873".parse().unwrap();
        assert_eq!(o.scheme(), "isbn");
        assert!(matches!(
            "http://www.example.com".parse::<Uri>(),
            Ok(Uri::Other(_))
        ));
        assert!("1abc:x".parse::<Uri>().is_err());
        assert!("noscheme".parse::<Uri>().is_err());
        assert!("urn:a b".parse::<Uri>().is_err());
    }
}
