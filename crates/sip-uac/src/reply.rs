//! The result of a request: the final response (or a synthesized one for a
//! timeout or transport failure), with NkSIP's metadata accessors.

use std::borrow::Cow;

use sip_message::{HeaderName, Message};

/// A final reply.
///
/// For a timeout or a transport failure after sending there is no response
/// message: the code is 408 ("Timer B Timeout" / "Timer F Timeout") or 503
/// ("Resend Error"), as NkSIP reports them.
#[derive(Debug, Clone)]
pub struct Reply {
    code: u16,
    /// `None`: the response's own reason phrase, valid UTF-8, read from
    /// it when asked (no copy per reply).
    reason: Option<Cow<'static, str>>,
    response: Option<Message>,
    dialog: Option<sip_dialog::DialogId>,
    subscription: Option<sip_dialog::SubscriptionId>,
    /// What extensions reported for this request's dialogs while it ran
    /// (CSeq numbers they used, offer/answer they completed).
    pub(crate) seq_used: Vec<sip_dialog::LocalSeqUsed>,
    pub(crate) exchanged: Vec<sip_dialog::SessionExchanged>,
    /// We CANCELled the request ourselves (Timer C, its Expires) before
    /// this reply: no reason to try it elsewhere (RFC 3263 §4.3), and a
    /// 408 made of the callee's 487 ends no usage.
    pub(crate) cancelled: bool,
    /// For a synthesized reply (no response), the request it answers:
    /// the Call-ID, tags and CSeq still come from somewhere.
    sent: Option<Message>,
}

impl Reply {
    pub(crate) fn from_response(response: Message) -> Reply {
        Reply {
            code: response.status().unwrap_or(0),
            reason: match response.reason_phrase() {
                Some(Cow::Borrowed(_)) => None,
                // Not UTF-8: the lossy text is kept.
                Some(Cow::Owned(text)) => Some(Cow::Owned(text)),
                None => Some(Cow::Borrowed("")),
            },
            response: Some(response),
            dialog: None,
            subscription: None,
            seq_used: Vec::new(),
            exchanged: Vec::new(),
            cancelled: false,
            sent: None,
        }
    }

    pub(crate) fn synthesized(code: u16, reason: impl Into<Cow<'static, str>>) -> Reply {
        Reply {
            code,
            reason: Some(reason.into()),
            response: None,
            dialog: None,
            subscription: None,
            seq_used: Vec::new(),
            exchanged: Vec::new(),
            cancelled: false,
            sent: None,
        }
    }

    /// Notes the request a synthesized reply answers (a response has
    /// what is asked of it; nothing is kept then).
    pub(crate) fn sent_as(mut self, request: &Message) -> Reply {
        if self.response.is_none() {
            self.sent = Some(request.clone());
        }
        self
    }

    /// The response, or for a synthesized reply the request it answers.
    fn message(&self) -> Option<&Message> {
        self.response.as_ref().or(self.sent.as_ref())
    }

    pub(crate) fn with_dialog(mut self, id: sip_dialog::DialogId) -> Reply {
        self.dialog = Some(id);
        self
    }

    pub(crate) fn with_subscription(mut self, id: sip_dialog::SubscriptionId) -> Reply {
        self.dialog = Some(id.dialog.clone());
        self.subscription = Some(id);
        self
    }

    /// The subscription a 2xx to SUBSCRIBE or REFER created (NkSIP always
    /// returns it): pass it to [`Service::subscribe_refresh`](crate::Service::subscribe_refresh)
    /// or [`Service::subscription`](crate::Service::subscription).
    pub fn subscription(&self) -> Option<&sip_dialog::SubscriptionId> {
        self.subscription.as_ref()
    }

    /// The dialog a 2xx to INVITE created or confirmed (NkSIP always
    /// returns it); for a provisional response with a To tag (the replies
    /// [`on_provisional`](crate::RequestOptions::on_provisional) gets), the
    /// early dialog it made (RFC 3261 §12.1.2).
    pub fn dialog(&self) -> Option<&sip_dialog::DialogId> {
        self.dialog.as_ref()
    }

    /// Status code.
    pub fn code(&self) -> u16 {
        self.code
    }
    /// Reason phrase.
    pub fn reason(&self) -> &str {
        match (&self.reason, &self.response) {
            (Some(text), _) => text,
            (None, Some(r)) => match r.reason_phrase() {
                Some(Cow::Borrowed(text)) => text,
                _ => "",
            },
            (None, None) => "",
        }
    }
    /// The response, unless the reply was synthesized.
    pub fn response(&self) -> Option<&Message> {
        self.response.as_ref()
    }
    /// Call-ID (of the request, for a synthesized reply: a timeout's
    /// 408 still tells which call it was).
    pub fn call_id(&self) -> Option<&str> {
        self.message()?.call_id()
    }
    /// From tag (ours).
    pub fn from_tag(&self) -> Option<&str> {
        self.message()?.from_tag()
    }
    /// To tag (none for a synthesized reply to a request out of dialog).
    pub fn to_tag(&self) -> Option<&str> {
        self.message()?.to_tag()
    }
    /// CSeq number.
    pub fn cseq_num(&self) -> Option<u32> {
        self.message()?.cseq().map(|c| c.0)
    }
    /// Every value of a header (by name, any case; compact forms work).
    pub fn header(&self, name: &str) -> Vec<String> {
        match &self.response {
            Some(r) => r
                .values_by_name(name)
                .map(|v| String::from_utf8_lossy(v).into_owned())
                .collect(),
            None => Vec::new(),
        }
    }
    /// The Contact values, one per element: a registrar's `Contact: <a>,
    /// <b>` line gives two (RFC 3261 §10.3 lists every binding).
    pub fn contacts(&self) -> Vec<Cow<'_, str>> {
        match &self.response {
            Some(r) => r
                .list_values(HeaderName::Contact)
                .map(String::from_utf8_lossy)
                .collect(),
            None => Vec::new(),
        }
    }
    /// The SIP-ETag of a PUBLISH's 2xx (RFC 3903 §11.3.1): what a refresh,
    /// modification or removal names in its SIP-If-Match.
    pub fn sip_etag(&self) -> Option<&str> {
        let v = self.response.as_ref()?.values(HeaderName::SipETag).next()?;
        std::str::from_utf8(v).ok().map(str::trim)
    }
    /// The Expires of the response in seconds (the time a PUBLISH or
    /// SUBSCRIBE was granted, RFC 3903 §11.3.1, RFC 6665 §4.1.2.1), if it
    /// has a well-formed one.
    pub fn expires(&self) -> Option<u32> {
        let e = self.response.as_ref()?;
        e.get::<sip_message::headers::Expires>().ok().map(|e| e.0)
    }
    /// The body.
    pub fn body(&self) -> &[u8] {
        self.response.as_ref().map_or(&[], |r| r.body_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response(reason: &[u8]) -> Message {
        let mut raw = b"SIP/2.0 180 ".to_vec();
        raw.extend_from_slice(reason);
        raw.extend_from_slice(
            b"\r\nVia: SIP/2.0/UDP 127.0.0.1;branch=z9hG4bK1\r\nFrom: <sip:a@h>;tag=1\r\n\
              To: <sip:b@h>;tag=2\r\nCall-ID: c\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n",
        );
        Message::parse(raw).expect("a valid response")
    }

    #[test]
    fn rfc3261_10_3_a_registrars_bindings_come_out_one_per_contact() {
        let ok = Message::parse(
            &b"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 127.0.0.1;branch=z9hG4bK1\r\n\
               From: <sip:a@h>;tag=1\r\nTo: <sip:a@h>;tag=2\r\nCall-ID: c\r\nCSeq: 2 REGISTER\r\n\
               Contact: <sip:a@192.0.2.1>;expires=60, \"Desk, 2\" <sip:a@192.0.2.2>\r\n\
               Contact: <sip:a@192.0.2.3>;expires=30\r\nContent-Length: 0\r\n\r\n"[..],
        )
        .unwrap();
        assert_eq!(
            Reply::from_response(ok).contacts(),
            [
                "<sip:a@192.0.2.1>;expires=60",
                "\"Desk, 2\" <sip:a@192.0.2.2>",
                "<sip:a@192.0.2.3>;expires=30"
            ]
        );
    }

    #[test]
    fn reason_is_the_responses_own_phrase_or_the_synthesized_one() {
        assert_eq!(
            Reply::from_response(response(b"Ringing")).reason(),
            "Ringing"
        );
        assert_eq!(
            Reply::from_response(response(b"Sonne \xc3\xa0 la porte")).reason(),
            "Sonne \u{e0} la porte"
        );
        // RFC 3261 §25.1: the phrase is UTF-8; bytes that are not come out
        // replaced, not dropped.
        assert_eq!(
            Reply::from_response(response(b"Ring\xffing")).reason(),
            "Ring\u{fffd}ing"
        );
        assert_eq!(Reply::from_response(response(b"")).reason(), "");
        assert_eq!(
            Reply::synthesized(408, "Timer B Timeout").reason(),
            "Timer B Timeout"
        );
        let r = Reply::synthesized(503, String::from("Resend Error")).clone();
        assert_eq!((r.code(), r.reason()), (503, "Resend Error"));
    }
}
