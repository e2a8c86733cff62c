//! # sip-uac
//!
//! The crate users touch: a [`Service`] (NkSIP's service) with its
//! listeners and transaction layer, a [`Handler`] that answers what it
//! receives, and one sending function per method, each waiting for the
//! final response and returning a [`Reply`]. Timeouts and transport
//! failures after sending are replies (408, 503), as in NkSIP; errors are
//! only for what failed before sending.
//!
//! Every SIP method has its function: [`Service::options`],
//! [`register`](Service::register) (and `unregister`, `unregister_all`),
//! [`invite`](Service::invite) / [`invite_async`](Service::invite_async)
//! with [`cancel`](Service::cancel) (or
//! [`cancel_with_reason`](Service::cancel_with_reason)) and
//! [`ack`](Service::ack), [`reinvite`](Service::reinvite) (hold, resume),
//! [`bye`](Service::bye), [`info`](Service::info),
//! [`update`](Service::update), [`message`](Service::message),
//! [`publish`](Service::publish), [`subscribe`](Service::subscribe) /
//! [`subscribe_in_dialog`](Service::subscribe_in_dialog) /
//! [`subscribe_refresh`](Service::subscribe_refresh),
//! [`notify`](Service::notify), [`refer`](Service::refer) and the generic
//! [`request`](Service::request) and
//! [`request_in_dialog`](Service::request_in_dialog). Digest challenges
//! (401/407) are answered from the credentials given; PRACK comes from the
//! `sip-100rel` plugin, added with [`ServiceBuilder::extension`].
//!
//! A provisional response with a To tag makes the caller an early dialog
//! (RFC 3261 §12.1.2), named by the provisional's [`Reply::dialog`]: an
//! UPDATE (RFC 3311), INFO or the caller's BYE can be sent in it before
//! the answer, and it ends with the INVITE unless the 2xx confirms it.
//! [`Service::dialog`] reads one dialog's fields, [`Service::dialogs`]
//! and [`Service::subscriptions`] list them, [`Service::bye_all`] ends every call and
//! [`Service::stop_dialog`] forgets one without a word to the peer.
//!
//! An INVITE never waits forever: Timer C
//! ([`ServiceBuilder::timer_c`], 180 s after the last provisional) CANCELs
//! it and replies 408 "Timer C Timeout", and a CANCELled INVITE the callee
//! never answers ends 64*T1 later (RFC 3261 §9.1). A name with several
//! addresses is tried in order when one fails (RFC 3263 §4.3; the lookup
//! is [`ServiceBuilder::resolver`]'s).
//!
//! ```no_run
//! use sip_message::{Message, Method};
//! use sip_uac::{default_answer, Answer, Handler, RequestOptions, Service};
//!
//! /// Rings, then answers every call.
//! struct Callee;
//! impl Handler for Callee {
//!     fn on_request(&self, r: &Message) -> Answer {
//!         match r.method() {
//!             Some(Method::Invite) => Answer::code(200)
//!                 .body("application/sdp", "v=0\r\n")
//!                 .with_provisional(Answer::code(180)),
//!             _ => default_answer(r),
//!         }
//!     }
//! }
//!
//! # async fn demo() -> Result<(), sip_uac::Error> {
//! let any = "127.0.0.1:0".parse().unwrap();
//! let bob = Service::builder("bob").udp(any).handler(Callee).start().await?;
//! let alice = Service::builder("alice").udp(any).start().await?;
//! let uri = format!("sip:bob@{}", bob.local_addr(sip_message::headers::Transport::Udp).unwrap());
//!
//! let call = alice
//!     .invite(&uri, RequestOptions::new().on_provisional(|r| println!("{}", r.code())))
//!     .await?;
//! if let Some(dialog) = call.dialog() {
//!     alice.info(dialog, RequestOptions::new()).await?;
//!     alice.bye(dialog, RequestOptions::new()).await?;
//! }
//! let sub = alice.subscribe(&uri, RequestOptions::new().event("presence")).await?;
//! println!("SUBSCRIBE: {} {}", sub.code(), sub.reason()); // 489: bob serves no package
//! # Ok(()) }
//! ```
//!
//! On the answering side, a [`Handler`] decides (defaults follow NkSIP);
//! an INVITE left ringing can be answered later with [`Service::answer`]
//! and its [`RequestId`]; subscriptions the handler grants are reported to
//! [`Handler::on_subscription`] for [`Service::notify`].

#![forbid(unsafe_code)]
#![warn(missing_docs, unreachable_pub)]

mod auth;
mod callee;
mod contact;
mod core;
mod dialog_info;
mod early;
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
pub use service::{PendingInvite, Service, ServiceBuilder, DEFAULT_TIMER_C, MAX_AUTH_TRIES};
pub use sip_dialog::{
    DialogId, DialogState, InviteState, Role, SubscriptionId, SubscriptionStatus,
};
