//! The call state a Service keeps (dialogs, INVITE sessions) and how it
//! handles what the transaction layer reports.

use sip_message::hash::FastMap as HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;

use sip_dialog::{Dialog, DialogId, Dialogs, SessionOutput, Sessions};
use sip_message::headers::Transport as Kind;
use sip_message::uri::Uri;
use sip_message::{Message, Method, ResponseBuilder};
use sip_transaction::driver::TransactionHandle;
use sip_transaction::{RandomSource, TransactionEvent, Xorshift};
use sip_transport::{Target, Transport};
use tracing::debug;

use crate::handler::{Answer, Handler, ALLOW};

/// Dialogs and sessions, shared by the sending functions and the task that
/// handles received requests.
///
/// Lock order, where both are held: `sessions`, then `dialogs`.
pub(crate) struct Core {
    pub(crate) dialogs: Mutex<Dialogs>,
    pub(crate) sessions: Mutex<Sessions>,
    /// What is kept per dialog beside the dialog and its session (one
    /// entry: one lookup per step of a call, one removal at its end).
    calls: Mutex<HashMap<DialogId, Call>>,
    /// Our Contact per listener (§8.1.1.8).
    pub(crate) contacts: crate::contact::Contacts,
    rng: Mutex<Xorshift>,
    /// INVITEs answered with a provisional only (ringing), by server
    /// transaction, with the instant they expire: a CANCEL answers them 487
    /// (§9.2), and so does their expiry (§13.3.1), which bounds the map.
    pub(crate) ringing: Mutex<HashMap<sip_transaction::TransactionId, Ringing>>,
    /// Allow and Supported, with what the extensions add.
    pub(crate) caps: Capabilities,
    /// Our INVITE client transactions in the Accepted state (RFC 6026
    /// §8.4) whose caller has had its reply, with the dialog of their 2xx:
    /// a retransmission of that 2xx gets the ACK again (RFC 3261
    /// §13.2.2.4) until Timer M ends the transaction.
    pub(crate) accepted: Mutex<HashMap<sip_transaction::TransactionId, Accepted>>,
    /// Subscriptions held and granted, SUBSCRIBEs awaiting their response.
    /// Lock order: after `sessions` and `dialogs` are released.
    pub(crate) events: Mutex<crate::subscriptions::Events>,
}

/// The service's own state of one dialog with an INVITE usage.
#[derive(Default)]
struct Call {
    /// The INVITE that created the dialog, when we are its UAC (for ACKs).
    invite: Option<Message>,
    /// Session descriptions in force (`None`: none kept for the dialog).
    sdp: Option<Sdp>,
    /// The INVITE server transaction of the 2xx we retransmit until its
    /// ACK: retransmissions go through it (RFC 6026 §7.1, Accepted), so
    /// the extensions see them too (a 2xx held for PRACKs stays held).
    uas_tx: Option<sip_transaction::TransactionId>,
    /// Our latest re-INVITE answered 2xx (its ACK names its CSeq).
    reinvite: Option<Message>,
    /// A re-INVITE of ours is in progress (§14.1: no second one).
    reinviting: bool,
}

/// An INVITE of ours in the Accepted state (RFC 6026 §8.4), kept for
/// Timer M (64*T1) after the call may have ended.
#[derive(Clone)]
pub(crate) struct Accepted {
    /// The dialog of the 2xx the caller got.
    pub(crate) dialog: DialogId,
    /// The INVITE's bytes, parsed again only when a retransmitted or
    /// forked 2xx needs it: a parsed message is 600 bytes more, and every
    /// call keeps this for Timer M.
    invite: Bytes,
    /// Its CSeq number (a re-INVITE's is higher than the call's INVITE's).
    seq: u32,
    /// Dialogs of 2xx from other forks, ACKed and ended with BYE
    /// (§13.2.2.4); their sessions go with the transaction.
    losers: Vec<DialogId>,
    /// The highest CSeq we used in the INVITE's early dialogs (an UPDATE,
    /// an INFO, a PRACK): a losing fork's BYE comes after it (§12.2.1.1),
    /// though its early dialog is gone.
    early_seq: u32,
}

impl Accepted {
    pub(crate) fn new(dialog: DialogId, invite: &Message, early_seq: u32) -> Accepted {
        Accepted {
            dialog,
            invite: invite.as_bytes().clone(),
            seq: invite.cseq().map_or(0, |c| c.0),
            losers: Vec::new(),
            early_seq,
        }
    }

    /// The INVITE; `None` cannot happen for bytes that parsed once.
    fn invite(&self) -> Option<Message> {
        Message::parse(self.invite.clone()).ok()
    }
}

/// The session descriptions of one dialog.
#[derive(Debug, Clone, Default)]
pub(crate) struct Sdp {
    pub(crate) local: Option<Bytes>,
    pub(crate) remote: Option<Bytes>,
}

impl Sdp {
    /// The session of our INVITE in dialog `id` before its 2xx: our offer,
    /// if it made one, then what an extension completed (an answer in a
    /// reliable provisional, an offer answered in a PRACK, RFC 3262 §5).
    pub(crate) fn of_invite(
        invite: &Message,
        exchanged: &[sip_dialog::SessionExchanged],
        id: &DialogId,
    ) -> Sdp {
        let mut sdp = Sdp::default();
        if !invite.body_bytes().is_empty() {
            sdp.local = Some(invite.body());
        }
        for x in exchanged.iter().filter(|x| x.dialog == *id) {
            sdp.local = x.local.clone().or(sdp.local);
            sdp.remote = x.remote.clone().or(sdp.remote);
        }
        sdp
    }
}

/// What the service supports: its Allow header and Supported option tags,
/// the core's plus its extensions'.
#[derive(Debug, Clone)]
pub(crate) struct Capabilities {
    pub(crate) methods: Vec<Method>,
    pub(crate) tags: Vec<String>,
    /// `methods` as an Allow value.
    pub(crate) allow: String,
    /// `tags` as a Supported value (empty: none).
    pub(crate) supported: String,
}

impl Capabilities {
    pub(crate) fn new() -> Capabilities {
        let methods: Vec<Method> = ALLOW
            .split(',')
            .filter_map(|m| Method::from_token(m.trim()))
            .collect();
        let mut c = Capabilities {
            methods,
            tags: Vec::new(),
            allow: String::new(),
            supported: String::new(),
        };
        c.render();
        c
    }

    pub(crate) fn add(&mut self, ext: &sip_transaction::Capabilities) {
        for m in &ext.allow {
            if !self.methods.contains(m) {
                self.methods.push(m.clone());
            }
        }
        for t in &ext.supported {
            if !self.tags.iter().any(|x| x.eq_ignore_ascii_case(t)) {
                self.tags.push((*t).to_owned());
            }
        }
        self.render();
    }

    fn render(&mut self) {
        self.allow = self
            .methods
            .iter()
            .map(Method::as_str)
            .collect::<Vec<_>>()
            .join(", ");
        self.supported = self.tags.join(", ");
    }

    /// The checks the core makes before the handler sees a request: a
    /// method the service does not allow gets 405 (§8.2.1), a Require
    /// with an option tag it does not support 420 with Unsupported
    /// (§8.2.2.3). Extension methods are left to the handler.
    fn reject(&self, request: &Message) -> Option<Answer> {
        let method = request.method()?;
        if !matches!(method, Method::Other(_)) && !self.methods.contains(method) {
            return Some(Answer::code(405).header("Allow", &self.allow));
        }
        let unknown = sip_message::validate::unsupported_options(request, &self.tags);
        (!unknown.is_empty()).then(|| Answer::code(420).header("Unsupported", &unknown.join(", ")))
    }
}

impl Core {
    /// Drops everything kept for an ended dialog: the dialog, its INVITE
    /// session and the INVITE kept for ACKs. Without this, every call would
    /// stay in memory and in the per-event timer scan.
    pub(crate) fn forget(&self, id: &DialogId) {
        if let Ok(mut s) = self.sessions.lock() {
            s.remove(id);
        }
        if let Ok(mut d) = self.dialogs.lock() {
            d.remove(id);
        }
        if let Ok(mut c) = self.calls.lock() {
            c.remove(id);
        }
        if let Ok(mut e) = self.events.lock() {
            e.subscriber.remove_dialog(id);
            e.notifier.remove_dialog(id);
        }
    }

    /// RFC 5057 §5: what the final response to our request for `usage` in
    /// dialog `id` does (481 and 408 end the usage, 404 and the like the
    /// dialog); a dialog that ended is forgotten with everything kept for
    /// it.
    pub(crate) fn response_effect(
        &self,
        id: &DialogId,
        usage: &sip_dialog::Usage,
        code: u16,
    ) -> sip_dialog::ResponseEffect {
        let Ok((effect, gone)) = self.dialogs.lock().map(|mut d| {
            let e = d.on_in_dialog_response(id, usage, code);
            let gone = d.get(id).is_none();
            (e, gone)
        }) else {
            return sip_dialog::ResponseEffect::TransactionOnly;
        };
        if gone && effect != sip_dialog::ResponseEffect::TransactionOnly {
            self.forget(id);
        }
        effect
    }

    /// The INVITE session of `id` ended (BYE): the dialog goes unless a
    /// subscription still uses it (RFC 5057 §5).
    pub(crate) fn end_invite_usage(&self, id: &DialogId) {
        if let Ok(mut s) = self.sessions.lock() {
            s.remove(id);
        }
        self.edit_call(id, |c| c.invite = None);
        let gone = self.dialogs.lock().is_ok_and(|mut d| {
            let gone = d.usages(id).is_empty() || d.end_usage(id, &sip_dialog::Usage::Invite);
            gone
        });
        if gone {
            self.forget(id);
        }
    }

    /// Runs `f` on the entry of `id`, made if there is none.
    fn with_call<R>(&self, id: &DialogId, f: impl FnOnce(&mut Call) -> R) -> Option<R> {
        let mut c = self.calls.lock().ok()?;
        Some(f(c.entry(id.clone()).or_default()))
    }

    /// Runs `f` on the entry of `id`, if there is one, and drops the
    /// entry if it is left with nothing in it.
    fn edit_call(&self, id: &DialogId, f: impl FnOnce(&mut Call)) {
        if let Ok(mut calls) = self.calls.lock() {
            if let Some(call) = calls.get_mut(id) {
                f(call);
                if call.invite.is_none() && call.sdp.is_none() && call.uas_tx.is_none() {
                    calls.remove(id);
                }
            }
        }
    }

    /// Runs `f` on the entry of `id`, if there is one.
    fn read_call<R>(&self, id: &DialogId, f: impl FnOnce(&Call) -> R) -> Option<R> {
        self.calls.lock().ok()?.get(id).map(f)
    }

    pub(crate) fn set_sdp(&self, id: &DialogId, sdp: Sdp) {
        self.with_call(id, |c| c.sdp = Some(sdp));
    }

    /// Replaces the local and/or remote description of a dialog we keep
    /// descriptions for (made with [`set_sdp`](Self::set_sdp) when the
    /// dialog was): a stray ACK or a late report makes no entry.
    pub(crate) fn update_sdp(&self, id: &DialogId, local: Option<Bytes>, remote: Option<Bytes>) {
        self.edit_call(id, |c| {
            if let Some(x) = c.sdp.as_mut() {
                x.local = local.or(x.local.take());
                x.remote = remote.or(x.remote.take());
            }
        });
    }

    /// The descriptions kept for `id`, if an entry was made.
    pub(crate) fn sdp_entry(&self, id: &DialogId) -> Option<Sdp> {
        self.read_call(id, |c| c.sdp.clone()).flatten()
    }

    pub(crate) fn sdp(&self, id: &DialogId) -> Sdp {
        self.sdp_entry(id).unwrap_or_default()
    }

    /// Keeps the INVITE that made dialog `id`, of which we are the UAC.
    pub(crate) fn set_invite(&self, id: &DialogId, invite: Message) {
        self.with_call(id, |c| c.invite = Some(invite));
    }

    /// Claims call `id` for a re-INVITE of ours (§14.1): refused while
    /// another is in progress or the far end's 2xx awaits our ACK, and
    /// for a dialog without a call.
    pub(crate) fn start_reinvite(&self, id: &DialogId) -> Result<(), crate::Error> {
        // §14.1: a re-INVITE modifies an established session; in an early
        // dialog the first INVITE is still in progress (UPDATE is the way,
        // RFC 3311).
        let confirmed = self.dialogs.lock().is_ok_and(|d| {
            d.get(id)
                .is_some_and(|d| d.state() == sip_dialog::DialogState::Confirmed)
        });
        if !confirmed {
            return Err(crate::Error::UnknownDialog);
        }
        let mut calls = self.calls.lock().map_err(|_| crate::Error::Stopped)?;
        let c = calls.get_mut(id).ok_or(crate::Error::UnknownDialog)?;
        if c.reinviting || c.uas_tx.is_some() {
            return Err(crate::Error::InvalidOption(
                "re-INVITE: another INVITE transaction is in progress in the dialog (§14.1)",
            ));
        }
        c.reinviting = true;
        Ok(())
    }

    /// The re-INVITE of [`start_reinvite`](Self::start_reinvite) is done.
    pub(crate) fn end_reinvite(&self, id: &DialogId) {
        self.edit_call(id, |c| c.reinviting = false);
    }

    /// Our re-INVITE in dialog `id` got its 2xx: the one a later ACK names.
    pub(crate) fn set_reinvite(&self, id: &DialogId, reinvite: Message) {
        self.edit_call(id, |c| c.reinvite = Some(reinvite));
    }

    /// Our latest re-INVITE answered 2xx in dialog `id`.
    pub(crate) fn reinvite(&self, id: &DialogId) -> Option<Message> {
        self.read_call(id, |c| c.reinvite.clone()).flatten()
    }

    /// The INVITE that made dialog `id`, if we are its UAC and its INVITE
    /// usage goes on.
    pub(crate) fn invite(&self, id: &DialogId) -> Option<Message> {
        self.read_call(id, |c| c.invite.clone()).flatten()
    }

    /// The INVITE server transaction retransmitting our 2xx in `id`.
    pub(crate) fn set_uas_tx(&self, id: &DialogId, tx: sip_transaction::TransactionId) {
        self.with_call(id, |c| c.uas_tx = Some(tx));
    }

    pub(crate) fn uas_tx(&self, id: &DialogId) -> Option<sip_transaction::TransactionId> {
        self.read_call(id, |c| c.uas_tx).flatten()
    }

    /// The ACK came: the 2xx is no longer retransmitted.
    pub(crate) fn clear_uas_tx(&self, id: &DialogId) {
        self.edit_call(id, |c| c.uas_tx = None);
    }

    /// The UAS side of a dialog `request` makes with our To tag `tag`
    /// (§12.1.1): our Contact, and a random start for our CSeq numbering
    /// (§8.1.1.5).
    pub(crate) fn new_uas_dialog(&self, request: &Message, tag: &str) -> Option<Dialog> {
        let seed = (self.random() % 10_000) as u32;
        let contact = self.contacts.addr_for_response(request);
        Dialog::uas(request, tag, contact, seed, false).ok()
    }

    /// The UAS dialog that our response with To tag `tag` makes for
    /// `invite` (§12.1.1), created with its INVITE session on the first
    /// provisional or the 2xx.
    pub(crate) fn uas_dialog(&self, invite: &Message, tag: &str) -> Option<DialogId> {
        let id = uas_dialog_id(invite, tag)?;
        if self.dialogs.lock().ok()?.get(&id).is_some() {
            return Some(id);
        }
        let dlg = self.new_uas_dialog(invite, tag)?;
        let id = {
            let (mut s, mut d) = (self.sessions.lock().ok()?, self.dialogs.lock().ok()?);
            s.uas_invite(&dlg, invite);

            d.insert(dlg)
        };
        let remote = (!invite.body_bytes().is_empty()).then(|| invite.body());
        self.set_sdp(
            &id,
            Sdp {
                local: None,
                remote,
            },
        );
        Some(id)
    }

    pub(crate) fn new(
        t1: Duration,
        t2: Duration,
        contacts: crate::contact::Contacts,
        rng: Xorshift,
        caps: Capabilities,
    ) -> Core {
        Core {
            dialogs: Mutex::new(Dialogs::new().without_events()),
            sessions: Mutex::new(Sessions::new(t1, t2).without_status()),
            calls: Mutex::new(HashMap::default()),
            contacts,
            rng: Mutex::new(rng),
            ringing: Mutex::new(HashMap::default()),
            caps,
            accepted: Mutex::new(HashMap::default()),
            events: Mutex::new(crate::subscriptions::Events::new(t1)),
        }
    }

    pub(crate) fn random(&self) -> u64 {
        self.rng.lock().map(|mut r| r.next_u64()).unwrap_or(0)
    }

    /// A fresh branch (§8.1.1.7: the magic cookie, then 96 random bits),
    /// made here rather than by a round trip through the driver task.
    pub(crate) fn branch(&self) -> sip_transaction::Branch {
        match self.rng.lock() {
            Ok(mut r) => sip_transaction::Branch::random(&mut *r),
            Err(_) => sip_transaction::Branch::random(&mut Xorshift::from_os()),
        }
    }

    /// Sends the ACK for `id`'s 2xx to the dialog's next hop, its Via for
    /// that hop's transport; false when there is no such dialog, no target
    /// or the ACK cannot be built.
    pub(crate) async fn ack_2xx(
        &self,
        transport: &Transport,
        id: &DialogId,
        invite: &Message,
        body: Option<(&str, bytes::Bytes)>,
    ) -> bool {
        let core = self;
        let Some(target) = core.dialog_target(transport, id).await else {
            return false;
        };
        let kind = target.transport;
        let branch = self.branch();
        let ack = {
            // Lock order: sessions, then dialogs (see `Core`).
            let (Ok(mut s), Ok(mut d)) = (core.sessions.lock(), core.dialogs.lock()) else {
                return false;
            };
            let Some(dlg) = d.get_mut(id) else {
                return false;
            };
            // No winner: this 2xx is the caller's own, so no BYE is built
            // and it needs no branch (a losing fork's 2xx is handled in
            // `on_retransmitted_2xx`).
            if s.uac_2xx(dlg, invite, None, &branch, "", kind, body)
                .is_err()
            {
                return false;
            }
            s.drain().into_iter().find_map(|o| match o {
                sip_dialog::SessionOutput::SendAck(m) => Some(m),
                _ => None,
            })
        };
        match ack {
            Some(ack) => {
                if transport.try_send(&ack, &target).is_none() {
                    let _ = transport.send(&ack, &target).await;
                }
                true
            }
            None => false,
        }
    }

    /// A 2xx that INVITE client transaction `tx` passed up after its
    /// caller had the reply (RFC 6026 §8.4). A retransmission of the 2xx
    /// that made our dialog gets the ACK again once one was sent (§13.2.2.4;
    /// with `auto_ack(false)` the user sends the first). A 2xx from another
    /// fork is ACKed and its dialog ended with BYE (§13.2.2.4: the UAC core
    /// MUST ACK every 2xx; it keeps one call, as NkSIP does).
    pub(crate) async fn on_retransmitted_2xx(
        &self,
        transport: &Transport,
        tsx: &TransactionHandle,
        tx: sip_transaction::TransactionId,
        response: &Message,
    ) {
        if !response.status().is_some_and(|c| (200..300).contains(&c)) {
            return;
        }
        let Some(a) = self.accepted.lock().ok().and_then(|a| a.get(&tx).cloned()) else {
            return;
        };
        if response.to_tag() != Some(a.dialog.remote_tag()) {
            self.end_losing_fork(transport, tsx, tx, &a, response).await;
            return;
        }
        let acked = self.sessions.lock().is_ok_and(|s| {
            matches!(
                s.state(&a.dialog),
                Some(sip_dialog::InviteState::Confirmed | sip_dialog::InviteState::Bye)
            )
        });
        if acked {
            // While the call lasts its INVITE is at hand (when this 2xx is
            // its own: a re-INVITE's has its own CSeq); after it, the
            // dialog is gone and no ACK can be built anyway.
            let invite = self
                .invite(&a.dialog)
                .filter(|i| i.cseq().map(|c| c.0) == Some(a.seq))
                .or_else(|| a.invite());
            if let Some(invite) = invite {
                self.ack_2xx(transport, &a.dialog, &invite, None).await;
            }
        }
    }

    /// The ACK, and the first time the BYE, for the 2xx of a fork other
    /// than the one the caller got (§13.2.2.4).
    async fn end_losing_fork(
        &self,
        transport: &Transport,
        tsx: &TransactionHandle,
        tx: sip_transaction::TransactionId,
        a: &Accepted,
        response: &Message,
    ) {
        let Some(invite) = a.invite() else {
            return;
        };
        let Ok(mut dlg) = Dialog::uac(&invite, response) else {
            debug!("2xx from another fork makes no dialog: not ACKed");
            return;
        };
        dlg.advance_local_seq(a.early_seq);
        let Some(target) = resolve_first(transport, next_hop_uri(&dlg)).await else {
            return;
        };
        let (ack_branch, bye_branch) = (self.branch(), self.branch());
        let outs = {
            let Ok(mut s) = self.sessions.lock() else {
                return;
            };
            if s.uac_2xx(
                &mut dlg,
                &invite,
                Some(&a.dialog),
                &ack_branch,
                &bye_branch,
                target.transport,
                None,
            )
            .is_err()
            {
                return;
            }
            s.drain()
        };
        if let Ok(mut m) = self.accepted.lock() {
            if let Some(e) = m.get_mut(&tx) {
                if !e.losers.contains(dlg.id()) {
                    e.losers.push(dlg.id().clone());
                }
            }
        }
        for o in outs {
            match o {
                SessionOutput::SendAck(ack) => {
                    let _ = transport.send(&ack, &target).await;
                }
                SessionOutput::SendBye(bye) => {
                    // Its answer goes to the service's event task, unread.
                    let _ = tsx.send_request(bye, target.clone()).await;
                }
                _ => {}
            }
        }
    }

    /// Timer M ended INVITE client transaction `tx` (RFC 6026 §8.4): a 2xx
    /// after it is a stray, the session keeps no ACK, and the sessions of
    /// forks ended with BYE go.
    pub(crate) fn invite_transaction_ended(&self, tx: sip_transaction::TransactionId) {
        let Some(a) = self.accepted.lock().ok().and_then(|mut a| a.remove(&tx)) else {
            return;
        };
        if let Ok(mut s) = self.sessions.lock() {
            s.forget_ack_of(&a.dialog, a.seq);
            for l in &a.losers {
                s.remove(l);
            }
        }
    }

    /// Starts a request in dialog `id` (§12.2.1.1) with these extra
    /// headers and body; `built` sees it before it is sent.
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn in_dialog_request(
        &self,
        transport: &Transport,
        tsx: &TransactionHandle,
        method: Method,
        id: &DialogId,
        headers: &[(String, String)],
        replacements: &[(String, String)],
        body: Option<&(String, Bytes)>,
        built: impl Fn(&Message),
    ) -> Result<(Message, sip_transaction::driver::ClientTransaction), crate::Error> {
        use crate::Error;
        let target = self
            .dialog_target(transport, id)
            .await
            .ok_or(Error::UnknownDialog)?;
        let branch = self.branch();
        let request = {
            let mut d = self.dialogs.lock().map_err(|_| Error::Stopped)?;
            let dlg = d.get_mut(id).ok_or(Error::UnknownDialog)?;
            let mut b = dlg
                .request(method, None, &branch, target.transport)
                .map_err(|_| Error::UnknownDialog)?;
            for (n, v) in headers {
                b.add_raw_header(n, v);
            }
            for (n, v) in replacements {
                b = b.replace_raw(n, v);
            }
            if let Some((ct, body)) = body {
                b = b.body(ct, body.clone());
            }
            b.build().map_err(|_| Error::InvalidOption("headers"))?
        };
        built(&request);
        let ct = tsx.send_request(request.clone(), target).await?;
        Ok((request, ct))
    }

    /// Where in-dialog requests of `id` go: the first route, else the
    /// remote target (§12.2.1.1; the transport resolves it).
    pub(crate) async fn dialog_target(
        &self,
        transport: &Transport,
        id: &DialogId,
    ) -> Option<Target> {
        let uri = {
            let d = self.dialogs.lock().ok()?;
            let dlg = d.get(id)?;
            // An IP literal is its own target: no copy of the URI, no
            // lookup (RFC 3263 §4.2).
            let routes = dlg.route_set();
            let uri = match routes.first() {
                Some(r) => Some(r.uri()),
                None => dlg.remote_target_uri_ref(),
            };
            if let Some(t) = uri.and_then(sip_transport::target::resolve_numeric) {
                return t.ok();
            }
            next_hop_uri(dlg)
        };
        resolve_first(transport, uri).await
    }
}

/// Where a dialog's requests go first: its first route, else the remote
/// target (§12.2.1.1).
fn next_hop_uri(dlg: &Dialog) -> Option<Uri> {
    match dlg.route_set().first() {
        Some(r) => Some(r.uri().clone()),
        None => dlg.remote_target_uri(),
    }
}

/// The first target the transport resolves `uri` to (RFC 3263).
async fn resolve_first(transport: &Transport, uri: Option<Uri>) -> Option<Target> {
    sip_transport::target::resolve(&uri?, transport.resolver())
        .await
        .ok()?
        .into_iter()
        .next()
}

/// The response for answer `a` to `request`. The default handler's
/// `Allow` and empty `Supported` become the service's own (with what its
/// extensions add).
pub(crate) fn answer_message(
    request: &Message,
    a: &Answer,
    tag: &str,
    caps: &Capabilities,
) -> Option<Message> {
    let establishes = establishes_dialog(request, a.code);
    answer_message_in(request, a, tag, caps, establishes)
}

/// Whether our response `code` to `request` establishes a dialog
/// (§12.1.1): a 101-299 to an INVITE out of any dialog (1xx make early
/// dialogs), a 2xx to a SUBSCRIBE or REFER out of any dialog (RFC 6665
/// §4.2.1, RFC 3515). A NOTIFY that makes the dialog of a SUBSCRIBE whose
/// 2xx it overtook (RFC 6665 §4.1.2.4) is known only to the caller.
fn establishes_dialog(request: &Message, code: u16) -> bool {
    if request.to_tag().is_some() {
        return false;
    }
    match request.method() {
        Some(Method::Invite) => (101..300).contains(&code),
        Some(Method::Subscribe | Method::Refer) => (200..300).contains(&code),
        _ => false,
    }
}

/// [`answer_message`], saying whether the response establishes a dialog.
fn answer_message_in(
    request: &Message,
    a: &Answer,
    tag: &str,
    caps: &Capabilities,
    establishes: bool,
) -> Option<Message> {
    let mut b = ResponseBuilder::from_request(request, a.code);
    if a.code > 100 {
        b = b.with_to_tag(tag);
    }
    // §12.1.1: a response that establishes a dialog carries the request's
    // Record-Route values, in order, so that the peer's route set is the
    // proxies that asked to stay on the path (§16.6 step 4).
    if establishes {
        for v in request.values(sip_message::HeaderName::RecordRoute) {
            if let Ok(v) = std::str::from_utf8(v) {
                b.add_raw_header("Record-Route", v);
            }
        }
    }
    if let Some(r) = &a.reason {
        b = b.reason(r);
    }
    for (n, v) in &a.headers {
        if n.eq_ignore_ascii_case("require") {
            // A response requires only extensions this service implements
            // (e.g. `Require: 100rel` from a handler on a service without
            // the 100rel plugin is dropped): the peer would act on them.
            let kept: Vec<&str> = v
                .split(',')
                .map(str::trim)
                .filter(|t| caps.tags.iter().any(|x| x.eq_ignore_ascii_case(t)))
                .collect();
            if kept.len() != v.split(',').count() {
                debug!(require = %v, "option tags without an extension dropped from Require");
            }
            if !kept.is_empty() {
                b.add_raw_header(n, &kept.join(", "));
            }
            continue;
        }
        let v = if n.eq_ignore_ascii_case("allow") && v == ALLOW {
            &caps.allow
        } else if n.eq_ignore_ascii_case("supported") && v.is_empty() {
            &caps.supported
        } else {
            v
        };
        b.add_raw_header(n, v);
    }
    if let Some((ct, body)) = &a.body {
        b = b.body(ct, body.clone());
    }
    b.build().ok()
}

pub(crate) fn now() -> Instant {
    tokio::time::Instant::now().into_std()
}

/// The task that answers received requests and keeps the sessions' timers.
pub(crate) async fn serve(
    core: Arc<Core>,
    handler: Arc<dyn Handler>,
    tsx: TransactionHandle,
    transport: Transport,
    mut events: tokio::sync::mpsc::Receiver<TransactionEvent>,
) {
    loop {
        let sessions = core.sessions.lock().ok().and_then(|mut s| s.poll_timeout());
        let ringing = core
            .ringing
            .lock()
            .ok()
            .and_then(|r| r.values().map(|v| v.expires_at).min());
        let subscriptions = core.events.lock().ok().and_then(|e| {
            [e.subscriber.poll_timeout(), e.notifier.poll_timeout()]
                .into_iter()
                .flatten()
                .min()
        });
        let deadline = [sessions, ringing, subscriptions]
            .into_iter()
            .flatten()
            .min();
        tokio::select! {
            e = events.recv() => match e {
                Some(e) => on_event(&core, &*handler, &tsx, &transport, e).await,
                None => return,
            },
            _ = sleep_until(deadline) => {
                expire_ringing(&core, &tsx).await;
                let expired = expire_subscriptions(&core);
                if !expired.is_empty() {
                    // Their final NOTIFYs may wait on name lookups: not on this task.
                    let (core, tsx, transport) = (core.clone(), tsx.clone(), transport.clone());
                    tokio::spawn(async move {
                        for id in expired {
                            final_notify(&core, &tsx, &transport, &id, "terminated;reason=timeout")
                                .await;
                        }
                    });
                }
                let outs = {
                    let Ok(mut s) = core.sessions.lock() else { return };
                    let core2 = &core;
                    s.handle_timeout(now(), |id| {
                        let branch = core2.branch();
                        core2.dialogs.lock().ok()?.get_mut(id)?.request(Method::Bye, None, &branch, Kind::Udp).ok()?.build().ok()
                    });
                    s.drain()
                };
                for o in outs {
                    match o {
                        SessionOutput::Retransmit2xx(m) => {
                            retransmit_2xx(&core, &tsx, &transport, m).await;
                        }
                        SessionOutput::SendBye(bye) => {
                            if let Some(id) = Dialogs::id_of_request(&bye).map(|d| DialogId::new(d.call_id(), d.remote_tag(), d.local_tag())) {
                                // Off this task: the target may need a name lookup.
                                let (core, tsx, transport) = (core.clone(), tsx.clone(), transport.clone());
                                tokio::spawn(async move {
                                    if let Some(t) = core.dialog_target(&transport, &id).await {
                                        let _ = tsx.send_request(bye, t).await;
                                    }
                                    // §13.3.1.4: the call is over once its BYE is out.
                                    core.forget(&id);
                                });
                            }
                        }
                        _ => {}
                    }
                }
            }
        }
    }
}

/// The id of the dialog our responses with To tag `tag` make for `invite`.
pub(crate) fn uas_dialog_id(invite: &Message, tag: &str) -> Option<DialogId> {
    Some(DialogId::new(
        invite.call_id()?,
        tag,
        invite.from_tag().unwrap_or(""),
    ))
}

/// `a` with our Contact unless it has one (§12.1.1: a response that makes
/// a dialog carries the UAS's Contact).
pub(crate) fn with_contact(a: Answer, contact: &str) -> Answer {
    if a.headers
        .iter()
        .any(|(n, _)| crate::options::is_header(n, sip_message::HeaderName::Contact))
    {
        a
    } else {
        a.header("Contact", contact)
    }
}

/// Subscriptions whose time ran out. Ours (subscriber) just end (RFC 6665
/// §4.1.2.2 leaves refreshing to the user); those we granted get a final
/// NOTIFY with `terminated;reason=timeout` (§4.2.2).
/// Returns the granted ones, whose final NOTIFY is due.
fn expire_subscriptions(core: &Core) -> Vec<sip_dialog::SubscriptionId> {
    let (ended, expired) = {
        let Ok(mut e) = core.events.lock() else {
            return Vec::new();
        };
        e.subscriber.handle_timeout(now());
        let ended: Vec<_> = e
            .subscriber
            .drain()
            .into_iter()
            .filter_map(|ev| match ev {
                sip_dialog::SubscriptionEvent::Status {
                    id,
                    status: sip_dialog::SubscriptionStatus::Terminated { .. },
                } => Some(id),
                _ => None,
            })
            .collect();
        for id in &ended {
            e.subscriber.remove(id);
        }
        (ended, e.notifier.expire(now()))
    };
    for id in ended {
        core.end_usage(&id);
    }
    expired
}

/// Sends the final NOTIFY of a subscription we granted (RFC 6665 §4.2.2)
/// without waiting for its answer, and ends the subscription's usage.
pub(crate) async fn final_notify(
    core: &Core,
    tsx: &TransactionHandle,
    transport: &Transport,
    id: &sip_dialog::SubscriptionId,
    state: &str,
) {
    let headers = vec![
        ("Event".to_owned(), crate::subscriptions::event_header(id)),
        ("Subscription-State".to_owned(), state.to_owned()),
    ];
    let sent = core
        .in_dialog_request(
            transport,
            tsx,
            Method::Notify,
            &id.dialog,
            &headers,
            &[],
            None,
            |_| {},
        )
        .await;
    if let Err(e) = sent {
        debug!(error = %e, "final NOTIFY not sent");
    }
    core.end_usage(id);
}

/// Sends a 2xx again until its ACK (§13.3.1.4) through its server
/// transaction while that is in Accepted (RFC 6026 §7.1), else straight to
/// the transport. If the transaction ended the INVITE otherwise (an
/// extension answered it with an error), the call is over.
async fn retransmit_2xx(core: &Core, tsx: &TransactionHandle, transport: &Transport, m: Message) {
    let Some(did) = m
        .call_id()
        .zip(m.to_tag())
        .map(|(c, t)| DialogId::new(c, t, m.from_tag().unwrap_or("")))
    else {
        return;
    };
    let tx = core.uas_tx(&did);
    let Some(tx) = tx else {
        let _ = transport.send_response(&m, None).await;
        return;
    };
    match tsx.send_response(tx, m).await {
        Ok(()) => {}
        Err(sip_transaction::TransactionError::InvalidState { .. }) => {
            debug!(dialog = %did, "INVITE answered otherwise: 2xx dropped, call over");
            core.forget(&did);
        }
        // Timer L ended the transaction (64*T1, when the session gives up
        // too), or it ended on an ACK for another final: nothing to resend
        // through it, and never a 2xx straight to the transport after
        // another final (RFC 3261 §13.3.1.4 retransmits the 2xx it sent).
        Err(_) => {}
    }
}

/// An INVITE answered only provisionally, waiting for CANCEL or expiry.
#[derive(Clone)]
pub(crate) struct Ringing {
    pub(crate) invite: Message,
    /// The To tag its provisional carried.
    pub(crate) tag: String,
    pub(crate) expires_at: Instant,
}

/// How long an INVITE answered only provisionally may ring: its Expires
/// (§13.3.1), else three minutes (the floor RFC 3261 §16.6 sets for Timer C).
pub(crate) fn ringing_for(invite: &Message) -> Duration {
    let secs = invite
        .get::<sip_message::headers::Expires>()
        .map_or(180, |e| e.0);
    Duration::from_secs(u64::from(secs.min(180)))
}

/// Answers 487 to the ringing INVITEs whose time is up (§13.3.1: "If the
/// request has expired, the UAS ... should generate a 487").
async fn expire_ringing(core: &Core, tsx: &TransactionHandle) {
    let t = now();
    let expired: Vec<_> = match core.ringing.lock() {
        Ok(mut r) => {
            let ids: Vec<_> = r
                .iter()
                .filter(|(_, v)| v.expires_at <= t)
                .map(|(id, _)| *id)
                .collect();
            ids.into_iter()
                .filter_map(|id| r.remove(&id).map(|v| (id, v)))
                .collect()
        }
        Err(_) => return,
    };
    for (id, v) in expired {
        // §12.1.1: the final response carries the provisional's To tag.
        if let Some(resp) = answer_message(&v.invite, &Answer::code(487), &v.tag, &core.caps) {
            let _ = tsx.send_response(id, resp).await;
        }
        if let Some(did) = uas_dialog_id(&v.invite, &v.tag) {
            core.forget(&did);
        }
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(tokio::time::Instant::from_std(d)).await,
        None => std::future::pending().await,
    }
}

async fn on_event(
    core: &Arc<Core>,
    handler: &dyn Handler,
    tsx: &TransactionHandle,
    transport: &Transport,
    e: TransactionEvent,
) {
    match e {
        TransactionEvent::Request {
            id,
            request,
            cancels,
            ..
        } => {
            let mut tag = String::with_capacity(16);
            sip_message::encode::put_hex(&mut tag, core.random(), 1);
            if request.method() == Some(&Method::Cancel) {
                // §9.2: 200 to the CANCEL; 487 to the INVITE if it is still ringing
                // (481 if there is no such INVITE).
                let ringing = cancels
                    .and_then(|inv| core.ringing.lock().ok()?.remove(&inv).map(|r| (inv, r)));
                let code = if ringing.is_some() || cancels.is_some() {
                    200
                } else {
                    481
                };
                // §9.2: the CANCEL's response SHOULD carry the INVITE's To tag.
                let tag = ringing.as_ref().map_or(tag, |(_, r)| r.tag.clone());
                if let Some(resp) = answer_message(&request, &Answer::code(code), &tag, &core.caps)
                {
                    let _ = tsx.send_response(id, resp).await;
                }
                if let Some((inv, r)) = ringing {
                    if let Some(resp) =
                        answer_message(&r.invite, &Answer::code(487), &r.tag, &core.caps)
                    {
                        let _ = tsx.send_response(inv, resp).await;
                    }
                    if let Some(did) = uas_dialog_id(&r.invite, &r.tag) {
                        core.forget(&did);
                    }
                }
                return;
            }
            if let Some(reject) = core.caps.reject(&request) {
                if let Some(resp) = answer_message(&request, &reject, &tag, &core.caps) {
                    let _ = tsx.send_response(id, resp).await;
                }
                return;
            }
            let in_dialog = request.to_tag().is_some();
            let method = request.method().cloned();
            let made_by_notify =
                method == Some(Method::Notify) && core.dialog_from_notify(&request);
            let mut subscription = None;
            let mut answer = if in_dialog {
                // §12.2.2: unknown dialog 481, lower CSeq 500.
                let checked = core
                    .dialogs
                    .lock()
                    .map(|mut d| d.receive_request(&request))
                    .map_err(|_| ());
                match checked {
                    Ok(Ok(dialog)) if method == Some(Method::Notify) => {
                        match core.on_notify(&dialog, &request) {
                            Ok(sid) => {
                                let a = handler.on_in_dialog_request(&request);
                                subscription = Some(sid);
                                a
                            }
                            Err(code) => {
                                if made_by_notify {
                                    // A rejected NOTIFY leaves no dialog behind.
                                    core.forget(&dialog);
                                }
                                Answer::code(code)
                            }
                        }
                    }
                    // RFC 6665 §4.2.1.2: a refresh of a subscription we
                    // granted is ours to accept; a new one in the dialog
                    // goes to the handler.
                    Ok(Ok(dialog))
                        if method == Some(Method::Subscribe)
                            && core.is_refresh(&dialog, &request) =>
                    {
                        Answer::code(200)
                    }
                    Ok(Ok(dialog)) => {
                        if request.method() == Some(&Method::Bye) {
                            // The peer hung up: it was the caller if the dialog is ours as UAS.
                            let caller = core
                                .dialogs
                                .lock()
                                .ok()
                                .and_then(|d| {
                                    d.get(&dialog).map(|x| x.role() == sip_dialog::Role::Uas)
                                })
                                .unwrap_or(false);
                            if let Ok(mut s) = core.sessions.lock() {
                                s.bye(&dialog, caller);
                            }
                            // §15.1.2: a BYE in an early dialog ends the
                            // INVITE with 487.
                            crate::callee::hung_up_early(core, tsx, &request).await;
                        }
                        handler.on_in_dialog_request(&request)
                    }
                    Ok(Err(e)) => Answer::code(e.status_code().unwrap_or(500)),
                    Err(_) => Answer::code(500),
                }
            } else {
                handler.on_request(&request)
            };
            // RFC 3311 §5.2: an UPDATE's offer, answered in our 2xx, is
            // the session now (early or confirmed).
            if method == Some(Method::Update) && (200..300).contains(&answer.code) {
                if let (Some(did), Some((ct, local))) =
                    (Dialogs::id_of_request(&request), answer.body.as_ref())
                {
                    if is_sdp(&request) && is_sdp_type(ct) {
                        core.update_sdp(&did, Some(local.clone()), Some(request.body()));
                    }
                }
            }
            // A NOTIFY saying terminated ends its subscription (RFC 6665
            // §4.1.3), once answered.
            if let Some(sid) = subscription.filter(|_| (200..300).contains(&answer.code)) {
                core.notified(&sid, &request);
            }
            // A subscription granted (SUBSCRIBE or REFER answered 2xx): the
            // notifier side (RFC 6665 §4.2.1, RFC 3515 §2.4.4).
            let granted = if (200..300).contains(&answer.code)
                && matches!(method, Some(Method::Subscribe | Method::Refer))
            {
                let a = std::mem::replace(&mut answer, Answer::code(0));
                let (a, sid) = core.grant(&request, &tag, a);
                answer = a;
                sid
            } else {
                None
            };
            if !in_dialog && request.method() == Some(&Method::Invite) {
                crate::callee::answer_invite(core, tsx, id, &request, &tag, answer, None).await;
            } else if request.method() == Some(&Method::Invite) && (200..300).contains(&answer.code)
            {
                crate::callee::answer_reinvite(core, tsx, id, &request, answer).await;
            } else {
                let establishes = establishes_dialog(&request, answer.code)
                    || (made_by_notify && (200..300).contains(&answer.code));
                match answer_message_in(&request, &answer, &tag, &core.caps, establishes) {
                    Some(resp) => {
                        if let Err(e) = tsx.send_response(id, resp).await {
                            debug!(error = %e, "response not sent");
                        }
                    }
                    None => debug!("could not build the answer"),
                }
            }
            if let Some(sid) = granted {
                if core.events.lock().is_ok_and(|e| e.notifier.contains(&sid)) {
                    handler.on_subscription(&sid, &request);
                } else {
                    // Expires: 0 (an unsubscribe or a fetch): the final
                    // NOTIFY goes at once (RFC 6665 §4.2.1.4).
                    let (core, tsx, transport) = (core.clone(), tsx.clone(), transport.clone());
                    tokio::spawn(async move {
                        final_notify(&core, &tsx, &transport, &sid, "terminated;reason=timeout")
                            .await;
                    });
                }
            }
            // A BYE ends the INVITE usage, and the dialog with its last one
            // (RFC 5057: a REFER's subscription outlives the call).
            if request.method() == Some(&Method::Bye) {
                if let Some(did) = Dialogs::id_of_request(&request) {
                    core.end_invite_usage(&did);
                }
            }
        }
        // An extension completed an offer/answer in one of our dialogs
        // (e.g. an offer in our reliable provisional, answered in its PRACK).
        TransactionEvent::Extension { payload, .. } => {
            if let Some(x) = payload.downcast_ref::<sip_dialog::SessionExchanged>() {
                core.update_sdp(&x.dialog, x.local.clone(), x.remote.clone());
            }
        }
        // Those of our INVITE transactions whose caller has its reply.
        TransactionEvent::Response { id, response } => {
            let (core, transport) = (core.clone(), transport.clone());
            // Off this task: the dialog's target may need a name lookup.
            let tsx = tsx.clone();
            tokio::spawn(async move {
                core.on_retransmitted_2xx(&transport, &tsx, id, &response)
                    .await;
            });
        }
        TransactionEvent::Terminated {
            id,
            key: sip_transaction::TransactionKey::Client(k),
        } if k.method == Method::Invite => core.invite_transaction_ended(id),
        TransactionEvent::Ack { request, .. } => {
            if let Some(id) = Dialogs::id_of_request(&request) {
                if let Ok(mut s) = core.sessions.lock() {
                    s.uas_ack(&id);
                }
                core.clear_uas_tx(&id);
                if !request.body_bytes().is_empty() {
                    // §13.2.2.4: the answer to an offer in our 2xx.
                    core.update_sdp(&id, None, Some(request.body()));
                }
            }
            handler.on_ack(&request);
        }
        _ => {}
    }
}

/// Whether a message carries a session description (a non-empty body of
/// Content-Type `application/sdp`).
pub(crate) fn is_sdp(m: &Message) -> bool {
    !m.body_bytes().is_empty()
        && m.get::<sip_message::headers::ContentType>()
            .is_ok_and(|c| c.0.is("application", "sdp"))
}

/// Whether a Content-Type given as text (an option's, an answer's) is
/// `application/sdp`, parameters aside.
pub(crate) fn is_sdp_type(content_type: &str) -> bool {
    content_type
        .split(';')
        .next()
        .is_some_and(|t| t.trim().eq_ignore_ascii_case("application/sdp"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn invite(to_tag: &str) -> Message {
        Message::parse(
            format!(
                "INVITE sip:bob@127.0.0.1:5062 SIP/2.0\r\n\
                 Record-Route: <sip:p2.example.com;lr>\r\n\
                 Record-Route: <sip:p1.example.com;lr;ftag=x>, <sip:p0.example.com;lr>\r\n\
                 Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK1\r\n\
                 From: <sip:alice@example.com>;tag=a\r\nTo: <sip:bob@example.com>{to_tag}\r\n\
                 Call-ID: c\r\nCSeq: 1 INVITE\r\nContact: <sip:alice@127.0.0.1:5070>\r\n\
                 Content-Length: 0\r\n\r\n"
            )
            .into_bytes(),
        )
        .unwrap()
    }

    fn record_routes(m: &Message) -> Vec<String> {
        m.values(sip_message::HeaderName::RecordRoute)
            .map(|v| String::from_utf8_lossy(v).into_owned())
            .collect()
    }

    #[test]
    fn rfc3261_12_1_1_a_dialog_establishing_response_copies_record_route_in_order() {
        let caps = Capabilities::new();
        let inv = invite("");
        for code in [180, 183, 200] {
            let r = answer_message(&inv, &Answer::code(code), "b", &caps).unwrap();
            assert_eq!(
                record_routes(&r),
                [
                    "<sip:p2.example.com;lr>",
                    "<sip:p1.example.com;lr;ftag=x>, <sip:p0.example.com;lr>"
                ],
                "{code}"
            );
        }
        // Not for a response that makes no dialog: a 100, a failure, or
        // one inside an existing dialog (its route set is fixed, §12.2).
        for (request, code) in [(&inv, 100), (&inv, 486), (&invite(";tag=b"), 200)] {
            let r = answer_message(request, &Answer::code(code), "b", &caps).unwrap();
            assert!(record_routes(&r).is_empty(), "{code}");
        }
        // SUBSCRIBE and REFER: their 2xx only (no early dialogs).
        for method in ["SUBSCRIBE", "REFER"] {
            let text = String::from_utf8_lossy(inv.as_bytes())
                .replace("INVITE", method)
                .replace(
                    "Content-Length: 0",
                    "Event: presence\r\nRefer-To: <sip:c@d>\r\nContent-Length: 0",
                );
            let req = Message::parse(text.into_bytes()).unwrap();
            let ok = answer_message(&req, &Answer::code(202), "b", &caps).unwrap();
            assert_eq!(record_routes(&ok).len(), 2, "{method}");
            let ringing = answer_message(&req, &Answer::code(180), "b", &caps).unwrap();
            assert!(record_routes(&ringing).is_empty(), "{method}");
        }
    }
}
