//! What the layer asks its driver to do, and what it tells the transaction user.

use sip_message::Message;
use sip_transport::{ConnectionId, Target};

use crate::id::{ServerKey, TransactionId};
use crate::timer::Timer;

/// Bytes to put on the wire.
#[derive(Debug, Clone)]
pub enum Transmit {
    /// A request (or an ACK/CANCEL built by the layer) to a target.
    Request {
        /// The transaction that sends it (transport errors are reported against it).
        id: TransactionId,
        /// The request.
        message: Message,
        /// Where to.
        target: Target,
    },
    /// A response, routed by its top Via (RFC 3261 §18.2.2).
    Response {
        /// The server transaction.
        id: TransactionId,
        /// The response.
        message: Message,
        /// The connection the request came on.
        connection: Option<ConnectionId>,
    },
}

/// Where a request came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    /// Transport.
    pub transport: sip_message::headers::Transport,
    /// Remote address.
    pub remote: std::net::SocketAddr,
    /// Local address.
    pub local: std::net::SocketAddr,
    /// Connection (TCP/TLS).
    pub connection: Option<ConnectionId>,
}

/// Events for the transaction user (the dialog layer or a UA core).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum TransactionEvent {
    /// A response for a client transaction: each provisional, the final,
    /// and for INVITE every further 2xx while Accepted (RFC 6026:
    /// retransmissions and forks, which the TU ACKs).
    Response {
        /// Client transaction.
        id: TransactionId,
        /// The response.
        response: Message,
    },
    /// Timer B or F fired: the request got no final response (§17.1.1.2, §17.1.2.2).
    Timeout {
        /// Client transaction.
        id: TransactionId,
        /// B or F.
        timer: Timer,
    },
    /// The transport could not send for this transaction (§17.1.4, §17.2.4).
    TransportError {
        /// Transaction.
        id: TransactionId,
    },
    /// A new request created a server transaction; the TU answers it with
    /// [`TransactionLayer::send_response`](crate::TransactionLayer::send_response).
    Request {
        /// The new server transaction.
        id: TransactionId,
        /// Its key.
        key: ServerKey,
        /// The request.
        request: Message,
        /// Where it came from.
        source: Source,
        /// For a CANCEL: the INVITE server transaction it cancels, if any (§9.2).
        cancels: Option<TransactionId>,
    },
    /// An ACK that belongs to no transaction in Completed state: the ACK for
    /// a 2xx, which the dialog layer handles (§17.2.3, RFC 6026 §8.7 for
    /// Accepted).
    Ack {
        /// The ACK.
        request: Message,
        /// Where it came from.
        source: Source,
    },
    /// A response matching no client transaction (a retransmitted 2xx after
    /// the transaction ended, or a stray): the dialog layer decides.
    StrayResponse {
        /// The response.
        response: Message,
    },
    /// Timer H fired: no ACK came for a non-2xx final (§17.2.1).
    AckTimeout {
        /// INVITE server transaction.
        id: TransactionId,
    },
    /// A CANCEL held until a provisional response was dropped because the
    /// INVITE got a final response first (§9.1).
    CancelDropped {
        /// The CANCEL's transaction.
        id: TransactionId,
    },
    /// The transaction reached Terminated and is gone.
    Terminated {
        /// Transaction.
        id: TransactionId,
        /// Its key.
        key: crate::id::TransactionKey,
    },
    /// An event an extension emitted.
    Extension {
        /// The extension's name.
        name: &'static str,
        /// The client transaction it belongs to, if any
        /// ([`HookCx::emit_for`](crate::HookCx::emit_for)).
        transaction: Option<TransactionId>,
        /// What it says.
        payload: std::sync::Arc<dyn std::any::Any + Send + Sync>,
    },
}

/// One output of the layer.
#[derive(Debug, Clone)]
pub enum Output {
    /// Send these bytes.
    Transmit(Transmit),
    /// Tell the TU.
    Event(TransactionEvent),
}
