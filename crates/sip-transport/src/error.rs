//! Errors of the transport layer.

use std::net::SocketAddr;

use sip_message::headers::Transport as Kind;

/// Why a send, bind or connect failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TransportError {
    /// An I/O error from the socket.
    #[error("{kind} {addr}: {source}")]
    Io {
        /// Transport.
        kind: Kind,
        /// Local or remote address involved.
        addr: SocketAddr,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// No listener of this transport (and address family) to send from.
    #[error("no {0} listener for this address family")]
    NoListener(Kind),
    /// The transport is not supported by this layer (SCTP, WS...).
    #[error("transport {0} is not supported")]
    Unsupported(Kind),
    /// Connecting took longer than the configured connect timeout.
    #[error("connecting to {0} timed out")]
    ConnectTimeout(SocketAddr),
    /// The connection limit is reached.
    #[error("connection limit ({0}) reached")]
    TooManyConnections(usize),
    /// The connection named by the target is closed.
    #[error("connection closed")]
    Closed,
    /// The connection's send queue is full (the peer does not read).
    #[error("send queue to {0} is full")]
    Backpressure(SocketAddr),
    /// The message is larger than the transport can carry (UDP datagram
    /// limit, or the configured message size).
    #[error("message of {0} bytes is too large")]
    TooLarge(usize),
    /// TLS set-up failed (bad certificate or key, bad server name).
    #[error("TLS: {0}")]
    Tls(String),
    /// The target host did not resolve.
    #[error("cannot resolve {0}")]
    Resolve(String),
    /// The message cannot be sent as given (e.g. a request without Via).
    #[error("message not sendable: {0}")]
    BadMessage(&'static str),
    /// The transport layer is shut down.
    #[error("transport layer is shut down")]
    Shutdown,
}

impl TransportError {
    pub(crate) fn io(kind: Kind, addr: SocketAddr, source: std::io::Error) -> Self {
        TransportError::Io { kind, addr, source }
    }
}
