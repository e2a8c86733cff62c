//! Every dialog of an endpoint, matched by id.

use std::collections::HashMap;

use sip_message::{Message, Method};

use crate::dialog::{Dialog, DialogState, Role};
use crate::error::DialogError;
use crate::id::DialogId;

/// The dialogs an endpoint takes part in.
#[derive(Debug, Default)]
pub struct Dialogs {
    map: HashMap<DialogId, Dialog>,
}

/// What a response did to the dialogs.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DialogUpdate {
    /// The response creates no dialog (100, no To tag, not dialog-creating, error).
    None,
    /// A new early dialog (one per To tag: forking gives several).
    Early(DialogId),
    /// A new dialog confirmed at once by a 2xx.
    Confirmed(DialogId),
    /// An early dialog confirmed by its 2xx.
    EarlyConfirmed(DialogId),
    /// A retransmitted or repeated response of a known dialog.
    Known(DialogId),
}

impl Dialogs {
    /// No dialogs.
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of dialogs.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// True if there are none.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// A dialog.
    pub fn get(&self, id: &DialogId) -> Option<&Dialog> {
        self.map.get(id)
    }

    /// A dialog, mutably.
    pub fn get_mut(&mut self, id: &DialogId) -> Option<&mut Dialog> {
        self.map.get_mut(id)
    }

    /// Adds a dialog made by hand (e.g. the UAS side).
    pub fn insert(&mut self, d: Dialog) -> DialogId {
        let id = d.id().clone();
        self.map.insert(id.clone(), d);
        id
    }

    /// Removes a dialog.
    pub fn remove(&mut self, id: &DialogId) -> Option<Dialog> {
        self.map.remove(id)
    }

    /// The early dialogs of one dialog-creating request (same Call-ID and
    /// local tag): the forks still ringing.
    pub fn early_of(&self, call_id: &str, local_tag: &str) -> Vec<DialogId> {
        let mut v: Vec<DialogId> = self
            .map
            .values()
            .filter(|d| {
                d.state() == DialogState::Early
                    && &*d.id().call_id == call_id
                    && &*d.id().local_tag == local_tag
            })
            .map(|d| d.id().clone())
            .collect();
        v.sort();
        v
    }

    /// UAC side: applies a response to a dialog-creating request we sent
    /// (§12.1.2, §13.2.2.4). A 101-199 with a To tag creates an early
    /// dialog per tag; a 2xx confirms its early dialog or creates a
    /// confirmed one.
    pub fn on_response(
        &mut self,
        request: &Message,
        response: &Message,
    ) -> Result<DialogUpdate, DialogError> {
        let code = response.status().unwrap_or(0);
        let creates = request.method().is_some_and(Method::creates_dialog);
        if !creates || !(101..=299).contains(&code) {
            return Ok(DialogUpdate::None);
        }
        let (Some(call_id), Some(local), Some(remote)) =
            (request.call_id(), request.from_tag(), response.to_tag())
        else {
            return Ok(DialogUpdate::None);
        };
        let id = DialogId::new(call_id, local, remote);
        match self.map.get_mut(&id) {
            Some(d) if code >= 200 && d.state() == DialogState::Early => {
                d.confirm(response)?;
                Ok(DialogUpdate::EarlyConfirmed(id))
            }
            Some(_) => Ok(DialogUpdate::Known(id)),
            None => {
                let d = Dialog::uac(request, response)?;
                let confirmed = d.state() == DialogState::Confirmed;
                self.map.insert(id.clone(), d);
                Ok(if confirmed {
                    DialogUpdate::Confirmed(id)
                } else {
                    DialogUpdate::Early(id)
                })
            }
        }
    }

    /// The dialog an incoming request belongs to: Call-ID, our tag in To and
    /// the peer's tag in From (§12.2.2).
    pub fn id_of_request(req: &Message) -> Option<DialogId> {
        let to_tag = req.to_tag()?;
        Some(DialogId::new(
            req.call_id()?,
            to_tag,
            req.from_tag().unwrap_or(""),
        ))
    }

    /// Applies an in-dialog request: 481 for an unknown dialog, 500 for an
    /// out-of-order CSeq (§12.2.2); target refreshes update the remote target.
    pub fn receive_request(&mut self, req: &Message) -> Result<DialogId, DialogError> {
        let id = Self::id_of_request(req).ok_or(DialogError::NotInDialog)?;
        let d = self
            .map
            .get_mut(&id)
            .ok_or_else(|| DialogError::UnknownDialog(id.clone()))?;
        d.receive_request(req)?;
        if req.method() == Some(&Method::Bye) {
            d.terminate();
        }
        Ok(id)
    }

    /// Drops the early dialogs of a request whose INVITE ended, except `keep`
    /// (the fork that answered) (§13.2.2.4: leftover early dialogs go).
    pub fn drop_early_except(
        &mut self,
        call_id: &str,
        local_tag: &str,
        keep: Option<&DialogId>,
    ) -> Vec<DialogId> {
        let gone: Vec<DialogId> = self
            .early_of(call_id, local_tag)
            .into_iter()
            .filter(|id| Some(id) != keep)
            .collect();
        for id in &gone {
            self.map.remove(id);
        }
        gone
    }

    /// Dialogs we are the UAC of.
    pub fn uac_count(&self) -> usize {
        self.map.values().filter(|d| d.role() == Role::Uac).count()
    }
}
