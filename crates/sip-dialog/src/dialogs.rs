//! Every dialog of an endpoint, matched by id.

use sip_message::hash::FastMap as HashMap;
use std::time::Instant;

use sip_message::{Message, Method};

use crate::dialog::{Dialog, DialogState, Role};
use crate::error::DialogError;
use crate::id::DialogId;

/// A use of a dialog (RFC 5057): the INVITE session, or one subscription.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Usage {
    /// The INVITE session.
    Invite,
    /// A subscription (RFC 6665), named by its event package and id.
    Subscription {
        /// Event package.
        event: String,
        /// Event id.
        id: Option<String>,
    },
}

/// Why a dialog ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum DialogStop {
    /// A BYE ended it (sent or received).
    Bye,
    /// Its last usage ended.
    LastUsageEnded,
    /// An early dialog outlived its INVITE (Timer C / INVITE expiry) or
    /// its INVITE ended with another fork or a failure.
    EarlyEnded,
    /// The TU removed it.
    Removed,
    /// A response to a request in it ended the whole dialog (RFC 5057 §5.1).
    Failed(u16),
}

/// What happened to the dialogs, for the TU (NkSIP's dialog callbacks).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DialogEvent {
    /// A dialog was created (early or confirmed).
    Start {
        /// Dialog.
        id: DialogId,
        /// Its state.
        state: DialogState,
    },
    /// An early dialog was confirmed.
    Confirmed {
        /// Dialog.
        id: DialogId,
    },
    /// The remote target changed (target refresh, or the 2xx's Contact).
    TargetUpdate {
        /// Dialog.
        id: DialogId,
        /// The new target.
        target: String,
    },
    /// The dialog ended.
    Stop {
        /// Dialog.
        id: DialogId,
        /// Why.
        reason: DialogStop,
    },
}

/// What a final response to a request inside a dialog does to it
/// (RFC 5057 §5.1, RFC 3261 §12.2.1.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ResponseEffect {
    /// Only the transaction failed; the usage and dialog go on.
    TransactionOnly,
    /// The usage the request belonged to ended (the dialog too if it was
    /// the last one).
    UsageEnded,
    /// The whole dialog, with every usage, ended.
    DialogEnded,
}

impl ResponseEffect {
    /// The effect of a final response code:
    /// - the dialog ends for the codes that say the request never reached
    ///   the element that holds the dialog (404, 410, 416, 482, 484, 485,
    ///   502, 604; RFC 5057 §5.1, as reSIProcate also classifies them);
    /// - the usage ends for 481 and 408 (RFC 3261 §12.2.1.2, narrowed to
    ///   the usage by RFC 5057) and 489 Bad Event (a subscription);
    /// - anything else fails the transaction only. 483 stays here until
    ///   RFC 5057's text for it is checked.
    pub fn of(code: u16) -> ResponseEffect {
        match code {
            404 | 410 | 416 | 482 | 484 | 485 | 502 | 604 => ResponseEffect::DialogEnded,
            481 | 408 | 489 => ResponseEffect::UsageEnded,
            _ => ResponseEffect::TransactionOnly,
        }
    }
}

#[derive(Debug, Default)]
struct Extra {
    usages: Vec<Usage>,
    early_deadline: Option<Instant>,
}

/// The dialogs an endpoint takes part in.
#[derive(Debug, Default)]
pub struct Dialogs {
    map: HashMap<DialogId, Dialog>,
    extra: HashMap<DialogId, Extra>,
    events: Vec<DialogEvent>,
    /// False: no [`DialogEvent`] is queued (see [`Dialogs::without_events`]).
    no_events: bool,
}

/// What a response did to the dialogs.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DialogUpdate {
    /// The response creates no dialog (100, no To tag, not dialog-creating, error).
    None,
    /// A new early dialog (one per To tag: forking gives several).
    Early(DialogId),
    /// A new dialog confirmed at once by a 2xx.
    Confirmed(DialogId),
    /// An early dialog confirmed by its 2xx.
    EarlyConfirmed(DialogId),
    /// A retransmitted or repeated response of a known dialog.
    Known(DialogId),
}

impl Dialogs {
    /// No dialogs.
    pub fn new() -> Self {
        Self::default()
    }

    /// Dialogs that queue no [`DialogEvent`]: for a TU that reads the
    /// dialogs' state when it needs it and never calls
    /// [`drain_events`](Self::drain_events), whose queue would otherwise
    /// grow with every dialog started and ended.
    ///
    /// ```
    /// let mut d = sip_dialog::Dialogs::new().without_events();
    /// assert!(d.drain_events().is_empty());
    /// ```
    pub fn without_events(mut self) -> Self {
        self.no_events = true;
        self.events = Vec::new();
        self
    }

    fn event(&mut self, e: DialogEvent) {
        if !self.no_events {
            self.events.push(e);
        }
    }

    /// Number of dialogs.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// True if there are none.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// A dialog.
    pub fn get(&self, id: &DialogId) -> Option<&Dialog> {
        self.map.get(id)
    }

    /// A dialog, mutably.
    pub fn get_mut(&mut self, id: &DialogId) -> Option<&mut Dialog> {
        self.map.get_mut(id)
    }

    /// Adds a dialog made by hand (e.g. the UAS side).
    pub fn insert(&mut self, d: Dialog) -> DialogId {
        let id = d.id().clone();
        self.event(DialogEvent::Start {
            id: id.clone(),
            state: d.state(),
        });
        self.map.insert(id.clone(), d);
        id
    }

    /// The ids of every dialog, in no particular order.
    pub fn ids(&self) -> impl Iterator<Item = &DialogId> {
        self.map.keys()
    }

    /// Removes a dialog.
    pub fn remove(&mut self, id: &DialogId) -> Option<Dialog> {
        self.stop(id, DialogStop::Removed)
    }

    fn stop(&mut self, id: &DialogId, reason: DialogStop) -> Option<Dialog> {
        self.extra.remove(id);
        let d = self.map.remove(id)?;
        // A dialog a BYE already ended has had its Stop event.
        if d.state() != DialogState::Terminated {
            self.event(DialogEvent::Stop {
                id: id.clone(),
                reason,
            });
        }
        Some(d)
    }

    /// Events since the last call.
    pub fn drain_events(&mut self) -> Vec<DialogEvent> {
        std::mem::take(&mut self.events)
    }

    /// Records a usage of the dialog (RFC 5057: an INVITE session and
    /// subscriptions may share one dialog).
    pub fn add_usage(&mut self, id: &DialogId, usage: Usage) {
        if self.map.contains_key(id) {
            let e = self.extra.entry(id.clone()).or_default();
            if !e.usages.contains(&usage) {
                e.usages.push(usage);
            }
        }
    }

    /// A usage ended; the dialog ends with its last usage (RFC 5057 §4).
    /// Returns true if the dialog ended.
    pub fn end_usage(&mut self, id: &DialogId, usage: &Usage) -> bool {
        let Some(e) = self.extra.get_mut(id) else {
            return false;
        };
        e.usages.retain(|u| u != usage);
        if e.usages.is_empty() {
            self.stop(id, DialogStop::LastUsageEnded);
            return true;
        }
        false
    }

    /// A final response to a request we sent in dialog `id` for `usage`:
    /// applies [`ResponseEffect::of`]. Returns what it did.
    pub fn on_in_dialog_response(
        &mut self,
        id: &DialogId,
        usage: &Usage,
        code: u16,
    ) -> ResponseEffect {
        let effect = ResponseEffect::of(code);
        if effect == ResponseEffect::DialogEnded {
            self.stop(id, DialogStop::Failed(code));
        } else if effect == ResponseEffect::UsageEnded {
            // A dialog with no recorded usages has this one only.
            if self.usages(id).is_empty() {
                self.stop(id, DialogStop::LastUsageEnded);
            } else {
                self.end_usage(id, usage);
            }
        }
        effect
    }

    /// The usages of a dialog.
    pub fn usages(&self, id: &DialogId) -> &[Usage] {
        self.extra.get(id).map_or(&[], |e| &e.usages)
    }

    /// Sets when an early dialog gives up: the INVITE's own timer (Timer C
    /// or its Expires), never a fixed short time (a ringing phone may ring
    /// for minutes; NkSIP's 32 s early-dialog BYE is a known bug).
    pub fn set_early_deadline(&mut self, id: &DialogId, at: Instant) {
        if self
            .map
            .get(id)
            .is_some_and(|d| d.state() == DialogState::Early)
        {
            self.extra.entry(id.clone()).or_default().early_deadline = Some(at);
        }
    }

    /// The next early-dialog deadline.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.extra.values().filter_map(|e| e.early_deadline).min()
    }

    /// Ends early dialogs whose deadline passed.
    pub fn handle_timeout(&mut self, now: Instant) {
        let mut due: Vec<DialogId> = self
            .extra
            .iter()
            .filter(|(_, e)| e.early_deadline.is_some_and(|t| now >= t))
            .map(|(id, _)| id.clone())
            .collect();
        due.sort();
        for id in due {
            if self
                .map
                .get(&id)
                .is_some_and(|d| d.state() == DialogState::Early)
            {
                self.stop(&id, DialogStop::EarlyEnded);
            } else if let Some(e) = self.extra.get_mut(&id) {
                e.early_deadline = None;
            }
        }
    }

    /// The early dialogs of one dialog-creating request (same Call-ID and
    /// local tag): the forks still ringing.
    pub fn early_of(&self, call_id: &str, local_tag: &str) -> Vec<DialogId> {
        let mut v: Vec<DialogId> = self
            .map
            .values()
            .filter(|d| {
                d.state() == DialogState::Early
                    && d.id().call_id() == call_id
                    && d.id().local_tag() == local_tag
            })
            .map(|d| d.id().clone())
            .collect();
        v.sort();
        v
    }

    /// UAC side: applies a response to a dialog-creating request we sent
    /// (§12.1.2, §13.2.2.4). A 101-199 with a To tag creates an early
    /// dialog per tag; a 2xx confirms its early dialog or creates a
    /// confirmed one.
    pub fn on_response(
        &mut self,
        request: &Message,
        response: &Message,
    ) -> Result<DialogUpdate, DialogError> {
        let code = response.status().unwrap_or(0);
        let creates = request.method().is_some_and(Method::creates_dialog);
        if !creates || !(101..=299).contains(&code) {
            return Ok(DialogUpdate::None);
        }
        let (Some(call_id), Some(local), Some(remote)) =
            (request.call_id(), request.from_tag(), response.to_tag())
        else {
            return Ok(DialogUpdate::None);
        };
        // §8.2.6.2: the UAS copies Call-ID and From (with its tag); a
        // response that does not is not this request's and makes no dialog.
        if response.call_id() != Some(call_id) {
            return Err(DialogError::ResponseMismatch("Call-ID"));
        }
        if response.from_tag() != Some(local) {
            return Err(DialogError::ResponseMismatch("From tag"));
        }
        let id = DialogId::new(call_id, local, remote);
        match self.map.get_mut(&id) {
            Some(d) if code >= 200 && d.state() == DialogState::Early => {
                // The target before, kept only when events are reported.
                let before = (!self.no_events).then(|| d.remote_target().to_owned());
                d.confirm(response)?;
                let changed = before
                    .filter(|b| b != d.remote_target())
                    .map(|_| d.remote_target().to_owned());
                if let Some(e) = self.extra.get_mut(&id) {
                    e.early_deadline = None;
                }
                self.event(DialogEvent::Confirmed { id: id.clone() });
                if let Some(after) = changed {
                    self.event(DialogEvent::TargetUpdate {
                        id: id.clone(),
                        target: after,
                    });
                }
                Ok(DialogUpdate::EarlyConfirmed(id))
            }
            Some(_) => Ok(DialogUpdate::Known(id)),
            None => {
                let d = Dialog::uac_with_id(request, response, id.clone())?;
                let confirmed = d.state() == DialogState::Confirmed;
                self.event(DialogEvent::Start {
                    id: id.clone(),
                    state: d.state(),
                });
                self.map.insert(id.clone(), d);
                Ok(if confirmed {
                    DialogUpdate::Confirmed(id)
                } else {
                    DialogUpdate::Early(id)
                })
            }
        }
    }

    /// The dialog an incoming request belongs to: Call-ID, our tag in To and
    /// the peer's tag in From (§12.2.2).
    pub fn id_of_request(req: &Message) -> Option<DialogId> {
        let to_tag = req.to_tag()?;
        Some(DialogId::new(
            req.call_id()?,
            to_tag,
            req.from_tag().unwrap_or(""),
        ))
    }

    /// Applies an in-dialog request: 481 for an unknown dialog, 500 for an
    /// out-of-order CSeq (§12.2.2); target refreshes update the remote target.
    pub fn receive_request(&mut self, req: &Message) -> Result<DialogId, DialogError> {
        let id = Self::id_of_request(req).ok_or(DialogError::NotInDialog)?;
        let d = self
            .map
            .get_mut(&id)
            .ok_or_else(|| DialogError::UnknownDialog(id.clone()))?;
        let before = d.remote_target().to_owned();
        d.receive_request(req)?;
        let target = (before != d.remote_target()).then(|| d.remote_target().to_owned());
        let bye = req.method() == Some(&Method::Bye) && d.state() != DialogState::Terminated;
        if bye {
            // The dialog stays (Terminated) for the TU to read until it
            // removes it.
            d.terminate();
        }
        if let Some(target) = target {
            self.event(DialogEvent::TargetUpdate {
                id: id.clone(),
                target,
            });
        }
        if bye {
            self.event(DialogEvent::Stop {
                id: id.clone(),
                reason: DialogStop::Bye,
            });
        }
        Ok(id)
    }

    /// Drops the early dialogs of a request whose INVITE ended, except `keep`
    /// (the fork that answered) (§13.2.2.4: leftover early dialogs go).
    pub fn drop_early_except(
        &mut self,
        call_id: &str,
        local_tag: &str,
        keep: Option<&DialogId>,
    ) -> Vec<DialogId> {
        let gone: Vec<DialogId> = self
            .early_of(call_id, local_tag)
            .into_iter()
            .filter(|id| Some(id) != keep)
            .collect();
        for id in &gone {
            self.stop(id, DialogStop::EarlyEnded);
        }
        gone
    }

    /// Dialogs we are the UAC of.
    pub fn uac_count(&self) -> usize {
        self.map.values().filter(|d| d.role() == Role::Uac).count()
    }
}
