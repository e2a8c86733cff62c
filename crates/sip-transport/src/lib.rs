//! # sip-transport
//!
//! Moves SIP messages between the network and the layer above, over UDP,
//! TCP and TLS (rustls), on IPv4 and IPv6. It knows nothing of
//! transactions.
//!
//! - [`Transport::bind`] starts listeners (port 0 lets the OS choose;
//!   [`Transport::local_addrs`] reports what was bound) and returns the
//!   receiver of [`Inbound`] messages: the parsed message, transport,
//!   local and remote address, and the connection for TCP/TLS.
//! - [`Transport::send`] sends a message to a [`Target`]; a request's top
//!   Via gets the sent-by of the listener it leaves from (RFC 3261
//!   §18.1.1) and a large UDP request switches to TCP.
//!   [`Transport::send_response`] routes a response by its top Via
//!   (§18.2.2, RFC 3581).
//! - On receipt, requests get `received`/`rport` (§18.2.1, RFC 3581) and
//!   responses whose top Via is not ours are dropped (§18.1.2).
//! - Streams are framed with `sip_message::framing` (several messages per
//!   read, one message over several reads, CRLF keep-alives answered as
//!   RFC 5626 §3.5.1 says); every buffer, queue and the number of
//!   connections is bounded; idle connections close.
//! - Bad input never takes the layer down: a garbage datagram, an oversize
//!   message, a stalled or reset peer or a failed TLS handshake is dropped
//!   or closed with a log line and a counter ([`Transport::stats`]).
//!
//! Target selection from a URI ([`target::resolve`]) covers `transport=`,
//! `sips:`, `maddr`, default ports and A/AAAA lookups through a replaceable
//! [`Resolver`]; RFC 3263 NAPTR/SRV comes later.

#![forbid(unsafe_code)]
#![warn(missing_docs, unreachable_pub)]

mod config;
pub mod dns;
mod error;
mod inbound;
mod receive;
pub mod rfc3263;
mod stats;
mod stream;
pub mod target;
pub mod tls;
mod transport;
mod udp;
pub mod via;

pub use config::{TlsConfig, TransportConfig};
pub use error::TransportError;
pub use inbound::{ConnectionId, Inbound};
pub use stats::Stats;
pub use target::{Resolver, SystemResolver, Target, Targets};
pub use transport::{Sent, Transport};
