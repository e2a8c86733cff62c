//! The Service: listeners, transaction layer and the sending functions.
//!
//! This file holds the Service itself and its look-ups (dialogs,
//! subscriptions, ringing requests). The sending functions live by kind:
//! `builder` starts a Service; `out_of_dialog` has OPTIONS, MESSAGE,
//! PUBLISH, REGISTER, `request` and the pipeline every request takes
//! (build, send, failover, digest retry); `invite` has INVITE, ACK, CANCEL
//! and re-INVITE; `in_dialog` has BYE, INFO, UPDATE and `request_in_dialog`;
//! `subscribe` has SUBSCRIBE, NOTIFY and REFER; `wait_final` waits for a
//! final response under Timer C and the INVITE's Expires.

mod builder;
mod in_dialog;
mod invite;
mod out_of_dialog;
mod subscribe;
mod wait_final;

pub use builder::{ServiceBuilder, DEFAULT_TIMER_C};
pub use invite::PendingInvite;
pub use out_of_dialog::MAX_AUTH_TRIES;

use std::net::SocketAddr;
use std::sync::atomic::AtomicU32;
use std::sync::{Arc, Mutex};

use sip_dialog::{DialogId, SubscriptionId, SubscriptionStatus};
use sip_message::headers::Transport as Kind;
use sip_transaction::driver::TransactionHandle;
use sip_transport::Transport;
use tokio::task::JoinHandle;

use crate::core::Core;
use crate::error::Error;

struct Inner {
    name: String,
    transport: Transport,
    tsx: TransactionHandle,
    from: String,
    routes: Vec<String>,
    user_agent: Option<String>,
    credentials: crate::auth::Credentials,
    timer_c: std::time::Duration,
    cseq: AtomicU32,
    core: Arc<Core>,
    tasks: Mutex<Vec<JoinHandle<()>>>,
}

/// A SIP endpoint (NkSIP's service): its listeners, its transaction layer,
/// the handler that answers requests, and the sending functions.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), sip_uac::Error> {
/// use sip_uac::{RequestOptions, Service};
/// use sip_message::headers::Transport;
///
/// let bob = Service::builder("bob").udp("127.0.0.1:0".parse().unwrap()).start().await?;
/// let alice = Service::builder("alice").udp("127.0.0.1:0".parse().unwrap()).start().await?;
/// let to = format!("sip:bob@{}", bob.local_addr(Transport::Udp).unwrap());
/// let reply = alice.options(&to, RequestOptions::new()).await?;
/// assert_eq!(reply.code(), 200);
/// alice.stop().await;
/// bob.stop().await;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Service {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Service {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Service")
            .field("name", &self.inner.name)
            .finish()
    }
}

impl Service {
    /// The service's name.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// The first listener of a transport.
    pub fn local_addr(&self, kind: Kind) -> Option<SocketAddr> {
        self.inner.transport.local_addr(kind)
    }

    /// Stops the listeners and tasks.
    pub async fn stop(&self) {
        self.inner.transport.shutdown().await;
        let tasks: Vec<JoinHandle<()>> = self
            .inner
            .tasks
            .lock()
            .map(|mut t| t.drain(..).collect())
            .unwrap_or_default();
        for t in tasks {
            t.abort();
        }
    }

    fn random(&self) -> u64 {
        self.inner.core.random()
    }

    fn branch(&self) -> sip_transaction::Branch {
        self.inner.core.branch()
    }

    /// Where a subscription this service holds stands (subscriber side),
    /// or `None` once it has ended and been forgotten.
    pub fn subscription(&self, id: &SubscriptionId) -> Option<SubscriptionStatus> {
        self.inner
            .core
            .events
            .lock()
            .ok()?
            .subscriber
            .status(id)
            .cloned()
    }

    /// Every subscription of this service, sorted (NkSIP's
    /// `nksip_subscription:get_all`): those it holds as subscriber (their
    /// state: [`subscription`](Self::subscription); refresh or end them:
    /// [`subscribe_refresh`](Self::subscribe_refresh)) and those it grants
    /// as notifier ([`notify`](Self::notify)).
    pub fn subscriptions(&self) -> Vec<SubscriptionId> {
        let mut ids: Vec<SubscriptionId> = self
            .inner
            .core
            .events
            .lock()
            .map(|e| {
                e.subscriber
                    .ids()
                    .chain(e.notifier.ids())
                    .cloned()
                    .collect()
            })
            .unwrap_or_default();
        ids.sort();
        ids.dedup();
        ids
    }

    /// Answers later an INVITE the handler left ringing (it answered only
    /// a provisional): another provisional (it keeps ringing) or the final
    /// answer, with the To tag of its first provisional (NkSIP's
    /// `nksip_request:reply`). [`Error::UnknownRequest`] once it was
    /// answered, cancelled (487) or expired.
    ///
    /// ```no_run
    /// # async fn f(svc: sip_uac::Service, id: sip_uac::RequestId) -> Result<(), sip_uac::Error> {
    /// use sip_uac::Answer;
    /// svc.answer(&id, Answer::code(200).body("application/sdp", "v=0\r\n")).await?;
    /// # Ok(()) }
    /// ```
    pub async fn answer(&self, id: &crate::RequestId, answer: crate::Answer) -> Result<(), Error> {
        let core = &self.inner.core;
        let fin = answer.code >= 200;
        let (tx, ringing) = core
            .ringing_for_answer(id, fin)
            .ok_or(Error::UnknownRequest)?;
        let since = Some(ringing.expires_at);
        crate::callee::answer_invite(
            core,
            &self.inner.tsx,
            tx,
            &ringing.invite,
            &ringing.tag,
            answer,
            since,
        )
        .await;
        Ok(())
    }

    /// A snapshot of one dialog's fields (NkSIP's dialog `get_meta`), or
    /// `None` once it has ended.
    pub fn dialog(&self, id: &DialogId) -> Option<crate::DialogInfo> {
        let core = &self.inner.core;
        let invite_state = core.sessions.lock().ok().and_then(|s| s.state(id));
        let sdp = core.sdp(id);
        let dialogs = core.dialogs.lock().ok()?;
        let d = dialogs.get(id)?;
        let d_usages = dialogs.usages(id);
        Some(crate::DialogInfo {
            id: d.id().clone(),
            role: d.role(),
            state: d.state(),
            invite_state,
            local_uri: d.local().map(|n| n.uri().to_string()),
            remote_uri: d.remote().map(|n| n.uri().to_string()),
            local_target: d.local_target().map(str::to_owned),
            remote_target: d.remote_target().to_owned(),
            route_set: d.route_set().iter().map(|r| r.uri().to_string()).collect(),
            local_seq: d.local_seq(),
            remote_seq: d.remote_seq(),
            secure: d.secure(),
            local_sdp: sdp.local,
            remote_sdp: sdp.remote,
            subscriptions: d_usages
                .iter()
                .filter_map(|u| match u {
                    sip_dialog::Usage::Subscription { event, id: sub } => {
                        Some(SubscriptionId::new(id.clone(), event, sub.as_deref()))
                    }
                    _ => None,
                })
                .collect(),
        })
    }

    /// The dialogs this service takes part in.
    pub fn dialog_count(&self) -> usize {
        self.inner.core.dialogs.lock().map_or(0, |d| d.len())
    }

    /// The ids of every dialog this service takes part in, early ones
    /// included, sorted (NkSIP's `nksip_dialog:get_all`).
    pub fn dialogs(&self) -> Vec<DialogId> {
        let mut ids: Vec<DialogId> = self
            .inner
            .core
            .dialogs
            .lock()
            .map(|d| d.ids().cloned().collect())
            .unwrap_or_default();
        ids.sort();
        ids
    }

    /// Forgets a dialog without sending anything (NkSIP's
    /// `nksip_dialog:stop`): the dialog, its INVITE session and its
    /// subscriptions are dropped from memory, and a later request in it
    /// gets 481 (§12.2.2). For a dialog whose peer is gone for good; to
    /// end a call, use [`bye`](Self::bye). [`Error::UnknownDialog`] if
    /// there is no such dialog.
    pub fn stop_dialog(&self, id: &DialogId) -> Result<(), Error> {
        let core = &self.inner.core;
        if !core.dialogs.lock().is_ok_and(|d| d.get(id).is_some()) {
            return Err(Error::UnknownDialog);
        }
        core.forget(id);
        Ok(())
    }

    /// Sends BYE in every call this service may end with one (NkSIP's
    /// `nksip_dialog:bye_all`), all at once, and waits for their final
    /// responses: confirmed calls, and our early dialogs as caller (§15
    /// lets the caller end one; a CANCEL of the INVITE is the usual way).
    /// A call whose 2xx we sent and which has no ACK yet is left alone
    /// (§15: the callee waits for the ACK). Returns each dialog with its
    /// BYE's outcome, in dialog-id order. INVITEs still pending are not
    /// CANCELled: a callee that has not answered yet (or a 2xx crossing
    /// the BYE) can still make a call; CANCEL those with
    /// [`cancel`](Self::cancel).
    pub async fn bye_all(&self) -> Vec<(DialogId, Result<crate::Reply, Error>)> {
        use sip_dialog::InviteState;
        let calls: Vec<DialogId> = {
            let core = &self.inner.core;
            let Ok(sessions) = core.sessions.lock() else {
                return Vec::new();
            };
            let mut ids: Vec<DialogId> = core
                .dialogs
                .lock()
                .map(|d| {
                    d.ids()
                        .filter(|id| {
                            matches!(
                                sessions.state(id),
                                Some(
                                    InviteState::Confirmed
                                        | InviteState::AcceptedUac
                                        | InviteState::ProceedingUac
                                )
                            )
                        })
                        .cloned()
                        .collect()
                })
                .unwrap_or_default();
            ids.sort();
            ids
        };
        let mut set = tokio::task::JoinSet::new();
        for (i, id) in calls.iter().enumerate() {
            let (svc, id) = (self.clone(), id.clone());
            set.spawn(async move { (i, svc.bye(&id, crate::RequestOptions::new()).await) });
        }
        let mut out: Vec<Option<Result<crate::Reply, Error>>> =
            calls.iter().map(|_| None).collect();
        while let Some(done) = set.join_next().await {
            if let Ok((i, r)) = done {
                out[i] = Some(r);
            }
        }
        calls
            .into_iter()
            .zip(out)
            .map(|(id, r)| (id, r.unwrap_or(Err(Error::Stopped))))
            .collect()
    }
}
