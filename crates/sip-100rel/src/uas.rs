//! The UAS side (RFC 3262 §3): provisional responses the handler marks
//! with `Require: 100rel` are sent reliably (RSeq, retransmitted until a
//! PRACK matches), one at a time; a 2xx waits for them.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use sip_message::headers::RAck;
use sip_message::{Message, Method, ResponseBuilder};
use sip_transaction::{HookCx, TransactionId};
use tracing::{debug, warn};

use std::sync::Arc;

use sip_dialog::{DialogId, SessionExchanged};

use crate::edit::{body_of, requires, supports, with_header, without_tag};
use crate::TAG;

/// How long the state of an INVITE whose provisionals are all PRACKed is
/// kept without a final response (past Timer C's 3 minutes, RFC 3261
/// §16.6); a final response ends it sooner.
const IDLE_KEEP: Duration = Duration::from_secs(200);

/// A reliable provisional sent and not yet PRACKed.
struct Outstanding {
    response: Message,
    rseq: u32,
    interval: Duration,
    give_up: Instant,
}

/// An INVITE we answer, by its server transaction.
pub(crate) struct UasInvite {
    pub(crate) invite: Message,
    /// The RSeq the next reliable provisional takes.
    next_rseq: u32,
    outstanding: Option<Outstanding>,
    /// RSeq of the last provisional PRACKed, if any, and that PRACK's
    /// branch (its retransmissions are its transaction's business).
    last_acked: Option<(u32, Box<str>)>,
    /// When a held 2xx must have gone (64*T1 after it was held, §3).
    hold_until: Option<Instant>,
    /// Reliable provisionals waiting for the outstanding one's PRACK.
    queue: VecDeque<Message>,
    /// A 2xx waiting for the reliable provisionals' PRACKs.
    held_final: Option<Message>,
    pub(crate) token: u64,
}

/// What the caller of [`UasInvite`]'s methods does next.
pub(crate) enum Next {
    /// Keep the state.
    Keep,
    /// The INVITE is done with 100rel: drop the state.
    Done,
}

impl UasInvite {
    pub(crate) fn new(invite: Message, first_rseq: u32, token: u64) -> UasInvite {
        UasInvite {
            invite,
            next_rseq: first_rseq,
            outstanding: None,
            last_acked: None,
            hold_until: None,
            queue: VecDeque::new(),
            held_final: None,
            token,
        }
    }

    /// Whether the INVITE lets us send reliably (§3: it named 100rel in
    /// Supported or Require).
    pub(crate) fn accepts(invite: &Message) -> bool {
        supports(invite, TAG) || requires(invite, TAG)
    }

    /// A provisional response marked reliable, going out. Returns the
    /// response to send now (with RSeq), or `None` when it waits its turn.
    pub(crate) fn provisional(&mut self, cx: &mut HookCx<'_>, resp: &Message) -> Option<Message> {
        if self.outstanding.is_some() {
            // §3: one unacknowledged reliable provisional at a time.
            self.queue.push_back(resp.clone());
            return None;
        }
        self.start(cx, resp)
    }

    /// Sends `resp` as the outstanding reliable provisional.
    fn start(&mut self, cx: &mut HookCx<'_>, resp: &Message) -> Option<Message> {
        let rseq = self.next_rseq;
        let Some(with_rseq) = with_header(resp, "RSeq", &rseq.to_string()) else {
            warn!("could not add RSeq: provisional dropped");
            return None;
        };
        self.next_rseq = rseq.wrapping_add(1);
        let t1 = cx.timers().t1;
        let now = cx.now();
        // §3: retransmitted at T1, doubling, for 64*T1.
        let give_up = match self.hold_until {
            Some(until) => (now + t1 * 64).min(until),
            None => now + t1 * 64,
        };
        self.outstanding = Some(Outstanding {
            response: with_rseq.clone(),
            rseq,
            interval: t1,
            give_up,
        });
        cx.schedule(now + t1, self.token);
        Some(with_rseq)
    }

    /// A final response going out. Returns whether it goes now (else it
    /// is held until the PRACKs arrive).
    pub(crate) fn final_response(&mut self, cx: &mut HookCx<'_>, resp: &Message) -> (bool, Next) {
        let pending = self.outstanding.is_some() || !self.queue.is_empty();
        let ok = resp.status().is_some_and(|c| (200..300).contains(&c));
        if ok && pending {
            // §3: a 2xx must not overtake an unacknowledged reliable
            // provisional with an offer; we hold it for any, so the
            // provisionals' offer/answer always completes first. The hold
            // ends 64*T1 after the first 2xx (the TU's own ACK wait).
            if self.held_final.is_none() {
                let until = cx.now() + cx.timers().t1 * 64;
                self.hold_until = Some(until);
                if let Some(o) = &mut self.outstanding {
                    o.give_up = o.give_up.min(until);
                }
            }
            self.held_final = Some(resp.clone());
            return (false, Next::Keep);
        }
        // Any other final ends the reliable provisionals (§3 lets it go
        // before their PRACKs).
        cx.cancel(self.token);
        (true, Next::Done)
    }

    /// Whether `prack` (its RAck) acknowledges the outstanding provisional.
    fn matches(&self, prack: &Message, rack: &RAck) -> bool {
        let Some(o) = &self.outstanding else {
            return false;
        };
        self.same_dialog(prack, &o.response) && rack.rseq == o.rseq && self.same_invite(rack)
    }

    fn same_invite(&self, rack: &RAck) -> bool {
        self.invite
            .cseq()
            .is_some_and(|(n, m)| n == rack.cseq && *m == rack.method && *m == Method::Invite)
    }

    fn same_dialog(&self, prack: &Message, response: &Message) -> bool {
        prack.call_id() == self.invite.call_id()
            && prack.from_tag() == self.invite.from_tag()
            && prack.to_tag().is_some()
            && prack.to_tag() == response.to_tag()
    }

    /// Whether `prack` is a retransmission of the PRACK already matched
    /// (same branch: its transaction answers it). A new PRACK for an
    /// acknowledged provisional matches nothing (§3: 481).
    pub(crate) fn already_acked(&self, prack: &Message, rack: &RAck) -> bool {
        let branch = prack.top_via().and_then(|v| v.branch().map(str::to_owned));
        self.last_acked
            .as_ref()
            .is_some_and(|(r, b)| *r == rack.rseq && branch.as_deref() == Some(&**b))
            && self.same_invite(rack)
            && prack.call_id() == self.invite.call_id()
            && prack.from_tag() == self.invite.from_tag()
    }

    /// A PRACK arrived. `Some(next)` when it matched (the TU then sees and
    /// answers it); `None` when it matches nothing here.
    pub(crate) fn prack(
        &mut self,
        cx: &mut HookCx<'_>,
        id: TransactionId,
        prack: &Message,
        rack: &RAck,
    ) -> Option<Next> {
        if !self.matches(prack, rack) {
            return None;
        }
        let branch = prack
            .top_via()
            .and_then(|v| v.branch().map(Box::<str>::from))
            .unwrap_or_default();
        self.last_acked = Some((rack.rseq, branch));
        if let Some(o) = self.outstanding.take() {
            self.report_exchange(cx, &o.response, prack);
        }
        cx.cancel(self.token);
        if let Some(next) = self.queue.pop_front() {
            if let Some(m) = self.start(cx, &next) {
                cx.send_response(id, m);
            }
            return Some(Next::Keep);
        }
        if let Some(f) = self.held_final.take() {
            cx.send_response(id, f);
            return Some(Next::Done);
        }
        // Nothing pending: the final response normally ends this state; if
        // the transaction dies without one, this timer does.
        cx.schedule(cx.now() + IDLE_KEEP, self.token);
        Some(Next::Keep)
    }

    /// RFC 3262 §5: an offer in our reliable provisional is answered in its
    /// PRACK (or the provisional answered the INVITE's offer): the dialog
    /// layer learns the descriptions now in force.
    fn report_exchange(&self, cx: &mut HookCx<'_>, provisional: &Message, prack: &Message) {
        let Some(local) = body_of(provisional) else {
            return;
        };
        // The INVITE's offer if it had one (the 1xx answered it), else the
        // PRACK's answer to the 1xx's offer.
        let remote = body_of(&self.invite).or_else(|| body_of(prack));
        let (Some(call_id), Some(tag)) = (self.invite.call_id(), provisional.to_tag()) else {
            return;
        };
        let dialog = DialogId::new(call_id, tag, self.invite.from_tag().unwrap_or(""));
        cx.emit(Arc::new(SessionExchanged {
            dialog,
            local: Some(local),
            remote,
        }));
    }

    /// The retransmission timer.
    pub(crate) fn on_timer(&mut self, cx: &mut HookCx<'_>, id: TransactionId) -> Next {
        let now = cx.now();
        let Some(o) = &mut self.outstanding else {
            // The idle backstop: no final response came in all this time.
            return Next::Done;
        };
        if now >= o.give_up {
            // §3: no PRACK within 64*T1: the INVITE is rejected with a 5xx.
            warn!(
                rseq = o.rseq,
                "reliable provisional never PRACKed: INVITE answered 500"
            );
            let tag = o.response.to_tag().unwrap_or("").to_owned();
            let resp = ResponseBuilder::from_request(&self.invite, 500)
                .reason("Reliable Provisional Response Timeout")
                .with_to_tag(&tag)
                .build();
            match resp {
                Ok(r) => cx.send_response(id, r),
                Err(e) => debug!(error = %e, "5xx not built"),
            }
            self.outstanding = None;
            return Next::Done;
        }
        cx.send_response(id, o.response.clone());
        o.interval *= 2;
        let at = (now + o.interval).min(o.give_up);
        cx.schedule(at, self.token);
        Next::Keep
    }
}

/// A provisional the INVITE does not let us send reliably goes without
/// `Require: 100rel` (§3: "MUST NOT" send it reliably then).
pub(crate) fn unreliable(resp: &Message) -> Option<Message> {
    without_tag(resp, "Require", TAG)
}
