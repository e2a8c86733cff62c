//! What a transaction-layer extension (a plugin such as 100rel) reports to
//! the dialog layer about requests it sent or exchanges it completed on its
//! own. The TU receives these as the payload of a
//! `TransactionEvent::Extension` and applies them to its dialogs; it needs
//! to know nothing of the extension itself.

use bytes::Bytes;

use crate::DialogId;

/// An extension sent a request inside a dialog of ours with CSeq `seq`
/// (e.g. a PRACK in an early dialog). The dialog's local sequence number
/// must not fall behind it: each new request takes the next number
/// (RFC 3261 §12.2.1.1), so see [`Dialog::advance_local_seq`](crate::Dialog::advance_local_seq).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalSeqUsed {
    /// The dialog (this side's view).
    pub dialog: DialogId,
    /// The CSeq number the extension used.
    pub seq: u32,
}

/// An extension completed an offer/answer exchange in a dialog (e.g. an
/// offer in a reliable provisional response answered in its PRACK,
/// RFC 3262 §5): the session descriptions now in force.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionExchanged {
    /// The dialog (this side's view).
    pub dialog: DialogId,
    /// Our session description.
    pub local: Option<Bytes>,
    /// The peer's session description.
    pub remote: Option<Bytes>,
}
