//! Waiting for a request's final response: provisionals, Timer C, the INVITE's
//! Expires and the timeouts that become replies.

use std::sync::atomic::Ordering;

use sip_transaction::driver::TransactionHandle;
use sip_transaction::TransactionEvent;

use sip_message::Message;

use crate::early::EarlyDialogs;
use crate::error::Error;
use crate::reply::Reply;

/// The user-cancel flag of a request that no handle can cancel.
pub(super) static NOT_CANCELLED: std::sync::atomic::AtomicBool =
    std::sync::atomic::AtomicBool::new(false);

/// What bounds an INVITE's wait for its final response besides its
/// transaction, whose Timer B stops at the first provisional (§17.1.1.2).
pub(super) struct InviteGuard<'a> {
    pub(super) tsx: &'a TransactionHandle,
    /// Timer C, started by the first provisional and restarted by every
    /// one above 100 (RFC 3261 §16.6 step 11, §16.7 step 2; NkSIP's
    /// `sip_timer_c`): when it runs out the INVITE is CANCELled, and its
    /// reply is 408 "Timer C Timeout".
    pub(super) timer_c: std::time::Duration,
    /// The INVITE's Expires (NkSIP's INVITE `expires`): when it runs out
    /// without a final response the INVITE is CANCELled (§13.2.1 lets the
    /// UAC do so); the reply is then normally the callee's 487.
    pub(super) expires: Option<std::time::Duration>,
    /// The user CANCELled it ([`Service::cancel`](super::Service::cancel)): Timer C then sends no
    /// CANCEL of its own, and the 487 stays the user's.
    pub(super) user_cancelled: &'a std::sync::atomic::AtomicBool,
    /// For an INVITE out of any dialog, the service's state and the
    /// INVITE: its provisionals make early dialogs (§12.1.2). `None` for a
    /// re-INVITE, whose dialog exists.
    pub(super) early: Option<(&'a Message, &'a mut EarlyDialogs)>,
}

/// Why an INVITE was CANCELled (by us, or by the user before us).
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum CancelledBy {
    TimerC,
    Expires,
    /// Found when one of ours was due: the user's CANCEL went first.
    User,
}

/// Waits for the final response however long the transaction takes: never
/// gives up before it does (NkSIP's 5 s sync timeout is a known bug). An
/// INVITE is bounded by its [`InviteGuard`]: once that CANCELs it, the
/// transaction layer ends it 64*T1 later if no final came (§9.1), so a
/// callee that rings forever and ignores the CANCEL cannot hold the caller.
///
/// On a reliable transport (TCP, TLS) a transport error before any response
/// is the first send failing (connection refused or unreachable): an error,
/// since nothing was sent. Later, or over UDP, it is a 503 reply (§8.1.3.1).
pub(super) async fn wait_final(
    ct: &mut sip_transaction::driver::ClientTransaction,
    reliable: bool,
    on_provisional: Option<&crate::options::ProvisionalCallback>,
    mut guard: Option<InviteGuard<'_>>,
) -> Result<Reply, Error> {
    let id = ct.id;
    // Timer C runs from the first provisional (until then Timer B bounds
    // the INVITE) and moves with each later one; the Expires from the
    // start. One timer entry serves the whole wait, and it is touched only
    // when armed and when it fires: a provisional moves `timer_c_at`, and
    // a timer that fires early is set again to it (so a call answered
    // without a provisional registers no timer, and one with a 180
    // registers one).
    let mut timer_c_at: Option<tokio::time::Instant> = None;
    let expires_at = guard
        .as_ref()
        .and_then(|g| g.expires)
        .map(|e| tokio::time::Instant::now() + e);
    let mut cancelled_by: Option<CancelledBy> = None;
    let timer = tokio::time::sleep_until(tokio::time::Instant::now());
    tokio::pin!(timer);
    let mut timer_set = false;
    let mut heard = false;
    let mut seq_used = Vec::new();
    let mut exchanged = Vec::new();
    loop {
        // Our next deadline, until we have CANCELled.
        let due = match (cancelled_by, timer_c_at, expires_at) {
            (Some(_), ..) => None,
            (None, Some(c), Some(e)) => Some(c.min(e)),
            (None, c, e) => c.or(e),
        };
        let event = match due {
            None => ct.events.recv().await,
            Some(due) => {
                if !timer_set || due < timer.deadline() {
                    timer.as_mut().reset(due);
                    timer_set = true;
                }
                tokio::select! {
                    e = ct.events.recv() => e,
                    _ = &mut timer => {
                        let now = tokio::time::Instant::now();
                        if due > now {
                            // Timer C moved on since the timer was set.
                            timer.as_mut().reset(due);
                            continue;
                        }
                        let by = if expires_at.is_some_and(|e| e <= now) {
                            CancelledBy::Expires
                        } else {
                            CancelledBy::TimerC
                        };
                        if let Some(g) = &guard {
                            if g.user_cancelled.load(Ordering::SeqCst) {
                                // The user's CANCEL is out already: its
                                // 487 (or §9.1's bound) ends the wait.
                                cancelled_by = Some(CancelledBy::User);
                                continue;
                            }
                            if let Err(e) = g.tsx.send_cancel(id).await {
                                // A final response crossed it: it is on its way.
                                tracing::debug!(%id, error = %e, "INVITE not cancelled");
                            }
                        }
                        cancelled_by = Some(by);
                        continue;
                    }
                }
            }
        };
        let Some(e) = event else { break };
        match e {
            TransactionEvent::Response { response, .. } => {
                let code = response.status().unwrap_or(0);
                if code >= 200 {
                    let mut reply = if code == 487 && cancelled_by == Some(CancelledBy::TimerC) {
                        // The callee's answer to our Timer C CANCEL: the
                        // caller learns why (NkSIP: 408 "Timer C Timeout").
                        Reply::synthesized(408, "Timer C Timeout")
                    } else {
                        Reply::from_response(response)
                    };
                    reply.seq_used = seq_used;
                    reply.exchanged = exchanged;
                    reply.cancelled = cancelled_by.is_some();
                    return Ok(reply);
                }
                if let Some(g) = &guard {
                    // Started by the first provisional, restarted by every
                    // one above 100 (§16.7 step 2).
                    if code > 100 || timer_c_at.is_none() {
                        timer_c_at = Some(tokio::time::Instant::now() + g.timer_c);
                    }
                }
                // §12.1.2: a 101-199 with a To tag to our INVITE makes an
                // early dialog; its reply names it.
                let dialog = match guard.as_mut().and_then(|g| g.early.as_mut()) {
                    Some((invite, early)) if code > 100 => {
                        let d = early
                            .core()
                            .uac_provisional(invite, &response, &seq_used, &exchanged);
                        if let Some(d) = &d {
                            early.add(d);
                        }
                        d
                    }
                    _ => None,
                };
                if code > 100 {
                    if let Some(cb) = on_provisional {
                        let reply = Reply::from_response(response);
                        (cb.0)(&match dialog {
                            Some(d) => reply.with_dialog(d),
                            None => reply,
                        });
                    }
                }
                heard = true;
            }
            TransactionEvent::Timeout { timer, .. } => {
                let reason = if heard && cancelled_by == Some(CancelledBy::TimerC) {
                    "Timer C Timeout".to_owned()
                } else {
                    format!("Timer {timer:?} Timeout")
                };
                let mut reply = Reply::synthesized(408, reason);
                reply.cancelled = cancelled_by.is_some();
                return Ok(reply);
            }
            TransactionEvent::TransportError { .. } if reliable && !heard => {
                return Err(Error::NotSent);
            }
            TransactionEvent::TransportError { .. } => {
                return Ok(Reply::synthesized(503, "Resend Error"))
            }
            // Reports of extensions acting in this request's dialogs.
            TransactionEvent::Extension { payload, .. } => {
                if let Some(u) = payload.downcast_ref::<sip_dialog::LocalSeqUsed>() {
                    if let Some((_, early)) = guard.as_ref().and_then(|g| g.early.as_ref()) {
                        early.core().local_seq_used(u);
                    }
                    seq_used.push(u.clone());
                } else if let Some(x) = payload.downcast_ref::<sip_dialog::SessionExchanged>() {
                    if let Some((_, early)) = guard.as_ref().and_then(|g| g.early.as_ref()) {
                        early
                            .core()
                            .update_sdp(&x.dialog, x.local.clone(), x.remote.clone());
                    }
                    exchanged.push(x.clone());
                }
            }
            _ => {}
        }
    }
    Ok(Reply::synthesized(408, "Transaction Timeout"))
}
