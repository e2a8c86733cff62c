//! Extension hooks (design-notes §2.3): how plugins such as 100rel/PRACK
//! take part without the core knowing them.
//!
//! Extensions run in priority order (lower first on inbound messages,
//! higher first on outbound ones; ties in registration order). A hook may
//! consume a message (`Flow::Consumed`), change an outgoing one, schedule
//! its own timers on the layer's deadline queue, send requests and
//! responses, and emit events to the TU, all through [`HookCx`].

use std::any::Any;
use std::sync::Arc;
use std::time::Instant;

use sip_message::{Message, Method};
use sip_transport::Target;

use crate::id::TransactionId;
use crate::output::Source;
use crate::random::RandomSource;
use crate::timer::TimerConfig;

/// Priority bands (pjsip's): lower runs first on inbound messages.
pub mod priority {
    /// Transport-level extensions.
    pub const TRANSPORT: i32 = 8;
    /// Transaction-level extensions.
    pub const TRANSACTION: i32 = 16;
    /// UA-level extensions.
    pub const UA: i32 = 32;
    /// Dialog-usage extensions (100rel, session timers).
    pub const DIALOG_USAGE: i32 = 48;
    /// Application extensions.
    pub const APPLICATION: i32 = 64;
}

/// Whether the layer goes on with a message after a hook.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    /// Go on (later hooks, then the transaction layer).
    Continue,
    /// The hook took the message: nothing else sees it. For an outgoing
    /// message this vetoes the send.
    Consumed,
}

/// What an extension adds to Allow and Supported.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Capabilities {
    /// Methods for Allow.
    pub allow: Vec<Method>,
    /// Option tags for Supported.
    pub supported: Vec<&'static str>,
}

/// A plugin of the transaction layer. Every method has a default that does
/// nothing.
pub trait Extension: Send {
    /// Name (for logs and events).
    fn name(&self) -> &'static str;
    /// Priority band (see [`priority`]).
    fn priority(&self) -> i32 {
        priority::APPLICATION
    }
    /// Methods and option tags this extension adds.
    fn capabilities(&self) -> Capabilities {
        Capabilities::default()
    }
    /// A request arrived (before transaction matching).
    fn on_inbound_request(
        &mut self,
        _cx: &mut HookCx<'_>,
        _request: &Message,
        _source: &Source,
    ) -> Flow {
        Flow::Continue
    }
    /// A response arrived; `id` is the client transaction it matches, if any.
    fn on_inbound_response(
        &mut self,
        _cx: &mut HookCx<'_>,
        _response: &Message,
        _id: Option<TransactionId>,
    ) -> Flow {
        Flow::Continue
    }
    /// A request is about to be sent through a new client transaction.
    fn on_outbound_request(&mut self, _cx: &mut HookCx<'_>, _request: &mut Message) -> Flow {
        Flow::Continue
    }
    /// A response is about to be sent by server transaction `id`, which
    /// holds `request`.
    fn on_outbound_response(
        &mut self,
        _cx: &mut HookCx<'_>,
        _id: TransactionId,
        _request: &Message,
        _response: &mut Message,
    ) -> Flow {
        Flow::Continue
    }
    /// A timer this extension scheduled is due.
    fn on_timer(&mut self, _cx: &mut HookCx<'_>, _token: u64) {}
}

pub(crate) enum Command {
    Schedule {
        at: Instant,
        token: u64,
    },
    Cancel {
        token: u64,
    },
    SendRequest {
        request: Message,
        target: Target,
    },
    SendResponse {
        id: TransactionId,
        response: Message,
    },
    Emit {
        transaction: Option<TransactionId>,
        payload: Arc<dyn Any + Send + Sync>,
    },
    Respond {
        request: Message,
        source: Source,
        response: Message,
    },
}

/// Data a TU attaches to one outgoing request for the extensions (e.g. a
/// per-call callback); see [`HookCx::request_data`].
pub type RequestData = Vec<Arc<dyn Any + Send + Sync>>;

/// The extension's handle on the layer during a hook. Actions are applied
/// when the hook returns, in order.
pub struct HookCx<'a> {
    pub(crate) now: Instant,
    pub(crate) config: &'a TimerConfig,
    pub(crate) rng: &'a mut dyn RandomSource,
    pub(crate) commands: Vec<Command>,
    pub(crate) data: &'a [Arc<dyn Any + Send + Sync>],
    pub(crate) target: Option<&'a Target>,
}

impl HookCx<'_> {
    /// The current time.
    pub fn now(&self) -> Instant {
        self.now
    }
    /// T1, T2, T4.
    pub fn timers(&self) -> &TimerConfig {
        self.config
    }
    /// Calls [`Extension::on_timer`] with `token` at `at` (replacing an
    /// earlier schedule of the same token).
    pub fn schedule(&mut self, at: Instant, token: u64) {
        self.commands.push(Command::Schedule { at, token });
    }
    /// Cancels a scheduled token.
    pub fn cancel(&mut self, token: u64) {
        self.commands.push(Command::Cancel { token });
    }
    /// Sends a request through a new client transaction (e.g. a PRACK).
    pub fn send_request(&mut self, request: Message, target: Target) {
        self.commands.push(Command::SendRequest { request, target });
    }
    /// Sends a response through server transaction `id` (e.g. a reliable
    /// provisional retransmission, or a response the hook held). The
    /// extensions after this one on the way out (lower priorities) see it
    /// in [`Extension::on_outbound_response`]; this one does not again.
    pub fn send_response(&mut self, id: TransactionId, response: Message) {
        self.commands.push(Command::SendResponse { id, response });
    }
    /// Emits an event to the TU.
    pub fn emit(&mut self, payload: Arc<dyn Any + Send + Sync>) {
        self.commands.push(Command::Emit {
            transaction: None,
            payload,
        });
    }
    /// Emits an event that belongs to client transaction `id`: a driver
    /// hands it to whoever follows that transaction, in order with its
    /// responses (an event emitted while a response is being handled comes
    /// before that response).
    pub fn emit_for(&mut self, id: TransactionId, payload: Arc<dyn Any + Send + Sync>) {
        self.commands.push(Command::Emit {
            transaction: Some(id),
            payload,
        });
    }
    /// Answers an inbound `request` that the hook consumes (e.g. 481 to a
    /// PRACK matching nothing): a server transaction is made for it, so
    /// its retransmissions get the same response (RFC 3261 §17.2).
    pub fn respond(&mut self, request: &Message, source: &Source, response: Message) {
        self.commands.push(Command::Respond {
            request: request.clone(),
            source: source.clone(),
            response,
        });
    }
    /// Where the request being sent goes, in
    /// [`Extension::on_outbound_request`] (`None` elsewhere): an extension
    /// that must send later requests to the same next hop without a name
    /// lookup (the hooks are sans-IO) keeps it.
    pub fn request_target(&self) -> Option<&Target> {
        self.target
    }
    /// What the TU attached to the request being sent, in
    /// [`Extension::on_outbound_request`] (empty elsewhere).
    pub fn request_data(&self) -> &[Arc<dyn Any + Send + Sync>] {
        self.data
    }
    /// A fresh branch.
    pub fn new_branch(&mut self) -> String {
        crate::random::branch(self.rng)
    }
    /// A random number (RSeq, tags).
    pub fn random(&mut self) -> u64 {
        self.rng.next_u64()
    }
}
