//! Dialog errors, each with the response a UAS sends for it.

use crate::id::DialogId;

/// Why a message could not be applied to a dialog.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DialogError {
    /// No dialog matches (§12.2.2): 481.
    #[error("no dialog {0}")]
    UnknownDialog(DialogId),
    /// The request has no dialog identifiers (Call-ID, tags).
    #[error("the message carries no dialog identifiers")]
    NotInDialog,
    /// A lower CSeq than the last one from the peer (§12.2.2): 500.
    #[error("CSeq {got} is lower than {last}")]
    CSeqOutOfOrder {
        /// Received.
        got: u32,
        /// Last seen.
        last: u32,
    },
    /// A dialog-creating message without a usable Contact (§12.1): 400.
    #[error("missing or malformed Contact")]
    MissingContact,
    /// A header the dialog needs is missing or malformed: 400.
    #[error("missing or malformed {0}")]
    MissingHeader(&'static str),
    /// A response whose Call-ID or From tag is not its request's: it cannot
    /// belong to a dialog the request creates (§12.1.2 takes the Call-ID
    /// and local tag from the request, §8.2.6.2 has the UAS copy them).
    #[error("the response's {0} differs from its request's")]
    ResponseMismatch(&'static str),
}

impl DialogError {
    /// The response a UAS sends, if one is due.
    pub fn status_code(&self) -> Option<u16> {
        Some(match self {
            DialogError::UnknownDialog(_) | DialogError::NotInDialog => 481,
            DialogError::CSeqOutOfOrder { .. } => 500,
            DialogError::MissingContact | DialogError::MissingHeader(_) => 400,
            // Nothing is sent back for a response.
            DialogError::ResponseMismatch(_) => return None,
        })
    }
}
