//! # sip-transaction
//!
//! The four transaction state machines of RFC 3261 §17, with RFC 6026's
//! Accepted states (Timers L and M), as sans-IO code: no socket, no clock,
//! no runtime in the core. A [`TransactionLayer`] owns every transaction
//! of an endpoint; a thin tokio [`driver`] connects it to `sip-transport`.
//!
//! ## Driving the layer
//!
//! Every input carries `now`:
//!
//! - [`TransactionLayer::send_request`], [`send_response`](TransactionLayer::send_response),
//!   [`send_cancel`](TransactionLayer::send_cancel): from the transaction user (TU);
//! - [`handle_inbound`](TransactionLayer::handle_inbound): a message the transport received;
//! - [`handle_timeout`](TransactionLayer::handle_timeout): the deadline passed;
//! - [`handle_transport_error`](TransactionLayer::handle_transport_error): a send failed.
//!
//! After each input, drain [`poll_output`](TransactionLayer::poll_output)
//! until it returns `None` (each [`Output`] is bytes to transmit or an
//! event for the TU), then sleep until
//! [`poll_timeout`](TransactionLayer::poll_timeout) or the next input,
//! whichever comes first:
//!
//! ```
//! use std::time::{Duration, Instant};
//! use sip_message::Message;
//! use sip_transaction::{Output, TimerConfig, TransactionLayer, Xorshift};
//! use sip_transport::Target;
//!
//! let mut layer = TransactionLayer::with_random(TimerConfig::default(), Box::new(Xorshift::seeded(7)));
//! let branch = layer.new_branch();
//! let options = Message::parse(format!(
//!     "OPTIONS sip:bob@192.0.2.4 SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.1;branch={branch}\r\n\
//!      From: <sip:alice@192.0.2.1>;tag=1\r\nTo: <sip:bob@192.0.2.4>\r\nCall-ID: c1\r\n\
//!      CSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"))?;
//! let start = Instant::now();
//! let target = Target::new(sip_message::headers::Transport::Udp, "192.0.2.4:5060".parse()?);
//! let id = layer.send_request(start, options, target)?;
//!
//! // The request goes out at once...
//! assert!(matches!(layer.poll_output(), Some(Output::Transmit(_))));
//! // ...and Timer E asks for a retransmission after T1 (§17.1.2.2).
//! assert_eq!(layer.poll_timeout(), Some(start + Duration::from_millis(500)));
//! layer.handle_timeout(start + Duration::from_millis(500));
//! assert!(matches!(layer.poll_output(), Some(Output::Transmit(_))));
//! # let _ = id;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! ## Matching
//!
//! Responses match client transactions by top Via branch and CSeq method
//! (§17.1.3); requests match server transactions by branch, sent-by and
//! method, ACK matching its INVITE and CANCEL its own transaction
//! (§17.2.3), with the RFC 2543 fallback for branches without the magic
//! cookie. Unmatched responses and ACKs go to the TU as events; any other
//! unmatched request creates a server transaction.
//!
//! ## Extensions
//!
//! Plugins (100rel/PRACK lives in its own crate) implement [`Extension`]
//! and act through [`HookCx`]; the core names none of them.

#![forbid(unsafe_code)]
#![warn(missing_docs, unreachable_pub)]

mod client;
mod client_index;
pub mod driver;
mod effects;
mod error;
mod hooks;
mod id;
mod layer;
mod lingering;
mod output;
mod random;
mod requests;
mod server;
mod timer;

pub use client::ClientState;
pub use error::TransactionError;
pub use hooks::{priority, Capabilities, Extension, Flow, HookCx, RequestData};
pub use id::{ClientKey, KeyText, ServerKey, TransactionId, TransactionKey};
pub use layer::TransactionLayer;
pub use output::{Output, Source, TransactionEvent, Transmit};
pub use random::{branch, Branch, RandomSource, Xorshift};
pub use requests::{cancel_for, cancel_with_reason};
pub use server::ServerState;
pub use timer::{Timer, TimerConfig, TRYING_DELAY};

/// The README's examples, compiled and run as doctests so the README stays true.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
pub struct ReadmeDoctests;
