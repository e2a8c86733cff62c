//! The callee side of INVITE: provisionals, then the final answer, now or
//! later ([`Service::answer`](crate::Service::answer) with a
//! [`RequestId`]); the early and confirmed dialogs these make.

use std::fmt;

use sip_dialog::DialogId;
use sip_message::Message;
use sip_transaction::driver::TransactionHandle;
use sip_transaction::TransactionId;
use tracing::debug;

use crate::core::{answer_message, now, ringing_for, uas_dialog_id, with_contact, Core, Ringing};
use crate::handler::Answer;

/// A request the service received, by what identifies its transaction
/// (Call-ID, From tag, CSeq, branch): NkSIP's request handle. A handler
/// that answers an INVITE only provisionally (it rings) keeps it, and
/// answers later with [`Service::answer`](crate::Service::answer).
///
/// ```
/// use sip_message::Message;
/// use sip_uac::RequestId;
/// let invite = Message::parse(&b"INVITE sip:bob@127.0.0.1 SIP/2.0\r\n\
/// Via: SIP/2.0/UDP 127.0.0.1;branch=z9hG4bKr1\r\nFrom: <sip:a@h>;tag=a1\r\n\
/// To: <sip:bob@h>\r\nCall-ID: c1\r\nCSeq: 7 INVITE\r\nContent-Length: 0\r\n\r\n"[..]).unwrap();
/// let id = RequestId::of(&invite).unwrap();
/// assert_eq!(id.to_string(), "req/c1/a1/7/z9hG4bKr1");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RequestId {
    call_id: Box<str>,
    from_tag: Box<str>,
    cseq: u32,
    branch: Box<str>,
}

impl RequestId {
    /// The id of a received request (`None` without Call-ID, CSeq or a
    /// top Via branch).
    pub fn of(request: &Message) -> Option<RequestId> {
        Some(RequestId {
            call_id: request.call_id()?.into(),
            from_tag: request.from_tag().unwrap_or("").into(),
            cseq: request.cseq()?.0,
            branch: request.top_via()?.branch()?.into(),
        })
    }
}

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "req/{}/{}/{}/{}",
            self.call_id, self.from_tag, self.cseq, self.branch
        )
    }
}

/// Answers INVITE `request` (server transaction `id`, our To tag `tag`):
/// its provisionals in order, then the answer itself. A provisional makes
/// the early dialog (§12.1.1) and leaves the INVITE ringing until a later
/// answer, its CANCEL or its expiry; a 2xx confirms the dialog and is
/// retransmitted until the ACK (§13.3.1.4); any other final ends the
/// early dialog. `ringing_since` keeps an earlier expiry.
pub(crate) async fn answer_invite(
    core: &Core,
    tsx: &TransactionHandle,
    id: TransactionId,
    request: &Message,
    tag: &str,
    mut answer: Answer,
    ringing_since: Option<std::time::Instant>,
) {
    let provisionals = std::mem::take(&mut answer.provisionals);
    // 101-199 first, in order, with the To tag of the early dialog they
    // make (§12.1.1) and our Contact.
    for p in provisionals.iter().filter(|p| (101..200).contains(&p.code)) {
        core.uas_dialog(request, tag);
        let p = with_contact(p.clone(), &core.contacts.for_response(request));
        if let Some(resp) = answer_message(request, &p, tag, &core.caps) {
            if let Err(e) = tsx.send_response(id, resp).await {
                debug!(error = %e, "provisional response not sent");
            }
        }
    }
    let ok = (200..300).contains(&answer.code);
    let rings = answer.code < 200;
    if ok || (rings && answer.code > 100) {
        answer = with_contact(answer, &core.contacts.for_response(request));
    }
    let Some(resp) = answer_message(request, &answer, tag, &core.caps) else {
        debug!("could not build the answer");
        return;
    };
    let dialog = if ok || (rings && answer.code > 100) {
        core.uas_dialog(request, tag)
    } else {
        uas_dialog_id(request, tag)
    };
    if let (true, Some(did)) = (ok, &dialog) {
        // §12.1.1: the 2xx confirms the UAS's dialog.
        if let Ok(mut d) = core.dialogs.lock() {
            if let Some(x) = d.get_mut(did) {
                let _ = x.confirm(&resp);
            }
        }
        sent_2xx(core, did, id, request, &resp, true);
    }
    if rings {
        // Ringing before the provisional leaves, so that a CANCEL or a
        // later answer that follows it at once finds it.
        if let Ok(mut r) = core.ringing.lock() {
            let expires_at = ringing_since.unwrap_or_else(|| now() + ringing_for(request));
            r.insert(
                id,
                Ringing {
                    invite: request.clone(),
                    tag: tag.to_owned(),
                    expires_at,
                },
            );
        }
    }
    if let Err(e) = tsx.send_response(id, resp).await {
        debug!(error = %e, "response not sent");
    }
    if let (false, false, Some(did)) = (rings, ok, &dialog) {
        // A non-2xx final ends the early dialog (§12.1: it never becomes
        // confirmed).
        core.forget(did);
    }
}

/// A 2xx to a re-INVITE (RFC 3261 §14.2): it carries our Contact (a target
/// refresh, §12.2.2) and, like the first 2xx, is retransmitted until its
/// ACK (§13.3.1.4) through its server transaction.
pub(crate) async fn answer_reinvite(
    core: &Core,
    tsx: &TransactionHandle,
    id: TransactionId,
    request: &Message,
    answer: Answer,
) {
    let answer = with_contact(answer, &core.contacts.for_response(request));
    let tag = request.to_tag().unwrap_or("").to_owned();
    let Some(resp) = answer_message(request, &answer, &tag, &core.caps) else {
        debug!("could not build the answer");
        return;
    };
    if let Some(did) = sip_dialog::Dialogs::id_of_request(request) {
        sent_2xx(core, &did, id, request, &resp, false);
    }
    if let Err(e) = tsx.send_response(id, resp).await {
        debug!(error = %e, "response not sent");
    }
}

/// The bookkeeping of a 2xx to an INVITE (first or re-INVITE) in dialog
/// `did` on server transaction `tx`: the session retransmits it until the
/// ACK (§13.3.1.4), through that transaction, and the offer/answer it
/// completes is recorded.
fn sent_2xx(
    core: &Core,
    did: &DialogId,
    tx: TransactionId,
    request: &Message,
    resp: &Message,
    initial: bool,
) {
    if let Ok(mut s) = core.sessions.lock() {
        s.uas_sent_2xx(now(), did, resp.clone());
    }
    core.set_uas_tx(did, tx);
    // The initial INVITE's offer/answer may be done already, in a reliable
    // provisional (RFC 3262 §5) or an UPDATE since (RFC 3311 §5.1): the
    // session stays what they made, not the INVITE's first offer again.
    if initial && core.sdp_entry(did).is_some_and(|s| s.local.is_some()) {
        return;
    }
    let body = |m: &Message| (!m.body_bytes().is_empty()).then(|| m.body());
    core.update_sdp(did, body(resp), body(request));
}

/// A BYE in an early dialog we are the callee of: its INVITE, still
/// ringing, gets 487 (RFC 3261 §15.1.2), so no later answer revives it.
pub(crate) async fn hung_up_early(core: &Core, tsx: &TransactionHandle, bye: &Message) {
    let taken = core.ringing.lock().ok().and_then(|mut r| {
        let tx = r
            .iter()
            .find(|(_, v)| {
                v.invite.call_id() == bye.call_id()
                    && v.invite.from_tag() == bye.from_tag()
                    && Some(v.tag.as_str()) == bye.to_tag()
            })
            .map(|(tx, _)| *tx)?;
        r.remove(&tx).map(|v| (tx, v))
    });
    if let Some((tx, v)) = taken {
        if let Some(resp) = answer_message(&v.invite, &Answer::code(487), &v.tag, &core.caps) {
            let _ = tsx.send_response(tx, resp).await;
        }
    }
}

impl Core {
    /// The ringing INVITE `id` names, if it still rings: taken out for a
    /// final answer, left ringing (a copy) for a provisional one.
    pub(crate) fn ringing_for_answer(
        &self,
        id: &RequestId,
        take: bool,
    ) -> Option<(TransactionId, Ringing)> {
        let mut r = self.ringing.lock().ok()?;
        let tx = r
            .iter()
            .find(|(_, v)| RequestId::of(&v.invite).as_ref() == Some(id))
            .map(|(tx, _)| *tx)?;
        if take {
            r.remove(&tx).map(|v| (tx, v))
        } else {
            r.get(&tx).cloned().map(|v| (tx, v))
        }
    }
}
