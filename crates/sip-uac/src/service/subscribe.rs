//! SUBSCRIBE, NOTIFY and REFER (RFC 6665, RFC 3515).

use std::sync::Mutex;

use sip_dialog::{DialogId, DialogUpdate, SubscriptionId, Usage};
use sip_message::{Message, Method};

use crate::error::Error;
use crate::options::RequestOptions;
use crate::reply::Reply;

use super::wait_final::NOT_CANCELLED;
use super::Service;

impl Service {
    /// SUBSCRIBE (RFC 6665 §4.1.2): the `event` option is required; a
    /// Contact is added. A 2xx gives the reply a
    /// [`subscription`](Reply::subscription) id; NOTIFYs for it (even one
    /// that comes before the 2xx, §4.1.2.4) reach the handler's
    /// [`on_in_dialog_request`](crate::Handler::on_in_dialog_request), and
    /// one saying `terminated` ends it. Refresh or end it with
    /// [`subscribe_refresh`](Self::subscribe_refresh).
    pub async fn subscribe(&self, uri: &str, opts: RequestOptions) -> Result<Reply, Error> {
        if !opts.headers.iter().any(|(n, _)| is_event(n)) {
            return Err(Error::InvalidOption("event (SUBSCRIBE requires one)"));
        }
        let core = self.inner.core.clone();
        let sent: Mutex<Option<Message>> = Mutex::new(None);
        let result = self
            .send_with_auth(
                Some(Method::Subscribe),
                uri,
                opts,
                true,
                &|m| {
                    if let Ok(mut e) = core.events.lock() {
                        e.pending_sent(m);
                    }
                    if let Ok(mut s) = sent.lock() {
                        *s = Some(m.clone());
                    }
                },
                &|_| {},
                &NOT_CANCELLED,
                None,
            )
            .await;
        let (subscribe, reply) = match result {
            Ok((subscribe, _, reply)) => (subscribe, reply),
            Err(e) => {
                // A retry after a challenge may have failed after a send.
                let sent = sent.lock().ok().and_then(|mut s| s.take());
                if let (Some(m), Ok(mut ev)) = (&sent, core.events.lock()) {
                    ev.pending_done(m);
                }
                return Err(e);
            }
        };
        let sid = self.subscribed(&subscribe, &reply);
        if let Ok(mut e) = core.events.lock() {
            e.pending_done(&subscribe);
        }
        Ok(match sid {
            Some(sid) => reply.with_subscription(sid),
            None => reply,
        })
    }

    /// SUBSCRIBE in an existing dialog (RFC 6665 §4.5.2: a new usage of
    /// the dialog, e.g. `dialog` or `refer`-like events about a call): the
    /// `event` option is required. The subscription shares the dialog and
    /// ends on its own (a `terminated` NOTIFY, expiry) without ending the
    /// call; a 2xx gives the reply its [`subscription`](Reply::subscription)
    /// id, refreshed or ended with [`subscribe_refresh`](Self::subscribe_refresh).
    pub async fn subscribe_in_dialog(
        &self,
        dialog: &DialogId,
        opts: RequestOptions,
    ) -> Result<Reply, Error> {
        let event = opts
            .headers
            .iter()
            .find(|(n, _)| is_event(n))
            .map(|(_, v)| v.clone())
            .ok_or(Error::InvalidOption("event (SUBSCRIBE requires one)"))?;
        let event =
            <sip_message::headers::Event as sip_message::headers::TypedHeader>::from_value(&event)
                .map_err(|_| Error::InvalidOption("event"))?;
        let sid = SubscriptionId::new(
            dialog.clone(),
            &event.package().to_ascii_lowercase(),
            event.id(),
        );
        let core = &self.inner.core;
        // Known before it is sent: its NOTIFY may come before the 2xx
        // (RFC 6665 §4.1.2.4). One that exists is refreshed, not made again.
        {
            let mut e = core.events.lock().map_err(|_| Error::Stopped)?;
            if e.subscriber.status(&sid).is_some() {
                return Err(Error::InvalidOption(
                    "subscription exists: use subscribe_refresh",
                ));
            }
            e.subscriber.subscribe_sent(sid.clone());
        }
        let usage = crate::subscriptions::usage_of(&sid);
        let reply = self
            .in_dialog_with(Method::Subscribe, dialog, opts, &usage, |_| {})
            .await;
        let ok = reply.as_ref().ok().and_then(|r| {
            r.response()
                .filter(|_| (200..300).contains(&r.code()))
                .map(|m| m.get::<sip_message::headers::Expires>().ok().map(|e| e.0))
        });
        match ok {
            Some(expires) => {
                // A `terminated` NOTIFY may have overtaken the 2xx and
                // ended it already: then no usage is added back.
                let live = core.events.lock().is_ok_and(|mut e| {
                    let live = e.subscriber.status(&sid).is_some();
                    if live {
                        e.subscriber.on_2xx(crate::core::now(), &sid, expires);
                    }
                    live
                });
                if live {
                    core.add_usage(&sid);
                }
                reply.map(|r| r.with_subscription(sid))
            }
            None => {
                if let Ok(mut e) = core.events.lock() {
                    e.subscriber.remove(&sid);
                }
                reply
            }
        }
    }

    /// After a SUBSCRIBE's final reply: for a 2xx, the dialog (unless its
    /// NOTIFY made it first) and the subscription with the 2xx's Expires
    /// (RFC 6665 §4.1.2.1).
    pub(super) fn subscribed(&self, subscribe: &Message, reply: &Reply) -> Option<SubscriptionId> {
        let ok = reply
            .response()
            .filter(|_| (200..300).contains(&reply.code()))?;
        let core = &self.inner.core;
        let update = core.dialogs.lock().ok()?.on_response(subscribe, ok);
        let did = match update {
            Ok(
                DialogUpdate::Confirmed(id)
                | DialogUpdate::EarlyConfirmed(id)
                | DialogUpdate::Known(id)
                | DialogUpdate::Early(id),
            ) => id,
            _ => return None,
        };
        let (package, id) = crate::subscriptions::event_of(subscribe)?;
        let sid = SubscriptionId::new(did, &package, id.as_deref());
        let expires = ok.get::<sip_message::headers::Expires>().ok().map(|e| e.0);
        if let Ok(mut e) = core.events.lock() {
            e.subscriber.subscribe_sent(sid.clone());
            e.subscriber.on_2xx(crate::core::now(), &sid, expires);
        }
        core.add_usage(&sid);
        Some(sid)
    }

    /// SUBSCRIBE in the subscription's dialog: a refresh, or with
    /// `expires(0)` an unsubscribe (RFC 6665 §4.1.2.2-3; the notifier's
    /// final NOTIFY then ends it).
    pub async fn subscribe_refresh(
        &self,
        id: &SubscriptionId,
        opts: RequestOptions,
    ) -> Result<Reply, Error> {
        let mut opts = opts.event(&crate::subscriptions::event_header(id));
        if let Some(e) = opts.expires {
            opts = opts.header("Expires", &e.to_string());
        }
        let usage = crate::subscriptions::usage_of(id);
        let reply = self
            .in_dialog_with(Method::Subscribe, &id.dialog, opts, &usage, |_| {})
            .await?;
        let core = &self.inner.core;
        if (200..300).contains(&reply.code()) {
            let expires = reply
                .response()
                .and_then(|r| r.get::<sip_message::headers::Expires>().ok())
                .map(|e| e.0);
            if let Ok(mut e) = core.events.lock() {
                e.subscriber.on_2xx(crate::core::now(), id, expires);
            }
        } else if sip_dialog::ResponseEffect::of(reply.code())
            != sip_dialog::ResponseEffect::TransactionOnly
        {
            // RFC 5057: the usage (or the dialog) ended with this answer,
            // in `in_dialog_with`; the subscription goes with it.
            if let Ok(mut e) = core.events.lock() {
                e.subscriber.remove(id);
            }
        }
        Ok(reply.with_subscription(id.clone()))
    }

    /// NOTIFY for a subscription this service granted (RFC 6665 §4.2.2),
    /// e.g. the id its handler got in
    /// [`on_subscription`](crate::Handler::on_subscription). The
    /// Subscription-State is the `subscription_state` option (default
    /// `active`; `active` and `pending` get the time left as `expires`);
    /// a `terminated` NOTIFY ends the subscription. For REFER, the body is
    /// a `message/sipfrag` status line (RFC 3515 §2.4.5). A subscription
    /// this service holds as subscriber is refused with
    /// [`Error::UnknownSubscription`] (its NOTIFYs come from the other side).
    pub async fn notify(&self, id: &SubscriptionId, opts: RequestOptions) -> Result<Reply, Error> {
        let core = &self.inner.core;
        let state = {
            let e = core.events.lock().map_err(|_| Error::Stopped)?;
            if !e.notifier.contains(id) && e.subscriber.status(id).is_some() {
                // Ours as subscriber: a NOTIFY from us would end it.
                return Err(Error::UnknownSubscription);
            }
            let left = e.notifier.state_for_notify(crate::core::now(), id, true);
            match opts.subscription_state.as_deref() {
                None => left.to_string(),
                Some(s)
                    if (s.eq_ignore_ascii_case("active") || s.eq_ignore_ascii_case("pending"))
                        && *left.state() != sip_message::headers::SubState::Terminated =>
                {
                    // §4.2.2: active and pending carry the time left.
                    let expires = left.expires().unwrap_or(0);
                    format!("{s};expires={expires}")
                }
                Some(s) => s.to_owned(),
            }
        };
        let terminated = state
            .trim_start()
            .to_ascii_lowercase()
            .starts_with("terminated");
        let opts = opts
            .set_header("Event", &crate::subscriptions::event_header(id))
            .set_header("Subscription-State", &state);
        let usage = crate::subscriptions::usage_of(id);
        let reply = self
            .in_dialog_with(Method::Notify, &id.dialog, opts, &usage, |_| {})
            .await;
        // RFC 5057: 481, 408 and the like ended the usage (or the dialog)
        // in `in_dialog_with`; the subscription goes with it.
        let refused = reply.as_ref().is_ok_and(|r| {
            sip_dialog::ResponseEffect::of(r.code()) != sip_dialog::ResponseEffect::TransactionOnly
        });
        if terminated || refused {
            if let Ok(mut e) = core.events.lock() {
                e.notifier.remove(id);
            }
            core.end_usage(id);
        }
        reply
    }

    /// REFER in a dialog (RFC 3515): the `refer_to` option is required. A
    /// 2xx gives the reply the implicit subscription (event `refer`, id the
    /// REFER's CSeq, §2.4.4) whose NOTIFYs report the referral with
    /// `message/sipfrag` bodies; see [`subscription`](Self::subscription).
    pub async fn refer(&self, dialog: &DialogId, opts: RequestOptions) -> Result<Reply, Error> {
        let Some(to) = opts.refer_to.clone() else {
            return Err(Error::InvalidOption("refer_to (REFER requires one)"));
        };
        let to = if to.trim_start().starts_with('<') {
            to
        } else {
            format!("<{to}>")
        };
        let opts = opts.set_header("Refer-To", &to);
        let core = self.inner.core.clone();
        let sid: Mutex<Option<SubscriptionId>> = Mutex::new(None);
        let reply = self
            .in_dialog_with(Method::Refer, dialog, opts, &Usage::Invite, |m| {
                // Known before sending: a NOTIFY may beat the 2xx. A retry
                // with credentials has a new CSeq, so a new id.
                if let Some((seq, _)) = m.cseq() {
                    let id = SubscriptionId::refer(dialog.clone(), seq);
                    let old = sid.lock().ok().and_then(|mut s| s.replace(id.clone()));
                    if let Ok(mut e) = core.events.lock() {
                        if let Some(old) = old {
                            e.subscriber.remove(&old);
                        }
                        e.subscriber.subscribe_sent(id);
                    }
                }
            })
            .await?;
        let Some(id) = sid.lock().ok().and_then(|mut s| s.take()) else {
            return Ok(reply);
        };
        if (200..300).contains(&reply.code()) {
            if let Ok(mut e) = core.events.lock() {
                e.subscriber.on_2xx(crate::core::now(), &id, None);
            }
            core.add_usage(&id);
            Ok(reply.with_subscription(id))
        } else {
            if let Ok(mut e) = core.events.lock() {
                e.subscriber.remove(&id);
            }
            Ok(reply)
        }
    }
}

/// Whether a header name is Event (or its compact form `o`).
pub(super) fn is_event(name: &str) -> bool {
    crate::options::is_header(name, sip_message::HeaderName::Event)
}
