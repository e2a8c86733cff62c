//! A snapshot of one dialog's fields (NkSIP's `nksip_dialog:get_meta`).

use sip_dialog::{DialogId, DialogState, InviteState, Role};

/// What a Service knows about one of its dialogs, copied at the time of
/// [`Service::dialog`](crate::Service::dialog).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct DialogInfo {
    /// Call-ID, local tag, remote tag.
    pub id: DialogId,
    /// `Uac` when this service sent the request that created the dialog.
    pub role: Role,
    /// Early, confirmed or terminated.
    pub state: DialogState,
    /// The INVITE usage's state, if the dialog has one.
    pub invite_state: Option<InviteState>,
    /// Local URI (From of our requests), as text.
    pub local_uri: Option<String>,
    /// Remote URI (To of our requests), as text.
    pub remote_uri: Option<String>,
    /// Local target: our Contact in the dialog, where the peer sends its
    /// requests.
    pub local_target: Option<String>,
    /// Remote target: where in-dialog requests go (the peer's Contact).
    pub remote_target: String,
    /// Route set, in the order our requests carry it (§12.1).
    pub route_set: Vec<String>,
    /// Last CSeq number we sent.
    pub local_seq: u32,
    /// Last CSeq number we received, if any.
    pub remote_seq: Option<u32>,
    /// Whether the dialog is secure (SIPS, §12.1.1).
    pub secure: bool,
    /// Our session description (SDP) in force, if any.
    pub local_sdp: Option<bytes::Bytes>,
    /// The peer's session description in force, if any.
    pub remote_sdp: Option<bytes::Bytes>,
    /// The subscriptions that use the dialog (RFC 6665 §4.5.2: a REFER's,
    /// one made with `subscribe_in_dialog`, or the dialog's own).
    pub subscriptions: Vec<sip_dialog::SubscriptionId>,
}
