//! name-addr / addr-spec values: From, To, Contact, Route, Record-Route,
//! Path, Refer-To (RFC 3261 §20.10, §20.20, §20.39, §20.30, §20.34;
//! RFC 3327; RFC 3515).

use std::fmt;

use bytes::Bytes;
use bytestring::ByteString;
use smallvec::SmallVec;

use super::TypedHeader;
use crate::header_name::HeaderName;
use crate::lex::{self, quoted_string, skip_ws, RawParam};
use crate::params::Params;
use crate::uri::Uri;

/// A name-addr or addr-spec with its header parameters, as slices.
pub(crate) struct RawNameAddr<'a> {
    pub(crate) display: Option<&'a [u8]>,
    pub(crate) uri: &'a [u8],
    pub(crate) params: SmallVec<[RawParam<'a>; 4]>,
}

/// Display name (as written), URI text, and what follows the value.
type ScannedNameAddr<'a> = (Option<&'a [u8]>, &'a [u8], &'a [u8]);

/// `( name-addr / addr-spec ) *( SEMI param )`, handing each parameter to
/// `on_param`; returns the display name, the URI text and the rest.
///
/// In addr-spec form the URI may not hold `;`, `,` or `?` (RFC 3261
/// §20.10: such URIs MUST be in angle brackets), so `;` starts the header
/// parameters. In name-addr form no white space may stand inside `<...>`
/// (RFC 4475 §3.1.2.14), and an unquoted display name is a sequence of
/// tokens (RFC 4475 §3.1.2.15). The URI itself is checked only for a
/// scheme here; [`Uri`] parsing does the rest when the value is decoded.
pub(crate) fn scan_name_addr<'a>(
    i: &'a [u8],
    on_param: impl FnMut(&'a [u8], Option<&'a [u8]>),
) -> Option<ScannedNameAddr<'a>> {
    let i = skip_ws(i);
    let (after_display, display) = match i.first()? {
        b'"' => {
            let (r, q) = quoted_string(i).ok()?;
            (skip_ws(r), Some(q))
        }
        b'<' => (i, None),
        _ => {
            // *(token LWS) followed by "<", or no display name at all.
            let mut p = 0;
            let mut end = 0;
            loop {
                let n = i[p..]
                    .iter()
                    .position(|b| !lex::is_token(*b))
                    .unwrap_or(i.len() - p);
                if n == 0 {
                    break;
                }
                end = p + n;
                p = end
                    + i[end..]
                        .iter()
                        .position(|b| !lex::is_ws(*b))
                        .unwrap_or(i.len() - end);
            }
            if i.get(p) == Some(&b'<') && end > 0 {
                (&i[p..], Some(&i[..end]))
            } else {
                (i, None)
            }
        }
    };
    let (rest, uri, colon) = if after_display.first() == Some(&b'<') {
        let (uri, rest) = in_angles(&after_display[1..])?;
        (rest, uri, lex::scheme_colon(uri))
    } else {
        if display.is_some() {
            return None;
        }
        let mut colon = None;
        let mut end = after_display.len();
        for (k, b) in after_display.iter().enumerate() {
            match b {
                b';' | b',' | b' ' | b'\t' | b'\r' | b'\n' => {
                    end = k;
                    break;
                }
                b'?' => return None,
                b':' if colon.is_none() => colon = Some(k),
                _ => {}
            }
        }
        (&after_display[end..], &after_display[..end], colon)
    };
    // addr-spec: a non-empty scheme, whatever the scheme.
    if colon.is_none_or(|c| c == 0) {
        return None;
    }
    let rest = lex::scan_params(rest, on_param)?;
    Some((display, uri, rest))
}

/// The URI of a name-addr, `i` following its `<`, and what follows the
/// `>`. The first `>` closes, and no white space may stand before it (RFC
/// 4475 §3.1.2.14): one word-at-a-time search finds either, since URIs
/// are tens of bytes.
#[inline]
fn in_angles(i: &[u8]) -> Option<(&[u8], &[u8])> {
    let close = lex::find_by(
        i,
        |w| lex::eq_mask(w, b'>') | lex::lt_mask(w, b' ' + 1),
        |c| c == b'>' || lex::is_ws(c),
    )?;
    (i[close] == b'>').then(|| (&i[..close], &i[close + 1..]))
}

/// [`scan_name_addr`] collecting the parameters.
pub(crate) fn raw_name_addr(i: &[u8]) -> Option<(&[u8], RawNameAddr<'_>)> {
    let mut params = SmallVec::new();
    let (display, uri, rest) = scan_name_addr(i, |n, v| params.push((n, v)))?;
    Some((
        rest,
        RawNameAddr {
            display,
            uri,
            params,
        },
    ))
}

/// A display name, URI and header parameters: the value of From, To,
/// Contact, Route, Record-Route, Path and Refer-To.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct NameAddr {
    display: Option<ByteString>,
    uri: Uri,
    params: Params,
}

impl NameAddr {
    /// A value with just a URI.
    pub fn new(uri: impl Into<Uri>) -> NameAddr {
        NameAddr {
            display: None,
            uri: uri.into(),
            params: Params::new(),
        }
    }
    /// Sets the display name (plain text). It is written as a quoted
    /// string, which is valid for any text (RFC 3261 §25.1 display-name).
    pub fn with_display(mut self, name: &str) -> NameAddr {
        self.display = Some(lex::quote(name).into());
        self
    }
    /// Adds or replaces a header parameter.
    pub fn with_param(mut self, name: &str, value: Option<&str>) -> NameAddr {
        self.params.set(name, value);
        self
    }
    /// The display name without quotes and escapes.
    pub fn display_name(&self) -> Option<std::borrow::Cow<'_, str>> {
        self.display.as_deref().map(lex::unquote)
    }
    /// The URI.
    pub fn uri(&self) -> &Uri {
        &self.uri
    }
    /// The header parameters (`tag`, `expires`, `q`, ...).
    pub fn params(&self) -> &Params {
        &self.params
    }
    /// Mutable header parameters.
    pub fn params_mut(&mut self) -> &mut Params {
        &mut self.params
    }
    /// The `tag` parameter (From/To, RFC 3261 §19.3).
    pub fn tag(&self) -> Option<&str> {
        self.params.value("tag")
    }

    pub(crate) fn decode_in(src: &Bytes, value: &[u8]) -> Option<NameAddr> {
        let (rest, r) = raw_name_addr(value)?;
        if !skip_ws(rest).is_empty() {
            return None;
        }
        NameAddr::from_raw(src, &r)
    }

    fn from_raw(src: &Bytes, r: &RawNameAddr<'_>) -> Option<NameAddr> {
        Some(NameAddr {
            display: match r.display {
                Some(d) => Some(lex::text(src, d)?),
                None => None,
            },
            uri: Uri::parse_in(src, r.uri).ok()?,
            params: Params::from_raw(src, &r.params)?,
        })
    }
}

impl NameAddr {
    pub(crate) fn encode(&self, out: &mut Vec<u8>) {
        if let Some(d) = &self.display {
            out.extend_from_slice(d.as_bytes());
            out.push(b' ');
        }
        out.push(b'<');
        out.extend_from_slice(self.uri.as_str().as_bytes());
        out.push(b'>');
        self.params.encode(out);
    }
}

impl fmt::Display for NameAddr {
    /// Always writes the name-addr form (angle brackets), which is valid
    /// for every URI (RFC 3261 §20.10).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(d) = &self.display {
            f.write_str(d)?;
            f.write_str(" ")?;
        }
        f.write_str("<")?;
        f.write_str(self.uri.as_str())?;
        f.write_str(">")?;
        fmt::Display::fmt(&self.params, f)
    }
}

impl std::str::FromStr for NameAddr {
    type Err = crate::HeaderError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let b = Bytes::copy_from_slice(s.as_bytes());
        NameAddr::decode_in(&b, &b).ok_or(crate::HeaderError::malformed(HeaderName::Other, 0))
    }
}

macro_rules! name_addr_header {
    ($(#[$doc:meta])* $ty:ident, $name:expr, $list:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        pub struct $ty(pub NameAddr);

        impl std::ops::Deref for $ty {
            type Target = NameAddr;
            fn deref(&self) -> &NameAddr {
                &self.0
            }
        }
        impl std::ops::DerefMut for $ty {
            fn deref_mut(&mut self) -> &mut NameAddr {
                &mut self.0
            }
        }
        impl std::convert::From<NameAddr> for $ty {
            fn from(n: NameAddr) -> Self {
                $ty(n)
            }
        }
        impl TypedHeader for $ty {
            const NAME: HeaderName = $name;
            const LIST: bool = $list;
            fn decode(src: &Bytes, value: &[u8]) -> Option<Self> {
                NameAddr::decode_in(src, value).map($ty)
            }
            fn encode_value(&self, out: &mut Vec<u8>) {
                self.0.encode(out);
            }
        }
        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }
    };
}

name_addr_header!(
    /// From (RFC 3261 §20.20).
    From, HeaderName::From, false);
name_addr_header!(
    /// To (RFC 3261 §20.39).
    To, HeaderName::To, false);
name_addr_header!(
    /// One Route value (RFC 3261 §20.34).
    Route, HeaderName::Route, true);
name_addr_header!(
    /// One Record-Route value (RFC 3261 §20.30).
    RecordRoute, HeaderName::RecordRoute, true);
name_addr_header!(
    /// One Path value (RFC 3327).
    Path, HeaderName::Path, true);
name_addr_header!(
    /// Refer-To (RFC 3515 §2.1).
    ReferTo, HeaderName::ReferTo, false);

/// One Contact value: `*` or an address with `expires`/`q` and other
/// parameters (RFC 3261 §20.10).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
// The address is the common case; boxing it would allocate for every value.
#[allow(clippy::large_enum_variant)]
pub enum Contact {
    /// `Contact: *` (REGISTER removing every binding, RFC 3261 §10.2.2).
    Star,
    /// An address.
    Addr(NameAddr),
}

impl Contact {
    /// The address, unless this is `*`.
    pub fn addr(&self) -> Option<&NameAddr> {
        match self {
            Contact::Star => None,
            Contact::Addr(a) => Some(a),
        }
    }
    /// `expires` parameter in seconds.
    pub fn expires(&self) -> Option<u32> {
        self.addr()?
            .params()
            .value("expires")
            .and_then(|v| lex::number(v.as_bytes()))
    }
    /// `q` parameter (0.0 to 1.0).
    pub fn q(&self) -> Option<f32> {
        self.addr()?
            .params()
            .value("q")
            .and_then(|v| v.parse::<f32>().ok())
            .filter(|q| (0.0..=1.0).contains(q))
    }
}

impl TypedHeader for Contact {
    const NAME: HeaderName = HeaderName::Contact;
    const LIST: bool = true;
    fn encode_value(&self, out: &mut Vec<u8>) {
        match self {
            Contact::Star => out.push(b'*'),
            Contact::Addr(a) => a.encode(out),
        }
    }
    fn decode(src: &Bytes, value: &[u8]) -> Option<Self> {
        if lex::trim(value) == b"*" {
            return Some(Contact::Star);
        }
        NameAddr::decode_in(src, value).map(Contact::Addr)
    }
}

impl fmt::Display for Contact {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Contact::Star => f.write_str("*"),
            Contact::Addr(a) => a.fmt(f),
        }
    }
}

/// The URI of a header value that holds exactly one name-addr or
/// addr-spec with its parameters (a From, a To, a single Contact), as
/// written: the structural scan the parser runs on From and To, with no
/// decoding and no allocation. `None` if the value is anything else (several
/// values, a `*` Contact, bad syntax). The URI itself is checked only for a
/// scheme; parse it with [`Uri::parse`] where it matters.
///
/// ```
/// use sip_message::headers::name_addr_uri;
/// let v = br#""Bob ;tag=<x>" <sip:bob@example.com;transport=tcp>;tag=9fx"#;
/// assert_eq!(name_addr_uri(v), Some(&b"sip:bob@example.com;transport=tcp"[..]));
/// assert_eq!(name_addr_uri(b"sip:carol@example.com;expires=60"), Some(&b"sip:carol@example.com"[..]));
/// assert_eq!(name_addr_uri(b"<sip:a@x>, <sip:b@y>"), None);
/// assert_eq!(name_addr_uri(b"*"), None);
/// ```
pub fn name_addr_uri(v: &[u8]) -> Option<&[u8]> {
    let (_, uri, rest) = scan_name_addr(v, |_, _| {})?;
    skip_ws(rest).is_empty().then_some(uri)
}

/// The value as text, when it is one line (no CR or LF, so not folded)
/// holding exactly one name-addr or addr-spec with its parameters (what
/// [`name_addr_uri`] finds) and it is UTF-8: text that can be copied as it
/// is into another message's From, To or Contact. `None` otherwise.
///
/// ```
/// use sip_message::headers::plain_name_addr;
/// assert_eq!(plain_name_addr(b"Bob <sip:bob@example.com>;tag=9fx"), Some("Bob <sip:bob@example.com>;tag=9fx"));
/// assert_eq!(plain_name_addr(b"Bob\r\n <sip:bob@example.com>"), None);
/// assert_eq!(plain_name_addr(b"<sip:a@x>, <sip:b@y>"), None);
/// ```
pub fn plain_name_addr(v: &[u8]) -> Option<&str> {
    // Eight bytes a step: bytes below CR + 1 flagged, CR and LF kept.
    let folded = lex::find_by(
        v,
        |w| lex::lt_mask(w, b'\r' + 1),
        |c| matches!(c, b'\r' | b'\n'),
    )
    .is_some();
    // The usual shape first (`["display" SP] <uri> [;tag=value]`): where
    // quick_tag reads a value, the general scan reads it too.
    if folded || (quick_tag(v).is_none() && name_addr_uri(v).is_none()) {
        return None;
    }
    std::str::from_utf8(v).ok()
}

/// Checks a whole single-valued From/To value and returns its tag; used by
/// the eager decoder.
pub(crate) fn eager_tag(v: &[u8]) -> Option<Option<&[u8]>> {
    if let Some(tag) = quick_tag(v) {
        return Some(tag);
    }
    full_tag(v)
}

/// The value in the form nearly every agent writes, `["display" SP] <uri>`
/// followed by nothing or by `;tag=value` alone: its tag, read without the
/// general scan. `None` when the value has any other form (white space
/// elsewhere, escapes, an unquoted display name, other parameters...):
/// [`full_tag`] decides those, and where both decide they agree.
#[inline(always)]
fn quick_tag(v: &[u8]) -> Option<Option<&[u8]>> {
    let angle = match v.first()? {
        b'<' => v,
        b'"' => {
            // A quoted-string without quoted-pairs or folds (RFC 3261 §25.1).
            let n = lex::find_by(
                &v[1..],
                |w| lex::eq_mask(w, b'"') | lex::eq_mask(w, b'\\') | lex::lt_mask(w, b'\r' + 1),
                |c| matches!(c, b'"' | b'\\' | b'\r' | b'\n'),
            )?;
            let r = v[1 + n..].strip_prefix(b"\"")?;
            r.strip_prefix(b" ").unwrap_or(r)
        }
        _ => return None,
    };
    let (uri, rest) = in_angles(angle.strip_prefix(b"<")?)?;
    // A URI has a non-empty scheme.
    if !uri.starts_with(b"sip:") && lex::scheme_colon(uri).is_none_or(|c| c == 0) {
        return None;
    }
    match rest {
        [] => Some(None),
        [b';', t, a, g, b'=', value @ ..] if lex::eq_ic(&[*t, *a, *g], b"tag") => {
            let (after, tag) = lex::gen_value(value).ok()?;
            after.is_empty().then_some(Some(tag))
        }
        _ => None,
    }
}

/// [`eager_tag`] by the full name-addr grammar (out of line: the quick
/// path decides nearly every value and needs fewer registers).
#[inline(never)]
fn full_tag(v: &[u8]) -> Option<Option<&[u8]>> {
    // The first `tag` parameter counts, as Params::value reads it.
    let mut tag: Option<Option<&[u8]>> = None;
    let (_, _, rest) = scan_name_addr(v, |n, val| {
        if tag.is_none() && lex::eq_ic(n, b"tag") {
            tag = Some(val);
        }
    })?;
    skip_ws(rest).is_empty().then_some(tag.flatten())
}

#[cfg(test)]
mod tests {
    use super::{eager_tag, full_tag, name_addr_uri, plain_name_addr, quick_tag};

    #[test]
    fn plain_name_addr_is_the_byte_by_byte_reading() {
        let values: [&[u8]; 12] = [
            b"Bob <sip:bob@example.com>;tag=9fx",
            b"<sip:alice@atlanta.example.com;transport=tcp>",
            b"sip:carol@example.com;expires=60",
            b"\"A \\\"q\\\" B\" <sip:a@b>;tag=1",
            b"Bob\r\n <sip:bob@example.com>",
            b"<sip:bob@example.com>\r\n ;tag=1",
            b"<sip:bob@example.com>;tag=1\n",
            b"<sip:bob@example.com>\t;tag=1",
            b"\"\xc3\xa9\" <sip:e@example.com>",
            b"\"\xff\" <sip:e@example.com>",
            b"<sip:a@x>, <sip:b@y>",
            b"*",
        ];
        for v in values {
            let by_byte = (!v.iter().any(|b| matches!(b, b'\r' | b'\n'))
                && name_addr_uri(v).is_some())
            .then(|| std::str::from_utf8(v).ok())
            .flatten();
            assert_eq!(
                plain_name_addr(v),
                by_byte,
                "{:?}",
                String::from_utf8_lossy(v)
            );
            // A CR or LF at every place.
            for at in 0..=v.len() {
                for c in [b'\r', b'\n'] {
                    let mut w = v.to_vec();
                    w.insert(at, c);
                    assert_eq!(plain_name_addr(&w), None);
                }
            }
        }
        assert!(plain_name_addr(b"Bob <sip:bob@example.com>;tag=9fx").is_some());
    }

    #[test]
    fn quick_tag_agrees_with_the_full_grammar() {
        let cases = [
            r#""Alice" <sip:alice@atlanta.example.com>;tag=1928301774"#,
            r#""Bob" <sip:bob@biloxi.example.com>"#,
            "<sip:a@b>;tag=x",
            "<sip:a@b>;TAG=x",
            "<sip:a@b>;Tag=x:y[1]",
            r#"<sip:a@b>;tag="quoted""#,
            r#"<sip:a@b>;tag="open"#,
            "<sip:a@b>;tag=",
            "<sip:a@b>;tag=x;foo",
            "<sip:a@b>;tag=x ",
            "<sip:a@b>;tag= x",
            "<sip:a@b>;tag =x",
            "<sip:a@b> ;tag=x",
            "<sip:a@b>;tags=x",
            "<sip:a@b>;foo;tag=x",
            "<sip:a@b>;tag=x;tag=y",
            "<sip:a@b>;tag=x,<sip:c@d>",
            "<sip:a@b;tag=in-uri>",
            "<sip:a@b;tag=in-uri>;tag=x",
            r#""x;tag=q>" <sip:a@b>;tag=x"#,
            r#""x>" <sip:a@b>"#,
            r#""a "b" c" <sip:a@b>;tag=x"#,
            r#""a \" <sip:a@b>;tag=x"#,
            r#""unterminated <sip:a@b>;tag=x"#,
            r#""a"<sip:a@b>;tag=x"#,
            r#""a"  <sip:a@b>;tag=x"#,
            r#""a" x <sip:a@b>;tag=x"#,
            r#""" <sip:a@b>;tag=x"#,
            "Alice <sip:a@b>;tag=x",
            "sip:a@b;tag=x",
            "<sip:a b>;tag=x",
            "<sip:a@b	>;tag=x",
            "<:a@b>;tag=x",
            "<a@b>;tag=x",
            "<sip:a@b",
            "<>",
            "<",
            "\"",
            "",
            " <sip:a@b>;tag=x",
            "<sip:a@b>>;tag=x",
            "<sip:a@b>x",
            // Display names past one word, with the stop bytes late.
            r#""A long display name" <sip:a@b>;tag=x"#,
            r#""A long display \"name\"" <sip:a@b>;tag=x"#,
            "\"A long display\r\n name\" <sip:a@b>;tag=x",
            "\"A long display\n name\" <sip:a@b>;tag=x",
            "\"A long display\x0b name\" <sip:a@b>;tag=x",
            "\"A long display\t name\" <sip:a@b>;tag=x",
            "\"A long display name \u{e9}\" <sip:a@b>;tag=x",
            // Schemes other than sip.
            "<sips:a@b>;tag=x",
            "<SIP:a@b>;tag=x",
            "<tel:+1234>;tag=x",
            "<sip>;tag=x",
            "<si:p>;tag=x",
        ];
        for v in cases {
            let full = full_tag(v.as_bytes());
            if let Some(quick) = quick_tag(v.as_bytes()) {
                assert_eq!(Some(quick), full, "{v:?}");
            }
            assert_eq!(eager_tag(v.as_bytes()), full, "{v:?}");
            // plain_name_addr, which tries quick_tag first, reads them as
            // the general scan does.
            let by_scan = !v.contains(['\r', '\n']) && name_addr_uri(v.as_bytes()).is_some();
            assert_eq!(plain_name_addr(v.as_bytes()).is_some(), by_scan, "{v:?}");
        }
        // The common forms take the quick path.
        assert!(quick_tag(br#""Alice" <sip:a@b>;tag=1928301774"#).is_some());
        assert!(quick_tag(b"<sip:a@b>").is_some());
        assert!(quick_tag(b"<sip:a@b>;TAG=x").is_some());
    }

    #[test]
    fn eager_tag_reads_header_params_only() {
        let tag = |v: &str| eager_tag(v.as_bytes()).map(|t| t.map(|t| t.to_vec()));
        let some = |t: &str| Some(Some(t.as_bytes().to_vec()));
        assert_eq!(tag(r#""Alice" <sip:a@b>;tag=x1"#), some("x1"));
        assert_eq!(tag("<sip:a@b;tag=in-uri>;tag=x1"), some("x1"));
        assert_eq!(tag("<sip:a@b;tag=in-uri>"), Some(None));
        assert_eq!(tag(r#""x;tag=q>" <sip:a@b>"#), Some(None));
        assert_eq!(tag(r#""a \"<\" b" <sip:a@b> ;TAG = x2 "#), some("x2"));
        assert_eq!(tag("sip:a@b;tag=x3"), some("x3"));
        assert_eq!(tag("Bob Smith <sip:a@b>;foo;tag=x4;tag=x5"), some("x4"));
        // No white space inside <...> (RFC 4475 §3.1.2.14), whatever kind.
        for v in ["<sip:a b>", "<sip:a@b\t>", "< sip:a@b>", "<sip:a@b\r\n >"] {
            assert_eq!(tag(v), None, "{v:?}");
        }
        // Other controls are left to the URI parser.
        assert_eq!(tag("<sip:a\u{b}@b>;tag=x6"), some("x6"));
        assert_eq!(tag("<sip:a@b"), None);
        assert_eq!(tag("<:a@b>"), None);
    }
}
