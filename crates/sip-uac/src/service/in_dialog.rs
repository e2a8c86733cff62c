//! Requests inside a dialog (BYE, INFO, UPDATE, `request_in_dialog`) and how
//! their responses act on the dialog and its usages.

use sip_dialog::{DialogId, Usage};
use sip_message::headers::Transport as Kind;
use sip_message::{Message, Method};

use crate::error::Error;
use crate::options::RequestOptions;
use crate::reply::Reply;

use super::out_of_dialog::{not_sent, Challenges};
use super::wait_final::{wait_final, InviteGuard, NOT_CANCELLED};
use super::Service;

impl Service {
    /// Any request in a dialog (NkSIP's `request(Handle, Opts)`): MESSAGE,
    /// OPTIONS, INFO, a NOTIFY of one's own package... with the dialog's
    /// Call-ID, tags, next CSeq and route set (§12.2.1.1), and nothing
    /// method-specific added. ACK, CANCEL, INVITE and BYE have their own
    /// functions ([`ack`](Self::ack), [`cancel`](Self::cancel),
    /// [`reinvite`](Self::reinvite), [`bye`](Self::bye)), which keep the
    /// call's state: they are refused here.
    ///
    /// ```no_run
    /// # async fn chat(svc: &sip_uac::Service, call: &sip_uac::DialogId) -> Result<(), sip_uac::Error> {
    /// use sip_message::Method;
    /// use sip_uac::RequestOptions;
    /// let r = svc
    ///     .request_in_dialog(Method::Message, call, RequestOptions::new().body("text/plain", "hi"))
    ///     .await?;
    /// println!("{} {}", r.code(), r.reason());
    /// # Ok(()) }
    /// ```
    pub async fn request_in_dialog(
        &self,
        method: Method,
        dialog: &DialogId,
        opts: RequestOptions,
    ) -> Result<Reply, Error> {
        if matches!(
            method,
            Method::Ack | Method::Cancel | Method::Invite | Method::Bye
        ) {
            return Err(Error::InvalidOption(
                "request_in_dialog: ACK, CANCEL, INVITE and BYE have their own functions",
            ));
        }
        self.in_dialog(method, dialog, opts).await
    }

    /// UPDATE in a dialog (RFC 3311): a target refresh, or a new offer
    /// with the options' body.
    pub async fn update(&self, dialog: &DialogId, opts: RequestOptions) -> Result<Reply, Error> {
        let offer = opts
            .body
            .as_ref()
            .filter(|(ct, b)| crate::core::is_sdp_type(ct) && !b.is_empty())
            .map(|(_, b)| b.clone());
        let reply = self.in_dialog(Method::Update, dialog, opts).await?;
        // §5.1: a 2xx with the answer to our offer makes both the session
        // (a non-2xx, or a 2xx without an answer, leaves it as it was).
        let answer = reply
            .response()
            .filter(|r| (200..300).contains(&reply.code()) && crate::core::is_sdp(r));
        if let (Some(offer), Some(answer)) = (offer, answer) {
            self.inner
                .core
                .update_sdp(dialog, Some(offer), Some(answer.body()));
        }
        Ok(reply)
    }

    /// BYE in a dialog; the dialog ends with it.
    pub async fn bye(&self, dialog: &DialogId, opts: RequestOptions) -> Result<Reply, Error> {
        let core = &self.inner.core;
        // Whether we sent the INVITE (also for an early dialog, §15).
        let caller = core.dialogs.lock().is_ok_and(|d| {
            d.get(dialog)
                .is_some_and(|x| x.role() == sip_dialog::Role::Uac)
        });
        let reply = self.in_dialog(Method::Bye, dialog, opts).await?;
        if let Ok(mut s) = core.sessions.lock() {
            s.bye(dialog, caller);
        }
        // The call is over; a subscription in the dialog (a REFER's) may
        // outlive it (RFC 5057 §5).
        core.end_invite_usage(dialog);
        Ok(reply)
    }

    /// INFO in a dialog (RFC 6086).
    pub async fn info(&self, dialog: &DialogId, opts: RequestOptions) -> Result<Reply, Error> {
        self.in_dialog(Method::Info, dialog, opts).await
    }

    pub(super) async fn in_dialog(
        &self,
        method: Method,
        dialog: &DialogId,
        opts: RequestOptions,
    ) -> Result<Reply, Error> {
        self.in_dialog_with(method, dialog, opts, &Usage::Invite, |_| {})
            .await
    }

    /// [`in_dialog`](Self::in_dialog) for `usage`, with `built` seeing
    /// each request before it is sent. A 401/407 is answered with
    /// credentials as out of the dialog (§22.2: the retry takes the
    /// dialog's next CSeq); the final response's effect on the usage and
    /// the dialog is applied (RFC 5057).
    pub(super) async fn in_dialog_with(
        &self,
        method: Method,
        dialog: &DialogId,
        opts: RequestOptions,
        usage: &Usage,
        built: impl Fn(&Message),
    ) -> Result<Reply, Error> {
        let (_, _, reply) = self
            .in_dialog_sent(method, dialog, opts, usage, built)
            .await?;
        Ok(reply)
    }

    /// [`in_dialog_with`](Self::in_dialog_with), also giving the last
    /// request sent and its client transaction. A 2xx to a target refresh
    /// request refreshes the remote target (§12.2.1.2).
    pub(super) async fn in_dialog_sent(
        &self,
        method: Method,
        dialog: &DialogId,
        opts: RequestOptions,
        usage: &Usage,
        built: impl Fn(&Message),
    ) -> Result<(Message, sip_transaction::driver::ClientTransaction, Reply), Error> {
        let inner = &self.inner;
        let mut opts = opts;
        let mut challenges = Challenges::default();
        // The request a 401/407 answered, while its retry is being sent.
        let mut earlier = None;
        loop {
            let sent = inner
                .core
                .in_dialog_request(
                    &inner.transport,
                    &inner.tsx,
                    method.clone(),
                    dialog,
                    &opts.headers,
                    &opts.replacements,
                    opts.body.as_ref(),
                    &built,
                )
                .await;
            let (request, mut ct) = match sent {
                Ok(sent) => sent,
                Err(e) => return not_sent(earlier, None, e),
            };
            let reliable = request
                .top_via()
                .is_some_and(|v| v.transport() != Kind::Udp);
            let guard = (method == Method::Invite).then(|| InviteGuard {
                tsx: &inner.tsx,
                timer_c: inner.timer_c,
                expires: None,
                user_cancelled: &NOT_CANCELLED,
                early: None,
            });
            let reply =
                match wait_final(&mut ct, reliable, opts.on_provisional.as_ref(), guard).await {
                    Ok(reply) => reply,
                    Err(e) => return not_sent(earlier, Some(&request), e),
                };
            if let Some(next) = challenges.retry(self, &request, &reply, &opts) {
                opts = next;
                earlier = Some((request, ct));
                continue;
            }
            if let (Some(response), Ok(mut d)) = (reply.response(), inner.core.dialogs.lock()) {
                if let Some(dlg) = d.get_mut(dialog) {
                    dlg.on_response(&method, response);
                }
            }
            // A 408 we made of the 487 to our own CANCEL ends no usage.
            let effect = if reply.cancelled { 487 } else { reply.code() };
            inner.core.response_effect(dialog, usage, effect);
            let reply = reply.sent_as(&request);
            return Ok((request, ct, reply));
        }
    }
}
