//! The subscriptions a Service holds as subscriber (RFC 6665 §4.1) and
//! grants as notifier (§4.2), and the SUBSCRIBEs waiting for their final
//! response, whose NOTIFY may come first (§4.1.2.4).

use std::collections::HashMap;
use std::time::Duration;

use sip_dialog::{Notifier, SubscriptionId, Subscriptions, Usage};
use sip_message::headers::{Event, Expires};
use sip_message::Message;

/// The subscription time a notifier grants when the SUBSCRIBE names none,
/// and the most it grants (RFC 6665 §4.2.1.1 lets it shorten, and leaves
/// the default to the event package; an hour is the usual one).
pub(crate) use sip_dialog::DEFAULT_EXPIRES;

/// Subscriber and notifier state of one Service.
pub(crate) struct Events {
    pub(crate) subscriber: Subscriptions,
    pub(crate) notifier: Notifier,
    /// SUBSCRIBEs without a final response yet, by Call-ID and our tag,
    /// with the subscription they ask for (remote tag not known yet).
    pending: HashMap<(Box<str>, Box<str>), (Message, SubscriptionId)>,
}

impl Events {
    pub(crate) fn new(t1: Duration) -> Events {
        Events {
            subscriber: Subscriptions::new(t1),
            notifier: Notifier::new(),
            pending: HashMap::new(),
        }
    }

    /// A SUBSCRIBE went out (again, after a challenge): its NOTIFY may come
    /// before its response.
    pub(crate) fn pending_sent(&mut self, subscribe: &Message) {
        let (Some(call_id), Some(tag), Some((package, id))) = (
            subscribe.call_id(),
            subscribe.from_tag(),
            event_of(subscribe),
        ) else {
            return;
        };
        let expected = SubscriptionId::new(
            sip_dialog::DialogId::new(call_id, tag, ""),
            &package,
            id.as_deref(),
        );
        self.pending
            .insert((call_id.into(), tag.into()), (subscribe.clone(), expected));
    }

    /// The SUBSCRIBE got its final response.
    pub(crate) fn pending_done(&mut self, subscribe: &Message) {
        if let (Some(call_id), Some(tag)) = (subscribe.call_id(), subscribe.from_tag()) {
            self.pending.remove(&(Box::from(call_id), Box::from(tag)));
        }
    }

    /// The pending SUBSCRIBE a NOTIFY with this Call-ID and To tag answers.
    pub(crate) fn pending_subscribe(&self, call_id: &str, our_tag: &str) -> Option<Message> {
        self.pending
            .get(&(Box::from(call_id), Box::from(our_tag)))
            .map(|(m, _)| m.clone())
    }

    /// The subscriptions a NOTIFY may start.
    pub(crate) fn expected(&self) -> Vec<SubscriptionId> {
        self.pending.values().map(|(_, e)| e.clone()).collect()
    }
}

/// Event package and id of a SUBSCRIBE, NOTIFY or (implicitly) REFER.
pub(crate) fn event_of(m: &Message) -> Option<(String, Option<String>)> {
    let e = m.get::<Event>().ok()?;
    Some((e.package().to_ascii_lowercase(), e.id().map(str::to_owned)))
}

/// The Event header of a subscription (RFC 6665 §8.2.1; REFER's is
/// `refer;id=<CSeq>`, RFC 3515 §2.4.4).
pub(crate) fn event_header(id: &SubscriptionId) -> String {
    match &id.id {
        Some(i) => format!("{};id={i}", id.event),
        None => id.event.clone(),
    }
}

/// The dialog usage of a subscription (RFC 5057).
pub(crate) fn usage_of(id: &SubscriptionId) -> Usage {
    Usage::Subscription {
        event: id.event.clone(),
        id: id.id.clone(),
    }
}

/// The subscription time a SUBSCRIBE asks for (its Expires, else the
/// default).
pub(crate) fn requested_expires(subscribe: &Message) -> u32 {
    subscribe.get::<Expires>().map_or(DEFAULT_EXPIRES, |e| e.0)
}

use sip_dialog::{Dialog, DialogId, Dialogs, SubscriptionStatus};
use sip_message::Method;

use crate::core::{now, with_contact, Core};
use crate::handler::Answer;

impl Core {
    /// RFC 6665 §4.1.2.4: a NOTIFY for a SUBSCRIBE still waiting for its
    /// response (or from another fork) makes the subscriber's dialog.
    /// Returns whether it made one.
    pub(crate) fn dialog_from_notify(&self, notify: &Message) -> bool {
        let (Some(call_id), Some(our_tag), Some(did)) = (
            notify.call_id(),
            notify.to_tag(),
            Dialogs::id_of_request(notify),
        ) else {
            return false;
        };
        if self.dialogs.lock().map_or(true, |d| d.get(&did).is_some()) {
            return false;
        }
        let subscribe = self
            .events
            .lock()
            .ok()
            .and_then(|e| e.pending_subscribe(call_id, our_tag));
        match subscribe.and_then(|s| Dialog::from_notify(&s, notify).ok()) {
            Some(dlg) => self.dialogs.lock().is_ok_and(|mut d| {
                d.insert(dlg);
                true
            }),
            None => false,
        }
    }

    /// Whether an in-dialog SUBSCRIBE refreshes (or ends) a subscription
    /// we granted in `dialog`.
    pub(crate) fn is_refresh(&self, dialog: &DialogId, subscribe: &Message) -> bool {
        let Some((package, id)) = event_of(subscribe) else {
            return false;
        };
        let sid = SubscriptionId::new(dialog.clone(), &package, id.as_deref());
        self.events.lock().is_ok_and(|e| e.notifier.contains(&sid))
    }

    /// Applies a NOTIFY received in `dialog` to the subscription it reports
    /// on; the error is the response code (489 bad Event, 400 bad
    /// Subscription-State, 481 no such subscription).
    pub(crate) fn on_notify(
        &self,
        dialog: &DialogId,
        notify: &Message,
    ) -> Result<SubscriptionId, u16> {
        let sid = {
            let mut e = self.events.lock().map_err(|_| 500u16)?;
            let expected = e.expected();
            e.subscriber
                .on_notify(now(), dialog, notify, &expected)
                .map_err(|x| x.status_code())?
        };
        self.add_usage(&sid);
        Ok(sid)
    }

    /// After a NOTIFY was answered 2xx: a `terminated` one ends its
    /// subscription (RFC 6665 §4.1.3), and the dialog with its last usage.
    pub(crate) fn notified(&self, sid: &SubscriptionId, _notify: &Message) {
        let ended = self.events.lock().is_ok_and(|mut e| {
            let t = matches!(
                e.subscriber.status(sid),
                Some(SubscriptionStatus::Terminated { .. })
            );
            if t {
                e.subscriber.remove(sid);
            }
            t
        });
        if ended {
            self.end_usage(sid);
        }
    }

    /// Records the subscription as a usage of its dialog (RFC 5057), and
    /// the INVITE session too when the dialog has one, so that ending the
    /// subscription does not end the call.
    pub(crate) fn add_usage(&self, sid: &SubscriptionId) {
        let invite = self
            .sessions
            .lock()
            .is_ok_and(|s| s.state(&sid.dialog).is_some());
        if let Ok(mut d) = self.dialogs.lock() {
            if invite {
                d.add_usage(&sid.dialog, sip_dialog::Usage::Invite);
            }
            d.add_usage(&sid.dialog, usage_of(sid));
        }
    }

    /// A subscription ended: its usage goes, and the dialog with the last one.
    pub(crate) fn end_usage(&self, sid: &SubscriptionId) {
        let gone = self
            .dialogs
            .lock()
            .is_ok_and(|mut d| d.end_usage(&sid.dialog, &usage_of(sid)));
        if gone {
            self.forget(&sid.dialog);
        }
    }

    /// The handler answered a SUBSCRIBE or REFER with 2xx: the notifier
    /// side of the subscription. An initial SUBSCRIBE makes the dialog
    /// (with our Contact, RFC 6665 §4.2.1); the 2xx to a SUBSCRIBE carries
    /// the granted Expires (§4.2.1.1, at most an hour). Returns the answer
    /// to send and the subscription.
    pub(crate) fn grant(
        &self,
        request: &Message,
        tag: &str,
        answer: Answer,
    ) -> (Answer, Option<SubscriptionId>) {
        let refer = request.method() == Some(&Method::Refer);
        let (did, mut answer) = if request.to_tag().is_some() {
            (Dialogs::id_of_request(request), answer)
        } else {
            // An initial SUBSCRIBE, or an out-of-dialog REFER (RFC 3515
            // §2.4.1), makes a dialog.
            let (id, a) = self.notifier_dialog(request, tag, answer);
            (id, a)
        };
        let Some(did) = did else {
            return (answer, None);
        };
        let sid = if refer {
            let Some((seq, _)) = request.cseq() else {
                return (answer, None);
            };
            SubscriptionId::refer(did, seq)
        } else {
            let Some((package, id)) = event_of(request) else {
                return (answer, None);
            };
            SubscriptionId::new(did, &package, id.as_deref())
        };
        let requested = if refer {
            DEFAULT_EXPIRES
        } else {
            requested_expires(request)
        };
        let granted = self.events.lock().map_or(0, |mut e| {
            e.notifier
                .on_subscribe(now(), sid.clone(), requested, DEFAULT_EXPIRES)
        });
        if !refer
            && !answer
                .headers
                .iter()
                .any(|(n, _)| crate::options::is_header(n, sip_message::HeaderName::Expires))
        {
            answer = answer.header("Expires", &granted.to_string());
        }
        self.add_usage(&sid);
        (answer, Some(sid))
    }

    /// The notifier's dialog made by an initial SUBSCRIBE (or REFER)
    /// answered 2xx with To tag `tag` (RFC 3261 §12.1.1).
    fn notifier_dialog(
        &self,
        request: &Message,
        tag: &str,
        answer: Answer,
    ) -> (Option<DialogId>, Answer) {
        let answer = with_contact(answer, &self.contacts.for_response(request));
        let Some(mut dlg) = self.new_uas_dialog(request, tag) else {
            return (None, answer);
        };
        // A 2xx confirms it at once (§12.1.1); the UAS side needs nothing
        // from the response itself.
        if dlg.confirm(request).is_err() {
            return (None, answer);
        }
        let id = self.dialogs.lock().ok().map(|mut d| d.insert(dlg));
        (id, answer)
    }
}
