//! Checks a UA runs after parsing (RFC 3261 §8.2, §8.1.3.3, §18.3).
//!
//! [`validate_request`] and [`validate_response`] list every [`Problem`]
//! found; each names the response a UAS would send
//! ([`Problem::status_code`]) or says the message is to be dropped.
//!
//! ```
//! use sip_message::{Message, validate::{validate_request, Policy, Problem}};
//! let msg = Message::parse(&b"OPTIONS sip:bob@example.com SIP/2.0\r\n\
//! Via: SIP/2.0/UDP host;branch=z9hG4bKx\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:bob@example.com>\r\n\
//! Call-ID: c1\r\nCSeq: 1 OPTIONS\r\nRequire: foo\r\nContent-Length: 0\r\n\r\n"[..])?;
//! let problems = validate_request(&msg, &Policy::default());
//! assert_eq!(problems[0].status_code(), Some(420));
//! assert!(matches!(&problems[0], Problem::BadExtension(tags) if tags == &["foo"]));
//! # Ok::<(), sip_message::ParseError>(())
//! ```

use crate::header_name::HeaderName;
use crate::headers::{
    Accept, Allow, AllowEvents, Authorization, CSeq, CallId, Contact, ContentLength, ContentType,
    Date, Event, Expires, From, MaxForwards, MediaType, MinExpires, MinSE, Path, ProxyAuthenticate,
    ProxyAuthorization, ProxyRequire, RAck, RSeq, Reason, RecordRoute, ReferTo, Require,
    RetryAfter, Route, SessionExpires, SipETag, SipIfMatch, SubscriptionState, Supported, To,
    TypedHeader, Unsupported, Via, WwwAuthenticate,
};
use crate::message::{Message, SyntaxError, Version};
use crate::method::Method;
use crate::uri::Uri;

/// A reason to reject or drop a message.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Problem {
    /// A SIP version other than 2.0 (RFC 3261 §21.5.9): 505.
    VersionNotSupported(Version),
    /// A mandatory header is missing (RFC 3261 §8.1.1): 400.
    MissingHeader(HeaderName),
    /// A header that takes one value appears more than once (RFC 3261 §7.3.1): 400.
    RepeatedHeader(HeaderName),
    /// CSeq method differs from the request method (RFC 3261 §8.1.1.5): 400.
    CSeqMethodMismatch,
    /// The body is shorter than Content-Length (RFC 3261 §18.3): 400.
    ContentLengthMismatch {
        /// Declared length.
        declared: u32,
        /// Octets received.
        received: u32,
    },
    /// Two Content-Length values disagree (RFC 4475 §3.3.9): 400.
    ConflictingContentLength,
    /// The Request-URI scheme is not one the UA serves (RFC 3261 §8.2.2.1): 416.
    UnsupportedUriScheme,
    /// The Request-URI carries headers (RFC 3261 §19.1.5): 400.
    RequestUriHeaders,
    /// REGISTER whose To (address of record) is not a SIP/SIPS URI (RFC 3261 §10.2): 400.
    NonSipAddressOfRecord,
    /// Require lists option tags the UA does not support (RFC 3261 §8.2.2.3):
    /// 420 with these tags in Unsupported.
    BadExtension(Vec<String>),
    /// A method the UA does not know (RFC 3261 §8.2.1, §21.5.2): 501.
    UnknownMethod,
    /// A body whose Content-Type the UA does not accept (RFC 3261 §8.2.3): 415.
    UnsupportedMediaType,
    /// Accept excludes every type the UA could answer with (RFC 3261 §21.4.7): 406.
    NotAcceptable,
    /// Credentials of a scheme the UA cannot check (RFC 3261 §22): 401 challenges again.
    UnsupportedAuthScheme,
    /// The branch is only the magic cookie (RFC 4475 §3.2.1): 400.
    BareMagicCookie,
    /// A response with more than one Via reached a UAC (RFC 3261 §8.1.3.3): drop.
    MultipleViasInResponse,
    /// A Via sent-by is the broadcast address (RFC 4475 §3.3.10): drop.
    BroadcastVia,
    /// A header or the Request-URI does not decode: 400.
    Syntax(SyntaxError),
}

impl Problem {
    /// The response a UAS sends for this problem; `None` means drop the
    /// message silently.
    pub fn status_code(&self) -> Option<u16> {
        Some(match self {
            Problem::VersionNotSupported(_) => 505,
            Problem::MissingHeader(_)
            | Problem::RepeatedHeader(_)
            | Problem::CSeqMethodMismatch
            | Problem::ContentLengthMismatch { .. }
            | Problem::ConflictingContentLength
            | Problem::RequestUriHeaders
            | Problem::NonSipAddressOfRecord
            | Problem::BareMagicCookie
            | Problem::Syntax(_) => 400,
            Problem::UnsupportedUriScheme => 416,
            Problem::BadExtension(_) => 420,
            Problem::UnknownMethod => 501,
            Problem::UnsupportedMediaType => 415,
            Problem::NotAcceptable => 406,
            Problem::UnsupportedAuthScheme => 401,
            Problem::MultipleViasInResponse | Problem::BroadcastVia => return None,
        })
    }
}

/// What the UA supports, against which requests are checked.
#[derive(Debug, Clone)]
pub struct Policy {
    /// Option tags the UA supports (for Require).
    pub supported: Vec<String>,
    /// Request-URI schemes served.
    pub uri_schemes: Vec<String>,
    /// Methods the UA knows; `None` accepts any.
    pub methods: Option<Vec<Method>>,
    /// Body types accepted in requests; `None` accepts any.
    pub accepted_bodies: Option<Vec<MediaType>>,
    /// Body types the UA answers INVITE-class offers with (for Accept).
    pub answer_bodies: Vec<MediaType>,
    /// Authentication schemes the UA can check.
    pub auth_schemes: Vec<String>,
}

impl Default for Policy {
    /// Supports no extensions; serves sip and sips; knows every method of
    /// [`Method`] but extension methods; accepts SDP, multipart/mixed,
    /// text/plain, message/sipfrag and application/pidf+xml bodies;
    /// answers with SDP; checks Digest.
    fn default() -> Self {
        Policy {
            supported: Vec::new(),
            uri_schemes: vec!["sip".into(), "sips".into()],
            methods: Some(vec![
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
            ]),
            accepted_bodies: Some(vec![
                MediaType::new("application", "sdp"),
                MediaType::new("multipart", "mixed"),
                MediaType::new("text", "plain"),
                MediaType::new("message", "sipfrag"),
                MediaType::new("application", "pidf+xml"),
            ]),
            answer_bodies: vec![MediaType::new("application", "sdp")],
            auth_schemes: vec!["Digest".into()],
        }
    }
}

const SINGLE: [HeaderName; 6] = [
    HeaderName::CallId,
    HeaderName::From,
    HeaderName::To,
    HeaderName::CSeq,
    HeaderName::MaxForwards,
    HeaderName::ContentType,
];

/// Checks common to requests and responses.
fn common(msg: &Message, out: &mut Vec<Problem>) {
    if msg.version() != Version::SIP_2_0 {
        out.push(Problem::VersionNotSupported(msg.version()));
    }
    for h in SINGLE {
        if msg.values(h).nth(1).is_some() {
            out.push(Problem::RepeatedHeader(h));
        }
    }
    for h in [
        HeaderName::Via,
        HeaderName::From,
        HeaderName::To,
        HeaderName::CallId,
        HeaderName::CSeq,
    ] {
        if !msg.has(h) {
            out.push(Problem::MissingHeader(h));
        }
    }
    if msg.content_length_conflict() {
        out.push(Problem::ConflictingContentLength);
    } else if let Some(declared) = msg.content_length() {
        let received = msg.body_bytes().len() as u32;
        if received < declared {
            out.push(Problem::ContentLengthMismatch { declared, received });
        }
    }
}

/// The option tags a request's Require lists that `supported` lacks
/// (RFC 3261 §8.2.2.3: a UAS answers 420 with them in Unsupported). Empty
/// for ACK and CANCEL, whose Require is not processed (Proxy-Require is for
/// proxies).
pub fn unsupported_options<S: AsRef<str>>(msg: &Message, supported: &[S]) -> Vec<String> {
    if matches!(msg.method(), None | Some(Method::Ack | Method::Cancel)) {
        return Vec::new();
    }
    msg.get_all::<Require>()
        .filter_map(Result::ok)
        .filter(|t| {
            !supported
                .iter()
                .any(|s| s.as_ref().eq_ignore_ascii_case(t.as_str()))
        })
        .map(|t| t.as_str().to_owned())
        .collect()
}

/// Checks a request as a UAS would before processing it.
pub fn validate_request(msg: &Message, policy: &Policy) -> Vec<Problem> {
    let mut out = Vec::new();
    let Some(method) = msg.method() else {
        return out;
    };
    common(msg, &mut out);
    if msg.cseq().is_some_and(|(_, m)| m != method) {
        out.push(Problem::CSeqMethodMismatch);
    }
    if let Some(methods) = &policy.methods {
        if !methods.contains(method) {
            out.push(Problem::UnknownMethod);
        }
    }
    if msg.top_via().and_then(|v| v.branch()) == Some(crate::headers::MAGIC_COOKIE) {
        out.push(Problem::BareMagicCookie);
    }
    match msg.request_uri() {
        Some(Ok(uri)) => {
            if !policy
                .uri_schemes
                .iter()
                .any(|s| s.eq_ignore_ascii_case(uri.scheme()))
            {
                out.push(Problem::UnsupportedUriScheme);
            }
            if uri.as_sip().is_some_and(|u| u.headers().next().is_some()) {
                out.push(Problem::RequestUriHeaders);
            }
        }
        Some(Err(e)) => out.push(Problem::Syntax(SyntaxError::RequestUri(e))),
        None => {}
    }
    if *method == Method::Register {
        if let Ok(to) = msg.get::<To>() {
            if !matches!(to.uri(), Uri::Sip(_)) {
                out.push(Problem::NonSipAddressOfRecord);
            }
        }
    }
    let unknown = unsupported_options(msg, &policy.supported);
    if !unknown.is_empty() {
        out.push(Problem::BadExtension(unknown));
    }
    if !msg.body_bytes().is_empty() {
        if let (Some(accepted), Ok(ct)) = (&policy.accepted_bodies, msg.get::<ContentType>()) {
            if !accepted.iter().any(|a| a.matches(&ct)) {
                out.push(Problem::UnsupportedMediaType);
            }
        }
        // An offer in the request is answered with one of `answer_bodies`;
        // Accept that excludes all of them leaves nothing to answer with.
        if matches!(method, Method::Invite | Method::Update | Method::Prack)
            && msg.has(HeaderName::Accept)
        {
            let ranges: Vec<Accept> = msg.get_all::<Accept>().filter_map(Result::ok).collect();
            if !policy
                .answer_bodies
                .iter()
                .any(|b| ranges.iter().any(|r| r.matches(b)))
            {
                out.push(Problem::NotAcceptable);
            }
        }
    }
    for auth in msg.get_all::<Authorization>().filter_map(Result::ok) {
        if !policy
            .auth_schemes
            .iter()
            .any(|s| s.eq_ignore_ascii_case(auth.scheme()))
        {
            out.push(Problem::UnsupportedAuthScheme);
            break;
        }
    }
    if let Err(e) = msg.check_syntax() {
        if !out
            .iter()
            .any(|p| matches!(p, Problem::Syntax(_) | Problem::RequestUriHeaders))
        {
            out.push(Problem::Syntax(e));
        }
    }
    out
}

/// Checks a response as a UAC would on receipt (RFC 3261 §8.1.3).
pub fn validate_response(msg: &Message) -> Vec<Problem> {
    let mut out = Vec::new();
    if msg.is_request() {
        return out;
    }
    common(msg, &mut out);
    if msg.via_count() > 1 {
        out.push(Problem::MultipleViasInResponse);
    }
    if msg
        .get_all::<Via>()
        .filter_map(Result::ok)
        .any(|v| v.host().ip() == Some(std::net::Ipv4Addr::BROADCAST.into()))
    {
        out.push(Problem::BroadcastVia);
    }
    if let Err(e) = msg.check_syntax() {
        out.push(Problem::Syntax(e));
    }
    out
}

fn all<H: TypedHeader>(msg: &Message) -> Result<(), SyntaxError> {
    for v in msg.get_all::<H>() {
        v?;
    }
    Ok(())
}

/// Decodes every known header, the Request-URI and the URIs in them.
pub(crate) fn check_syntax(msg: &Message) -> Result<(), SyntaxError> {
    if let Some(uri) = msg.request_uri() {
        let uri = uri.map_err(SyntaxError::RequestUri)?;
        if uri.as_sip().is_some_and(|u| u.headers().next().is_some()) {
            return Err(SyntaxError::RequestUriHeaders);
        }
    }
    all::<Via>(msg)?;
    all::<From>(msg)?;
    all::<To>(msg)?;
    all::<CallId>(msg)?;
    all::<CSeq>(msg)?;
    all::<Contact>(msg)?;
    all::<Route>(msg)?;
    all::<RecordRoute>(msg)?;
    all::<Path>(msg)?;
    all::<MaxForwards>(msg)?;
    all::<ContentLength>(msg)?;
    all::<ContentType>(msg)?;
    all::<Expires>(msg)?;
    all::<MinExpires>(msg)?;
    all::<Require>(msg)?;
    all::<ProxyRequire>(msg)?;
    all::<Supported>(msg)?;
    all::<Unsupported>(msg)?;
    all::<Allow>(msg)?;
    all::<AllowEvents>(msg)?;
    all::<Accept>(msg)?;
    all::<Event>(msg)?;
    all::<SubscriptionState>(msg)?;
    all::<ReferTo>(msg)?;
    all::<RSeq>(msg)?;
    all::<RAck>(msg)?;
    all::<SipETag>(msg)?;
    all::<SipIfMatch>(msg)?;
    all::<RetryAfter>(msg)?;
    all::<Reason>(msg)?;
    all::<Date>(msg)?;
    all::<SessionExpires>(msg)?;
    all::<MinSE>(msg)?;
    all::<WwwAuthenticate>(msg)?;
    all::<ProxyAuthenticate>(msg)?;
    all::<Authorization>(msg)?;
    all::<ProxyAuthorization>(msg)?;
    Ok(())
}
