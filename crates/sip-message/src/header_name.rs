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
/// Known names only hold letters and `-`, and callers pass tokens, so
/// `| 0x20` folds case without colliding with other token characters.
const fn slot(b: &[u8]) -> usize {
    let n = b.len();
    let f = (b[0] | 0x20) as usize;
    let m = (b[n / 2] | 0x20) as usize;
    let l = (b[n - 1] | 0x20) as usize;
    (n * 50 + f * 17 + m * 13 + l) % SLOTS
}

/// Every long name in its slot. Built at compile time; two names in one
/// slot stop the build.
static TABLE: [Option<HeaderName>; SLOTS] = {
    let mut t = [None; SLOTS];
    let mut i = 0;
    while i < HeaderName::ALL.len() {
        let h = HeaderName::ALL[i];
        let k = slot(h.as_str().as_bytes());
        assert!(t[k].is_none(), "header name hash collision: change slot()");
        t[k] = Some(h);
        i += 1;
    }
    t
};

impl HeaderName {
    /// Recognises a name, long or compact, in any letter case.
    #[inline]
    pub fn from_bytes(b: &[u8]) -> HeaderName {
        match b.len() {
            0 => HeaderName::Other,
            1 => HeaderName::compact_lookup(b[0]),
            _ => match TABLE[slot(b)] {
                Some(h) => {
                    let name = h.as_str().as_bytes();
                    if b == name || b.eq_ignore_ascii_case(name) {
                        h
                    } else {
                        HeaderName::Other
                    }
                }
                None => HeaderName::Other,
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
