//! RFC 3262: reliable provisional responses and PRACK, as a plugin of the
//! transaction layer. The core crates do not know it: it works through
//! `sip_transaction`'s [`Extension`] hooks and reports to the dialog layer
//! with `sip_dialog`'s [`LocalSeqUsed`](sip_dialog::LocalSeqUsed) and
//! [`SessionExchanged`](sip_dialog::SessionExchanged) events.
//!
//! Add [`Rel100`] to a service (`ServiceBuilder::extension` in `sip-uac`,
//! or [`TransactionLayer::add_extension`](sip_transaction::TransactionLayer::add_extension)):
//!
//! - **As a UAC**, INVITEs carry `Supported: 100rel` (a caller who insists
//!   adds `Require: 100rel` itself) and Allow gains PRACK. Each provisional
//!   response with `Require: 100rel` and an RSeq is acknowledged by a PRACK
//!   in its early dialog (`RAck: <RSeq> <CSeq> INVITE`), once and in order
//!   per early dialog; retransmissions are absorbed, out-of-order ones
//!   wait, ones without RSeq are dropped with a log line (§4). An offer in
//!   a reliable provisional is answered in the PRACK with the body a
//!   [`PrackAnswer`] gives (NkSIP's `prack_callback`); without one the
//!   PRACK has no body. The PRACK's own result does not touch the INVITE.
//! - **As a UAS**, a provisional response the handler marks with
//!   `Require: 100rel` goes reliably when the INVITE supports 100rel (else
//!   unreliably, without that tag), and every provisional does when the
//!   INVITE requires 100rel: it gets an RSeq (random start, then
//!   +1), is retransmitted from T1 doubling until its PRACK arrives, and
//!   the INVITE is answered 500 after 64*T1 without one. One is
//!   outstanding at a time, later ones wait; a 2xx waits for them all.
//!   A PRACK matching nothing gets 481, one with a bad RAck 400; a
//!   matching one goes on to the handler, which answers it (200 by
//!   default, with an SDP answer if it likes).
//!
//! ```
//! use sip_100rel::{PrackAnswer, Rel100};
//! use sip_transaction::{Extension, TimerConfig, TransactionLayer};
//!
//! let mut layer = TransactionLayer::new(TimerConfig::default());
//! layer.add_extension(Box::new(Rel100::new()));
//! assert_eq!(layer.extensions().next().map(|e| e.name()), Some("100rel"));
//!
//! // A per-call answer for offers that come in reliable provisionals,
//! // attached to the INVITE as extension data.
//! let answer = PrackAnswer::new(|_offer| Some(("application/sdp".into(), "v=0\r\n".into())));
//! # let _ = answer;
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod edit;
mod uac;
mod uas;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use sip_message::headers::RAck;
use sip_message::{Message, Method, ResponseBuilder};
use sip_transaction::{priority, Capabilities, Extension, Flow, HookCx, Source, TransactionId};
use tracing::debug;

use crate::uac::UacInvite;
use crate::uas::{Next, UasInvite};

/// The option tag (RFC 3262 §8).
pub const TAG: &str = "100rel";

/// How long the UAC side remembers an INVITE without a final response
/// after its last provisional: past Timer C's floor (3 min, RFC 3261 §16.6).
const UAC_KEEP: Duration = Duration::from_secs(200);

/// The answer to an offer received in a reliable provisional response,
/// carried by the automatic PRACK (RFC 3262 §5): called with the
/// provisional response, returns Content-Type and body (or `None` for a
/// PRACK without body). Attach it to an INVITE as extension data
/// (`RequestOptions::extension` in `sip-uac`).
#[derive(Clone)]
#[allow(clippy::type_complexity)]
pub struct PrackAnswer(pub(crate) Arc<dyn Fn(&Message) -> Option<(String, Bytes)> + Send + Sync>);

impl PrackAnswer {
    /// Wraps the callback.
    pub fn new(f: impl Fn(&Message) -> Option<(String, Bytes)> + Send + Sync + 'static) -> Self {
        PrackAnswer(Arc::new(f))
    }
}

impl std::fmt::Debug for PrackAnswer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PrackAnswer")
    }
}

/// The 100rel plugin (see the crate docs).
#[derive(Default)]
pub struct Rel100 {
    /// INVITEs we sent, by branch.
    uac: HashMap<Box<str>, UacInvite>,
    /// The branch of our latest pending INVITE per Call-ID: a request of
    /// the TU finds its INVITE without a scan of all of them.
    uac_by_call: HashMap<Box<str>, Box<str>>,
    /// INVITEs we answer reliably, by server transaction.
    uas: HashMap<TransactionId, UasInvite>,
    /// Timer tokens: which state each belongs to.
    tokens: HashMap<u64, Owner>,
    next_token: u64,
}

#[derive(Clone)]
enum Owner {
    Uac(Box<str>),
    Uas(TransactionId),
}

impl std::fmt::Debug for Rel100 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Rel100")
            .field("uac", &self.uac.len())
            .field("uac_by_call", &self.uac_by_call.len())
            .field("uas", &self.uas.len())
            .finish()
    }
}

impl Rel100 {
    /// The plugin, with no state.
    pub fn new() -> Rel100 {
        Rel100::default()
    }

    /// INVITEs sent and answered that the plugin still keeps state for
    /// (for tests and leak checks).
    pub fn live(&self) -> (usize, usize) {
        (self.uac.len(), self.uas.len())
    }

    fn token(&mut self, owner: Owner) -> u64 {
        self.next_token = self.next_token.wrapping_add(1);
        self.tokens.insert(self.next_token, owner);
        self.next_token
    }

    /// Forgets INVITE `branch`, and its Call-ID's entry if it is the
    /// latest INVITE of the call.
    fn remove_uac(&mut self, branch: &str) -> Option<UacInvite> {
        let st = self.uac.remove(branch)?;
        if let Some(call_id) = st.call_id() {
            if self
                .uac_by_call
                .get(call_id)
                .is_some_and(|b| &**b == branch)
            {
                self.uac_by_call.remove(call_id);
            }
        }
        Some(st)
    }

    fn drop_uas(&mut self, cx: &mut HookCx<'_>, id: TransactionId) {
        if let Some(st) = self.uas.remove(&id) {
            cx.cancel(st.token);
            self.tokens.remove(&st.token);
        }
    }

    fn on_prack(&mut self, cx: &mut HookCx<'_>, request: &Message, source: &Source) -> Flow {
        let reply =
            |cx: &mut HookCx<'_>, code: u16, reason: &str| match ResponseBuilder::from_request(
                request, code,
            )
            .reason(reason)
            .build()
            {
                Ok(r) => cx.respond(request, source, r),
                Err(e) => debug!(error = %e, "PRACK answer not built"),
            };
        let Ok(rack) = request.get::<RAck>() else {
            // §7.2: RAck is mandatory and has a fixed form.
            reply(cx, 400, "Bad RAck");
            return Flow::Consumed;
        };
        let found = self
            .uas
            .iter_mut()
            .find_map(|(id, st)| st.prack(cx, *id, request, &rack).map(|n| (*id, n)));
        match found {
            Some((id, Next::Done)) => {
                self.drop_uas(cx, id);
                Flow::Continue
            }
            Some((_, Next::Keep)) => Flow::Continue,
            None if self.uas.values().any(|s| s.already_acked(request, &rack)) => Flow::Continue,
            None => {
                // §3: a PRACK that matches no unacknowledged reliable
                // provisional gets 481.
                reply(cx, 481, "Call/Transaction Does Not Exist");
                Flow::Consumed
            }
        }
    }
}

impl Extension for Rel100 {
    fn name(&self) -> &'static str {
        "100rel"
    }

    fn priority(&self) -> i32 {
        priority::DIALOG_USAGE
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            allow: vec![Method::Prack],
            supported: vec![TAG],
        }
    }

    fn on_outbound_request(&mut self, cx: &mut HookCx<'_>, request: &mut Message) -> Flow {
        match request.method() {
            Some(Method::Invite) => {}
            // RFC 3261 §12.2.1.1: a request of the TU in the early dialog
            // of one of our INVITEs (an UPDATE, RFC 3311 §5.1; an INFO)
            // took the dialog's next CSeq, and our next PRACK there takes
            // a higher one. Only while some INVITE of ours is ringing.
            Some(Method::Ack | Method::Cancel | Method::Prack) | None => return Flow::Continue,
            Some(_) => {
                if request.to_tag().is_some() {
                    let st = request
                        .call_id()
                        .and_then(|c| self.uac_by_call.get(c))
                        .and_then(|b| self.uac.get_mut(b));
                    if let Some(st) = st {
                        st.sent_in_early_dialog(request);
                    }
                }
                return Flow::Continue;
            }
        }
        uac::offer_100rel(request);
        let Some(branch) = request
            .top_via()
            .and_then(|v| v.branch().map(Box::<str>::from))
        else {
            return Flow::Continue;
        };
        let answer = cx
            .request_data()
            .iter()
            .find_map(|d| d.downcast_ref::<PrackAnswer>())
            .cloned();
        let token = self.token(Owner::Uac(branch.clone()));
        let expires = cx.now() + UAC_KEEP;
        cx.schedule(expires, token);
        let target = cx.request_target().cloned();
        if let Some(call_id) = request.call_id() {
            self.uac_by_call.insert(call_id.into(), branch.clone());
        }
        self.uac.insert(
            branch,
            UacInvite::new(request.clone(), target, answer, expires, token),
        );
        Flow::Continue
    }

    fn on_inbound_response(
        &mut self,
        cx: &mut HookCx<'_>,
        response: &Message,
        id: Option<TransactionId>,
    ) -> Flow {
        if response.cseq().map(|(_, m)| m) != Some(&Method::Invite) {
            return Flow::Continue;
        }
        let Some(branch) = response
            .top_via()
            .and_then(|v| v.branch().map(Box::<str>::from))
        else {
            return Flow::Continue;
        };
        if response.status().unwrap_or(0) >= 200 {
            // The INVITE is answered: no PRACK is due any more (§4 acknowledges
            // provisionals only while the INVITE is pending).
            if let Some(st) = self.remove_uac(&branch) {
                cx.cancel(st.token);
                self.tokens.remove(&st.token);
            }
            return Flow::Continue;
        }
        let Some(st) = self.uac.get_mut(&branch) else {
            return Flow::Continue;
        };
        // Kept while provisionals come (Timer C's 3 minutes, RFC 3261
        // §16.6); the timer is re-armed when it fires, not here.
        st.expires = cx.now() + UAC_KEEP;
        match id {
            Some(id) if uac::is_reliable(response) => st.on_reliable(cx, response, id),
            _ => Flow::Continue,
        }
    }

    fn on_inbound_request(
        &mut self,
        cx: &mut HookCx<'_>,
        request: &Message,
        source: &Source,
    ) -> Flow {
        if request.method() == Some(&Method::Prack) {
            return self.on_prack(cx, request, source);
        }
        Flow::Continue
    }

    fn on_outbound_response(
        &mut self,
        cx: &mut HookCx<'_>,
        id: TransactionId,
        request: &Message,
        response: &mut Message,
    ) -> Flow {
        if request.method() != Some(&Method::Invite) {
            return Flow::Continue;
        }
        let code = response.status().unwrap_or(0);
        if code >= 200 {
            let Some(st) = self.uas.get_mut(&id) else {
                return Flow::Continue;
            };
            let (now, next) = st.final_response(cx, response);
            if let Next::Done = next {
                self.drop_uas(cx, id);
            }
            return if now { Flow::Continue } else { Flow::Consumed };
        }
        if code <= 100 {
            return Flow::Continue;
        }
        // §4: a caller that requires 100rel gets every provisional reliably
        // (NkSIP's behaviour: the way for a UAC to force reliable 1xx).
        let required = edit::requires(request, TAG);
        if required && !marked_reliable(response) {
            if let Some(m) = edit::with_header(response, "Require", TAG) {
                *response = m;
            }
        }
        if !marked_reliable(response) {
            return Flow::Continue;
        }
        if !UasInvite::accepts(request) {
            // §3: the UAC did not offer 100rel: sent unreliably.
            if let Some(m) = uas::unreliable(response) {
                *response = m;
            }
            return Flow::Continue;
        }
        if !self.uas.contains_key(&id) {
            // §3: the first RSeq is random, at most 2**31 - 1.
            let first = (cx.random() % (1 << 31)).max(1) as u32;
            let token = self.token(Owner::Uas(id));
            self.uas
                .insert(id, UasInvite::new(request.clone(), first, token));
        }
        let Some(st) = self.uas.get_mut(&id) else {
            return Flow::Continue;
        };
        match st.provisional(cx, response) {
            Some(m) => {
                *response = m;
                Flow::Continue
            }
            None => Flow::Consumed,
        }
    }

    fn on_timer(&mut self, cx: &mut HookCx<'_>, token: u64) {
        match self.tokens.get(&token).cloned() {
            Some(Owner::Uac(branch)) => match self.uac.get(&branch).map(|s| s.expires) {
                Some(at) if at > cx.now() => cx.schedule(at, token),
                _ => {
                    self.remove_uac(&branch);
                    self.tokens.remove(&token);
                }
            },
            Some(Owner::Uas(id)) => {
                let done = match self.uas.get_mut(&id) {
                    Some(st) => matches!(st.on_timer(cx, id), Next::Done),
                    None => true,
                };
                if done {
                    self.drop_uas(cx, id);
                    self.tokens.remove(&token);
                }
            }
            None => {}
        }
    }
}

/// Whether the TU marked a provisional response reliable.
fn marked_reliable(response: &Message) -> bool {
    edit::requires(response, TAG)
}
