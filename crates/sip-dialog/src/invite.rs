//! The INVITE usage of a dialog (RFC 3261 §13, §15): states as NkSIP names
//! them, the ACK for a 2xx, 2xx retransmission on the UAS side, forked 2xx
//! handling, and why a session stopped. Sans-IO: `now` in, messages and
//! deadlines out.

use sip_message::hash::FastMap as HashMap;
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::{Duration, Instant};

use sip_message::headers::Transport;
use sip_message::{HeaderName, Message, Method};

use crate::dialog::Dialog;
use crate::error::DialogError;
use crate::id::DialogId;

/// Where an INVITE session is (NkSIP's `invite_status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum InviteState {
    /// We sent the INVITE; provisional responses so far.
    ProceedingUac,
    /// We received the INVITE and have not answered it finally.
    ProceedingUas,
    /// We got a 2xx and have not sent its ACK yet (a caller that ACKs by
    /// itself, NkSIP's `auto_2xx_ack = false`); [`Sessions::uac_2xx`] ACKs
    /// at once and goes straight to [`InviteState::Confirmed`].
    AcceptedUac,
    /// We sent a 2xx and wait for the ACK.
    AcceptedUas,
    /// The 2xx was ACKed.
    Confirmed,
    /// The session ended (see [`StopReason`]).
    Bye,
}

/// Why an INVITE session ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum StopReason {
    /// The caller sent BYE.
    CallerBye,
    /// The callee sent BYE.
    CalleeBye,
    /// The INVITE was cancelled (487).
    Cancelled,
    /// 486 Busy Here.
    Busy,
    /// 603 Decline.
    Declined,
    /// No final response in time (408, or Timer B).
    Timeout,
    /// No ACK for our 2xx within 64*T1 (§13.3.1.4).
    AckTimeout,
    /// Any other final response.
    Code(u16),
}

impl StopReason {
    /// The reason for a non-2xx final response to the INVITE.
    pub fn for_final(code: u16) -> StopReason {
        match code {
            487 => StopReason::Cancelled,
            486 | 600 => StopReason::Busy,
            603 => StopReason::Declined,
            408 => StopReason::Timeout,
            c => StopReason::Code(c),
        }
    }
}

/// What the session layer asks its caller to do.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum SessionOutput {
    /// Send this request outside any transaction (the ACK for a 2xx is
    /// end to end, §13.2.2.4).
    SendAck(Message),
    /// Send this BYE through a new client transaction.
    SendBye(Message),
    /// Re-send this 2xx through the INVITE server transaction (Accepted,
    /// RFC 6026) or the transport.
    Retransmit2xx(Message),
    /// The session's state changed.
    Status {
        /// Dialog.
        dialog: DialogId,
        /// New state.
        state: InviteState,
        /// Why, when it ended.
        reason: Option<StopReason>,
    },
}

struct Session {
    state: InviteState,
    invite_seq: u32,
    /// UAC: the ACK, re-sent for every retransmitted 2xx.
    ack: Option<Message>,
    /// UAS: the 2xx and its retransmission schedule.
    ok: Option<Message>,
    next: Option<Instant>,
    interval: Duration,
    give_up: Option<Instant>,
}

/// The INVITE sessions of an endpoint.
#[derive(Default)]
pub struct Sessions {
    t1: Duration,
    t2: Duration,
    map: HashMap<DialogId, Session>,
    out: Outputs,
    /// Every deadline set (a 2xx retransmission, an ACK timeout), earliest
    /// first; an entry no longer matching its session is dropped when it
    /// comes up. The next deadline is then found without a scan.
    deadlines: BinaryHeap<Reverse<(Instant, DialogId)>>,
}

/// The queue of [`SessionOutput`]s, with or without the statuses.
#[derive(Default)]
struct Outputs {
    queue: Vec<SessionOutput>,
    no_status: bool,
}

impl Outputs {
    fn push(&mut self, o: SessionOutput) {
        self.queue.push(o);
    }

    fn status(&mut self, dialog: &DialogId, state: InviteState, reason: Option<StopReason>) {
        if !self.no_status {
            self.queue.push(status(dialog, state, reason));
        }
    }
}

impl std::fmt::Debug for Sessions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sessions")
            .field("sessions", &self.map.len())
            .finish()
    }
}

fn status(dialog: &DialogId, state: InviteState, reason: Option<StopReason>) -> SessionOutput {
    SessionOutput::Status {
        dialog: dialog.clone(),
        state,
        reason,
    }
}

impl Sessions {
    /// Sessions with these T1 and T2 (RFC 3261 §17.1.1.1).
    pub fn new(t1: Duration, t2: Duration) -> Sessions {
        Sessions {
            t1,
            t2,
            ..Sessions::default()
        }
    }

    /// Sessions that queue no [`SessionOutput::Status`]: for a TU that
    /// reads [`state`](Self::state) when it needs it, and drains only for
    /// the messages to send, so that statuses do not pile up between drains.
    pub fn without_status(mut self) -> Sessions {
        self.out.no_status = true;
        self
    }

    /// The state of a session.
    pub fn state(&self, id: &DialogId) -> Option<InviteState> {
        self.map.get(id).map(|s| s.state)
    }

    /// Outputs queued since the last call.
    pub fn drain(&mut self) -> Vec<SessionOutput> {
        std::mem::take(&mut self.out.queue)
    }

    /// The next deadline (a 2xx retransmission or the ACK timeout).
    pub fn poll_timeout(&mut self) -> Option<Instant> {
        while let Some(Reverse((at, id))) = self.deadlines.peek() {
            if self.is_due_at(id, *at) {
                return Some(*at);
            }
            self.deadlines.pop();
        }
        None
    }

    /// Whether `at` is still one of `id`'s deadlines.
    fn is_due_at(&self, id: &DialogId, at: Instant) -> bool {
        self.map
            .get(id)
            .is_some_and(|s| s.next == Some(at) || s.give_up == Some(at))
    }

    /// UAC: an early dialog of our INVITE (provisional with a tag).
    pub fn uac_early(&mut self, dialog: &Dialog, invite: &Message) {
        let seq = invite.cseq().map_or(0, |c| c.0);
        let id = dialog.id().clone();
        if !self.map.contains_key(&id) {
            self.map
                .insert(id.clone(), Session::new(InviteState::ProceedingUac, seq));
            self.out.status(&id, InviteState::ProceedingUac, None);
        }
    }

    /// UAC: a 2xx for our INVITE in `dialog`. The first 2xx of an INVITE
    /// gets the ACK and confirms; a retransmission gets the same ACK again;
    /// a 2xx from another fork after one was accepted (`winner` is the
    /// accepted dialog) is ACKed and then ended with BYE, as NkSIP does
    /// (RFC 3261 §13.2.2.4 lets the UAC keep or end it). `body` goes in the
    /// ACK: the SDP answer when the offer came in the 2xx (RFC 3264 late
    /// offer); retransmitted 2xx get that same ACK, body included.
    #[allow(clippy::too_many_arguments)]
    pub fn uac_2xx(
        &mut self,
        dialog: &mut Dialog,
        invite: &Message,
        winner: Option<&DialogId>,
        ack_branch: &str,
        bye_branch: &str,
        transport: Transport,
        body: Option<(&str, bytes::Bytes)>,
    ) -> Result<(), DialogError> {
        let id = dialog.id().clone();
        let seq = invite.cseq().ok_or(DialogError::MissingHeader("CSeq"))?.0;
        // A session of this INVITE or a later one: the state does not
        // change. A retransmitted 2xx of the session's INVITE gets the same
        // ACK again while it is kept (a freshly built one after
        // `forget_ack`); a late 2xx of an earlier INVITE (a re-INVITE has
        // come since) gets an ACK with its own CSeq. A 2xx to a re-INVITE
        // (§14.1, a higher number) makes a new session, with its own ACK,
        // below.
        let held = self.map.get(&id).filter(|s| {
            matches!(s.state, InviteState::Confirmed | InviteState::Bye) && s.invite_seq >= seq
        });
        if let Some(s) = held {
            let ack = match &s.ack {
                Some(ack) if s.invite_seq == seq => ack.clone(),
                _ => ack_of(dialog, invite, seq, ack_branch, transport, None)?,
            };
            self.out.push(SessionOutput::SendAck(ack));
            return Ok(());
        }
        let ack = ack_of(dialog, invite, seq, ack_branch, transport, body)?;
        self.out.push(SessionOutput::SendAck(ack.clone()));
        let mut s = Session::new(InviteState::Confirmed, seq);
        s.ack = Some(ack);
        let losing = winner.is_some_and(|w| *w != id);
        if losing {
            let bye = dialog
                .request(Method::Bye, None, bye_branch, transport)?
                .build()
                .map_err(|_| DialogError::MissingHeader("well-formed BYE"))?;
            self.out.push(SessionOutput::SendBye(bye));
            s.state = InviteState::Bye;
            dialog.terminate();
            self.out
                .status(&id, InviteState::Bye, Some(StopReason::CallerBye));
        } else {
            self.out.status(&id, InviteState::Confirmed, None);
        }
        self.map.insert(id, s);
        Ok(())
    }

    /// UAC: the INVITE ended with a non-2xx final (or timed out): every
    /// session still proceeding for it stops with the matching reason.
    pub fn uac_failed(&mut self, ids: &[DialogId], reason: StopReason) {
        for id in ids {
            if let Some(s) = self.map.get_mut(id) {
                if s.state == InviteState::ProceedingUac {
                    s.state = InviteState::Bye;
                    self.out.status(id, InviteState::Bye, Some(reason));
                }
            }
        }
    }

    /// UAS: we received an INVITE that created `dialog`.
    pub fn uas_invite(&mut self, dialog: &Dialog, invite: &Message) {
        let seq = invite.cseq().map_or(0, |c| c.0);
        let id = dialog.id().clone();
        self.map
            .insert(id.clone(), Session::new(InviteState::ProceedingUas, seq));
        self.out.status(&id, InviteState::ProceedingUas, None);
    }

    /// UAS: we sent this 2xx. It is retransmitted at T1, 2*T1, ... capped at
    /// T2 until the ACK arrives; after 64*T1 without one the session ends
    /// with a BYE (§13.3.1.4).
    pub fn uas_sent_2xx(&mut self, now: Instant, id: &DialogId, ok: Message) {
        let (t1, t1x64) = (self.t1, self.t1 * 64);
        if let Some(s) = self.map.get_mut(id) {
            s.state = InviteState::AcceptedUas;
            s.ok = Some(ok);
            s.interval = t1;
            s.next = Some(now + t1);
            s.give_up = Some(now + t1x64);
            self.deadlines.push(Reverse((now + t1, id.clone())));
            self.deadlines.push(Reverse((now + t1x64, id.clone())));
            self.out.status(id, InviteState::AcceptedUas, None);
        }
    }

    /// UAS: the ACK for our 2xx arrived.
    pub fn uas_ack(&mut self, id: &DialogId) {
        if let Some(s) = self.map.get_mut(id) {
            if s.state == InviteState::AcceptedUas {
                s.state = InviteState::Confirmed;
                s.next = None;
                s.give_up = None;
                s.ok = None;
                self.out.status(id, InviteState::Confirmed, None);
            }
        }
    }

    /// UAS: the INVITE got a non-2xx final from us.
    pub fn uas_failed(&mut self, id: &DialogId, code: u16) {
        if let Some(s) = self.map.get_mut(id) {
            s.state = InviteState::Bye;
            self.out
                .status(id, InviteState::Bye, Some(StopReason::for_final(code)));
        }
    }

    /// A BYE in the dialog ended the session; `caller` tells who sent it.
    pub fn bye(&mut self, id: &DialogId, caller: bool) {
        if let Some(s) = self.map.get_mut(id) {
            if s.state != InviteState::Bye {
                s.state = InviteState::Bye;
                s.next = None;
                s.give_up = None;
                let r = if caller {
                    StopReason::CallerBye
                } else {
                    StopReason::CalleeBye
                };
                self.out.status(id, InviteState::Bye, Some(r));
            }
        }
    }

    /// Runs due 2xx retransmissions and ACK timeouts. `bye_for` builds the
    /// BYE for a dialog whose ACK never came.
    pub fn handle_timeout(
        &mut self,
        now: Instant,
        mut bye_for: impl FnMut(&DialogId) -> Option<Message>,
    ) {
        let t2 = self.t2;
        let mut ended = Vec::new();
        // The sessions with a deadline due, each once.
        let mut due: Vec<DialogId> = Vec::new();
        while let Some(Reverse((at, _))) = self.deadlines.peek() {
            if *at > now {
                break;
            }
            if let Some(Reverse((at, id))) = self.deadlines.pop() {
                if self.is_due_at(&id, at) && !due.contains(&id) {
                    due.push(id);
                }
            }
        }
        for id in due {
            let Some(s) = self.map.get_mut(&id) else {
                continue;
            };
            if s.give_up.is_some_and(|g| now >= g) {
                s.state = InviteState::Bye;
                s.next = None;
                s.give_up = None;
                ended.push(id);
                continue;
            }
            if let (Some(next), Some(ok)) = (s.next, &s.ok) {
                if now >= next {
                    self.out.push(SessionOutput::Retransmit2xx(ok.clone()));
                    s.interval = (s.interval * 2).min(t2);
                    s.next = Some(next + s.interval);
                    self.deadlines.push(Reverse((next + s.interval, id)));
                }
            }
        }
        ended.sort();
        for id in ended {
            if let Some(bye) = bye_for(&id) {
                self.out.push(SessionOutput::SendBye(bye));
            }
            self.out
                .status(&id, InviteState::Bye, Some(StopReason::AckTimeout));
        }
    }

    /// Drops the stored ACK of a UAC session. Call it when the INVITE client
    /// transaction ends (Timer M, RFC 6026): a 2xx after that is a stray
    /// retransmission and gets a freshly built ACK; a confirmed session then
    /// keeps no message.
    pub fn forget_ack(&mut self, id: &DialogId) {
        if let Some(s) = self.map.get_mut(id) {
            s.ack = None;
        }
    }

    /// [`forget_ack`](Self::forget_ack) when the session's INVITE is the one
    /// with CSeq number `invite_seq`: the end of an earlier INVITE's client
    /// transaction keeps the ACK of a later re-INVITE.
    pub fn forget_ack_of(&mut self, id: &DialogId, invite_seq: u32) {
        if let Some(s) = self.map.get_mut(id) {
            if s.invite_seq == invite_seq {
                s.ack = None;
            }
        }
    }

    /// Forgets a session.
    pub fn remove(&mut self, id: &DialogId) {
        self.map.remove(id);
    }
}

impl Session {
    fn new(state: InviteState, invite_seq: u32) -> Session {
        Session {
            state,
            invite_seq,
            ack: None,
            ok: None,
            next: None,
            interval: Duration::ZERO,
            give_up: None,
        }
    }
}

impl Sessions {
    /// The CSeq number of the INVITE that created the session.
    pub fn invite_seq(&self, id: &DialogId) -> Option<u32> {
        self.map.get(id).map(|s| s.invite_seq)
    }
}

/// The ACK of `invite`'s 2xx in `dialog` (§13.2.2.4): the INVITE's CSeq
/// number `seq`, the route set of the dialog, the INVITE's credentials and
/// `body` (the answer to an offer in the 2xx).
fn ack_of(
    dialog: &mut Dialog,
    invite: &Message,
    seq: u32,
    branch: &str,
    transport: Transport,
    body: Option<(&str, bytes::Bytes)>,
) -> Result<Message, DialogError> {
    let mut b = dialog
        .request(Method::Ack, Some(seq), branch, transport)?
        .copy_from(
            invite,
            &[HeaderName::Authorization, HeaderName::ProxyAuthorization],
        );
    if let Some((content_type, data)) = body {
        b = b.body(content_type, data);
    }
    b.build()
        .map_err(|_| DialogError::MissingHeader("well-formed ACK"))
}
