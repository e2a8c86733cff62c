//! What the transport hands to the layer above.

use std::fmt;
use std::net::SocketAddr;

use sip_message::headers::Transport as Kind;
use sip_message::Message;

/// Identifies one TCP or TLS connection for as long as it lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnectionId(pub(crate) u64);

impl fmt::Display for ConnectionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "conn-{}", self.0)
    }
}

/// A message received from the network.
#[derive(Debug, Clone)]
pub struct Inbound {
    /// The message. For a request, the top Via already carries `received`
    /// and the `rport` value where RFC 3261 §18.2.1 / RFC 3581 ask for them.
    pub message: Message,
    /// Transport it came in on.
    pub transport: Kind,
    /// Local address it arrived at.
    pub local: SocketAddr,
    /// Source address.
    pub remote: SocketAddr,
    /// The connection, for TCP and TLS (responses go back on it).
    pub connection: Option<ConnectionId>,
}
