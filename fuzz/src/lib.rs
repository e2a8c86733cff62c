//! Helpers shared by the fuzz targets.

use sip_message::headers::{
    Accept, Allow, AllowEvents, Authorization, CSeq, CallId, Contact, ContentLength, ContentType,
    Date, Event, Expires, From, MaxForwards, MinExpires, MinSE, Path, ProxyAuthenticate,
    ProxyAuthorization, ProxyRequire, RAck, RSeq, Reason, RecordRoute, ReferTo, Require,
    RetryAfter, Route, SessionExpires, SipETag, SipIfMatch, SubscriptionState, Supported, To,
    TypedHeader, Unsupported, Via, WwwAuthenticate,
};
use sip_message::validate::{validate_request, validate_response, Policy};
use sip_message::{Message, ParseLimits};

fn all<H: TypedHeader + std::fmt::Debug + std::fmt::Display>(msg: &Message) -> usize {
    let mut n = 0;
    for v in msg.get_all::<H>() {
        n += match v {
            Ok(h) => format!("{h:?}").len() + h.to_string().len(),
            Err(e) => e.to_string().len(),
        };
    }
    n
}

/// Decodes every typed header exported from `sip_message::headers`.
pub fn touch_typed(msg: &Message) -> usize {
    all::<Accept>(msg)
        + all::<Allow>(msg)
        + all::<AllowEvents>(msg)
        + all::<Authorization>(msg)
        + all::<CSeq>(msg)
        + all::<CallId>(msg)
        + all::<Contact>(msg)
        + all::<ContentLength>(msg)
        + all::<ContentType>(msg)
        + all::<Date>(msg)
        + all::<Event>(msg)
        + all::<Expires>(msg)
        + all::<From>(msg)
        + all::<MaxForwards>(msg)
        + all::<MinExpires>(msg)
        + all::<MinSE>(msg)
        + all::<Path>(msg)
        + all::<ProxyAuthenticate>(msg)
        + all::<ProxyAuthorization>(msg)
        + all::<ProxyRequire>(msg)
        + all::<RAck>(msg)
        + all::<RSeq>(msg)
        + all::<Reason>(msg)
        + all::<RecordRoute>(msg)
        + all::<ReferTo>(msg)
        + all::<Require>(msg)
        + all::<RetryAfter>(msg)
        + all::<Route>(msg)
        + all::<SessionExpires>(msg)
        + all::<SipETag>(msg)
        + all::<SipIfMatch>(msg)
        + all::<SubscriptionState>(msg)
        + all::<Supported>(msg)
        + all::<To>(msg)
        + all::<Unsupported>(msg)
        + all::<Via>(msg)
        + all::<WwwAuthenticate>(msg)
}

/// Everything a stack reads from a parsed message.
pub fn touch_message(msg: &Message) -> usize {
    let mut n = format!("{msg:?}").len() + msg.body().len();
    n += msg.method().map_or(0, |m| m.as_str().len());
    n += msg.request_uri_str().map_or(0, str::len);
    if let Some(Ok(u)) = msg.request_uri() {
        n += u.to_string().len();
        if let Some(s) = u.as_sip() {
            n += s.to_builder().build().map_or(0, |b| b.as_str().len());
        }
    }
    n += msg.reason_phrase().map_or(0, |r| r.len());
    if let Some(v) = msg.top_via() {
        n += v.host().len() + v.params().len() + v.branch().map_or(0, str::len);
        n += v.received().map_or(0, str::len) + v.maddr().map_or(0, str::len);
        n += format!("{:?}{:?}{:?}", v.rport(), v.port(), v.sent_by_host()).len();
        n += usize::from(v.has_rfc3261_branch());
    }
    n += msg.via_count() + msg.call_id().map_or(0, str::len);
    n += msg.from_tag().map_or(0, str::len) + msg.to_tag().map_or(0, str::len);
    n += format!(
        "{:?}{:?}{:?}",
        msg.cseq(),
        msg.content_length(),
        msg.max_forwards()
    )
    .len();
    for h in msg.headers() {
        n += h.raw_name_str().len() + h.value_str().len();
    }
    n += msg.check_syntax().map_or(0, |()| 1);
    n += touch_typed(msg);
    n += validate_request(msg, &Policy::default()).len();
    n += validate_response(msg).len();
    n
}

/// Limits small enough that fuzz inputs reach them.
pub fn small_limits() -> ParseLimits {
    ParseLimits {
        max_message_size: 2048,
        max_head_size: 1024,
        max_headers: 16,
        max_line_length: 256,
        max_vias: 4,
    }
}

/// Panics if `msg`, accepted under `l`, breaks one of them.
pub fn assert_within_limits(input: &[u8], msg: &Message, l: &ParseLimits) {
    assert!(
        input.len() <= l.max_message_size,
        "oversize message accepted"
    );
    assert!(
        msg.headers().count() <= l.max_headers,
        "too many headers accepted"
    );
    assert!(msg.via_count() <= l.max_vias, "too many Vias accepted");
    for h in msg.headers() {
        assert!(
            h.raw_name.len() + 1 + h.value.len() <= l.max_line_length,
            "overlong line accepted"
        );
    }
}
