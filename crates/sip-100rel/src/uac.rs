//! The UAC side (RFC 3262 §4): INVITEs offer 100rel, and each reliable
//! provisional response is acknowledged once, in order, by a PRACK in its
//! early dialog.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use sip_dialog::{Dialog, LocalSeqUsed, SessionExchanged};
use sip_message::headers::{RAck, RSeq};
use sip_message::uri::Host;
use sip_message::{Message, Method};
use sip_transaction::{Flow, HookCx, TransactionId};
use sip_transport::Target;
use tracing::{debug, warn};

use crate::edit::{body_of, requires, supports, with_header};
use crate::{PrackAnswer, TAG};

/// Early dialogs acknowledged per INVITE (forks).
const MAX_EARLY_DIALOGS: usize = 16;

/// One early dialog of an INVITE (forking gives one per To tag).
struct EarlyDialog {
    dialog: Dialog,
    /// RSeq of the last reliable provisional acknowledged.
    last_rseq: u32,
    /// An offer came in a reliable provisional and was answered.
    offer_answered: bool,
}

/// An INVITE we sent, by its branch.
pub(crate) struct UacInvite {
    invite: Message,
    target: Option<Target>,
    answer: Option<PrackAnswer>,
    early: HashMap<Box<str>, EarlyDialog>,
    /// The highest CSeq the TU used in this INVITE's early dialogs (an
    /// UPDATE, an INFO), also before a reliable provisional made ours: a
    /// PRACK takes a higher one (RFC 3261 §12.2.1.1).
    tu_seq: u32,
    /// When the state is dropped (pushed back by each response).
    pub(crate) expires: Instant,
    pub(crate) token: u64,
}

impl UacInvite {
    pub(crate) fn new(
        invite: Message,
        target: Option<Target>,
        answer: Option<PrackAnswer>,
        expires: Instant,
        token: u64,
    ) -> UacInvite {
        UacInvite {
            invite,
            target,
            answer,
            early: HashMap::new(),
            tu_seq: 0,
            expires,
            token,
        }
    }

    /// The INVITE's Call-ID.
    pub(crate) fn call_id(&self) -> Option<&str> {
        self.invite.call_id()
    }

    /// A request the TU sent: if it is in one of this INVITE's early
    /// dialogs, the next PRACK there takes a higher CSeq (§12.2.1.1).
    pub(crate) fn sent_in_early_dialog(&mut self, request: &Message) {
        if self.invite.call_id() != request.call_id()
            || self.invite.from_tag() != request.from_tag()
        {
            return;
        }
        let (Some(tag), Some((seq, _))) = (request.to_tag(), request.cseq()) else {
            return;
        };
        // Numbers only need to grow in each dialog: one bound for every
        // fork of the INVITE is enough, and holds for a fork whose first
        // reliable provisional is still to come.
        self.tu_seq = self.tu_seq.max(seq);
        if let Some(ed) = self.early.get_mut(tag) {
            ed.dialog.advance_local_seq(seq);
        }
    }

    /// A reliable provisional response (`Require: 100rel`) to this INVITE.
    /// Returns whether the TU sees it.
    pub(crate) fn on_reliable(
        &mut self,
        cx: &mut HookCx<'_>,
        resp: &Message,
        id: TransactionId,
    ) -> Flow {
        // §4: a reliable provisional carries RSeq; one without is not
        // acknowledgeable.
        let Ok(RSeq(rseq)) = resp.get::<RSeq>() else {
            warn!(
                call_id = resp.call_id().unwrap_or(""),
                "provisional response requires 100rel but has no valid RSeq: ignored"
            );
            return Flow::Consumed;
        };
        let Some(to_tag) = resp.to_tag() else {
            warn!("reliable provisional response without To tag: ignored");
            return Flow::Consumed;
        };
        let fresh = !self.early.contains_key(to_tag);
        if let Some(ed) = self.early.get(to_tag) {
            if rseq <= ed.last_rseq {
                // §4: a retransmission of one already PRACKed (the PRACK's own
                // transaction retransmits it): not shown, not PRACKed again.
                debug!(rseq, "retransmitted reliable provisional absorbed");
                return Flow::Consumed;
            }
            if rseq != ed.last_rseq.wrapping_add(1) {
                // §4: out of order; the UAS retransmits the missing one first.
                debug!(
                    rseq,
                    last = ed.last_rseq,
                    "out-of-order reliable provisional not acknowledged"
                );
                return Flow::Consumed;
            }
        }
        if fresh && self.early.len() >= MAX_EARLY_DIALOGS {
            // Forks beyond this are not acknowledged: a peer inventing To
            // tags gets no PRACK flood out of us.
            warn!(
                to_tag,
                "too many early dialogs: reliable provisional ignored"
            );
            return Flow::Consumed;
        }
        if fresh {
            match Dialog::uac(&self.invite, resp) {
                Ok(mut dialog) => {
                    // After what the TU sent in the dialog before (§12.2.1.1).
                    dialog.advance_local_seq(self.tu_seq);
                    self.early.insert(
                        to_tag.into(),
                        EarlyDialog {
                            dialog,
                            last_rseq: rseq,
                            offer_answered: false,
                        },
                    );
                }
                Err(e) => {
                    warn!(error = %e, "reliable provisional makes no early dialog: ignored");
                    return Flow::Consumed;
                }
            }
        }
        let Some(ed) = self.early.get_mut(to_tag) else {
            return Flow::Consumed;
        };
        ed.last_rseq = rseq;
        // §5: an offer in a reliable provisional (the INVITE had none) is
        // answered in its PRACK, with what the caller's callback gives.
        let offer = body_of(resp).filter(|_| self.invite.body_bytes().is_empty());
        let answer = match (&offer, ed.offer_answered) {
            (Some(_), false) => {
                ed.offer_answered = true;
                self.answer.as_ref().and_then(|a| (a.0)(resp))
            }
            _ => None,
        };
        let target = prack_target(&ed.dialog).or_else(|| self.target.clone());
        let Some(target) = target else {
            warn!("no target for the PRACK: not sent");
            return Flow::Continue;
        };
        let branch = cx.new_branch();
        let Some((invite_seq, invite_method)) = self.invite.cseq().map(|(n, m)| (n, m.clone()))
        else {
            return Flow::Continue;
        };
        let Ok(mut b) = ed
            .dialog
            .request(Method::Prack, None, &branch, target.transport)
        else {
            warn!("PRACK could not be built");
            return Flow::Continue;
        };
        // §7.2: RAck = RSeq, then the INVITE's CSeq number and method.
        b = b.header(&RAck {
            rseq,
            cseq: invite_seq,
            method: invite_method,
        });
        if let Some((ct, body)) = &answer {
            b = b.body(ct, body.clone());
        }
        let Ok(prack) = b.build() else {
            warn!("PRACK could not be built");
            return Flow::Continue;
        };
        cx.send_request(prack, target);
        // The dialog layer numbers its own requests after this one.
        let dialog = ed.dialog.id().clone();
        cx.emit_for(
            id,
            Arc::new(LocalSeqUsed {
                dialog: dialog.clone(),
                seq: ed.dialog.local_seq(),
            }),
        );
        let exchanged = match (offer, answer) {
            // The 1xx's offer, answered in our PRACK.
            (Some(remote), Some((_, local))) => Some((local, remote)),
            // The 1xx answered the INVITE's offer (RFC 3262 §5).
            (None, _) if !ed.offer_answered => {
                let answer = body_of(resp);
                answer.map(|a| {
                    ed.offer_answered = true;
                    (self.invite.body(), a)
                })
            }
            _ => None,
        };
        if let Some((local, remote)) = exchanged {
            cx.emit_for(
                id,
                Arc::new(SessionExchanged {
                    dialog,
                    local: Some(local),
                    remote: Some(remote),
                }),
            );
        }
        Flow::Continue
    }
}

/// Where the PRACK goes without a name lookup (hooks are sans-IO): the
/// first route, else the remote target, when its host is an IP address
/// (§12.2.1.1, RFC 3263 for the port and transport). `None` for a name:
/// the INVITE's own next hop is used then.
fn prack_target(d: &Dialog) -> Option<Target> {
    let uri = match d.route_set().first() {
        Some(r) => r.uri().clone(),
        None => d.remote_target_uri()?,
    };
    let (kind, host, port, explicit) = sip_transport::target::uri_destination(&uri).ok()?;
    let ip = match host {
        Host::Ipv4(a) => std::net::IpAddr::V4(a),
        Host::Ipv6(a) => std::net::IpAddr::V6(a),
        Host::Domain(_) => return None,
    };
    let mut t = Target::new(kind, std::net::SocketAddr::new(ip, port));
    t.explicit_transport = explicit;
    Some(t)
}

/// Whether `resp` is a reliable provisional response (§4).
pub(crate) fn is_reliable(resp: &Message) -> bool {
    resp.status().is_some_and(|c| (101..200).contains(&c))
        && resp.cseq().is_some_and(|(_, m)| *m == Method::Invite)
        && requires(resp, TAG)
}

/// The INVITE offers 100rel unless it already names it (§4: Supported, or
/// Require if the caller insists).
pub(crate) fn offer_100rel(invite: &mut Message) {
    if supports(invite, TAG) || requires(invite, TAG) {
        return;
    }
    match with_header(invite, "Supported", TAG) {
        Some(m) => *invite = m,
        None => debug!("could not add Supported: 100rel"),
    }
}
