//! The call state a Service keeps (dialogs, INVITE sessions) and how it
//! handles what the transaction layer reports.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sip_dialog::{Dialog, DialogId, Dialogs, SessionOutput, Sessions};
use sip_message::headers::{NameAddr, Transport as Kind};
use sip_message::{Message, Method, ResponseBuilder};
use sip_transaction::driver::TransactionHandle;
use sip_transaction::{RandomSource, TransactionEvent, Xorshift};
use sip_transport::{Target, Transport};
use tracing::debug;

use crate::handler::{Answer, Handler};

/// Dialogs and sessions, shared by the sending functions and the task that
/// handles received requests.
///
/// Lock order, where both are held: `sessions`, then `dialogs`.
pub(crate) struct Core {
    pub(crate) dialogs: Mutex<Dialogs>,
    pub(crate) sessions: Mutex<Sessions>,
    /// The INVITE that created each dialog we are the UAC of (for ACKs).
    pub(crate) invites: Mutex<HashMap<DialogId, Message>>,
    pub(crate) contact: String,
    rng: Mutex<Xorshift>,
    /// INVITEs answered with a provisional only (ringing), by server
    /// transaction, with the instant they expire: a CANCEL answers them 487
    /// (§9.2), and so does their expiry (§13.3.1), which bounds the map.
    pub(crate) ringing: Mutex<HashMap<sip_transaction::TransactionId, Ringing>>,
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
            d.drain_events();
        }
        if let Ok(mut i) = self.invites.lock() {
            i.remove(id);
        }
    }

    pub(crate) fn new(t1: Duration, t2: Duration, contact: String, rng: Xorshift) -> Core {
        Core {
            dialogs: Mutex::new(Dialogs::new()),
            sessions: Mutex::new(Sessions::new(t1, t2)),
            invites: Mutex::new(HashMap::new()),
            contact,
            rng: Mutex::new(rng),
            ringing: Mutex::new(HashMap::new()),
        }
    }

    pub(crate) fn random(&self) -> u64 {
        self.rng.lock().map(|mut r| r.next_u64()).unwrap_or(0)
    }

    /// A fresh branch (§8.1.1.7: the magic cookie, then 96 random bits),
    /// made here rather than by a round trip through the driver task.
    pub(crate) fn branch(&self) -> String {
        let (a, b) = self
            .rng
            .lock()
            .map(|mut r| (r.next_u64(), r.next_u64() as u32))
            .unwrap_or_default();
        format!("{}{a:016x}{b:08x}", sip_message::headers::MAGIC_COOKIE)
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
            match dlg.route_set().first() {
                Some(r) => r.uri().clone(),
                None => dlg.remote_target_uri()?,
            }
        };
        sip_transport::target::resolve(&uri, transport.resolver())
            .await
            .ok()?
            .into_iter()
            .next()
    }
}

fn answer_message(request: &Message, a: &Answer, tag: &str) -> Option<Message> {
    let mut b = ResponseBuilder::from_request(request, a.code);
    if a.code > 100 {
        b = b.with_to_tag(tag);
    }
    if let Some(r) = &a.reason {
        b = b.reason(r);
    }
    for (n, v) in &a.headers {
        b = b.raw_header(n, v);
    }
    if let Some((ct, body)) = &a.body {
        b = b.body(ct, body.clone());
    }
    b.build().ok()
}

fn now() -> Instant {
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
        let sessions = core.sessions.lock().ok().and_then(|s| s.poll_timeout());
        let ringing = core
            .ringing
            .lock()
            .ok()
            .and_then(|r| r.values().map(|v| v.expires_at).min());
        let deadline = match (sessions, ringing) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        tokio::select! {
            e = events.recv() => match e {
                Some(e) => on_event(&core, &*handler, &tsx, e).await,
                None => return,
            },
            _ = sleep_until(deadline) => {
                expire_ringing(&core, &tsx).await;
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
                            let _ = transport.send_response(&m, None).await;
                        }
                        SessionOutput::SendBye(bye) => {
                            if let Some(id) = Dialogs::id_of_request(&bye).map(|d| DialogId::new(&d.call_id, &d.remote_tag, &d.local_tag)) {
                                if let Some(t) = core.dialog_target(&transport, &id).await {
                                    let _ = tsx.send_request(bye, t).await;
                                }
                                // §13.3.1.4: the call is over once its BYE is out.
                                core.forget(&id);
                            }
                        }
                        _ => {}
                    }
                }
            }
        }
    }
}

/// An INVITE answered only provisionally, waiting for CANCEL or expiry.
pub(crate) struct Ringing {
    invite: Message,
    /// The To tag its provisional carried.
    tag: String,
    expires_at: Instant,
}

/// How long an INVITE answered only provisionally may ring: its Expires
/// (§13.3.1), else three minutes (the floor RFC 3261 §16.6 sets for Timer C).
fn ringing_for(invite: &Message) -> Duration {
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
        if let Some(resp) = answer_message(&v.invite, &Answer::code(487), &v.tag) {
            let _ = tsx.send_response(id, resp).await;
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
    core: &Core,
    handler: &dyn Handler,
    tsx: &TransactionHandle,
    e: TransactionEvent,
) {
    match e {
        TransactionEvent::Request {
            id,
            request,
            cancels,
            ..
        } => {
            let tag = format!("{:x}", core.random());
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
                if let Some(resp) = answer_message(&request, &Answer::code(code), &tag) {
                    let _ = tsx.send_response(id, resp).await;
                }
                if let Some((inv, r)) = ringing {
                    if let Some(resp) = answer_message(&r.invite, &Answer::code(487), &r.tag) {
                        let _ = tsx.send_response(inv, resp).await;
                    }
                }
                return;
            }
            let (answer, invite_2xx) = if request.to_tag().is_some() {
                // §12.2.2: unknown dialog 481, lower CSeq 500.
                let checked = core.dialogs.lock().map(|mut d| d.receive_request(&request));
                match checked {
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
                        }
                        (handler.on_in_dialog_request(&request), false)
                    }
                    Ok(Err(e)) => (Answer::code(e.status_code().unwrap_or(500)), false),
                    Err(_) => (Answer::code(500), false),
                }
            } else {
                let a = handler.on_request(&request);
                let is_2xx =
                    request.method() == Some(&Method::Invite) && (200..300).contains(&a.code);
                (a, is_2xx)
            };
            let mut answer = answer;
            if invite_2xx
                && !answer
                    .headers
                    .iter()
                    .any(|(n, _)| n.eq_ignore_ascii_case("contact"))
            {
                answer = answer.header("Contact", &core.contact);
            }
            let Some(resp) = answer_message(&request, &answer, &tag) else {
                debug!("could not build the answer");
                return;
            };
            if invite_2xx {
                // The UAS side of the dialog (§12.1.1) and its INVITE session.
                let contact: Option<NameAddr> = core.contact.parse().ok();
                let seed = (core.random() % 10_000) as u32;
                if let Ok(dlg) = Dialog::uas(&request, &tag, contact, seed, false) {
                    let did = dlg.id().clone();
                    if let (Ok(mut s), Ok(mut d)) = (core.sessions.lock(), core.dialogs.lock()) {
                        s.uas_invite(&dlg, &request);
                        d.insert(dlg);
                        s.uas_sent_2xx(now(), &did, resp.clone());
                        s.drain();
                        d.drain_events();
                    }
                }
            }
            let rings =
                request.method() == Some(&Method::Invite) && resp.status().is_some_and(|c| c < 200);
            if let Err(e) = tsx.send_response(id, resp).await {
                debug!(error = %e, "response not sent");
            }
            if rings {
                if let Ok(mut r) = core.ringing.lock() {
                    let expires_at = now() + ringing_for(&request);
                    r.insert(
                        id,
                        Ringing {
                            invite: request.clone(),
                            tag: tag.clone(),
                            expires_at,
                        },
                    );
                }
            }
            // A dialog a BYE ended is gone once the BYE is answered, with
            // its INVITE session and, if we called, the INVITE kept for ACKs.
            if request.method() == Some(&Method::Bye) {
                if let Some(did) = Dialogs::id_of_request(&request) {
                    core.forget(&did);
                }
            }
        }
        TransactionEvent::Ack { request, .. } => {
            if let Some(id) = Dialogs::id_of_request(&request) {
                if let Ok(mut s) = core.sessions.lock() {
                    s.uas_ack(&id);
                    s.drain();
                }
            }
            handler.on_ack(&request);
        }
        _ => {}
    }
}
