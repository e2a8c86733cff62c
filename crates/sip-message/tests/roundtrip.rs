//! Property tests: the builder, the serializer, the parser and the framer
//! agree with each other.
//!
//! - A request or response built from random parts (methods, SIP URIs with
//!   characters that need escaping, typed headers, raw extension headers,
//!   a binary body) parses back to exactly what was built: start line,
//!   every header line in order, the body, every typed value (`==`), and
//!   the eagerly decoded fields. Responses built from a parsed request copy
//!   its Via, From, To, Call-ID and CSeq; `with_top_via` edits only the top
//!   Via.
//! - Parsing a corpus message and parsing `as_bytes()` again gives the same
//!   message.
//! - SIP URIs built from random parts survive `to_string` / `parse`, and
//!   `escape` / `unescape` are inverse for every [`UriPart`].
//! - Stream framing finds exactly the message the builder wrote.
//!
//! The last section holds the smallest reproducers of what these found
//! (all fixed since); they stay as regression tests.

mod common;

use std::net::{Ipv4Addr, Ipv6Addr};

use proptest::prelude::*;
use proptest::test_runner::TestCaseError;

use sip_message::framing::{self, Status};
use sip_message::headers::NameAddr;
use sip_message::headers::{
    Accept, Allow, AllowEvents, AuthValue, Authorization, CSeq, CallId, Contact, ContentLength,
    ContentType, Date, Event, Expires, From as FromHdr, MaxForwards, MediaType, MinExpires, MinSE,
    Path, ProxyAuthenticate, ProxyAuthorization, ProxyRequire, RAck, RSeq, Reason, RecordRoute,
    ReferTo, Require, RetryAfter, Route, SessionExpires, SipETag, SipIfMatch, SubState,
    SubscriptionState, Supported, To, Transport, TypedHeader, Unsupported, Via, WwwAuthenticate,
};
use sip_message::params::Params;
use sip_message::uri::{escape, unescape, unescape_str, Host, SipUri, Uri, UriPart};
use sip_message::{
    quote, HeaderName, Message, Method, RequestBuilder, ResponseBuilder, SyntaxError, ViaEditError,
};

/// Octets that print as an escaped byte string in assertion messages.
#[derive(Clone, PartialEq, Eq)]
struct Octets(Vec<u8>);

impl std::fmt::Debug for Octets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "b\"{}\"", self.0.escape_ascii())
    }
}

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 256,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

// ---------------------------------------------------------------------------
// Alphabets and small strategies
// ---------------------------------------------------------------------------

const ALNUM: &str = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
/// RFC 3261 §25.1 `token`.
const TOKEN: &str = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-.!%*_+`'~";
/// Everything that exercises an escaping rule: reserved and delimiter
/// characters, `%`, white space, controls, DEL and multi-byte UTF-8.
const WILD: &str =
    " !\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~\t\0\x01\x7fa\u{e9}\u{20ac}\u{1f600}\u{4e2d}Z09";
/// Text for display names and quoted strings (no CR/LF).
const QUOTED_TEXT: &str = "ab Z9\"\\,;:<>@=?/()[]{}\t'\u{e9}\u{4e2d}\u{1f600}";
/// Text of a raw extension header value (no CR/LF).
const RAW_VALUE: &str = "ab Z9\"\\,;:<>@=?/()[]{}%\t'\0\x7f\u{e9}\u{4e2d}\u{1f600}";
/// Text of a reason phrase (no CR/LF).
const REASON_TEXT: &str = "abc XYZ 019 -./:;<=>?@!\t\u{e9}\u{4e2d}";
/// Text of a comment (RFC 3261 ctext: no parentheses, no backslash).
const COMMENT_TEXT: &str = "abc XYZ 019 -./:;<=>?@!,\u{e9}\u{4e2d}";
/// `word` characters that are not `token` characters (RFC 3261 §25.1).
const WORD: &str = "abcXYZ019-.!%*_+`'~()<>:\\\"/[]?{}";

fn string_of(alphabet: &'static str, len: std::ops::Range<usize>) -> BoxedStrategy<String> {
    let chars: Vec<char> = alphabet.chars().collect();
    prop::collection::vec(prop::sample::select(chars), len)
        .prop_map(|v| v.into_iter().collect())
        .boxed()
}

fn token(len: std::ops::Range<usize>) -> BoxedStrategy<String> {
    string_of(TOKEN, len)
}

fn known_methods() -> Vec<Method> {
    vec![
        Method::Invite,
        Method::Ack,
        Method::Bye,
        Method::Cancel,
        Method::Options,
        Method::Register,
        Method::Prack,
        Method::Subscribe,
        Method::Notify,
        Method::Publish,
        Method::Info,
        Method::Refer,
        Method::Message,
        Method::Update,
    ]
}

/// Known methods and extension tokens (which may spell a known method in
/// another case: methods are case-sensitive, RFC 3261 §7.1).
fn method() -> BoxedStrategy<Method> {
    prop_oneof![
        prop::sample::select(known_methods()),
        token(1..12).prop_map(|t| Method::from_token(&t).expect("a token is a method")),
        prop::sample::select(vec!["invite", "Invite", "INVITEX", "FOO.BAR"])
            .prop_map(|t| Method::from_token(t).expect("a token is a method")),
    ]
    .boxed()
}

/// A host as text (as a caller would give it) and the [`Host`] it denotes.
#[derive(Debug, Clone)]
struct HostSpec {
    text: String,
    host: Host,
}

/// RFC 3261 hostname: labels of alphanumerics, `-` (and `_`, tolerated),
/// the top label starting with a letter so it is never an IPv4 address.
fn domain() -> BoxedStrategy<String> {
    let label = (
        string_of(ALNUM, 1..2),
        string_of("abcXYZ019-_", 0..6),
        string_of(ALNUM, 0..2),
    )
        .prop_map(|(a, b, c)| format!("{a}{b}{c}"));
    let top = (
        string_of("abcdefghijklmnopqrstuvwxyzABCXYZ", 1..2),
        string_of("abcXYZ019-", 0..5),
        string_of(ALNUM, 0..2),
    )
        .prop_map(|(a, b, c)| format!("{a}{b}{c}"));
    (prop::collection::vec(label, 0..3), top)
        .prop_map(|(mut labels, top)| {
            labels.push(top);
            labels.join(".")
        })
        .boxed()
}

fn ipv6() -> BoxedStrategy<Ipv6Addr> {
    // Runs of zero segments, so that `::` compression is exercised.
    prop::array::uniform8(prop_oneof![Just(0u16), Just(1u16), any::<u16>()])
        .prop_map(Ipv6Addr::from)
        .boxed()
}

fn host() -> BoxedStrategy<HostSpec> {
    prop_oneof![
        domain().prop_map(|d| HostSpec {
            host: Host::Domain(d.as_str().into()),
            text: d,
        }),
        any::<[u8; 4]>().prop_map(|o| {
            let a = Ipv4Addr::from(o);
            HostSpec {
                text: a.to_string(),
                host: Host::Ipv4(a),
            }
        }),
        (ipv6(), 0..3u8).prop_map(|(a, form)| {
            let text = match form {
                0 => a.to_string(),
                1 => format!("[{a}]"),
                // Uncompressed, upper case: not the canonical spelling.
                _ => {
                    let s = a.segments();
                    format!(
                        "[{:04X}:{:04X}:{:04X}:{:04X}:{:04X}:{:04X}:{:04X}:{:04X}]",
                        s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7]
                    )
                }
            };
            HostSpec {
                text,
                host: Host::Ipv6(a),
            }
        }),
    ]
    .boxed()
}

// ---------------------------------------------------------------------------
// SIP URIs
// ---------------------------------------------------------------------------

/// The unescaped parts a [`SipUri`] is built from.
#[derive(Debug, Clone)]
struct UriSpec {
    secure: bool,
    user: Option<String>,
    password: Option<String>,
    host: HostSpec,
    port: Option<u16>,
    params: Vec<(String, Option<String>)>,
    headers: Vec<(String, String)>,
}

fn uri_spec(max_headers: usize) -> BoxedStrategy<UriSpec> {
    (
        any::<bool>(),
        prop::option::of(string_of(WILD, 1..10)),
        prop::option::of(string_of(WILD, 0..6)),
        host(),
        prop::option::of(any::<u16>()),
        prop::collection::vec(
            (
                prop_oneof![
                    string_of(WILD, 1..6),
                    prop::sample::select(vec!["transport", "lr", "maddr", "ttl", "user", "LR"])
                        .prop_map(str::to_owned),
                ],
                prop::option::of(string_of(WILD, 1..6)),
            ),
            0..4,
        ),
        prop::collection::vec(
            (string_of(WILD, 1..6), string_of(WILD, 0..6)),
            0..=max_headers,
        ),
    )
        .prop_map(
            |(secure, user, password, host, port, params, headers)| UriSpec {
                secure,
                password: user.as_ref().and(password),
                user,
                host,
                port,
                params,
                headers,
            },
        )
        .boxed()
}

impl UriSpec {
    fn build(&self) -> Result<SipUri, TestCaseError> {
        let mut b = SipUri::builder(&self.host.text).secure(self.secure);
        if let Some(u) = &self.user {
            b = b.user(u);
        }
        if let Some(p) = &self.password {
            b = b.password(p);
        }
        if let Some(p) = self.port {
            b = b.port(p);
        }
        for (n, v) in &self.params {
            b = b.param(n, v.as_deref());
        }
        for (n, v) in &self.headers {
            b = b.header(n, v);
        }
        b.build()
            .map_err(|e| TestCaseError::fail(format!("SipUriBuilder::build of {self:?}: {e}")))
    }

    /// The uri-parameters after `param` replaced same-named ones (names
    /// compare case-insensitively, RFC 3261 §19.1.4).
    fn expected_params(&self) -> Vec<(String, Option<String>)> {
        let mut out: Vec<(String, Option<String>)> = Vec::new();
        for (n, v) in &self.params {
            match out.iter_mut().find(|(m, _)| m.eq_ignore_ascii_case(n)) {
                Some(p) => p.1 = v.clone(),
                None => out.push((n.clone(), v.clone())),
            }
        }
        out
    }

    /// True if the host text is the spelling `Host`'s Display writes.
    fn host_is_canonical(&self) -> bool {
        let shown = self.host.host.to_string();
        shown == self.host.text || shown == format!("[{}]", self.host.text)
    }

    /// Checks every part of `uri` against the unescaped inputs.
    fn check(&self, uri: &SipUri) -> Result<(), TestCaseError> {
        let bytes = |s: &str| s.as_bytes().to_vec();
        prop_assert_eq!(uri.is_secure(), self.secure);
        prop_assert_eq!(
            uri.user().map(|u| unescape(u).into_owned()),
            self.user.as_deref().map(bytes)
        );
        prop_assert_eq!(
            uri.password().map(|u| unescape(u).into_owned()),
            self.password.as_deref().map(bytes)
        );
        prop_assert_eq!(uri.host(), &self.host.host);
        prop_assert_eq!(uri.port(), self.port);
        let params: Vec<(String, Option<String>)> = uri
            .params()
            .iter()
            .map(|p| {
                (
                    unescape_str(p.name()).into_owned(),
                    p.value().map(|v| unescape_str(v).into_owned()),
                )
            })
            .collect();
        prop_assert_eq!(params, self.expected_params());
        let headers: Vec<(String, String)> = uri
            .headers()
            .map(|(n, v)| (unescape_str(n).into_owned(), unescape_str(v).into_owned()))
            .collect();
        prop_assert_eq!(&headers, &self.headers);
        Ok(())
    }
}

/// A URI for a name-addr or the Request-URI: mostly SIP, sometimes tel or
/// another absolute URI.
fn any_uri(max_headers: usize) -> BoxedStrategy<(Uri, Option<UriSpec>)> {
    prop_oneof![
        6 => uri_spec(max_headers).prop_map(|s| {
            let u = s.build().expect("a built URI");
            (Uri::Sip(u), Some(s))
        }),
        1 => prop::sample::select(vec![
            "tel:+1-201-555-0123",
            "tel:7042;phone-context=example.com",
            "urn:service:sos",
            "mailto:alice@example.com",
            "http://www.example.com/a,b?c=d",
        ])
        .prop_map(|t| (t.parse::<Uri>().expect("a valid URI"), None)),
    ]
    .boxed()
}

// ---------------------------------------------------------------------------
// Typed headers
// ---------------------------------------------------------------------------

/// A `gen-value`: token, host (IPv6 in brackets) or quoted string.
fn gen_value() -> BoxedStrategy<String> {
    prop_oneof![
        token(1..10),
        string_of(QUOTED_TEXT, 0..10).prop_map(|s| quote(&s)),
        ipv6().prop_map(|a| format!("[{a}]")),
    ]
    .boxed()
}

/// A header parameter; names get a prefix so that they never collide with
/// a parameter that has its own grammar (`received`, `expires`...).
fn ext_param() -> BoxedStrategy<(String, Option<String>)> {
    (token(1..8), prop::option::of(gen_value()))
        .prop_map(|(n, v)| (format!("x-{n}"), v))
        .boxed()
}

fn params_from(list: &[(String, Option<String>)]) -> Params {
    let mut p = Params::new();
    for (n, v) in list {
        p.set(n, v.as_deref());
    }
    p
}

fn name_addr() -> BoxedStrategy<NameAddr> {
    (
        prop::option::of(string_of(QUOTED_TEXT, 0..12)),
        any_uri(2),
        prop::option::of(token(1..12)),
        prop::collection::vec(ext_param(), 0..3),
    )
        .prop_map(|(display, (uri, _), tag, params)| {
            let mut na = NameAddr::new(uri);
            if let Some(d) = display {
                na = na.with_display(&d);
            }
            if let Some(t) = tag {
                na = na.with_param("tag", Some(&t));
            }
            for (n, v) in params {
                na = na.with_param(&n, v.as_deref());
            }
            na
        })
        .boxed()
}

fn transport() -> BoxedStrategy<Transport> {
    prop::sample::select(vec![
        Transport::Udp,
        Transport::Tcp,
        Transport::Tls,
        Transport::Sctp,
        Transport::TlsSctp,
        Transport::Ws,
        Transport::Wss,
        Transport::Other,
    ])
    .boxed()
}

fn via() -> BoxedStrategy<Via> {
    let received = prop_oneof![
        any::<[u8; 4]>().prop_map(|o| Ipv4Addr::from(o).to_string()),
        // RFC 5118 §4.5: received may hold a bare IPv6 address.
        ipv6().prop_map(|a| a.to_string()),
        ipv6().prop_map(|a| format!("[{a}]")),
    ];
    (
        transport(),
        host(),
        prop::option::of(any::<u16>()),
        token(0..12),
        prop::option::of(received),
        prop::option::of(prop::option::of(any::<u16>())),
        prop::option::of(host()),
        prop::option::of(any::<u8>()),
        prop::collection::vec(ext_param(), 0..3),
    )
        .prop_map(|(t, h, port, branch, received, rport, maddr, ttl, ext)| {
            let mut v = Via::new(t, h.host, port, &format!("z9hG4bK{branch}"));
            let p = v.params_mut();
            if let Some(r) = received {
                p.set("received", Some(&r));
            }
            if let Some(r) = rport {
                p.set("rport", r.map(|n| n.to_string()).as_deref());
            }
            if let Some(m) = maddr {
                p.set("maddr", Some(&m.host.to_string()));
            }
            if let Some(t) = ttl {
                p.set("ttl", Some(&t.to_string()));
            }
            for (n, val) in ext {
                p.set(&n, val.as_deref());
            }
            v
        })
        .boxed()
}

fn media_type() -> BoxedStrategy<MediaType> {
    prop_oneof![
        (token(1..10), token(1..10)).prop_map(|(t, s)| MediaType::new(&t, &s)),
        prop::sample::select(vec![
            ("application", "sdp"),
            ("multipart", "mixed"),
            ("*", "*"),
            ("text", "*"),
        ])
        .prop_map(|(t, s)| MediaType::new(t, s)),
    ]
    .boxed()
}

fn auth_value() -> BoxedStrategy<AuthValue> {
    let param = (
        token(1..8),
        prop_oneof![
            string_of(QUOTED_TEXT, 0..10).prop_map(|v| (true, v)),
            string_of(concat!("abcXYZ019-.!%*_+`'~", "/=:"), 1..10).prop_map(|v| (false, v)),
        ],
    );
    (
        prop_oneof![Just("Digest".to_owned()), token(1..8)],
        prop::collection::vec(param, 0..4),
    )
        .prop_map(|(scheme, params)| {
            let mut a = AuthValue::new(&scheme);
            for (n, (quoted, v)) in params {
                a = if quoted {
                    a.with_quoted(&n, &v)
                } else {
                    a.with_token(&n, &v)
                };
            }
            a
        })
        .boxed()
}

fn call_id() -> BoxedStrategy<String> {
    (
        string_of(WORD, 1..12),
        prop::option::of(string_of(WORD, 1..12)),
    )
        .prop_map(|(a, b)| match b {
            Some(b) => format!("{a}@{b}"),
            None => a,
        })
        .boxed()
}

macro_rules! typed_headers {
    ($($v:ident),* $(,)?) => {
        /// One header the test adds: a typed value or a raw extension header.
        #[derive(Debug, Clone)]
        enum Hdr {
            $($v($v),)*
            /// An extension header: name and value as given.
            Raw(String, String),
        }

        impl Hdr {
            /// The header as it must read after parsing: name, raw name, value.
            fn wire(&self) -> (HeaderName, String, Octets) {
                match self {
                    $(Hdr::$v(h) => (
                        <$v as TypedHeader>::NAME,
                        <$v as TypedHeader>::NAME.as_str().to_owned(),
                        Octets(h.to_string().into_bytes()),
                    ),)*
                    Hdr::Raw(n, v) => (
                        HeaderName::Other,
                        n.clone(),
                        // The parser drops white space around a value.
                        Octets(v.trim_matches([' ', '\t']).as_bytes().to_vec()),
                    ),
                }
            }
        }

        fn add_to_request(b: RequestBuilder, h: &Hdr) -> RequestBuilder {
            match h {
                $(Hdr::$v(x) => b.header(x),)*
                Hdr::Raw(n, v) => b.raw_header(n, v),
            }
        }

        fn add_to_response(b: ResponseBuilder, h: &Hdr) -> ResponseBuilder {
            match h {
                $(Hdr::$v(x) => b.header(x),)*
                Hdr::Raw(n, v) => b.raw_header(n, v),
            }
        }

        /// Every typed header decodes, across all its lines, to the values
        /// that were added, in order.
        fn check_typed(msg: &Message, hdrs: &[Hdr]) -> Result<(), TestCaseError> {
            $(
                let want: Vec<$v> = hdrs
                    .iter()
                    .filter_map(|h| match h {
                        Hdr::$v(x) => Some(x.clone()),
                        _ => None,
                    })
                    .collect();
                let got: Vec<$v> = msg
                    .get_all::<$v>()
                    .collect::<Result<_, _>>()
                    .map_err(|e| TestCaseError::fail(format!(
                        "{} does not decode: {e}\n{msg:?}", stringify!($v))))?;
                prop_assert_eq!(got, want, "{}", stringify!($v));
            )*
            Ok(())
        }
    };
}

typed_headers!(
    Via,
    FromHdr,
    To,
    CallId,
    CSeq,
    MaxForwards,
    Contact,
    Route,
    RecordRoute,
    Path,
    ReferTo,
    Expires,
    MinExpires,
    Event,
    SubscriptionState,
    ContentType,
    Accept,
    Supported,
    Require,
    ProxyRequire,
    Unsupported,
    AllowEvents,
    Allow,
    SipETag,
    SipIfMatch,
    RSeq,
    RAck,
    Date,
    Reason,
    RetryAfter,
    SessionExpires,
    MinSE,
    Authorization,
    ProxyAuthorization,
    WwwAuthenticate,
    ProxyAuthenticate,
);

fn typed_header() -> BoxedStrategy<Hdr> {
    prop_oneof![
        3 => via().prop_map(Hdr::Via).boxed(),
        2 => name_addr().prop_map(|n| Hdr::FromHdr(FromHdr(n))).boxed(),
        2 => name_addr().prop_map(|n| Hdr::To(To(n))).boxed(),
        1 => call_id().prop_map(|c| Hdr::CallId(CallId(c.into()))).boxed(),
        2 => (any::<u32>(), method()).prop_map(|(n, m)| Hdr::CSeq(CSeq::new(n, m))).boxed(),
        1 => any::<u8>().prop_map(|n| Hdr::MaxForwards(MaxForwards(n))).boxed(),
        2 => prop_oneof![
            1 => Just(Contact::Star),
            4 => (name_addr(), prop::option::of(any::<u32>()), prop::option::of(0..=1000u32))
                .prop_map(|(n, exp, q)| {
                    let mut n = n;
                    if let Some(e) = exp {
                        n = n.with_param("expires", Some(&e.to_string()));
                    }
                    if let Some(q) = q {
                        n = n.with_param("q", Some(&format!("{}.{:03}", q / 1000, q % 1000)));
                    }
                    Contact::Addr(n)
                }),
        ]
        .prop_map(Hdr::Contact)
        .boxed(),
        1 => name_addr().prop_map(|n| Hdr::Route(Route(n.with_param("lr", None)))).boxed(),
        1 => name_addr().prop_map(|n| Hdr::RecordRoute(RecordRoute(n))).boxed(),
        1 => name_addr().prop_map(|n| Hdr::Path(Path(n))).boxed(),
        1 => name_addr().prop_map(|n| Hdr::ReferTo(ReferTo(n))).boxed(),
        1 => any::<u32>().prop_map(|n| Hdr::Expires(Expires(n))).boxed(),
        1 => any::<u32>().prop_map(|n| Hdr::MinExpires(MinExpires(n))).boxed(),
        1 => (token(1..12), prop::option::of(token(1..8)))
            .prop_map(|(p, id)| Hdr::Event(Event::new(&p, id.as_deref())))
            .boxed(),
        1 => (
            prop_oneof![
                Just(SubState::Active),
                Just(SubState::Pending),
                Just(SubState::Terminated),
                token(1..8).prop_map(|t| SubState::Other(format!("x{t}").into())),
            ],
            prop::option::of(any::<u32>()),
            prop::option::of(token(1..8)),
        )
            .prop_map(|(s, exp, reason)| {
                let mut st = SubscriptionState::new(s);
                if let Some(e) = exp {
                    st = st.with_param("expires", Some(&e.to_string()));
                }
                if let Some(r) = reason {
                    st = st.with_param("reason", Some(&r));
                }
                Hdr::SubscriptionState(st)
            })
            .boxed(),
        1 => media_type().prop_map(|m| Hdr::ContentType(ContentType(m))).boxed(),
        1 => media_type().prop_map(|m| Hdr::Accept(Accept(m))).boxed(),
        1 => token(1..10).prop_map(|t| Hdr::Supported(Supported(t.into()))).boxed(),
        1 => token(1..10).prop_map(|t| Hdr::Require(Require(t.into()))).boxed(),
        1 => token(1..10).prop_map(|t| Hdr::ProxyRequire(ProxyRequire(t.into()))).boxed(),
        1 => token(1..10).prop_map(|t| Hdr::Unsupported(Unsupported(t.into()))).boxed(),
        1 => token(1..10).prop_map(|t| Hdr::AllowEvents(AllowEvents(t.into()))).boxed(),
        1 => method().prop_map(|m| Hdr::Allow(Allow(m))).boxed(),
        1 => token(1..10).prop_map(|t| Hdr::SipETag(SipETag(t.into()))).boxed(),
        1 => token(1..10).prop_map(|t| Hdr::SipIfMatch(SipIfMatch(t.into()))).boxed(),
        1 => any::<u32>().prop_map(|n| Hdr::RSeq(RSeq(n))).boxed(),
        1 => (any::<u32>(), any::<u32>(), method())
            .prop_map(|(rseq, cseq, method)| Hdr::RAck(RAck { rseq, cseq, method }))
            .boxed(),
        // Up to 9999-12-31 23:59:59: the Date grammar has a 4-digit year.
        1 => (0..253_402_300_800u64)
            .prop_map(|s| Hdr::Date(Date::from_unix_seconds(s)))
            .boxed(),
        1 => (token(1..8), any::<u16>(), prop::option::of(string_of(QUOTED_TEXT, 0..12)))
            .prop_map(|(p, c, t)| Hdr::Reason(Reason::new(&p, c, t.as_deref())))
            .boxed(),
        1 => (
            any::<u32>(),
            prop::option::of(string_of(COMMENT_TEXT, 0..12)),
            prop::collection::vec(ext_param(), 0..2),
        )
            .prop_map(|(delta, comment, p)| {
                Hdr::RetryAfter(RetryAfter {
                    delta,
                    comment: comment.map(Into::into),
                    params: params_from(&p),
                })
            })
            .boxed(),
        1 => (any::<u32>(), prop::option::of(prop::sample::select(vec!["uac", "uas", "UAC"])))
            .prop_map(|(delta, r)| {
                let mut params = Params::new();
                if let Some(r) = r {
                    params.set("refresher", Some(r));
                }
                Hdr::SessionExpires(SessionExpires { delta, params })
            })
            .boxed(),
        1 => (any::<u32>(), prop::collection::vec(ext_param(), 0..2))
            .prop_map(|(delta, p)| Hdr::MinSE(MinSE { delta, params: params_from(&p) }))
            .boxed(),
        1 => auth_value().prop_map(|a| Hdr::Authorization(Authorization(a))).boxed(),
        1 => auth_value().prop_map(|a| Hdr::ProxyAuthorization(ProxyAuthorization(a))).boxed(),
        1 => auth_value().prop_map(|a| Hdr::WwwAuthenticate(WwwAuthenticate(a))).boxed(),
        1 => auth_value().prop_map(|a| Hdr::ProxyAuthenticate(ProxyAuthenticate(a))).boxed(),
    ]
    .boxed()
}

/// A raw extension header: a token name no header is known by, and a
/// value without CR or LF (possibly empty, possibly padded).
fn raw_header() -> BoxedStrategy<Hdr> {
    (token(1..12), string_of(RAW_VALUE, 0..24))
        .prop_map(|(n, v)| Hdr::Raw(format!("X-{n}"), v))
        .boxed()
}

fn headers() -> BoxedStrategy<Vec<Hdr>> {
    prop::collection::vec(prop_oneof![4 => typed_header(), 1 => raw_header()], 0..14).boxed()
}

fn body() -> BoxedStrategy<Vec<u8>> {
    prop_oneof![
        1 => Just(Vec::new()),
        3 => prop::collection::vec(any::<u8>(), 0..300),
        // Bodies that look like a header section or a second message.
        1 => Just(b"\r\n\r\nINVITE sip:x SIP/2.0\r\nContent-Length: 99\r\n\r\n".to_vec()),
    ]
    .boxed()
}

// ---------------------------------------------------------------------------
// Checks shared by the request and response properties
// ---------------------------------------------------------------------------

/// `model` after `Builder::body` set this Content-Type: every Content-Type
/// line is replaced by one line at the place of the first.
fn apply_content_type(model: &mut Vec<Hdr>, ct: Option<&MediaType>) {
    let Some(ct) = ct else { return };
    let first = model.iter().position(|h| matches!(h, Hdr::ContentType(_)));
    model.retain(|h| !matches!(h, Hdr::ContentType(_)));
    let h = Hdr::ContentType(ContentType(ct.clone()));
    match first {
        Some(i) => model.insert(i, h),
        None => model.push(h),
    }
}

fn check_message(msg: &Message, model: &[Hdr], body: &[u8]) -> Result<(), TestCaseError> {
    // Header lines: names as the builder writes them, values as given, in
    // order, then the Content-Length the builder computed.
    let got: Vec<(HeaderName, String, Octets)> = msg
        .headers()
        .map(|h| {
            (
                h.name,
                h.raw_name_str().to_owned(),
                Octets(h.value.to_vec()),
            )
        })
        .collect();
    let mut want: Vec<(HeaderName, String, Octets)> = model.iter().map(Hdr::wire).collect();
    want.push((
        HeaderName::ContentLength,
        "Content-Length".to_owned(),
        Octets(body.len().to_string().into_bytes()),
    ));
    prop_assert_eq!(got, want);

    prop_assert_eq!(msg.body_bytes(), body);
    prop_assert_eq!(&msg.body()[..], body);
    prop_assert_eq!(msg.content_length(), Some(body.len() as u32));
    prop_assert!(!msg.content_length_conflict());
    let cl: Vec<ContentLength> = msg
        .get_all::<ContentLength>()
        .collect::<Result<_, _>>()
        .map_err(|e| TestCaseError::fail(e.to_string()))?;
    prop_assert_eq!(cl, vec![ContentLength(body.len() as u32)]);
    check_typed(msg, model)?;
    check_eager(msg, model)?;
    Ok(())
}

/// What the parser decodes eagerly (top Via, CSeq, Call-ID, tags,
/// Max-Forwards, Via count) agrees with the first typed value.
fn check_eager(msg: &Message, model: &[Hdr]) -> Result<(), TestCaseError> {
    let vias: Vec<&Via> = model
        .iter()
        .filter_map(|h| match h {
            Hdr::Via(v) => Some(v),
            _ => None,
        })
        .collect();
    prop_assert_eq!(msg.via_count(), vias.len());
    match (msg.top_via(), vias.first()) {
        (None, None) => {}
        (Some(top), Some(v)) => {
            prop_assert_eq!(top.transport(), v.transport());
            prop_assert_eq!(top.transport_name(), v.transport_name());
            prop_assert_eq!(top.host(), v.host().to_string());
            prop_assert_eq!(top.sent_by_host(), Some(v.host().clone()));
            prop_assert_eq!(top.port(), v.port());
            prop_assert_eq!(top.branch(), v.branch());
            prop_assert_eq!(top.received(), v.received());
            prop_assert_eq!(top.rport(), v.rport());
            prop_assert_eq!(top.maddr(), v.maddr());
            prop_assert_eq!(top.params(), v.params().to_string());
        }
        (top, v) => prop_assert!(false, "top Via {:?} vs {:?}", top, v),
    }
    let first_cseq = model.iter().find_map(|h| match h {
        Hdr::CSeq(c) => Some(c),
        _ => None,
    });
    prop_assert_eq!(msg.cseq(), first_cseq.map(|c| (c.seq(), c.method())));
    let first_call_id = model.iter().find_map(|h| match h {
        Hdr::CallId(c) => Some(c.as_str()),
        _ => None,
    });
    prop_assert_eq!(msg.call_id(), first_call_id);
    // From and To are single-valued (RFC 3261 §7.3.1); with more than one
    // line the message is invalid anyway and which tag the eager decoder
    // reports is covered by `eager_tags_come_from_the_first_from_and_to_line`.
    let froms: Vec<&FromHdr> = model
        .iter()
        .filter_map(|h| match h {
            Hdr::FromHdr(f) => Some(f),
            _ => None,
        })
        .collect();
    if froms.len() <= 1 {
        prop_assert_eq!(msg.from_tag(), froms.first().and_then(|f| f.tag()));
    }
    let tos: Vec<&To> = model
        .iter()
        .filter_map(|h| match h {
            Hdr::To(t) => Some(t),
            _ => None,
        })
        .collect();
    if tos.len() <= 1 {
        prop_assert_eq!(msg.to_tag(), tos.first().and_then(|t| t.tag()));
    }
    let first_mf = model.iter().find_map(|h| match h {
        Hdr::MaxForwards(m) => Some(m.0),
        _ => None,
    });
    prop_assert_eq!(msg.max_forwards(), first_mf);
    Ok(())
}

// ---------------------------------------------------------------------------
// Properties
// ---------------------------------------------------------------------------

#[derive(Debug, Clone)]
struct RequestCase {
    method: Method,
    uri: Uri,
    uri_has_headers: bool,
    headers: Vec<Hdr>,
    content_type: Option<MediaType>,
    body: Vec<u8>,
    hand_content_length: Option<u32>,
}

fn request_case() -> impl Strategy<Value = RequestCase> {
    (
        method(),
        prop_oneof![4 => any_uri(0), 1 => any_uri(2)],
        headers(),
        prop::option::of(media_type()),
        body(),
        prop::option::of(any::<u32>()),
    )
        .prop_map(
            |(method, (uri, spec), headers, content_type, body, hand_content_length)| RequestCase {
                method,
                uri_has_headers: spec.is_some_and(|s| !s.headers.is_empty()),
                uri,
                headers,
                content_type,
                body,
                hand_content_length,
            },
        )
}

#[derive(Debug, Clone)]
struct ResponseCase {
    code: u16,
    reason: Option<String>,
    to_tag: Option<String>,
    headers: Vec<Hdr>,
    content_type: Option<MediaType>,
    body: Vec<u8>,
}

fn response_case(with_to_tag: bool) -> impl Strategy<Value = ResponseCase> {
    // With a tag to add, often end with an untagged To: the place where a
    // builder that edits lines in place is most likely to go wrong.
    let (to_tag, last_to) = if with_to_tag {
        (
            token(1..10).prop_map(Some).boxed(),
            prop::option::of(name_addr().prop_map(|mut n| {
                n.params_mut().remove("tag");
                Hdr::To(To(n))
            }))
            .boxed(),
        )
    } else {
        (Just(None).boxed(), Just(None).boxed())
    };
    (
        100..=699u16,
        prop::option::of(string_of(REASON_TEXT, 0..20)),
        to_tag,
        headers(),
        last_to,
        prop::option::of(media_type()),
        body(),
    )
        .prop_map(
            |(code, reason, to_tag, mut headers, last_to, content_type, body)| {
                headers.extend(last_to);
                ResponseCase {
                    code,
                    reason,
                    to_tag,
                    headers,
                    content_type,
                    body,
                }
            },
        )
}

fn check_built_response(c: &ResponseCase) -> Result<(), TestCaseError> {
    let (bytes, model, reason) = encode_response(c);
    let msg = parse_vec(&bytes)?;
    prop_assert_eq!(&msg.as_bytes()[..], &bytes[..]);
    prop_assert!(!msg.is_request());
    prop_assert_eq!(msg.method(), None);
    prop_assert_eq!(msg.request_uri_str(), None);
    prop_assert_eq!(msg.status(), Some(c.code));
    prop_assert_eq!(msg.reason_phrase().map(|r| r.into_owned()), Some(reason));
    check_message(&msg, &model, &c.body)?;
    prop_assert_eq!(msg.check_syntax(), Ok(()));
    Ok(())
}

/// `resp` was built by `ResponseBuilder::from_request(req, code)`, with
/// `with_to_tag(tag)` if `tag` is given.
fn check_copied(
    req: &Message,
    resp: &Message,
    code: u16,
    tag: Option<&str>,
) -> Result<(), TestCaseError> {
    prop_assert_eq!(resp.status(), Some(code));
    let copied = [
        HeaderName::Via,
        HeaderName::From,
        HeaderName::To,
        HeaderName::CallId,
        HeaderName::CSeq,
    ];
    let mut want: Vec<(HeaderName, Octets)> = req
        .headers()
        .filter(|h| copied.contains(&h.name))
        .map(|h| (h.name, Octets(h.value.to_vec())))
        .collect();
    if let Some(tag) = tag {
        let first_to = want.iter_mut().find(|(n, _)| *n == HeaderName::To);
        if let Some((_, v)) = first_to {
            let untagged = req.get::<To>().is_ok_and(|t| !t.params().contains("tag"));
            if untagged {
                v.0.extend_from_slice(b";tag=");
                v.0.extend_from_slice(tag.as_bytes());
            }
        }
    }
    want.push((HeaderName::ContentLength, Octets(b"0".to_vec())));
    let got: Vec<(HeaderName, Octets)> = resp
        .headers()
        .map(|h| (h.name, Octets(h.value.to_vec())))
        .collect();
    prop_assert_eq!(got, want);
    if let Some(tag) = tag {
        if req.values(HeaderName::To).count() == 1 {
            let want_tag = req.to_tag().unwrap_or(tag);
            prop_assert_eq!(resp.to_tag(), Some(want_tag));
        }
    }
    prop_assert_eq!(resp.cseq(), req.cseq());
    prop_assert_eq!(resp.call_id(), req.call_id());
    prop_assert_eq!(resp.via_count(), req.via_count());
    prop_assert_eq!(resp.top_via(), req.top_via());
    prop_assert_eq!(resp.body_bytes(), b"");
    prop_assert_eq!(resp.check_syntax(), Ok(()));
    Ok(())
}

fn encode_request(c: &RequestCase) -> (Vec<u8>, Vec<Hdr>) {
    let mut b = RequestBuilder::new(c.method.clone(), &c.uri);
    if let Some(n) = c.hand_content_length {
        // Dropped: the builder computes Content-Length.
        b = b.header(&ContentLength(n));
    }
    for h in &c.headers {
        b = add_to_request(b, h);
    }
    let mut model = c.headers.clone();
    apply_content_type(&mut model, c.content_type.as_ref());
    let ct = c.content_type.as_ref().map(ToString::to_string);
    b = b.body(ct.as_deref().unwrap_or(""), c.body.clone());
    (b.encode().to_vec(), model)
}

fn encode_response(c: &ResponseCase) -> (Vec<u8>, Vec<Hdr>, String) {
    let mut b = ResponseBuilder::new(c.code);
    if let Some(r) = &c.reason {
        b = b.reason(r);
    }
    for h in &c.headers {
        b = add_to_response(b, h);
    }
    let mut model = c.headers.clone();
    if let Some(tag) = &c.to_tag {
        b = b.with_to_tag(tag);
        // RFC 3261 §8.2.6.2: the first To gets the tag if it has none.
        if let Some(Hdr::To(to)) = model.iter_mut().find(|h| matches!(h, Hdr::To(_))) {
            if !to.params().contains("tag") {
                to.params_mut().set("tag", Some(tag));
            }
        }
    }
    apply_content_type(&mut model, c.content_type.as_ref());
    let ct = c.content_type.as_ref().map(ToString::to_string);
    b = b.body(ct.as_deref().unwrap_or(""), c.body.clone());
    let reason = c
        .reason
        .clone()
        .unwrap_or_else(|| sip_message::reason_phrase(c.code).to_owned());
    (b.encode().to_vec(), model, reason)
}

fn parse_vec(bytes: &[u8]) -> Result<Message, TestCaseError> {
    Message::parse(bytes.to_vec()).map_err(|e| {
        TestCaseError::fail(format!(
            "built message does not parse: {e}\n{}",
            String::from_utf8_lossy(bytes)
        ))
    })
}

/// An edit a transport makes to the top Via (RFC 3261 §18.1.1, §18.2.1,
/// RFC 3581).
#[derive(Debug, Clone)]
enum ViaEdit {
    Received(String),
    Rport(Option<u16>),
    Branch(String),
    SentBy(HostSpec, Option<u16>),
    Transport(Transport),
    Remove(&'static str),
}

impl ViaEdit {
    fn apply(&self, v: &mut Via) {
        match self {
            ViaEdit::Received(r) => v.params_mut().set("received", Some(r)),
            ViaEdit::Rport(p) => v
                .params_mut()
                .set("rport", p.map(|p| p.to_string()).as_deref()),
            ViaEdit::Branch(b) => v.params_mut().set("branch", Some(b)),
            ViaEdit::SentBy(h, p) => v.set_sent_by(h.host.clone(), *p),
            ViaEdit::Transport(t) => v.set_transport(*t),
            ViaEdit::Remove(n) => v.params_mut().remove(n),
        }
    }
}

fn via_edits() -> BoxedStrategy<Vec<ViaEdit>> {
    let edit = prop_oneof![
        any::<[u8; 4]>().prop_map(|o| ViaEdit::Received(Ipv4Addr::from(o).to_string())),
        ipv6().prop_map(|a| ViaEdit::Received(a.to_string())),
        prop::option::of(any::<u16>()).prop_map(ViaEdit::Rport),
        token(1..12).prop_map(|t| ViaEdit::Branch(format!("z9hG4bK{t}"))),
        (host(), prop::option::of(any::<u16>())).prop_map(|(h, p)| ViaEdit::SentBy(h, p)),
        transport().prop_map(ViaEdit::Transport),
        prop::sample::select(vec!["branch", "rport", "received", "maddr"])
            .prop_map(ViaEdit::Remove),
    ];
    prop::collection::vec(edit, 0..4).boxed()
}

proptest! {
    #![proptest_config(config())]

    /// (a) Requests: what was built is what parses back.
    #[test]
    fn built_request_parses_back_to_what_was_built(c in request_case()) {
        let (bytes, model) = encode_request(&c);
        let msg = parse_vec(&bytes)?;
        prop_assert_eq!(&msg.as_bytes()[..], &bytes[..]);
        prop_assert!(msg.is_request());
        prop_assert_eq!(msg.method(), Some(&c.method));
        prop_assert_eq!(msg.status(), None);
        prop_assert_eq!(msg.request_uri_str(), Some(c.uri.as_str()));
        prop_assert_eq!(msg.request_uri(), Some(Ok(c.uri.clone())));
        prop_assert_eq!(msg.version(), sip_message::Version::SIP_2_0);
        check_message(&msg, &model, &c.body)?;
        if c.uri_has_headers {
            // RFC 3261 §19.1.5: no URI headers in a Request-URI.
            prop_assert_eq!(msg.check_syntax(), Err(SyntaxError::RequestUriHeaders));
        } else {
            prop_assert_eq!(msg.check_syntax(), Ok(()));
        }
    }

    /// (a) Responses: status code, reason phrase (given or default), headers,
    /// body.
    #[test]
    fn built_response_parses_back_to_what_was_built(c in response_case(false)) {
        check_built_response(&c)?;
    }

    /// (a) `with_to_tag` tags the first To if it has no tag (RFC 3261
    /// §8.2.6.2) and changes nothing else.
    #[test]
    fn built_response_with_to_tag_tags_the_first_to_only(c in response_case(true)) {
        check_built_response(&c)?;
    }

    /// (a) A response built from a parsed request copies Via (every value,
    /// in order), From, To, Call-ID and CSeq byte for byte (RFC 3261
    /// §8.2.6.2), and nothing else.
    #[test]
    fn response_from_request_copies_dialog_headers(
        c in request_case(),
        code in 100..=699u16,
    ) {
        let (bytes, _) = encode_request(&c);
        let req = parse_vec(&bytes)?;
        let resp = parse_vec(&ResponseBuilder::from_request(&req, code).encode())?;
        check_copied(&req, &resp, code, None)?;
    }

    /// (a) The same with `with_to_tag`: the first To gets `;tag=` if it has
    /// no tag; every other copied line is unchanged.
    #[test]
    fn response_from_request_with_to_tag_tags_the_first_to_only(
        c in request_case(),
        code in 100..=699u16,
        tag in token(1..10),
    ) {
        let (bytes, _) = encode_request(&c);
        let req = parse_vec(&bytes)?;
        let resp = ResponseBuilder::from_request(&req, code).with_to_tag(&tag).encode();
        let resp = parse_vec(&resp)?;
        check_copied(&req, &resp, code, Some(&tag))?;
    }

    /// (a) `Message::with_top_via` changes the first Via value and nothing
    /// else: every other byte is kept, the new value is what the edit made
    /// of the old one, and the eager top-Via fields follow it.
    #[test]
    fn with_top_via_changes_only_the_top_via_value(c in request_case(), edits in via_edits()) {
        let (bytes, model) = encode_request(&c);
        let msg = parse_vec(&bytes)?;
        let first = model.iter().find_map(|h| match h {
            Hdr::Via(v) => Some(v.clone()),
            _ => None,
        });
        let edited = msg.with_top_via(|v| edits.iter().for_each(|e| e.apply(v)));
        let Some(first) = first else {
            prop_assert!(matches!(edited, Err(ViaEditError::NoVia)), "{:?}", edited);
            return Ok(());
        };
        let edited = edited.map_err(|e| TestCaseError::fail(format!("with_top_via: {e}")))?;
        let mut want = first.clone();
        edits.iter().for_each(|e| e.apply(&mut want));
        // The original bytes with the first Via value replaced.
        let old = msg.values(HeaderName::Via).next().expect("a Via line");
        let at = old.as_ptr() as usize - msg.as_bytes().as_ptr() as usize;
        let mut want_bytes = bytes[..at].to_vec();
        want_bytes.extend_from_slice(want.to_string().as_bytes());
        want_bytes.extend_from_slice(&bytes[at + old.len()..]);
        prop_assert_eq!(Octets(edited.as_bytes().to_vec()), Octets(want_bytes));
        let vias: Vec<Via> = edited
            .get_all::<Via>()
            .collect::<Result<_, _>>()
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        let mut model_vias: Vec<Via> = model
            .iter()
            .filter_map(|h| match h {
                Hdr::Via(v) => Some(v.clone()),
                _ => None,
            })
            .collect();
        model_vias[0] = want.clone();
        prop_assert_eq!(vias, model_vias);
        let top = edited.top_via().expect("top Via");
        prop_assert_eq!(top.branch(), want.branch());
        prop_assert_eq!(top.received(), want.received());
        prop_assert_eq!(top.rport(), want.rport());
        prop_assert_eq!(top.transport(), want.transport());
        prop_assert_eq!(top.sent_by_host(), Some(want.host().clone()));
        prop_assert_eq!(top.port(), want.port());
        prop_assert_eq!(edited.via_count(), msg.via_count());
        prop_assert_eq!(edited.body_bytes(), msg.body_bytes());
    }

    /// (a) A display name of any text without line breaks (quotes,
    /// backslashes, UTF-8) comes back from a message unchanged.
    #[test]
    fn display_name_survives_a_message(
        name in string_of(QUOTED_TEXT, 0..20),
        spec in uri_spec(2),
    ) {
        let uri = spec.build()?;
        let from = FromHdr(NameAddr::new(uri.clone()).with_display(&name).with_param("tag", Some("1")));
        prop_assert_eq!(from.display_name().map(|d| d.into_owned()), Some(name.clone()));
        let ruri: Uri = uri.clone().into();
        let bytes = RequestBuilder::new(Method::Options, &ruri).header(&from).encode();
        let msg = parse_vec(&bytes)?;
        let got = msg.get::<FromHdr>().map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(got.display_name().map(|d| d.into_owned()), Some(name.clone()));
        prop_assert_eq!(got.uri(), &Uri::Sip(uri));
        prop_assert_eq!(msg.from_tag(), Some("1"));
    }

    /// (a)/(b) The parser keeps exactly the message: octets after the body
    /// that Content-Length declares are not part of it (RFC 3261 §18.3).
    #[test]
    fn trailing_octets_after_the_body_are_not_part_of_the_message(
        c in request_case(),
        trailer in prop::collection::vec(any::<u8>(), 1..64),
    ) {
        let (bytes, model) = encode_request(&c);
        let mut input = bytes.clone();
        input.extend_from_slice(&trailer);
        let msg = parse_vec(&input)?;
        prop_assert_eq!(&msg.as_bytes()[..], &bytes[..]);
        check_message(&msg, &model, &c.body)?;
    }

    /// (c) A URI built from random parts: every part reads back unescaped,
    /// its text parses to an equal URI, and `to_builder` rebuilds it.
    #[test]
    fn sip_uri_builder_output_parses_to_an_equal_uri(spec in uri_spec(3)) {
        let uri = spec.build()?;
        spec.check(&uri)?;
        let text = uri.to_string();
        prop_assert_eq!(text.as_str(), uri.as_str());
        let again = SipUri::parse(&text).map_err(|e| TestCaseError::fail(format!("{text}: {e}")))?;
        prop_assert_eq!(&again, &uri);
        let general: Uri = text.parse().map_err(|e| TestCaseError::fail(format!("{text}: {e}")))?;
        prop_assert_eq!(general.as_sip(), Some(&uri));
        prop_assert_eq!(general.scheme(), if spec.secure { "sips" } else { "sip" });
        let rebuilt = uri.to_builder().build()
            .map_err(|e| TestCaseError::fail(format!("to_builder of {text}: {e}")))?;
        spec.check(&rebuilt)?;
        if spec.host_is_canonical() {
            prop_assert_eq!(&rebuilt, &uri);
        }
    }

    /// (c) `escape` escapes exactly the octets RFC 3261 §25.1 does not allow
    /// in each part, with upper-case hex, and `unescape` inverts it.
    #[test]
    fn escape_then_unescape_is_identity_for_every_uri_part(
        s in prop_oneof![string_of(WILD, 0..24), any::<String>()],
    ) {
        for part in [UriPart::User, UriPart::Password, UriPart::Param, UriPart::Header] {
            let e = escape(&s, part);
            prop_assert_eq!(e.as_ref(), reference_escape(&s, part), "{:?}", part);
            prop_assert_eq!(unescape(&e).into_owned(), s.as_bytes().to_vec(), "{:?}", part);
            prop_assert_eq!(unescape_str(&e).into_owned(), s.clone(), "{:?}", part);
        }
    }

    /// (c) `unescape` decodes `%HH` in either letter case and leaves a `%`
    /// that does not start an escape alone.
    #[test]
    fn unescape_decodes_any_octet_in_either_case(
        octets in prop::collection::vec(any::<u8>(), 0..24),
        lower in any::<bool>(),
        tail in prop::sample::select(vec!["", "%", "%4", "%G1", "%%", "x%2"]),
    ) {
        let mut s: String = octets
            .iter()
            .map(|b| if lower { format!("%{b:02x}") } else { format!("%{b:02X}") })
            .collect();
        s.push_str(tail);
        let mut want = octets.clone();
        want.extend_from_slice(tail.as_bytes());
        prop_assert_eq!(unescape(&s).into_owned(), want);
    }

    /// (d) Framing finds the built message: complete at its length, partial
    /// at every shorter prefix, and complete at the first message's length
    /// when a second one follows.
    #[test]
    fn framing_finds_exactly_the_built_message(c in request_case(), r in response_case(true)) {
        let (first, _) = encode_request(&c);
        let (second, _, _) = encode_response(&r);
        prop_assert_eq!(framing::check(&first), Ok(Status::Complete(first.len())));
        prop_assert_eq!(framing::check(&second), Ok(Status::Complete(second.len())));
        for n in 0..first.len() {
            let s = framing::check(&first[..n]);
            let prefix = &first[..n];
            let keepalive_ok = prefix.starts_with(b"\r\n")
                && matches!(s, Ok(Status::KeepAlive { .. }));
            prop_assert!(s == Ok(Status::Partial) || keepalive_ok, "prefix {}: {:?}", n, s);
        }
        let mut two = first.clone();
        two.extend_from_slice(&second);
        prop_assert_eq!(framing::check(&two), Ok(Status::Complete(first.len())));
        let mut two = second.clone();
        two.extend_from_slice(&first);
        prop_assert_eq!(framing::check(&two), Ok(Status::Complete(second.len())));
        // A keep-alive after the message belongs to the next frame.
        let mut ka = first.clone();
        ka.extend_from_slice(b"\r\n\r\n");
        prop_assert_eq!(framing::check(&ka), Ok(Status::Complete(first.len())));
        prop_assert_eq!(
            framing::check(&ka[first.len()..]),
            Ok(Status::KeepAlive { len: 4, ping: true })
        );
    }
}

/// RFC 3261 §25.1 character sets, written out here independently of the
/// crate's tables.
fn reference_allowed(part: UriPart, c: u8) -> bool {
    let unreserved = c.is_ascii_alphanumeric() || b"-_.!~*'()".contains(&c);
    match part {
        UriPart::User => unreserved || b"&=+$,;?/".contains(&c),
        UriPart::Password => unreserved || b"&=+$,".contains(&c),
        UriPart::Param => unreserved || b"[]/:&+$".contains(&c),
        UriPart::Header => unreserved || b"[]/?:+$".contains(&c),
        _ => unreachable!("a new UriPart needs a reference set"),
    }
}

fn reference_escape(s: &str, part: UriPart) -> String {
    s.bytes()
        .map(|b| {
            if reference_allowed(part, b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

// ---------------------------------------------------------------------------
// (b) Parse → serialize identity over the corpus and bench messages
// ---------------------------------------------------------------------------

/// Every corpus and bench message in wire form, with its file name.
fn wire_messages() -> Vec<(String, Vec<u8>)> {
    common::wire_messages()
        .into_iter()
        .map(|(p, m)| (p.display().to_string(), m))
        .collect()
}

type Snapshot = (
    Option<Method>,
    Option<String>,
    Option<u16>,
    Option<String>,
    Vec<(HeaderName, Octets, Octets)>,
    Octets,
);

fn snapshot(m: &Message) -> Snapshot {
    (
        m.method().cloned(),
        m.request_uri_str().map(str::to_owned),
        m.status(),
        m.reason_phrase().map(|r| r.into_owned()),
        m.headers()
            .map(|h| {
                (
                    h.name,
                    Octets(h.raw_name.to_vec()),
                    Octets(h.value.to_vec()),
                )
            })
            .collect(),
        Octets(m.body_bytes().to_vec()),
    )
}

#[test]
fn reparsing_as_bytes_gives_the_same_message_for_every_corpus_file() {
    let mut parsed = 0;
    for (name, input) in wire_messages() {
        let Ok(msg) = Message::parse(input.clone()) else {
            continue;
        };
        parsed += 1;
        let kept = msg.as_bytes();
        assert!(
            input.starts_with(kept),
            "{name}: as_bytes is not a prefix of the input"
        );
        // The kept bytes end exactly at the end of the body.
        let body = msg.body_bytes();
        assert!(kept.ends_with(body), "{name}: body is not at the end");
        let again = Message::parse(kept.clone())
            .unwrap_or_else(|e| panic!("{name}: as_bytes does not parse again: {e}"));
        assert_eq!(again.as_bytes(), kept, "{name}");
        assert_eq!(snapshot(&again), snapshot(&msg), "{name}");
        assert_eq!(again.version(), msg.version(), "{name}");
        assert_eq!(again.cseq(), msg.cseq(), "{name}");
        assert_eq!(again.call_id(), msg.call_id(), "{name}");
        assert_eq!(again.from_tag(), msg.from_tag(), "{name}");
        assert_eq!(again.to_tag(), msg.to_tag(), "{name}");
        assert_eq!(again.content_length(), msg.content_length(), "{name}");
        assert_eq!(again.max_forwards(), msg.max_forwards(), "{name}");
        assert_eq!(again.via_count(), msg.via_count(), "{name}");
        assert_eq!(again.top_via(), msg.top_via(), "{name}");
        assert_eq!(again.check_syntax(), msg.check_syntax(), "{name}");
        assert_eq!(again, msg, "{name}");
    }
    // 50 + 12 + 5 files; most of them parse (the RFC 4475 invalid ones and
    // the HTTP request in bench/ do not).
    assert!(parsed >= 40, "only {parsed} corpus messages parsed");
}

#[test]
fn reparsing_keeps_the_message_when_trailing_octets_follow_the_body() {
    let mut checked = 0;
    for (name, input) in wire_messages() {
        let Ok(msg) = Message::parse(input.clone()) else {
            continue;
        };
        // Only messages whose body Content-Length frames completely.
        let Some(cl) = msg.content_length() else {
            continue;
        };
        if msg.body_bytes().len() != cl as usize || msg.content_length_conflict() {
            continue;
        }
        let mut longer = msg.as_bytes().to_vec();
        longer.extend_from_slice(b"OPTIONS sip:trailing SIP/2.0\r\n\r\n");
        let again = Message::parse(longer)
            .unwrap_or_else(|e| panic!("{name}: does not parse with a trailer: {e}"));
        assert_eq!(again.as_bytes(), msg.as_bytes(), "{name}");
        assert_eq!(snapshot(&again), snapshot(&msg), "{name}");
        checked += 1;
    }
    assert!(checked >= 20, "only {checked} corpus messages checked");
}

// ---------------------------------------------------------------------------
// Smallest reproducers of what the properties above found
// ---------------------------------------------------------------------------

/// RFC 3261 §8.2.6.2: the response's To is the request's To plus a tag.
/// A request whose To is the last of the copied headers (Via, From,
/// Call-ID, CSeq, To) is the common case.
#[test]
fn with_to_tag_writes_one_to_line_when_to_is_the_last_copied_header() {
    let req =
        Message::parse(&b"INVITE sip:a SIP/2.0\r\nTo: <sip:a>\r\nContent-Length: 0\r\n\r\n"[..])
            .expect("parses");
    let resp = ResponseBuilder::from_request(&req, 200)
        .with_to_tag("x")
        .encode();
    assert_eq!(
        String::from_utf8_lossy(&resp),
        "SIP/2.0 200 OK\r\nTo: <sip:a>;tag=x\r\nContent-Length: 0\r\n\r\n"
    );
}

/// The eagerly decoded tags are those of the first From and To line, as
/// `get::<From>()` / `get::<To>()` return the first line.
#[test]
fn eager_tags_come_from_the_first_from_and_to_line() {
    let msg = Message::parse(
        &b"OPTIONS sip:a SIP/2.0\r\nFrom: <sip:a>\r\nFrom: <sip:b>;tag=2\r\n\
To: <sip:a>\r\nTo: <sip:b>;tag=3\r\nContent-Length: 0\r\n\r\n"[..],
    )
    .expect("parses");
    assert_eq!(msg.get::<FromHdr>().expect("From").tag(), None);
    assert_eq!(msg.from_tag(), None);
    assert_eq!(msg.get::<To>().expect("To").tag(), None);
    assert_eq!(msg.to_tag(), None);
}

/// A continuation line belongs to the header above it (RFC 3261 §7.3.1):
/// ` l: 5` inside Subject is not a Content-Length.
#[test]
fn framing_does_not_read_a_folded_line_as_content_length() {
    let m: &[u8] = b"OPTIONS sip:a@b SIP/2.0\r\nSubject: x\r\n l: 5\r\nContent-Length: 0\r\n\r\n";
    let msg = Message::parse(m).expect("parses");
    assert_eq!(msg.content_length(), Some(0));
    assert_eq!(framing::check(m), Ok(Status::Complete(m.len())));
    let m: &[u8] = b"OPTIONS sip:a@b SIP/2.0\r\nSubject: x\r\n l: 5\r\nl: 0\r\n\r\nabcde";
    assert_eq!(framing::check(m), Ok(Status::Complete(m.len() - 5)));
}

/// `NameAddr::with_display` says any text is valid. A line break cannot be
/// written raw inside a quoted-string (RFC 3261 §25.1 qdtext and
/// quoted-pair exclude CR and LF), so the builder must not produce a
/// message that does not parse.
#[test]
fn display_name_with_a_line_break_still_gives_a_message_that_parses() {
    let uri: Uri = "sip:a@b".parse().expect("uri");
    let from = FromHdr(NameAddr::new(uri.clone()).with_display("a\r\nb"));
    let bytes = RequestBuilder::new(Method::Invite, &uri)
        .header(&from)
        .encode();
    let msg = Message::parse(bytes.clone())
        .unwrap_or_else(|e| panic!("{e}: {:?}", String::from_utf8_lossy(&bytes)));
    assert!(msg.get::<FromHdr>().is_ok());
}

/// `sent-protocol = protocol-name SLASH protocol-version SLASH transport`
/// with `SLASH = SWS "/" SWS` (RFC 3261 §25.1): white space may follow the
/// last slash as it may follow the others (`SIP /2.0/UDP` is accepted).
#[test]
fn via_allows_white_space_after_the_last_slash() {
    for v in [
        "SIP /2.0/UDP host;branch=z9hG4bK1",
        "SIP/2.0/ UDP host;branch=z9hG4bK1",
        "SIP/2.0/\r\n UDP host;branch=z9hG4bK1",
    ] {
        let m = format!("OPTIONS sip:a SIP/2.0\r\nVia: {v}\r\nContent-Length: 0\r\n\r\n");
        let msg = Message::parse(m.into_bytes()).unwrap_or_else(|e| panic!("{v:?}: {e}"));
        assert_eq!(
            msg.top_via().map(|t| t.transport()),
            Some(Transport::Udp),
            "{v:?}"
        );
        let via = msg.get::<Via>().unwrap_or_else(|e| panic!("{v:?}: {e}"));
        assert_eq!(via.transport(), Transport::Udp, "{v:?}");
    }
}
