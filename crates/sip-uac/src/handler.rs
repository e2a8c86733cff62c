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
}

impl Answer {
    /// An answer with this code and nothing else.
    pub fn code(code: u16) -> Answer {
        Answer {
            code,
            reason: None,
            headers: Vec::new(),
            body: None,
        }
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
    /// anything else 405 with Allow.
    fn on_request(&self, request: &Message) -> Answer {
        default_answer(request)
    }

    /// A request inside a dialog (To tag present). Without the dialog layer
    /// wired into the Service yet, the default is 481 (no such dialog).
    fn on_in_dialog_request(&self, _request: &Message) -> Answer {
        Answer::code(481)
    }
}

/// The default answer of [`Handler::on_request`].
pub fn default_answer(request: &Message) -> Answer {
    match request.method() {
        Some(Method::Options) => Answer::code(200)
            .header("Allow", ALLOW)
            .header("Accept", "application/sdp")
            .header("Supported", ""),
        Some(Method::Invite) => Answer::code(480),
        _ => Answer::code(405).header("Allow", ALLOW),
    }
}

/// A handler that keeps every default.
#[derive(Debug, Clone, Copy, Default)]
pub struct DefaultHandler;

impl Handler for DefaultHandler {}
