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
pub(crate) struct Core {
    pub(crate) dialogs: Mutex<Dialogs>,
    pub(crate) sessions: Mutex<Sessions>,
    /// The INVITE that created each dialog we are the UAC of (for ACKs).
    pub(crate) invites: Mutex<HashMap<DialogId, Message>>,
    pub(crate) contact: String,
    pub(crate) rng: Arc<Mutex<Xorshift>>,
}

impl Core {
    pub(crate) fn new(
        t1: Duration,
        t2: Duration,
        contact: String,
        rng: Arc<Mutex<Xorshift>>,
    ) -> Core {
        Core {
            dialogs: Mutex::new(Dialogs::new()),
            sessions: Mutex::new(Sessions::new(t1, t2)),
            invites: Mutex::new(HashMap::new()),
            contact,
            rng,
        }
    }

    pub(crate) fn random(&self) -> u64 {
        self.rng.lock().map(|mut r| r.next_u64()).unwrap_or(0)
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
        let deadline = core.sessions.lock().ok().and_then(|s| s.poll_timeout());
        tokio::select! {
            e = events.recv() => match e {
                Some(e) => on_event(&core, &*handler, &tsx, e).await,
                None => return,
            },
            _ = sleep_until(deadline) => {
                let outs = {
                    let Ok(mut s) = core.sessions.lock() else { return };
                    let core2 = &core;
                    s.handle_timeout(now(), |id| {
                        let branch = format!("z9hG4bK{:x}", core2.random());
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
                            }
                        }
                        _ => {}
                    }
                }
            }
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
        TransactionEvent::Request { id, request, .. } => {
            let tag = format!("{:x}", core.random());
            let (answer, invite_2xx) = if request.to_tag().is_some() {
                // §12.2.2: unknown dialog 481, lower CSeq 500.
                let checked = core.dialogs.lock().map(|mut d| d.receive_request(&request));
                match checked {
                    Ok(Ok(dialog)) => {
                        if request.method() == Some(&Method::Bye) {
                            if let Ok(mut s) = core.sessions.lock() {
                                // The peer hung up: it was the caller if the dialog is ours as UAS.
                                let caller = core
                                    .dialogs
                                    .lock()
                                    .ok()
                                    .and_then(|d| {
                                        d.get(&dialog).map(|x| x.role() == sip_dialog::Role::Uas)
                                    })
                                    .unwrap_or(false);
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
                    if let (Ok(mut d), Ok(mut s)) = (core.dialogs.lock(), core.sessions.lock()) {
                        s.uas_invite(&dlg, &request);
                        d.insert(dlg);
                        s.uas_sent_2xx(now(), &did, resp.clone());
                        s.drain();
                        d.drain_events();
                    }
                }
            }
            if let Err(e) = tsx.send_response(id, resp).await {
                debug!(error = %e, "response not sent");
            }
            // A dialog a BYE ended is gone once the BYE is answered.
            if request.method() == Some(&Method::Bye) {
                if let (Some(did), Ok(mut d)) =
                    (Dialogs::id_of_request(&request), core.dialogs.lock())
                {
                    d.remove(&did);
                    d.drain_events();
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
        }
        _ => {}
    }
}
