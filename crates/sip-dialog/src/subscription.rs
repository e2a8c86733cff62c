//! Subscriptions, subscriber side (RFC 6665 §4.1, RFC 3515 §2.4.4): ids,
//! states, expiry and refresh deadlines, the 64*T1 wait for the first
//! NOTIFY, NOTIFY before the 2xx, and REFER's implicit subscription.

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;
use std::time::{Duration, Instant};

use sip_message::headers::{Event, SubState, SubscriptionState, TerminationReason};
use sip_message::Message;

use crate::id::DialogId;

/// A subscription: its dialog, event package and event id (RFC 6665 §4.1.2).
/// The printable handle form round-trips through `Display` / `FromStr`.
///
/// ```
/// use sip_dialog::{DialogId, SubscriptionId};
/// let id = SubscriptionId::new(DialogId::new("c1", "l", "r"), "presence", None);
/// assert_eq!(id.to_string().parse::<SubscriptionId>().unwrap(), id);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SubscriptionId {
    /// The dialog.
    pub dialog: DialogId,
    /// Event package (lower case; packages compare case-insensitively).
    pub event: String,
    /// Event `id` parameter.
    pub id: Option<String>,
}

impl SubscriptionId {
    /// A subscription id.
    pub fn new(dialog: DialogId, event: &str, id: Option<&str>) -> SubscriptionId {
        SubscriptionId {
            dialog,
            event: event.to_ascii_lowercase(),
            id: id.map(str::to_owned),
        }
    }

    /// REFER's implicit subscription: event `refer`, id = CSeq of the REFER (RFC 3515 §2.4.4).
    pub fn refer(dialog: DialogId, refer_cseq: u32) -> SubscriptionId {
        SubscriptionId::new(dialog, "refer", Some(&refer_cseq.to_string()))
    }
}

impl fmt::Display for SubscriptionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let esc = |s: &str| {
            sip_message::uri::escape(s, sip_message::uri::UriPart::Param).replace('/', "%2F")
        };
        write!(
            f,
            "sub/{}/{}/{}",
            esc(&self.dialog.to_string()),
            esc(&self.event),
            self.id.as_deref().map(esc).unwrap_or_default()
        )
    }
}

impl FromStr for SubscriptionId {
    type Err = crate::id::BadHandle;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let un = |s: &str| sip_message::uri::unescape_str(s).into_owned();
        let mut p = s.split('/');
        let (Some("sub"), Some(d), Some(e), Some(i), None) =
            (p.next(), p.next(), p.next(), p.next(), p.next())
        else {
            return Err(crate::id::BadHandle);
        };
        let dialog: DialogId = un(d).parse()?;
        let id = if i.is_empty() { None } else { Some(un(i)) };
        Ok(SubscriptionId {
            dialog,
            event: un(e),
            id,
        })
    }
}

/// Where a subscription stands.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SubscriptionStatus {
    /// SUBSCRIBE sent; no NOTIFY yet.
    Init,
    /// NOTIFY said pending.
    Pending,
    /// NOTIFY said active.
    Active,
    /// Ended.
    Terminated {
        /// The reason given (or `Timeout` for our own timers).
        reason: Option<TerminationReason>,
        /// When the subscriber may try again, in seconds.
        retry_after: Option<u32>,
    },
}

/// What the subscriptions tell the TU.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SubscriptionEvent {
    /// The status changed.
    Status {
        /// Subscription.
        id: SubscriptionId,
        /// New status.
        status: SubscriptionStatus,
    },
    /// Half the subscription's time has passed: refresh it (RFC 6665 §4.1.2.2).
    RefreshDue {
        /// Subscription.
        id: SubscriptionId,
    },
}

struct Sub {
    status: SubscriptionStatus,
    expires_at: Option<Instant>,
    refresh_at: Option<Instant>,
    /// No NOTIFY yet: 64*T1 after the 2xx ends the subscription (§4.1.2.4).
    notify_by: Option<Instant>,
}

/// Subscriptions we hold as subscriber.
pub struct Subscriptions {
    t1: Duration,
    map: HashMap<SubscriptionId, Sub>,
    out: Vec<SubscriptionEvent>,
}

impl fmt::Debug for Subscriptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Subscriptions")
            .field("count", &self.map.len())
            .finish()
    }
}

/// Why a NOTIFY cannot be applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NotifyError {
    /// No or malformed Event header: 489 Bad Event.
    #[error("NOTIFY without a valid Event")]
    BadEvent,
    /// No or malformed Subscription-State: 400.
    #[error("NOTIFY without a valid Subscription-State")]
    BadState,
    /// NOTIFY for a subscription we do not have (and that is not one we are
    /// waiting for): 481.
    #[error("no such subscription")]
    Unknown,
}

impl NotifyError {
    /// The response code.
    pub fn status_code(self) -> u16 {
        match self {
            NotifyError::BadEvent => 489,
            NotifyError::BadState => 400,
            NotifyError::Unknown => 481,
        }
    }
}

impl Subscriptions {
    /// With this T1.
    pub fn new(t1: Duration) -> Subscriptions {
        Subscriptions {
            t1,
            map: HashMap::new(),
            out: Vec::new(),
        }
    }

    /// The status of a subscription.
    pub fn status(&self, id: &SubscriptionId) -> Option<&SubscriptionStatus> {
        self.map.get(id).map(|s| &s.status)
    }

    /// The ids of the subscriptions held, in no particular order.
    pub fn ids(&self) -> impl Iterator<Item = &SubscriptionId> {
        self.map.keys()
    }

    /// Number of subscriptions.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// True if none.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Events since the last call.
    pub fn drain(&mut self) -> Vec<SubscriptionEvent> {
        std::mem::take(&mut self.out)
    }

    /// We sent a SUBSCRIBE (or REFER) for `id`: in Init until its 2xx and a NOTIFY.
    pub fn subscribe_sent(&mut self, id: SubscriptionId) {
        self.map.entry(id).or_insert(Sub {
            status: SubscriptionStatus::Init,
            expires_at: None,
            refresh_at: None,
            notify_by: None,
        });
    }

    /// The 2xx to our SUBSCRIBE arrived, with its Expires (RFC 6665 §4.1.2.1):
    /// the expiry and refresh deadlines start, and a NOTIFY must follow
    /// within 64*T1 unless one came already.
    ///
    /// `Expires: 0` (a fetch, or an unsubscribe, §4.1.2.3) ends nothing by
    /// itself: the notifier's final NOTIFY does, or 64*T1 without one.
    pub fn on_2xx(&mut self, now: Instant, id: &SubscriptionId, expires: Option<u32>) {
        let t1x64 = self.t1 * 64;
        if let Some(s) = self.map.get_mut(id) {
            match expires {
                Some(0) => {
                    s.expires_at = None;
                    s.refresh_at = None;
                    s.notify_by = Some(now + t1x64);
                    return;
                }
                Some(e) => set_expiry(s, now, e),
                None => {}
            }
            if s.status == SubscriptionStatus::Init {
                s.notify_by = Some(now + t1x64);
            }
        }
    }

    /// A NOTIFY arrived in `dialog`. It may come before the SUBSCRIBE's 2xx
    /// and from any fork (each fork's dialog is its own subscription): it
    /// then creates the subscription, if `expected` names one we sent
    /// (dialog id not known yet, so matched by Call-ID, our tag and event).
    pub fn on_notify(
        &mut self,
        now: Instant,
        dialog: &DialogId,
        notify: &Message,
        expected: &[SubscriptionId],
    ) -> Result<SubscriptionId, NotifyError> {
        let event = notify.get::<Event>().map_err(|_| NotifyError::BadEvent)?;
        let state = notify
            .get::<SubscriptionState>()
            .map_err(|_| NotifyError::BadState)?;
        let id = SubscriptionId::new(dialog.clone(), event.package(), event.id());
        if !self.map.contains_key(&id) {
            // NOTIFY before the 2xx, or from a new fork: our SUBSCRIBE had
            // the same Call-ID, From tag, event and id.
            let ours = expected.iter().any(|e| {
                e.dialog.call_id() == dialog.call_id()
                    && e.dialog.local_tag() == dialog.local_tag()
                    && e.event == id.event
                    && e.id == id.id
            });
            if !ours {
                return Err(NotifyError::Unknown);
            }
            self.subscribe_sent(id.clone());
        }
        let Some(s) = self.map.get_mut(&id) else {
            return Err(NotifyError::Unknown);
        };
        s.notify_by = None;
        let status = match state.state() {
            SubState::Active => SubscriptionStatus::Active,
            SubState::Pending => SubscriptionStatus::Pending,
            SubState::Terminated => SubscriptionStatus::Terminated {
                reason: state.reason(),
                retry_after: state.retry_after(),
            },
            // An extension substate (the grammar allows packages to define
            // them): the subscription goes on as it was.
            _ => s.status.clone(),
        };
        if let Some(e) = state.expires() {
            set_expiry(s, now, e);
        } else if s.expires_at.is_none()
            && matches!(
                status,
                SubscriptionStatus::Active | SubscriptionStatus::Pending
            )
        {
            // §4.2.2 wants `expires` on active and pending; without one
            // (nor a 2xx Expires) the subscription still ends some day.
            set_expiry(s, now, DEFAULT_EXPIRES);
        }
        if matches!(status, SubscriptionStatus::Terminated { .. }) {
            s.expires_at = None;
            s.refresh_at = None;
        }
        if status != s.status {
            s.status = status.clone();
            self.out.push(SubscriptionEvent::Status {
                id: id.clone(),
                status,
            });
        }
        Ok(id)
    }

    /// The next deadline.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.map
            .values()
            .flat_map(|s| [s.expires_at, s.refresh_at, s.notify_by])
            .flatten()
            .min()
    }

    /// Runs due deadlines: refresh reminders, expiry and the missing first
    /// NOTIFY both end the subscription with `timeout`.
    pub fn handle_timeout(&mut self, now: Instant) {
        let mut ids: Vec<&SubscriptionId> = self.map.keys().collect();
        ids.sort();
        let ids: Vec<SubscriptionId> = ids.into_iter().cloned().collect();
        for id in ids {
            let Some(s) = self.map.get_mut(&id) else {
                continue;
            };
            let timed_out =
                s.expires_at.is_some_and(|t| now >= t) || s.notify_by.is_some_and(|t| now >= t);
            if timed_out {
                s.expires_at = None;
                s.refresh_at = None;
                s.notify_by = None;
                s.status = SubscriptionStatus::Terminated {
                    reason: Some(TerminationReason::Timeout),
                    retry_after: None,
                };
                self.out.push(SubscriptionEvent::Status {
                    id,
                    status: s.status.clone(),
                });
            } else if s.refresh_at.is_some_and(|t| now >= t) {
                s.refresh_at = None;
                self.out.push(SubscriptionEvent::RefreshDue { id });
            }
        }
    }

    /// Forgets a subscription.
    pub fn remove(&mut self, id: &SubscriptionId) {
        self.map.remove(id);
    }

    /// Forgets every subscription of a dialog that ended.
    pub fn remove_dialog(&mut self, dialog: &DialogId) {
        self.map.retain(|id, _| id.dialog != *dialog);
    }
}

/// How long a subscription lasts when neither the 2xx nor any NOTIFY said
/// (RFC 6665 leaves the default to the event package; an hour is usual).
pub const DEFAULT_EXPIRES: u32 = 3600;

fn set_expiry(s: &mut Sub, now: Instant, seconds: u32) {
    let e = Duration::from_secs(u64::from(seconds));
    s.expires_at = Some(now + e);
    s.refresh_at = Some(now + e / 2);
}

/// The status code in a `message/sipfrag` body of a REFER's NOTIFY (RFC
/// 3515 §2.4.5): `SIP/2.0 180 Ringing` gives 180. `None` if the body does
/// not start with a status line.
pub fn sipfrag_status(body: &[u8]) -> Option<u16> {
    let line = body.split(|b| *b == b'\n').next()?;
    let line = std::str::from_utf8(line).ok()?.trim_end_matches('\r');
    let mut parts = line.splitn(3, ' ');
    let version = parts.next()?;
    let code = parts.next()?;
    if !version.eq_ignore_ascii_case("SIP/2.0") || code.len() != 3 {
        return None;
    }
    code.parse().ok().filter(|c| (100..700).contains(c))
}

/// Notifier side: the subscriptions others hold on us (RFC 6665 §4.2).
#[derive(Debug, Default)]
pub struct Notifier {
    subs: HashMap<SubscriptionId, Instant>,
}

impl Notifier {
    /// No subscriptions.
    pub fn new() -> Notifier {
        Notifier::default()
    }

    /// The ids of the subscriptions granted, in no particular order.
    pub fn ids(&self) -> impl Iterator<Item = &SubscriptionId> {
        self.subs.keys()
    }

    /// A SUBSCRIBE (or refresh) asking for `requested` seconds; returns the
    /// granted time, capped at `max` (RFC 6665 §4.2.1.1: the notifier may
    /// shorten, never lengthen). `Some(0)` asks to end the subscription
    /// (fetch or unsubscribe): it is removed and the caller sends a final
    /// NOTIFY with `terminated`.
    pub fn on_subscribe(
        &mut self,
        now: Instant,
        id: SubscriptionId,
        requested: u32,
        max: u32,
    ) -> u32 {
        let granted = requested.min(max);
        if granted == 0 {
            self.subs.remove(&id);
        } else {
            self.subs
                .insert(id, now + Duration::from_secs(u64::from(granted)));
        }
        granted
    }

    /// The Subscription-State value for a NOTIFY now: `active` (or
    /// `pending` when not yet authorized) with the remaining seconds, or
    /// `terminated;reason=timeout` once expired (RFC 6665 §4.2.2).
    pub fn state_for_notify(
        &self,
        now: Instant,
        id: &SubscriptionId,
        authorized: bool,
    ) -> SubscriptionState {
        match self.subs.get(id) {
            Some(until) if *until > now => {
                let left = (*until - now).as_secs().max(1).to_string();
                let state = if authorized {
                    SubState::Active
                } else {
                    SubState::Pending
                };
                SubscriptionState::new(state).with_param("expires", Some(&left))
            }
            _ => SubscriptionState::new(SubState::Terminated).with_param("reason", Some("timeout")),
        }
    }

    /// Subscriptions whose time ran out: removed and returned, so the
    /// caller sends each a final NOTIFY with `terminated;reason=timeout`.
    pub fn expire(&mut self, now: Instant) -> Vec<SubscriptionId> {
        let mut gone: Vec<SubscriptionId> = self
            .subs
            .iter()
            .filter(|(_, t)| **t <= now)
            .map(|(id, _)| id.clone())
            .collect();
        gone.sort();
        for id in &gone {
            self.subs.remove(id);
        }
        gone
    }

    /// The next expiry.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.subs.values().min().copied()
    }

    /// Ends a subscription at once (its final NOTIFY was sent, or the
    /// subscriber is gone).
    pub fn remove(&mut self, id: &SubscriptionId) {
        self.subs.remove(id);
    }

    /// Whether `id` is a live subscription (a SUBSCRIBE for it refreshes).
    pub fn contains(&self, id: &SubscriptionId) -> bool {
        self.subs.contains_key(id)
    }

    /// Forgets every subscription of a dialog that ended.
    pub fn remove_dialog(&mut self, dialog: &DialogId) {
        self.subs.retain(|id, _| id.dialog != *dialog);
    }

    /// Number of subscriptions.
    pub fn len(&self) -> usize {
        self.subs.len()
    }

    /// True if none.
    pub fn is_empty(&self) -> bool {
        self.subs.is_empty()
    }
}
