//! Errors: only what failed before a request was sent. Timeouts and
//! transport failures after sending come back as replies (408, 503), as in
//! NkSIP.

/// Why a request was not sent.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The target or an option's URI does not parse.
    #[error("invalid URI: {0}")]
    InvalidUri(String),
    /// An option's value is unusable.
    #[error("invalid option {0}")]
    InvalidOption(&'static str),
    /// The target cannot be resolved or reached by any listener.
    #[error("transport: {0}")]
    Transport(#[from] sip_transport::TransportError),
    /// The transaction layer refused the request.
    #[error("transaction: {0}")]
    Transaction(#[from] sip_transaction::TransactionError),
    /// The request could not be sent: the connection was refused or the
    /// destination is unreachable (reliable transports; nothing was sent).
    #[error("not sent: connection refused or destination unreachable")]
    NotSent,
    /// No such dialog (it ended, or never existed).
    #[error("unknown dialog")]
    UnknownDialog,
    /// No such request waiting for an answer (answered, cancelled or
    /// expired).
    #[error("unknown request")]
    UnknownRequest,
    /// No subscription this service granted has this id: NOTIFY is the
    /// notifier's (RFC 6665 §4.2.2), and a subscription the service holds
    /// as subscriber is notified by the other side.
    #[error("not a subscription this service granted")]
    UnknownSubscription,
    /// The service is stopped.
    #[error("the service is stopped")]
    Stopped,
}
