//! Header names: the known ones as an enum, compact forms folded to their
//! long names (RFC 3261 §7.3.3 and the IANA registry), case-insensitive.

use std::fmt;

use crate::lex;

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
            #[inline]
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

// Long names are recognised by a perfect hash over their first and last
// eight bytes, folded to lower case, then one comparison of those words.
//
// Folding is `| 0x20` on every byte. Known names hold only letters and
// `-`, and for a byte `c` that is not CR, `c | 0x20` equals a lower-case
// letter only when `c` is that letter in either case, and equals `-` only
// when `c` is `-` (`0x0d | 0x20` is `-` too, hence no CR). So for input
// without CR, equal folded words mean equal names ignoring ASCII case
// (RFC 3261 §7.3.1: field names are case-insensitive).

/// Size of the perfect-hash table of long names.
const SLOTS: usize = 256;
/// Multiplier of the hash, found by search; the table below checks at
/// compile time that no two known names share a slot.
const MAGIC: u64 = 0xa8db_4941_654e_e069;
const FOLD: u64 = 0x2020_2020_2020_2020;
/// Longest name the words cover: bytes 0..8, 8..16 and len-8..len.
const MAX_LONG: usize = 24;

/// A long name (2 to 24 bytes) as folded words: `first` is bytes 0..8
/// (only the name's bytes kept when it is shorter), `mid` bytes 8..16 when
/// longer than 16, `last` the final eight bytes when longer than 8; unused
/// words are zero.
#[derive(Clone, Copy, PartialEq, Eq)]
struct Words {
    len: usize,
    first: u64,
    mid: u64,
    last: u64,
}

impl Words {
    /// From raw little-endian words of the input (`first` may hold bytes
    /// past the name; `mid`/`last` are ignored when not needed).
    #[inline(always)]
    const fn new(len: usize, first: u64, mid: u64, last: u64) -> Words {
        let first = if len < 8 {
            (first | FOLD) & (u64::MAX >> (64 - 8 * len))
        } else {
            first | FOLD
        };
        Words {
            len,
            first,
            mid: if len > 16 { mid | FOLD } else { 0 },
            last: if len > 8 { last | FOLD } else { 0 },
        }
    }

    #[inline(always)]
    const fn slot(&self) -> usize {
        let key = if self.len <= 8 {
            self.first
        } else {
            self.first ^ self.last.rotate_left(29) ^ self.len as u64
        };
        (key.wrapping_mul(MAGIC) >> 56) as usize
    }
}

/// Little-endian word of `b[at..]`, zero-padded past the end (const).
const fn padded_word(b: &[u8], at: usize) -> u64 {
    let mut w = 0u64;
    let mut i = 0;
    while i < 8 && at + i < b.len() {
        w |= (b[at + i] as u64) << (8 * i);
        i += 1;
    }
    w
}

const fn words_of(b: &[u8]) -> Words {
    let n = b.len();
    let last = if n >= 8 { padded_word(b, n - 8) } else { 0 };
    Words::new(n, padded_word(b, 0), padded_word(b, 8), last)
}

/// Room for `Name: ` of the longest known name, padded.
const NAME_COLON_PAD: usize = 24;

/// `Name: ` of every known name, padded to [`NAME_COLON_PAD`] bytes, with
/// its length (index = position in [`HeaderName::ALL`]).
static NAME_COLON: [([u8; NAME_COLON_PAD], usize); HeaderName::ALL.len()] = {
    let mut t = [([0u8; NAME_COLON_PAD], 0); HeaderName::ALL.len()];
    let mut i = 0;
    while i < t.len() {
        assert!(
            HeaderName::ALL[i] as usize == i,
            "ALL is in declaration order"
        );
        let s = HeaderName::ALL[i].as_str().as_bytes();
        assert!(s.len() + 2 <= NAME_COLON_PAD);
        let mut k = 0;
        while k < s.len() {
            t[i].0[k] = s[k];
            k += 1;
        }
        t[i].0[k] = b':';
        t[i].0[k + 1] = b' ';
        t[i].1 = s.len() + 2;
        i += 1;
    }
    t
};

/// `Name: ` for the builder: padded bytes and the length to keep.
/// `Other` has the empty name of [`HeaderName::as_str`].
#[inline]
pub(crate) fn name_colon(h: HeaderName) -> (&'static [u8; NAME_COLON_PAD], usize) {
    static OTHER: [u8; NAME_COLON_PAD] = {
        let mut p = [0u8; NAME_COLON_PAD];
        p[0] = b':';
        p[1] = b' ';
        p
    };
    match NAME_COLON.get(h as usize) {
        Some((p, n)) => (p, *n),
        None => (&OTHER, 2),
    }
}

#[derive(Clone, Copy)]
struct Known {
    name: HeaderName,
    words: Words,
}

/// No name in this slot.
const EMPTY: u8 = u8::MAX;

/// Every long name, prepared (index = position in [`HeaderName::ALL`]).
static KNOWN: [Known; HeaderName::ALL.len()] = {
    let mut t = [Known {
        name: HeaderName::Other,
        words: Words::new(2, 0, 0, 0),
    }; HeaderName::ALL.len()];
    let mut i = 0;
    while i < t.len() {
        let h = HeaderName::ALL[i];
        let s = h.as_str().as_bytes();
        assert!(s.len() >= 2 && s.len() <= MAX_LONG, "header name length");
        let mut k = 0;
        while k < s.len() {
            assert!(
                s[k].is_ascii_alphabetic() || s[k] == b'-',
                "known names are letters and '-'"
            );
            k += 1;
        }
        t[i] = Known {
            name: h,
            words: words_of(s),
        };
        i += 1;
    }
    t
};

/// Index in [`KNOWN`] of the name in each slot. Built at compile time;
/// two names in one slot stop the build.
static TABLE: [u8; SLOTS] = {
    assert!(HeaderName::ALL.len() < EMPTY as usize);
    let mut t = [EMPTY; SLOTS];
    let mut i = 0;
    while i < KNOWN.len() {
        let k = KNOWN[i].words.slot();
        assert!(t[k] == EMPTY, "header name hash collision: change MAGIC");
        t[k] = i as u8;
        i += 1;
    }
    t
};

/// `b` (2 to 7 bytes) as a little-endian word, zero-padded: two
/// overlapping loads whose common bytes agree, so OR joins them.
#[inline(always)]
fn short_word(b: &[u8]) -> u64 {
    let n = b.len();
    if n >= 4 {
        let lo = u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
        let hi = u32::from_le_bytes([b[n - 4], b[n - 3], b[n - 2], b[n - 1]]);
        u64::from(lo) | u64::from(hi) << (8 * (n - 4))
    } else {
        let lo = u16::from_le_bytes([b[0], b[1]]);
        let hi = u16::from_le_bytes([b[n - 2], b[n - 1]]);
        u64::from(lo) | u64::from(hi) << (8 * (n - 2))
    }
}

#[inline(always)]
fn lookup(w: Words) -> HeaderName {
    match KNOWN.get(TABLE[w.slot()] as usize) {
        Some(k) if k.words == w => k.name,
        _ => HeaderName::Other,
    }
}

/// [`lookup`] of a name of at most eight bytes, `first` holding them (and
/// maybe more): such a name's `mid` and `last` words are zero, in the
/// table as in the input, so the first word and the length decide.
#[inline(always)]
fn lookup_short(len: usize, first: u64) -> HeaderName {
    let w = Words::new(len, first, 0, 0);
    match KNOWN.get(TABLE[w.slot()] as usize) {
        Some(k) if k.words.first == w.first && k.words.len == len => k.name,
        _ => HeaderName::Other,
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
        let n = b.len();
        match n {
            0 => HeaderName::Other,
            1 => HeaderName::compact_lookup(b[0]),
            2..=MAX_LONG => {
                let first = match lex::word_at(b, 0) {
                    Some(w) => w,
                    None => short_word(b),
                };
                let mid = if n > 16 {
                    lex::word_at(b, 8).unwrap_or(0)
                } else {
                    0
                };
                let last = if n > 8 {
                    lex::word_at(b, n - 8).unwrap_or(0)
                } else {
                    0
                };
                // CR folds to '-' and no known name holds one (see above);
                // the words cover every byte of the name.
                let cr = lex::eq_mask(first, b'\r')
                    | lex::eq_mask(mid, b'\r')
                    | lex::eq_mask(last, b'\r');
                if cr != 0 {
                    return HeaderName::Other;
                }
                lookup(Words::new(n, first, mid, last))
            }
            _ => HeaderName::Other,
        }
    }

    /// The name `b[start..start + len]`, which the caller knows holds no
    /// CR: the header parser, whose colon search stops at CR and LF.
    #[inline(always)]
    pub(crate) fn from_line(b: &[u8], start: usize, len: usize) -> HeaderName {
        match len {
            0 => HeaderName::Other,
            1 => HeaderName::compact_lookup(b[start]),
            2..=8 => match lex::word_at(b, start) {
                Some(first) => lookup_short(len, first),
                // Fewer than eight bytes left in the buffer.
                None => HeaderName::from_bytes(&b[start..start + len]),
            },
            9..=MAX_LONG => match lex::word_at(b, start) {
                Some(first) => {
                    let mid = if len > 16 {
                        lex::word_at(b, start + 8)
                    } else {
                        Some(0)
                    };
                    let last = if len > 8 {
                        lex::word_at(b, start + len - 8)
                    } else {
                        Some(0)
                    };
                    match (mid, last) {
                        (Some(mid), Some(last)) => lookup(Words::new(len, first, mid, last)),
                        _ => HeaderName::Other,
                    }
                }
                // Fewer than eight bytes left in the buffer.
                None => HeaderName::from_bytes(&b[start..start + len]),
            },
            _ => HeaderName::Other,
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
    fn names_on_a_line_are_found_as_alone() {
        // The parser reads names in place, words running past the colon.
        let mut names: Vec<String> = Vec::new();
        for h in HeaderName::ALL {
            let n = h.as_str();
            names.extend([n.to_string(), n.to_lowercase(), n.to_uppercase()]);
            let mut other = n.as_bytes().to_vec();
            other[1] = if other[1] == b'x' { b'y' } else { b'x' };
            names.push(String::from_utf8(other).unwrap());
            names.push(format!("{n}x"));
            names.push(n[..n.len() - 1].to_string());
        }
        names.extend(["v", "X", "Via-", "tO", "Call-I"].map(String::from));
        for n in names {
            for tail in [": value\r\n", ":x", ":"] {
                let line = format!("{n}{tail}");
                assert_eq!(
                    HeaderName::from_line(line.as_bytes(), 0, n.len()),
                    HeaderName::from_bytes(n.as_bytes()),
                    "{line:?}"
                );
            }
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
