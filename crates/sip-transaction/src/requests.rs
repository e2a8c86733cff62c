//! Requests the transaction layer builds itself: the ACK for a non-2xx
//! final response (§17.1.1.3) and CANCEL (§9.1).

use sip_message::{HeaderName, Message, Method, RequestBuilder};

use crate::error::TransactionError;

fn first_via(invite: &Message) -> Result<String, TransactionError> {
    // Only the top Via: the value up to the first comma outside quotes.
    let v = invite
        .values(HeaderName::Via)
        .next()
        .ok_or(TransactionError::MissingHeader("Via"))?;
    let text = String::from_utf8_lossy(v);
    let mut depth_quote = false;
    for (i, c) in text.char_indices() {
        match c {
            '"' => depth_quote = !depth_quote,
            ',' if !depth_quote => return Ok(text[..i].trim().to_owned()),
            _ => {}
        }
    }
    Ok(text.trim().to_owned())
}

fn base(invite: &Message, method: Method) -> Result<RequestBuilder, TransactionError> {
    let uri = invite
        .request_uri()
        .ok_or(TransactionError::WrongKind("not a request"))?
        .map_err(|_| TransactionError::MissingHeader("valid Request-URI"))?;
    let (seq, _) = invite
        .cseq()
        .ok_or(TransactionError::MissingHeader("CSeq"))?;
    Ok(RequestBuilder::new(method.clone(), &uri)
        .raw_header("Via", &first_via(invite)?)
        .raw_header("Max-Forwards", "70")
        .copy_from(invite, &[HeaderName::From])
        .copy_from(invite, &[HeaderName::CallId])
        .raw_header("CSeq", &format!("{seq} {method}")))
}

/// The ACK for a non-2xx final response (§17.1.1.3): Request-URI, Call-ID,
/// From, CSeq number and top Via of the INVITE, To of the response, the
/// INVITE's Route headers, no body.
pub(crate) fn ack_for(invite: &Message, response: &Message) -> Result<Message, TransactionError> {
    let to = response
        .values(HeaderName::To)
        .next()
        .ok_or(TransactionError::MissingHeader("To"))?;
    let b = base(invite, Method::Ack)?
        .raw_header("To", &String::from_utf8_lossy(to))
        .copy_from(invite, &[HeaderName::Route]);
    b.build()
        .map_err(|_| TransactionError::MissingHeader("well-formed INVITE"))
}

/// CANCEL for an INVITE (§9.1): same Request-URI, Call-ID, To, From, CSeq
/// number and top Via; the INVITE's Route headers.
pub fn cancel_for(invite: &Message) -> Result<Message, TransactionError> {
    cancel_with_reason(invite, None)
}

/// [`cancel_for`] with a Reason header (RFC 3326 §2), e.g.
/// `SIP;cause=200;text="Call completed elsewhere"`.
pub fn cancel_with_reason(
    invite: &Message,
    reason: Option<&str>,
) -> Result<Message, TransactionError> {
    let mut b = base(invite, Method::Cancel)?
        .copy_from(invite, &[HeaderName::To])
        .copy_from(invite, &[HeaderName::Route]);
    if let Some(r) = reason {
        if r.bytes().any(|c| c == b'\r' || c == b'\n') {
            return Err(TransactionError::InvalidHeader("Reason"));
        }
        b.add_raw_header("Reason", r);
    }
    b.build()
        .map_err(|_| TransactionError::MissingHeader("well-formed INVITE"))
}
