//! # sip-uac
//!
//! The crate users touch: a [`Service`] (NkSIP's service) with its
//! listeners and transaction layer, a [`Handler`] that answers what it
//! receives, and one sending function per method, each waiting for the
//! final response and returning a [`Reply`]. Timeouts and transport
//! failures after sending are replies (408, 503), as in NkSIP; errors are
//! only for what failed before sending.
//!
//! State (issue 6, in progress): OPTIONS, MESSAGE, REGISTER (with
//! unregister and unregister-all), the generic `request` (method and
//! headers from the URI), INVITE (the ACK for the 2xx sent automatically),
//! async INVITE with CANCEL, BYE and INFO work end to end, with digest
//! authentication (MD5/SHA-256, qop=auth, 401 and 407) retried
//! automatically. Received INVITEs answered 2xx make UAS dialogs whose 2xx
//! is retransmitted until the ACK; one answered only provisionally rings
//! until CANCEL or its Expires (at most 3 min), then gets 487. Manual ACK,
//! UPDATE/SUBSCRIBE/NOTIFY/REFER/PUBLISH and per-request callbacks come
//! next.

#![forbid(unsafe_code)]
#![warn(missing_docs, unreachable_pub)]

mod auth;
mod callee;
mod core;
mod dialog_info;
mod error;
mod handler;
mod options;
mod reply;
mod service;
mod subscriptions;

pub use auth::{Credentials, Secret};
pub use callee::RequestId;
pub use dialog_info::DialogInfo;
pub use error::Error;
pub use handler::{
    default_answer, default_in_dialog_answer, Answer, DefaultHandler, Handler, ALLOW,
};
pub use options::RequestOptions;
pub use reply::Reply;
pub use service::{PendingInvite, Service, ServiceBuilder, MAX_AUTH_TRIES};
pub use sip_dialog::{
    DialogId, DialogState, InviteState, Role, SubscriptionId, SubscriptionStatus,
};
