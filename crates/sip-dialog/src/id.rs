//! Dialog ids (RFC 3261 §12): Call-ID, local tag, remote tag.

use std::fmt;
use std::str::FromStr;

use sip_message::uri::{escape, unescape_str, UriPart};

/// A dialog, from this side's point of view: for a UAC the local tag is
/// the From tag, for a UAS the To tag (§12).
///
/// The printable handle form (`Display` / `FromStr`) is stable and opaque
/// to users: they pass it around and log it. Cloning one is cheap (shared
/// strings): the stack keys several tables by it.
///
/// ```
/// use sip_dialog::DialogId;
/// let id = DialogId::new("a84b4c76e66710@pc33", "1928301774", "a6c85cf");
/// let handle = id.to_string();
/// assert_eq!(handle.parse::<DialogId>().unwrap(), id);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DialogId {
    /// Call-ID.
    pub call_id: std::sync::Arc<str>,
    /// This side's tag.
    pub local_tag: std::sync::Arc<str>,
    /// The peer's tag.
    pub remote_tag: std::sync::Arc<str>,
}

impl DialogId {
    /// A dialog id.
    pub fn new(call_id: &str, local_tag: &str, remote_tag: &str) -> DialogId {
        DialogId {
            call_id: call_id.into(),
            local_tag: local_tag.into(),
            remote_tag: remote_tag.into(),
        }
    }
}

impl fmt::Display for DialogId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // '/' separates; each part escaped so it cannot contain one.
        write!(
            f,
            "dlg/{}/{}/{}",
            escape(&self.call_id, UriPart::Param).replace('/', "%2F"),
            escape(&self.local_tag, UriPart::Param).replace('/', "%2F"),
            escape(&self.remote_tag, UriPart::Param).replace('/', "%2F")
        )
    }
}

/// A string that is not a dialog handle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("not a dialog handle")]
pub struct BadHandle;

impl FromStr for DialogId {
    type Err = BadHandle;
    fn from_str(s: &str) -> Result<Self, BadHandle> {
        let mut parts = s.split('/');
        if parts.next() != Some("dlg") {
            return Err(BadHandle);
        }
        let (Some(c), Some(l), Some(r), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(BadHandle);
        };
        Ok(DialogId::new(
            &unescape_str(c),
            &unescape_str(l),
            &unescape_str(r),
        ))
    }
}
