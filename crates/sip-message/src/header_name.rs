//! Header names: the known ones as an enum, compact forms folded to their
//! long names (RFC 3261 §7.3.3 and the IANA registry), case-insensitive.

use std::fmt;

macro_rules! header_names {
    ($( $variant:ident => $name:literal $(, $compact:literal)? ;)*) => {
        /// A header name. Known names are variants; compact forms map to the
        /// long name; anything else is [`HeaderName::Other`] (the raw name is
        /// kept with the header in the message).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum HeaderName {
            $(
                #[doc = $name]
                $variant,
            )*
            /// A header this crate has no name for.
            Other,
        }

        impl HeaderName {
            /// The canonical (long) name as written by the serializer.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $( HeaderName::$variant => $name, )*
                    HeaderName::Other => "",
                }
            }

            /// Every known name, for the lookup table.
            pub(crate) const ALL: &'static [HeaderName] = &[ $( HeaderName::$variant, )* ];

            fn compact_lookup(c: u8) -> HeaderName {
                let c = c.to_ascii_lowercase();
                $( $( if c == $compact { return HeaderName::$variant; } )? )*
                HeaderName::Other
            }

            /// The compact form, if the header has one.
            pub fn compact(self) -> Option<char> {
                match self {
                    $( $( HeaderName::$variant => Some($compact as char), )? )*
                    _ => None,
                }
            }
        }
    };
}

header_names! {
    Via => "Via", b'v';
    From => "From", b'f';
    To => "To", b't';
    CallId => "Call-ID", b'i';
    CSeq => "CSeq";
    Contact => "Contact", b'm';
    MaxForwards => "Max-Forwards";
    ContentLength => "Content-Length", b'l';
    ContentType => "Content-Type", b'c';
    ContentEncoding => "Content-Encoding", b'e';
    ContentDisposition => "Content-Disposition";
    ContentLanguage => "Content-Language";
    Route => "Route";
    RecordRoute => "Record-Route";
    Path => "Path";
    Expires => "Expires";
    MinExpires => "Min-Expires";
    Require => "Require";
    ProxyRequire => "Proxy-Require";
    Supported => "Supported", b'k';
    Unsupported => "Unsupported";
    Allow => "Allow";
    AllowEvents => "Allow-Events", b'u';
    Accept => "Accept";
    AcceptEncoding => "Accept-Encoding";
    AcceptLanguage => "Accept-Language";
    Event => "Event", b'o';
    SubscriptionState => "Subscription-State";
    ReferTo => "Refer-To", b'r';
    ReferredBy => "Referred-By", b'b';
    RSeq => "RSeq";
    RAck => "RAck";
    SipETag => "SIP-ETag";
    SipIfMatch => "SIP-If-Match";
    RetryAfter => "Retry-After";
    Reason => "Reason";
    Date => "Date";
    SessionExpires => "Session-Expires", b'x';
    MinSE => "Min-SE";
    WwwAuthenticate => "WWW-Authenticate";
    ProxyAuthenticate => "Proxy-Authenticate";
    Authorization => "Authorization";
    ProxyAuthorization => "Proxy-Authorization";
    AuthenticationInfo => "Authentication-Info";
    Subject => "Subject", b's';
    UserAgent => "User-Agent";
    Server => "Server";
    Timestamp => "Timestamp";
    Warning => "Warning";
    Organization => "Organization";
    Priority => "Priority";
    InReplyTo => "In-Reply-To";
    ReplyTo => "Reply-To";
    CallInfo => "Call-Info";
    AlertInfo => "Alert-Info";
    ErrorInfo => "Error-Info";
    MimeVersion => "MIME-Version";
    RequestDisposition => "Request-Disposition", b'd';
    AcceptContact => "Accept-Contact", b'a';
    RejectContact => "Reject-Contact", b'j';
    Identity => "Identity", b'y';
    ReferSub => "Refer-Sub";
    Replaces => "Replaces";
}

/// Size of the perfect-hash table of long names.
const SLOTS: usize = 256;

/// Hash of a name, case-insensitive: length, first, middle and last byte.
/// Known names only hold letters and `-`, so `| 0x20` folds their case;
/// any other input just lands in some slot and fails the comparison.
#[inline(always)]
const fn slot(b: &[u8]) -> usize {
    let n = b.len();
    let f = (b[0] | 0x20) as usize;
    let m = (b[n / 2] | 0x20) as usize;
    let l = (b[n - 1] | 0x20) as usize;
    (n * 50 + f * 17 + m * 13 + l) % SLOTS
}

/// Longest known name plus room for the overlapping 8-byte loads.
const PAD: usize = 24;

/// A known long name prepared for a word-at-a-time, case-insensitive
/// comparison: `lower` is the name in lower case, `mask` has `0x20` where
/// the name has a letter and `0` where it has `-`. Input `x` equals the
/// name ignoring ASCII case exactly when `x | mask == lower` byte for
/// byte: `c | 0x20` is a given lower-case letter only for that letter in
/// either case, and a `0` mask byte asks for the `-` itself (`0x0d | 0x20`
/// would also give `-`).
#[derive(Clone, Copy)]
struct Known {
    name: HeaderName,
    len: usize,
    lower: [u8; PAD],
    mask: [u8; PAD],
}

const fn known(h: HeaderName) -> Known {
    let s = h.as_str().as_bytes();
    assert!(s.len() >= 2 && s.len() <= PAD, "header name length");
    let mut lower = [0u8; PAD];
    let mut mask = [0u8; PAD];
    let mut i = 0;
    while i < s.len() {
        let c = s[i];
        if c == b'-' {
            lower[i] = c;
        } else {
            assert!(c.is_ascii_alphabetic(), "known names are letters and '-'");
            lower[i] = c | 0x20;
            mask[i] = 0x20;
        }
        i += 1;
    }
    Known {
        name: h,
        len: s.len(),
        lower,
        mask,
    }
}

/// No name in this slot.
const EMPTY: u8 = u8::MAX;

/// Every long name, prepared (index = position in [`HeaderName::ALL`]).
static KNOWN: [Known; HeaderName::ALL.len()] = {
    let mut t = [known(HeaderName::Via); HeaderName::ALL.len()];
    let mut i = 0;
    while i < t.len() {
        t[i] = known(HeaderName::ALL[i]);
        i += 1;
    }
    t
};

/// Every long name's index in [`KNOWN`] in its slot. Built at compile
/// time; two names in one slot stop the build.
static TABLE: [u8; SLOTS] = {
    assert!(HeaderName::ALL.len() < EMPTY as usize);
    let mut t = [EMPTY; SLOTS];
    let mut i = 0;
    while i < HeaderName::ALL.len() {
        let k = slot(HeaderName::ALL[i].as_str().as_bytes());
        assert!(t[k] == EMPTY, "header name hash collision: change slot()");
        t[k] = i as u8;
        i += 1;
    }
    t
};

#[inline(always)]
fn word8(b: &[u8], at: usize) -> u64 {
    let mut w = [0u8; 8];
    w.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(w)
}

#[inline(always)]
fn word4(b: &[u8], at: usize) -> u32 {
    let mut w = [0u8; 4];
    w.copy_from_slice(&b[at..at + 4]);
    u32::from_le_bytes(w)
}

#[inline(always)]
fn word2(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

impl Known {
    /// `b` (of length `self.len`, at least 2) equals the name ignoring
    /// ASCII case. Overlapping loads cover every byte.
    #[inline(always)]
    fn matches(&self, b: &[u8]) -> bool {
        let n = b.len();
        if n != self.len {
            return false;
        }
        let (lo, ma) = (&self.lower[..], &self.mask[..]);
        if n >= 8 {
            let mut i = 0;
            while i + 8 < n {
                if word8(b, i) | word8(ma, i) != word8(lo, i) {
                    return false;
                }
                i += 8;
            }
            word8(b, n - 8) | word8(ma, n - 8) == word8(lo, n - 8)
        } else if n >= 4 {
            word4(b, 0) | word4(ma, 0) == word4(lo, 0)
                && word4(b, n - 4) | word4(ma, n - 4) == word4(lo, n - 4)
        } else {
            word2(b, 0) | word2(ma, 0) == word2(lo, 0)
                && word2(b, n - 2) | word2(ma, n - 2) == word2(lo, n - 2)
        }
    }
}

impl HeaderName {
    /// The headers [`Message::parse`](crate::Message::parse) decodes at
    /// once: what transactions and dialogs match on, and the framing.
    #[inline(always)]
    pub(crate) fn is_eager(self) -> bool {
        matches!(
            self,
            HeaderName::Via
                | HeaderName::CSeq
                | HeaderName::CallId
                | HeaderName::From
                | HeaderName::To
                | HeaderName::ContentLength
                | HeaderName::MaxForwards
        )
    }

    /// Recognises a name, long or compact, in any letter case.
    #[inline]
    pub fn from_bytes(b: &[u8]) -> HeaderName {
        match b.len() {
            0 => HeaderName::Other,
            1 => HeaderName::compact_lookup(b[0]),
            _ => match KNOWN.get(TABLE[slot(b)] as usize) {
                Some(k) if k.matches(b) => k.name,
                _ => HeaderName::Other,
            },
        }
    }
}

impl fmt::Display for HeaderName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if *self == HeaderName::Other {
            "(other)"
        } else {
            self.as_str()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::HeaderName;

    #[test]
    fn rfc3261_7_3_3_compact_forms_map_to_long_names() {
        for (c, h) in [
            ("i", HeaderName::CallId),
            ("m", HeaderName::Contact),
            ("e", HeaderName::ContentEncoding),
            ("l", HeaderName::ContentLength),
            ("c", HeaderName::ContentType),
            ("f", HeaderName::From),
            ("s", HeaderName::Subject),
            ("k", HeaderName::Supported),
            ("t", HeaderName::To),
            ("v", HeaderName::Via),
            ("o", HeaderName::Event),
            ("u", HeaderName::AllowEvents),
            ("r", HeaderName::ReferTo),
            ("b", HeaderName::ReferredBy),
            ("x", HeaderName::SessionExpires),
            ("y", HeaderName::Identity),
            ("a", HeaderName::AcceptContact),
            ("d", HeaderName::RequestDisposition),
            ("j", HeaderName::RejectContact),
        ] {
            assert_eq!(HeaderName::from_bytes(c.as_bytes()), h);
            assert_eq!(HeaderName::from_bytes(c.to_uppercase().as_bytes()), h);
        }
    }

    #[test]
    fn every_known_name_is_found_in_any_case() {
        for h in HeaderName::ALL {
            let n = h.as_str();
            assert_eq!(HeaderName::from_bytes(n.as_bytes()), *h);
            assert_eq!(HeaderName::from_bytes(n.to_lowercase().as_bytes()), *h);
            assert_eq!(HeaderName::from_bytes(n.to_uppercase().as_bytes()), *h);
            // A name in the same slot but spelled differently is not it.
            let mut other = n.as_bytes().to_vec();
            other[1] = if other[1] == b'x' { b'y' } else { b'x' };
            assert_ne!(HeaderName::from_bytes(&other), *h, "{n}");
        }
    }

    #[test]
    fn rfc3261_7_3_1_names_are_case_insensitive() {
        assert_eq!(
            HeaderName::from_bytes(b"MaX-fOrWaRdS"),
            HeaderName::MaxForwards
        );
        assert_eq!(HeaderName::from_bytes(b"cseq"), HeaderName::CSeq);
        assert_eq!(HeaderName::from_bytes(b"C%6Fntact"), HeaderName::Other);
        assert_eq!(HeaderName::from_bytes(b"z"), HeaderName::Other);
    }
}
