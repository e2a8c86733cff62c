//! # sip-dialog
//!
//! Dialogs as RFC 3261 §12 defines them, sans-IO: created by responses to
//! (UAC) or receipt of (UAS) dialog-creating requests, identified by
//! Call-ID and tags ([`DialogId`], with a printable handle form), with a
//! route set, remote target and sequence numbers; building requests inside
//! a dialog (§12.2.1.1, loose and strict routing) and checking the ones
//! that arrive (§12.2.2: 481 unknown dialog, 500 out-of-order CSeq, target
//! refresh).
//!
//! [`Sessions`] keeps the INVITE usage (RFC 3261 §13): NkSIP's states and
//! stop reasons, the ACK for a 2xx, 2xx retransmission until the ACK, and
//! forked 2xx handling. [`OfferAnswer`] tracks offer/answer (RFC 3264,
//! RFC 6337) with 491 for overlapping offers and the §14.1 glare retry
//! delay. [`Subscriptions`] keeps the subscriber side of RFC 6665: ids,
//! states, expiry and refresh deadlines, NOTIFY before the 2xx and from
//! forks, REFER's implicit subscription and its sipfrag progress;
//! [`Notifier`] the notifier side's grants and expiry. [`Dialogs`] emits
//! typed [`DialogEvent`]s, tracks the usages sharing a dialog (RFC 5057)
//! and ends early dialogs at the INVITE's own deadline.
//!
//! ```
//! use sip_dialog::{Dialogs, DialogUpdate};
//! use sip_message::{Message, Method, headers::Transport};
//!
//! let invite = Message::parse(&b"INVITE sip:bob@biloxi.example.com SIP/2.0\r\n\
//! Via: SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bK74bf9\r\n\
//! From: Alice <sip:alice@atlanta.example.com>;tag=9fxced76sl\r\n\
//! To: Bob <sip:bob@biloxi.example.com>\r\nCall-ID: 3848276298220188511@atlanta.example.com\r\n\
//! CSeq: 1 INVITE\r\nContact: <sip:alice@client.atlanta.example.com>\r\nContent-Length: 0\r\n\r\n"[..])?;
//! let ok = Message::parse(&b"SIP/2.0 200 OK\r\n\
//! Via: SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bK74bf9\r\n\
//! Record-Route: <sip:ss2.biloxi.example.com;lr>, <sip:ss1.atlanta.example.com;lr>\r\n\
//! From: Alice <sip:alice@atlanta.example.com>;tag=9fxced76sl\r\n\
//! To: Bob <sip:bob@biloxi.example.com>;tag=314159\r\nCall-ID: 3848276298220188511@atlanta.example.com\r\n\
//! CSeq: 1 INVITE\r\nContact: <sip:bob@client.biloxi.example.com>\r\nContent-Length: 0\r\n\r\n"[..])?;
//!
//! let mut dialogs = Dialogs::new();
//! let DialogUpdate::Confirmed(id) = dialogs.on_response(&invite, &ok)? else { panic!() };
//! let bye = dialogs.get_mut(&id).unwrap()
//!     .request(Method::Bye, None, "z9hG4bKnashds10", Transport::Udp)?
//!     .build()?;
//! // Loose routing: the Request-URI is the remote target, the route set goes in Route.
//! assert_eq!(bye.request_uri_str(), Some("sip:bob@client.biloxi.example.com"));
//! assert_eq!(bye.cseq(), Some((2, &Method::Bye)));
//! assert_eq!(bye.to_tag(), Some("314159"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs, unreachable_pub)]

mod dialog;
mod dialogs;
mod error;
mod extension;
mod id;
mod invite;
mod offer_answer;
mod subscription;

pub use dialog::{Dialog, DialogState, Role};
pub use dialogs::{DialogEvent, DialogStop, DialogUpdate, Dialogs, ResponseEffect, Usage};
pub use error::DialogError;
pub use extension::{LocalSeqUsed, SessionExchanged};
pub use id::{BadHandle, DialogId};
pub use invite::{InviteState, SessionOutput, Sessions, StopReason};
pub use offer_answer::{
    glare_retry_delay, Carrier, Exchange, NegotiationState, OfferAnswer, OfferError,
};
pub use subscription::{
    sipfrag_status, Notifier, NotifyError, SubscriptionEvent, SubscriptionId, SubscriptionStatus,
    Subscriptions, DEFAULT_EXPIRES,
};
