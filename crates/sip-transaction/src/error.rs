//! API misuse errors. Timeouts and transport failures are events, not errors.

use crate::id::TransactionId;

/// Why the layer refused an input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TransactionError {
    /// No live transaction with this id.
    #[error("unknown transaction {0}")]
    UnknownTransaction(TransactionId),
    /// The message is not a request (for send_request) or not a response.
    #[error("wrong message kind: {0}")]
    WrongKind(&'static str),
    /// The request has no top Via with an RFC 3261 branch.
    #[error(
        "the request needs a top Via with a z9hG4bK branch (use TransactionLayer::new_branch)"
    )]
    MissingBranch,
    /// A header the operation needs is missing.
    #[error("missing {0}")]
    MissingHeader(&'static str),
    /// A client transaction with this key exists already.
    #[error("a transaction with this branch and method exists")]
    Duplicate,
    /// The operation does not fit the transaction's state.
    #[error("transaction {id} is {state}: cannot {action}")]
    InvalidState {
        /// Transaction.
        id: TransactionId,
        /// Its state.
        state: &'static str,
        /// What was tried.
        action: &'static str,
    },
    /// A header value given to the layer cannot be written as it is (a CR
    /// or LF would end the header, RFC 3261 §7.3.1).
    #[error("invalid {0} header value")]
    InvalidHeader(&'static str),
    /// ACK is not sent through a transaction: the INVITE client transaction
    /// sends the ACK for a non-2xx itself, the dialog sends the ACK for a 2xx.
    #[error("ACK is not sent through a client transaction")]
    AckNotATransaction,
}
