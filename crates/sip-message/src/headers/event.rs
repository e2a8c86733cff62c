//! Event and Subscription-State (RFC 6665 §8.2.1, §8.2.3).

use std::fmt;

use bytes::Bytes;
use bytestring::ByteString;

use super::{token_and_params, TypedHeader};
use crate::header_name::HeaderName;
use crate::lex;
use crate::params::Params;

/// `Event: package[.template] *(;id=...|;param)`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Event {
    package: ByteString,
    params: Params,
}

impl Event {
    /// An event with an optional id.
    pub fn new(package: &str, id: Option<&str>) -> Event {
        let mut params = Params::new();
        if let Some(id) = id {
            params.set("id", Some(id));
        }
        Event {
            package: package.into(),
            params,
        }
    }
    /// The event type (package and templates), e.g. `presence.winfo`.
    pub fn package(&self) -> &str {
        &self.package
    }
    /// The `id` parameter.
    pub fn id(&self) -> Option<&str> {
        self.params.value("id")
    }
    /// All parameters.
    pub fn params(&self) -> &Params {
        &self.params
    }
}

impl TypedHeader for Event {
    const NAME: HeaderName = HeaderName::Event;
    fn decode(src: &Bytes, value: &[u8]) -> Option<Self> {
        let (package, params) = token_and_params(src, value)?;
        Some(Event { package, params })
    }
}

impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}", self.package, self.params)
    }
}

/// The state of a subscription.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SubState {
    /// `active`
    Active,
    /// `pending`
    Pending,
    /// `terminated`
    Terminated,
    /// Any other token (RFC 6665 says to treat it as... the token is kept).
    Other(ByteString),
}

/// `reason` of a terminated subscription (RFC 6665 §4.1.3).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TerminationReason {
    /// `deactivated`
    Deactivated,
    /// `probation`
    Probation,
    /// `rejected`
    Rejected,
    /// `timeout`
    Timeout,
    /// `giveup`
    Giveup,
    /// `noresource`
    Noresource,
    /// `invariant`
    Invariant,
    /// Any other token.
    Other(ByteString),
}

impl TerminationReason {
    fn from_text(s: &str) -> TerminationReason {
        match s.to_ascii_lowercase().as_str() {
            "deactivated" => TerminationReason::Deactivated,
            "probation" => TerminationReason::Probation,
            "rejected" => TerminationReason::Rejected,
            "timeout" => TerminationReason::Timeout,
            "giveup" => TerminationReason::Giveup,
            "noresource" => TerminationReason::Noresource,
            "invariant" => TerminationReason::Invariant,
            _ => TerminationReason::Other(s.into()),
        }
    }
}

/// `Subscription-State: state *(;reason|;expires|;retry-after|;param)`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SubscriptionState {
    state: SubState,
    params: Params,
}

impl SubscriptionState {
    /// A state without parameters.
    pub fn new(state: SubState) -> SubscriptionState {
        SubscriptionState {
            state,
            params: Params::new(),
        }
    }
    /// Adds or replaces a parameter (`expires`, `reason`, `retry-after`).
    pub fn with_param(mut self, name: &str, value: Option<&str>) -> Self {
        self.params.set(name, value);
        self
    }
    /// The state.
    pub fn state(&self) -> &SubState {
        &self.state
    }
    /// `reason`.
    pub fn reason(&self) -> Option<TerminationReason> {
        self.params
            .value("reason")
            .map(TerminationReason::from_text)
    }
    /// `expires` in seconds.
    pub fn expires(&self) -> Option<u32> {
        self.params
            .value("expires")
            .and_then(|v| lex::number(v.as_bytes()))
    }
    /// `retry-after` in seconds.
    pub fn retry_after(&self) -> Option<u32> {
        self.params
            .value("retry-after")
            .and_then(|v| lex::number(v.as_bytes()))
    }
    /// All parameters.
    pub fn params(&self) -> &Params {
        &self.params
    }
}

impl TypedHeader for SubscriptionState {
    const NAME: HeaderName = HeaderName::SubscriptionState;
    fn decode(src: &Bytes, value: &[u8]) -> Option<Self> {
        let (t, params) = token_and_params(src, value)?;
        let state = match t.to_ascii_lowercase().as_str() {
            "active" => SubState::Active,
            "pending" => SubState::Pending,
            "terminated" => SubState::Terminated,
            _ => SubState::Other(t),
        };
        Some(SubscriptionState { state, params })
    }
}

impl fmt::Display for SubscriptionState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = match &self.state {
            SubState::Active => "active",
            SubState::Pending => "pending",
            SubState::Terminated => "terminated",
            SubState::Other(o) => o,
        };
        write!(f, "{s}{}", self.params)
    }
}
