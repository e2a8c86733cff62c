//! How a Service answers requests it receives.

use bytes::Bytes;
use sip_message::{Message, Method};

/// An answer to a received request.
#[derive(Debug, Clone)]
pub struct Answer {
    /// Status code.
    pub code: u16,
    /// Reason phrase (the usual one if `None`).
    pub reason: Option<String>,
    /// Extra headers.
    pub headers: Vec<(String, String)>,
    /// Body and Content-Type.
    pub body: Option<(String, Bytes)>,
    /// Provisional responses (101-199) sent before this one, in order,
    /// with the same To tag (an INVITE's 180 or 183 before its final).
    pub provisionals: Vec<Answer>,
}

impl Answer {
    /// An answer with this code and nothing else.
    pub fn code(code: u16) -> Answer {
        Answer {
            code,
            reason: None,
            headers: Vec::new(),
            body: None,
            provisionals: Vec::new(),
        }
    }
    /// Sends `provisional` (a 101-199 answer) first; call again for more,
    /// in order. A plugin may make one reliable (RFC 3262 with
    /// `sip_100rel`: add `Require: 100rel` to it).
    ///
    /// ```
    /// use sip_uac::Answer;
    /// let a = Answer::code(200).with_provisional(Answer::code(180));
    /// assert_eq!(a.provisionals[0].code, 180);
    /// ```
    pub fn with_provisional(mut self, provisional: Answer) -> Answer {
        self.provisionals.push(provisional);
        self
    }
    /// Adds a header.
    pub fn header(mut self, name: &str, value: &str) -> Answer {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }
    /// Sets the body.
    pub fn body(mut self, content_type: &str, body: impl Into<Bytes>) -> Answer {
        self.body = Some((content_type.to_owned(), body.into()));
        self
    }
}

/// The methods a Service allows (its Allow header).
pub const ALLOW: &str = "INVITE, ACK, CANCEL, BYE, OPTIONS, INFO, MESSAGE, REGISTER, SUBSCRIBE, NOTIFY, REFER, UPDATE, PUBLISH";

/// Decides the answer to each request the Service receives (NkSIP's
/// `sip_*` callbacks). Every method has a default.
pub trait Handler: Send + Sync + 'static {
    /// A request outside any dialog (no To tag). Defaults: OPTIONS gets 200
    /// with Allow, Accept and Supported; INVITE 480 (nobody to ring);
    /// SUBSCRIBE 489 (no event package served); anything else 405 with
    /// Allow. A SUBSCRIBE answered 2xx starts a subscription (see
    /// [`on_subscription`](Self::on_subscription)).
    fn on_request(&self, request: &Message) -> Answer {
        default_answer(request)
    }

    /// A request inside a known dialog (To tag present; the Service has
    /// already answered 481 to unknown dialogs and 500 to a lower CSeq,
    /// RFC 3261 §12.2.2). Defaults: see [`default_in_dialog_answer`].
    fn on_in_dialog_request(&self, request: &Message) -> Answer {
        default_in_dialog_answer(request)
    }

    /// The ACK for a 2xx this service sent (NkSIP's `sip_ack`), e.g. to read
    /// the SDP answer of a late-offer call. ACKs get no response (§17).
    fn on_ack(&self, _ack: &Message) {}

    /// A subscription to this service began or was refreshed: the handler
    /// accepted a SUBSCRIBE (or a REFER, whose implicit subscription
    /// reports the referral, RFC 3515 §2.4.4) with a 2xx. RFC 6665
    /// §4.2.1.2 wants a NOTIFY at once: send it with
    /// [`Service::notify`](crate::Service::notify) and this id. After an
    /// unsubscribe (`Expires: 0`) the service sends the final NOTIFY
    /// itself and this is not called.
    fn on_subscription(&self, _id: &sip_dialog::SubscriptionId, _request: &Message) {}
}

/// The default answer of [`Handler::on_request`].
pub fn default_answer(request: &Message) -> Answer {
    match request.method() {
        Some(Method::Options) => Answer::code(200)
            .header("Allow", ALLOW)
            .header("Accept", "application/sdp")
            .header("Supported", ""),
        Some(Method::Invite) => Answer::code(480),
        // RFC 6665 §4.2.1.1: no event package is served by default.
        Some(Method::Subscribe) => Answer::code(489),
        _ => Answer::code(405).header("Allow", ALLOW),
    }
}

/// The default answer of [`Handler::on_in_dialog_request`]: BYE, INFO,
/// OPTIONS, MESSAGE, NOTIFY, an UPDATE without a body and a PRACK get 200;
/// a SUBSCRIBE for a new subscription 489 (the service refreshes those it
/// granted itself); REFER gets 603 (declined, RFC 3515 §2.4.2)
/// (a PRACK reaches the handler only when a plugin that sent the reliable
/// provisional matched it; otherwise the service answers it 405). A
/// re-INVITE or an UPDATE with an offer gets 488, since the default handler
/// has no media to answer with (RFC 3261 §14.2: a UAS that cannot accept
/// the change answers 488 and the session stays as it was). Anything else
/// gets 405 with Allow.
pub fn default_in_dialog_answer(request: &Message) -> Answer {
    match request.method() {
        Some(
            Method::Bye
            | Method::Info
            | Method::Options
            | Method::Message
            | Method::Notify
            | Method::Prack,
        ) => Answer::code(200),
        Some(Method::Update) if request.body().is_empty() => Answer::code(200),
        Some(Method::Invite | Method::Update) => Answer::code(488),
        // A new subscription in an existing dialog: no event package is
        // served by default (refreshes of granted ones never get here).
        Some(Method::Subscribe) => Answer::code(489),
        // RFC 3515 §2.4.2: a referral may be declined.
        Some(Method::Refer) => Answer::code(603),
        _ => Answer::code(405).header("Allow", ALLOW),
    }
}

/// A handler that keeps every default.
#[derive(Debug, Clone, Copy, Default)]
pub struct DefaultHandler;

impl Handler for DefaultHandler {}
