//! The caller's early dialogs (RFC 3261 §12.1.2, §13.2.2.4): a provisional
//! response (101-199) with a To tag to our INVITE makes an early dialog,
//! one per callee when the INVITE forks. Requests can be sent in it (an
//! UPDATE, RFC 3311 §5.1; INFO; the caller's BYE, §15). The 2xx of the
//! same To tag confirms it; when the INVITE ends otherwise (a non-2xx
//! final, a CANCEL, a timeout) it ends too (§12.1: an early dialog that
//! never gets a 2xx is gone with its INVITE), and so do the other forks'
//! once one fork's 2xx has come (the forking proxy CANCELs them, §16.7
//! step 10; a late 2xx of one of them still gets its ACK and a BYE, as
//! `Sessions::uac_2xx` does).

use std::sync::Arc;

use sip_dialog::{DialogId, DialogState, DialogUpdate, LocalSeqUsed, SessionExchanged};
use sip_message::Message;

use crate::core::{Core, Sdp};

impl Core {
    /// A provisional response to our INVITE `invite` (out of any dialog):
    /// its early dialog, made at the first provisional with this To tag.
    /// `seq_used` are the CSeq numbers an extension took in the INVITE's
    /// early dialogs so far (a PRACK, RFC 3262 §7.2): a request of ours in
    /// the dialog takes a higher one (§12.2.1.1).
    pub(crate) fn uac_provisional(
        &self,
        invite: &Message,
        response: &Message,
        seq_used: &[LocalSeqUsed],
        exchanged: &[SessionExchanged],
    ) -> Option<DialogId> {
        // A 100 or a provisional without a To tag makes none (§12.1).
        response.to_tag()?;
        let (Ok(mut sessions), Ok(mut dialogs)) = (self.sessions.lock(), self.dialogs.lock())
        else {
            return None;
        };
        let (id, new) = match dialogs.on_response(invite, response) {
            Ok(DialogUpdate::Early(id)) => {
                if let Some(d) = dialogs.get(&id) {
                    sessions.uac_early(d, invite);
                }
                (id, true)
            }
            Ok(DialogUpdate::Known(id)) => (id, false),
            Ok(_) => return None,
            Err(e) => {
                // A provisional the dialog layer refuses (e.g. one whose
                // Record-Route or Contact does not parse): the call goes
                // on without an early dialog.
                tracing::debug!(error = %e, "provisional response makes no early dialog");
                return None;
            }
        };
        drop((sessions, dialogs));
        if new {
            self.set_sdp(&id, Sdp::of_invite(invite, exchanged, &id));
        }
        for u in seq_used.iter().filter(|u| u.dialog == id) {
            self.local_seq_used(u);
        }
        Some(id)
    }

    /// An extension took CSeq `used.seq` in one of our dialogs while our
    /// INVITE was pending (a PRACK in an early dialog): our next request
    /// there takes a higher one (§12.2.1.1).
    pub(crate) fn local_seq_used(&self, used: &LocalSeqUsed) {
        if let Ok(mut d) = self.dialogs.lock() {
            if let Some(d) = d.get_mut(&used.dialog) {
                d.advance_local_seq(used.seq);
            }
        }
    }

    /// Our INVITE ended: those of its early dialogs `early` that are still
    /// early go, with everything kept for them (the one its 2xx confirmed
    /// stays).
    pub(crate) fn uac_early_ended(&self, early: &[DialogId]) {
        for id in early {
            let still_early = self
                .dialogs
                .lock()
                .is_ok_and(|d| d.get(id).is_some_and(|d| d.state() == DialogState::Early));
            if still_early {
                self.forget(id);
            }
        }
    }
}

/// The early dialogs of one INVITE of ours. Dropped, it ends those still
/// early, however the INVITE ended: a final response, an error, or the
/// caller's future dropped while it rang (an early dialog never outlives
/// its INVITE, §12.1).
pub(crate) struct EarlyDialogs {
    core: Arc<Core>,
    ids: Vec<DialogId>,
}

impl EarlyDialogs {
    pub(crate) fn new(core: Arc<Core>) -> EarlyDialogs {
        EarlyDialogs {
            core,
            ids: Vec::new(),
        }
    }

    /// The service state the dialogs live in.
    pub(crate) fn core(&self) -> &Core {
        &self.core
    }

    /// The highest CSeq number used in these dialogs so far (0 for none).
    pub(crate) fn max_local_seq(&self) -> u32 {
        if self.ids.is_empty() {
            return 0;
        }
        let Ok(d) = self.core.dialogs.lock() else {
            return 0;
        };
        self.ids
            .iter()
            .filter_map(|id| d.get(id).map(|d| d.local_seq()))
            .max()
            .unwrap_or(0)
    }

    /// Notes an early dialog of the INVITE (once).
    pub(crate) fn add(&mut self, id: &DialogId) {
        if !self.ids.contains(id) {
            self.ids.push(id.clone());
        }
    }
}

impl EarlyDialogs {
    /// Ends those still early now: their INVITE had a non-2xx final (or
    /// none) and is being sent again, after a challenge or to another
    /// address (§13.2.2.3).
    pub(crate) fn end_all(&mut self) {
        if !self.ids.is_empty() {
            self.core.uac_early_ended(&self.ids);
            self.ids.clear();
        }
    }
}

impl Drop for EarlyDialogs {
    fn drop(&mut self) {
        self.end_all();
    }
}
