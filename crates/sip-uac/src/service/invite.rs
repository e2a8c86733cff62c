//! INVITE: sending (sync and async), the 2xx and its ACK, CANCEL, re-INVITE,
//! and the handle of a pending INVITE.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use sip_dialog::{DialogId, DialogUpdate, Usage};
use sip_message::{Message, Method};
use sip_transaction::TransactionEvent;

use crate::core::Core;
use crate::error::Error;
use crate::options::RequestOptions;
use crate::reply::Reply;

use super::wait_final::NOT_CANCELLED;
use super::Service;
use crate::early::EarlyDialogs;

impl Service {
    /// INVITE. It always carries a Contact (NkSIP). A 2xx gives the reply a
    /// dialog id; with `auto_ack` (the default here) the ACK goes out at once
    /// and again for every retransmitted 2xx (§13.2.2.4).
    pub async fn invite(&self, uri: &str, opts: RequestOptions) -> Result<Reply, Error> {
        let auto_ack = opts.auto_ack.unwrap_or(true);
        let mut early = EarlyDialogs::new(self.inner.core.clone());
        let (invite, ct, reply) = self
            .send_with_auth(
                Some(Method::Invite),
                uri,
                opts,
                true,
                &|_| {},
                &|_| {},
                &NOT_CANCELLED,
                Some(&mut early),
            )
            .await?;
        Ok(self
            .invite_answered(invite, ct, reply, auto_ack, early)
            .await)
    }

    /// INVITE without waiting (NkSIP's `async` option): returns as soon as
    /// the request is handed to its transaction, with a handle to CANCEL it
    /// and to await the final reply, which the `on_provisional` callback
    /// also gets (after the provisionals). Everything else is as with
    /// [`Service::invite`]: a 401/407 is answered with credentials (the
    /// handle then cancels the new transaction), `expires` CANCELs it, and
    /// a 2xx gives a dialog. Errors before anything is sent come back here.
    pub async fn invite_async(
        &self,
        uri: &str,
        opts: RequestOptions,
    ) -> Result<PendingInvite, Error> {
        let auto_ack = opts.auto_ack.unwrap_or(true);
        let callback = opts.on_provisional.clone();
        let current: Arc<Mutex<Option<sip_transaction::TransactionId>>> = Arc::default();
        let cancelled = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (started_tx, started_rx) = tokio::sync::oneshot::channel::<Result<(), Error>>();
        let (tx, rx) = tokio::sync::oneshot::channel();
        let svc = self.clone();
        let uri = uri.to_owned();
        let cur = current.clone();
        let was_cancelled = cancelled.clone();
        tokio::spawn(async move {
            let mut early = EarlyDialogs::new(svc.inner.core.clone());
            let started = Mutex::new(Some(started_tx));
            let result = svc
                .send_with_auth(
                    Some(Method::Invite),
                    &uri,
                    opts,
                    true,
                    &|_| {},
                    &|id| {
                        if let Ok(mut c) = cur.lock() {
                            *c = Some(id);
                        }
                        // Cancelled while a challenge was being answered: the
                        // retry is cancelled too.
                        if was_cancelled.load(Ordering::SeqCst) {
                            let tsx = svc.inner.tsx.clone();
                            tokio::spawn(async move {
                                let _ = tsx.send_cancel(id).await;
                            });
                        }
                        if let Some(s) = started.lock().ok().and_then(|mut s| s.take()) {
                            let _ = s.send(Ok(()));
                        }
                    },
                    &was_cancelled,
                    Some(&mut early),
                )
                .await;
            let reply = match result {
                Ok((invite, ct, reply)) => {
                    svc.invite_answered(invite, ct, reply, auto_ack, early)
                        .await
                }
                Err(e) => match started.lock().ok().and_then(|mut s| s.take()) {
                    // Nothing was sent: the caller gets the error.
                    Some(s) => {
                        let _ = s.send(Err(e));
                        return;
                    }
                    // Cannot happen: once something was sent, a failure is
                    // a reply (`send_with_auth`'s 503).
                    None => Reply::synthesized(503, e.to_string()),
                },
            };
            // NkSIP's callback of an async call gets the final reply too.
            if let Some(cb) = &callback {
                (cb.0)(&reply);
            }
            let _ = tx.send(reply);
        });
        started_rx.await.map_err(|_| Error::Stopped)??;
        Ok(PendingInvite {
            transaction: current,
            cancelled,
            reply: rx,
            done: None,
        })
    }

    /// After an INVITE's final reply: for a 2xx, the dialog (§13.2.2.4), the
    /// ACK if `auto_ack`, and a task that ACKs each retransmitted 2xx once an
    /// ACK was sent (RFC 6026 Accepted state). Returns the reply, with the
    /// dialog id for a 2xx.
    pub(super) async fn invite_answered(
        &self,
        invite: Message,
        ct: sip_transaction::driver::ClientTransaction,
        reply: Reply,
        auto_ack: bool,
        // Dropped on return: the INVITE's early dialogs not confirmed by
        // its 2xx end with it (§12.1).
        early: EarlyDialogs,
    ) -> Reply {
        let Some(ok) = reply
            .response()
            .filter(|_| (200..300).contains(&reply.code()))
            .cloned()
        else {
            return reply;
        };
        let core = self.inner.core.clone();
        // Bound first so that the lock guard is gone before any await.
        let update = core
            .dialogs
            .lock()
            .ok()
            .map(|mut d| d.on_response(&invite, &ok));
        let id = match update {
            Some(Ok(
                DialogUpdate::Confirmed(id)
                | DialogUpdate::EarlyConfirmed(id)
                | DialogUpdate::Known(id),
            )) => id,
            _ => return reply,
        };
        // What extensions did in this dialog while it was early (a PRACK's
        // CSeq, an offer/answer in a reliable provisional and its PRACK).
        if let Ok(mut d) = core.dialogs.lock() {
            if let Some(dlg) = d.get_mut(&id) {
                for u in reply.seq_used.iter().filter(|u| u.dialog == id) {
                    dlg.advance_local_seq(u.seq);
                }
            }
        }
        // Kept since the early dialog, with what was exchanged in it (an
        // UPDATE, RFC 3311 §5.1; a reliable provisional and its PRACK); or
        // our offer and what an extension reported.
        let mut sdp = core
            .sdp_entry(&id)
            .unwrap_or_else(|| crate::core::Sdp::of_invite(&invite, &reply.exchanged, &id));
        // §13.2.1: the first session description received is the answer;
        // one in a later response to the INVITE is ignored.
        if !ok.body_bytes().is_empty() && sdp.remote.is_none() {
            sdp.remote = Some(ok.body());
        }
        core.set_sdp(&id, sdp);
        core.set_invite(&id, invite.clone());
        if auto_ack {
            let answered_early = reply.exchanged.iter().any(|x| x.dialog == id);
            if !answered_early {
                warn_offer_in_2xx(&invite, &ok);
            }
            self.ack_2xx(&id, &invite, None).await;
        }
        let early_seq = early.max_local_seq();
        self.keep_accepted(&id, &invite, ct, early_seq).await;
        reply.with_dialog(id)
    }

    /// After the 2xx of our INVITE or re-INVITE `invite` in dialog `id`:
    /// RFC 6026 §8.4, the transaction stays Accepted for Timer M and
    /// passes every 2xx retransmission up; each gets the ACK again
    /// (§13.2.2.4). Not through a task per call: once this handle is
    /// dropped the driver hands them to the service's event task
    /// (`Core::on_retransmitted_2xx`), which finds the dialog here.
    pub(super) async fn keep_accepted(
        &self,
        id: &DialogId,
        invite: &Message,
        mut ct: sip_transaction::driver::ClientTransaction,
        early_seq: u32,
    ) {
        let core = &self.inner.core;
        if let Ok(mut a) = core.accepted.lock() {
            a.insert(
                ct.id,
                crate::core::Accepted::new(id.clone(), invite, early_seq),
            );
        }
        while let Ok(TransactionEvent::Response { response, .. }) = ct.events.try_recv() {
            core.on_retransmitted_2xx(&self.inner.transport, &self.inner.tsx, ct.id, &response)
                .await;
        }
    }

    /// CANCELs a pending INVITE (§9.1). The CANCEL waits for a provisional
    /// if none has come yet; the INVITE's reply is then normally 487. If
    /// the callee answers neither, the reply is 408 "Timer B Timeout"
    /// 64*T1 after the CANCEL (§9.1). A CANCEL that comes too late (the
    /// INVITE already has its final response) or twice does nothing and
    /// is not an error (nksip-uac.md §7.2): the reply tells what happened.
    pub async fn cancel(&self, pending: &PendingInvite) -> Result<(), Error> {
        self.cancel_inner(pending, None).await
    }

    /// [`cancel`](Self::cancel) with a Reason header in the CANCEL (RFC
    /// 3326, NkSIP's `reason` option), e.g. `SIP;cause=200;text="Call
    /// completed elsewhere"` so that the callee's phone does not report a
    /// missed call.
    pub async fn cancel_with_reason(
        &self,
        pending: &PendingInvite,
        reason: &str,
    ) -> Result<(), Error> {
        if reason.bytes().any(|b| b == b'\r' || b == b'\n') {
            return Err(Error::InvalidOption("reason"));
        }
        self.cancel_inner(pending, Some(reason)).await
    }

    pub(super) async fn cancel_inner(
        &self,
        pending: &PendingInvite,
        reason: Option<&str>,
    ) -> Result<(), Error> {
        use sip_transaction::TransactionError as T;
        pending.cancelled.store(true, Ordering::SeqCst);
        let id = pending
            .transaction
            .lock()
            .ok()
            .and_then(|t| *t)
            .ok_or(Error::Stopped)?;
        let sent = match reason {
            Some(r) => self.inner.tsx.send_cancel_with_reason(id, r).await,
            None => self.inner.tsx.send_cancel(id).await,
        };
        match sent {
            Ok(_) => Ok(()),
            Err(e @ (T::InvalidState { .. } | T::UnknownTransaction(_) | T::Duplicate)) => {
                tracing::debug!(%id, error = %e, "CANCEL not sent: the INVITE is answered or already cancelled");
                Ok(())
            }
            Err(e) => Err(e.into()),
        }
    }

    /// ACK for the 2xx of an INVITE or re-INVITE sent with `auto_ack(false)` (§13.2.2.4),
    /// with the options' body (the SDP answer to an offer in the 2xx). An
    /// ACK sent already (automatically or by an earlier call) is sent again
    /// unchanged.
    pub async fn ack(&self, dialog: &DialogId, opts: RequestOptions) -> Result<(), Error> {
        let core = &self.inner.core;
        // The latest INVITE of ours answered 2xx: a re-INVITE's, else the
        // one that made the call.
        let invite = core
            .reinvite(dialog)
            .or_else(|| core.invite(dialog))
            .ok_or(Error::UnknownDialog)?;
        let body = opts.body.as_ref().map(|(ct, b)| (ct.as_str(), b.clone()));
        if let Some((_, b)) = &body {
            // §13.2.2.4: the ACK carries our answer to an offer in the 2xx.
            core.update_sdp(dialog, Some(b.clone()), None);
        }
        if self.ack_2xx(dialog, &invite, body).await {
            Ok(())
        } else {
            Err(Error::UnknownDialog)
        }
    }

    /// Sends the ACK for `id`'s 2xx ([`Core::ack_2xx`]).
    pub(super) async fn ack_2xx(
        &self,
        id: &DialogId,
        invite: &Message,
        body: Option<(&str, bytes::Bytes)>,
    ) -> bool {
        self.inner
            .core
            .ack_2xx(&self.inner.transport, id, invite, body)
            .await
    }

    /// re-INVITE in a confirmed call (RFC 3261 §14.1): a new offer in the
    /// options' body (hold with `a=sendonly`, resume, another codec), or
    /// none, which asks the far end for an offer (its 2xx then carries it,
    /// and the ACK must carry the answer: use `auto_ack(false)` and
    /// [`ack`](Self::ack) with it). It takes the dialog's next CSeq and
    /// carries our Contact; the 2xx is ACKed at once unless
    /// `auto_ack(false)` (§13.2.2.4), and again for each retransmission,
    /// refreshes the remote target (§12.2.1.2), and the session takes the
    /// new offer and answer. A non-2xx leaves the session as it was
    /// (§14.1; 491 means the far end was re-INVITing too: try again after
    /// a random delay). Refused before sending while another re-INVITE
    /// of ours, or the ACK of one of the far end's, is pending in the
    /// dialog (§14.1).
    ///
    /// ```no_run
    /// # async fn hold(svc: &sip_uac::Service, call: &sip_uac::DialogId, held_sdp: &'static str)
    /// # -> Result<(), sip_uac::Error> {
    /// use sip_uac::RequestOptions;
    /// let r = svc.reinvite(call, RequestOptions::new().body("application/sdp", held_sdp)).await?;
    /// assert!(r.code() == 200 || r.code() == 491);
    /// # Ok(()) }
    /// ```
    pub async fn reinvite(&self, dialog: &DialogId, opts: RequestOptions) -> Result<Reply, Error> {
        let core = self.inner.core.clone();
        core.start_reinvite(dialog)?;
        // Released however this ends, a dropped future included (a caller's
        // timeout would otherwise refuse every later re-INVITE).
        struct Claim<'a>(&'a Core, &'a DialogId);
        impl Drop for Claim<'_> {
            fn drop(&mut self) {
                self.0.end_reinvite(self.1);
            }
        }
        let claim = Claim(&core, dialog);
        let auto_ack = opts.auto_ack.unwrap_or(true);
        let offer = opts.body.as_ref().map(|(_, b)| b.clone());
        let sent = self
            .in_dialog_sent(Method::Invite, dialog, opts, &Usage::Invite, |_| {})
            .await;
        drop(claim);
        let (invite, ct, reply) = sent?;
        let Some(ok) = reply
            .response()
            .filter(|_| (200..300).contains(&reply.code()))
            .cloned()
        else {
            return Ok(reply);
        };
        // The offer and answer in force now (RFC 3264 §8); without an
        // offer of ours the 2xx carries one, answered in the ACK.
        let remote = (!ok.body_bytes().is_empty()).then(|| ok.body());
        core.update_sdp(dialog, offer, remote);
        core.set_reinvite(dialog, invite.clone());
        if auto_ack {
            warn_offer_in_2xx(&invite, &ok);
            self.ack_2xx(dialog, &invite, None).await;
        }
        // Retransmissions of this 2xx get the ACK again, as for the first.
        self.keep_accepted(dialog, &invite, ct, 0).await;
        Ok(reply.with_dialog(dialog.clone()))
    }
}

/// The automatic ACK carries no body: when the INVITE had no offer and
/// its 2xx carries one, the ACK should carry the answer (RFC 3264 §5,
/// RFC 3261 §13.2.2.4), which only the application can write. Said in the
/// log, so that the cause of a one-way or silent call is found.
pub(super) fn warn_offer_in_2xx(invite: &Message, ok: &Message) {
    if invite.body_bytes().is_empty() && !ok.body_bytes().is_empty() {
        tracing::warn!(
            call_id = ok.call_id().unwrap_or(""),
            "the 2xx carries an offer the INVITE did not make, and the automatic ACK \
             has no answer (RFC 3264 §5): send such an INVITE with auto_ack(false), \
             then ack() with the answer"
        );
    }
}

/// An INVITE sent with [`Service::invite_async`].
#[derive(Debug)]
pub struct PendingInvite {
    /// The INVITE's current transaction (a new one after a challenge).
    transaction: Arc<Mutex<Option<sip_transaction::TransactionId>>>,
    /// [`Service::cancel`] was called (a retry after a challenge is
    /// cancelled as soon as it starts).
    cancelled: Arc<std::sync::atomic::AtomicBool>,
    reply: tokio::sync::oneshot::Receiver<Reply>,
    /// The final reply once it came (asked for again, it is the same).
    done: Option<Reply>,
}

impl PendingInvite {
    /// Waits for the final reply. It borrows the handle, so a caller can
    /// wait with a deadline and then cancel the same INVITE:
    ///
    /// ```no_run
    /// # async fn ring(svc: &sip_uac::Service) -> Result<(), sip_uac::Error> {
    /// use std::time::Duration;
    /// use sip_uac::RequestOptions;
    /// let mut call = svc.invite_async("sip:bob@192.0.2.4", RequestOptions::new()).await?;
    /// let reply = tokio::select! {
    ///     r = call.reply() => r,
    ///     _ = tokio::time::sleep(Duration::from_secs(20)) => {
    ///         svc.cancel(&call).await?;
    ///         call.reply().await // normally 487
    ///     }
    /// };
    /// println!("{} {}", reply.code(), reply.reason());
    /// # Ok(()) }
    /// ```
    pub async fn reply(&mut self) -> Reply {
        if let Some(r) = &self.done {
            return r.clone();
        }
        let r = (&mut self.reply)
            .await
            .unwrap_or_else(|_| Reply::synthesized(503, "Service Stopped"));
        self.done = Some(r.clone());
        r
    }
}
