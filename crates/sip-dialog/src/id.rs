//! Dialog ids (RFC 3261 §12): Call-ID, local tag, remote tag.

use std::fmt;
use std::hash::{BuildHasher, Hash, Hasher};
use std::str::FromStr;
use std::sync::{Arc, OnceLock};

use sip_message::hash::FastState;

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
#[derive(Clone)]
pub struct DialogId {
    /// Call-ID, local tag and remote tag one after the other, in one
    /// shared allocation (a dialog id is made for every dialog-creating
    /// response and cloned into several tables).
    text: Arc<str>,
    /// Where the local tag starts in `text`.
    local_at: u32,
    /// Where the remote tag starts in `text`.
    remote_at: u32,
    /// The triple's hash, made once with a seed random to the process
    /// (so peers cannot choose colliding ids): every table keyed by the
    /// id hashes these eight bytes, not the strings.
    digest: u64,
}

/// The seed of every [`DialogId`] digest in this process.
fn digest_state() -> &'static FastState {
    static STATE: OnceLock<FastState> = OnceLock::new();
    STATE.get_or_init(FastState::new)
}

/// Same parts, same id: the digest (a quick mismatch), the split, then
/// the text (skipped for two clones of one id).
impl PartialEq for DialogId {
    fn eq(&self, other: &Self) -> bool {
        self.digest == other.digest
            && self.local_at == other.local_at
            && self.remote_at == other.remote_at
            && (Arc::ptr_eq(&self.text, &other.text) || self.text == other.text)
    }
}

impl Eq for DialogId {}

impl Hash for DialogId {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u64(self.digest);
    }
}

impl DialogId {
    /// A dialog id.
    pub fn new(call_id: &str, local_tag: &str, remote_tag: &str) -> DialogId {
        let (a, b) = (call_id.len(), call_id.len() + local_tag.len());
        let total = b + remote_tag.len();
        // Joined on the stack when it fits (it nearly always does: a
        // Call-ID and two tags), so the only allocation is the shared one.
        let mut buf = [0u8; 192];
        let text: Arc<str> = match buf.get_mut(..total) {
            Some(joined) => {
                joined[..a].copy_from_slice(call_id.as_bytes());
                joined[a..b].copy_from_slice(local_tag.as_bytes());
                joined[b..].copy_from_slice(remote_tag.as_bytes());
                // Three `&str` joined are UTF-8; this cannot fail.
                Arc::from(std::str::from_utf8(joined).unwrap_or_default())
            }
            None => Arc::from([call_id, local_tag, remote_tag].concat()),
        };
        let (local_at, remote_at) = (a as u32, b as u32);
        // The split is part of the digest: ("ab","c") is not ("a","bc").
        let digest = digest_state().hash_one((&*text, local_at, remote_at));
        DialogId {
            text,
            local_at,
            remote_at,
            digest,
        }
    }

    /// Call-ID.
    pub fn call_id(&self) -> &str {
        self.text.get(..self.local_at as usize).unwrap_or_default()
    }

    /// This side's tag.
    pub fn local_tag(&self) -> &str {
        self.text
            .get(self.local_at as usize..self.remote_at as usize)
            .unwrap_or_default()
    }

    /// The peer's tag.
    pub fn remote_tag(&self) -> &str {
        self.text.get(self.remote_at as usize..).unwrap_or_default()
    }

    fn parts(&self) -> (&str, &str, &str) {
        (self.call_id(), self.local_tag(), self.remote_tag())
    }
}

impl fmt::Debug for DialogId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DialogId")
            .field("call_id", &self.call_id())
            .field("local_tag", &self.local_tag())
            .field("remote_tag", &self.remote_tag())
            .finish()
    }
}

/// Ordered by Call-ID, then local tag, then remote tag.
impl Ord for DialogId {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.parts().cmp(&other.parts())
    }
}

impl PartialOrd for DialogId {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for DialogId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // '/' separates; each part escaped so it cannot contain one.
        write!(
            f,
            "dlg/{}/{}/{}",
            escape(self.call_id(), UriPart::Param).replace('/', "%2F"),
            escape(self.local_tag(), UriPart::Param).replace('/', "%2F"),
            escape(self.remote_tag(), UriPart::Param).replace('/', "%2F")
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

#[cfg(test)]
mod tests {
    use super::DialogId;
    use std::collections::HashSet;

    #[test]
    fn parts_come_back_as_given_and_splits_are_told_apart() {
        let id = DialogId::new("a84b4c76e66710@pc33", "1928301774", "a6c85cf");
        assert_eq!(id.call_id(), "a84b4c76e66710@pc33");
        assert_eq!(id.local_tag(), "1928301774");
        assert_eq!(id.remote_tag(), "a6c85cf");
        // The same characters split differently are other dialogs (§12:
        // the id is the triple, not its concatenation).
        let ids: HashSet<DialogId> = [
            DialogId::new("ab", "c", "d"),
            DialogId::new("a", "bc", "d"),
            DialogId::new("a", "b", "cd"),
            DialogId::new("abc", "", "d"),
            DialogId::new("ab", "c", "d"),
        ]
        .into_iter()
        .collect();
        assert_eq!(ids.len(), 4);
        // Equal ids made apart (not clones) are equal and hash alike.
        let (x, y) = (DialogId::new("c", "l", "r"), DialogId::new("c", "l", "r"));
        assert!(!std::sync::Arc::ptr_eq(&x.text, &y.text));
        assert_eq!(x, y);
        let s = std::collections::hash_map::RandomState::new();
        use std::hash::BuildHasher;
        assert_eq!(s.hash_one(&x), s.hash_one(&y));
        assert_ne!(DialogId::new("c", "l", "r"), DialogId::new("c", "l", "s"));
        // An empty remote tag (a UAS dialog with an RFC 2543 peer).
        let bare = DialogId::new("c1", "t1", "");
        assert_eq!((bare.local_tag(), bare.remote_tag()), ("t1", ""));
    }

    #[test]
    fn long_and_non_ascii_parts_and_tuple_order() {
        let long = "x".repeat(500);
        let id = DialogId::new(&long, "é", "ü");
        assert_eq!(
            (id.call_id(), id.local_tag(), id.remote_tag()),
            (&*long, "é", "ü")
        );
        assert_eq!(id.to_string().parse::<DialogId>().unwrap(), id);
        let mut v = [
            DialogId::new("b", "a", "a"),
            DialogId::new("a", "b", "a"),
            DialogId::new("a", "a", "b"),
            DialogId::new("a", "ab", ""),
        ];
        v.sort();
        let parts: Vec<_> = v
            .iter()
            .map(|d| (d.call_id(), d.local_tag(), d.remote_tag()))
            .collect();
        assert_eq!(
            parts,
            [
                ("a", "a", "b"),
                ("a", "ab", ""),
                ("a", "b", "a"),
                ("b", "a", "a")
            ]
        );
    }
}
