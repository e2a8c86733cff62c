//! [`TransactionLayer`]: owns every transaction, matches messages to them,
//! runs their timers and queues what they want done.

use crate::client_index::ClientIndex;
use crate::lingering::Lingering;
use sip_message::hash::FastMap as HashMap;
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::{Duration, Instant};

use sip_message::{Message, Method};
use sip_transport::{Inbound, Target};

use crate::client::{Client, ClientState};
use crate::effects::Effects;
use crate::error::TransactionError;
use crate::hooks::{Command, Extension, Flow, HookCx};
use crate::id::{ClientKey, ServerKey, TransactionId, TransactionKey};
use crate::output::{Out, OutQueue, Output, Source, TransactionEvent};
use crate::random::{self, RandomSource, Xorshift};
use crate::server::{Server, ServerState};
use crate::timer::{TimerConfig, TimerQueue, TIMER_COUNT};

/// A transaction in its slot. The server side is boxed: a slot is as
/// large as its largest kind, and every client transaction's slot stays
/// allocated for Timer M or K after its final response (RFC 6026 §8.4,
/// §17.1.2.2), so a UAC's slots are the client's size, not the server's
/// (368 -> 288 bytes). The client stays inline: boxing it would cost an
/// allocation per request.
#[allow(clippy::large_enum_variant)]
enum TxKind {
    Client(Client),
    Server(Box<Server>),
}

struct Tx {
    gens: [u32; TIMER_COUNT],
    kind: TxKind,
}

struct Slot {
    generation: u32,
    tx: Option<Tx>,
}

/// The transaction layer: all client and server transactions of an
/// endpoint, sans-IO.
///
/// Feed it inputs (each with the current `Instant`), then drain
/// [`poll_output`](Self::poll_output) and sleep until
/// [`poll_timeout`](Self::poll_timeout); see the crate docs for the loop.
pub struct TransactionLayer {
    config: TimerConfig,
    rng: Box<dyn RandomSource>,
    slots: Vec<Slot>,
    free: Vec<u32>,
    clients: ClientIndex,
    /// Client transactions out of their slots, waiting out Timer M or K.
    lingering: Lingering,
    servers: HashMap<ServerKey, TransactionId>,
    timers: TimerQueue,
    out: OutQueue,
    extensions: Vec<Box<dyn Extension>>,
    ext_timers: BinaryHeap<Reverse<(Instant, usize, u64, u32)>>,
    ext_gens: HashMap<(usize, u64), u32>,
}

impl std::fmt::Debug for TransactionLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TransactionLayer")
            .field("clients", &self.clients.len())
            .field("servers", &self.servers.len())
            .field("timers", &self.timers.len())
            .field(
                "extensions",
                &self.extensions.iter().map(|e| e.name()).collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl TransactionLayer {
    /// A layer with these timers and an OS-seeded random source.
    pub fn new(config: TimerConfig) -> Self {
        Self::with_random(config, Box::new(Xorshift::from_os()))
    }

    /// A layer with an explicit random source (reproducible tests).
    pub fn with_random(config: TimerConfig, rng: Box<dyn RandomSource>) -> Self {
        let clients = ClientIndex::default();
        TransactionLayer {
            config,
            rng,
            slots: Vec::new(),
            free: Vec::new(),
            lingering: Lingering::new(clients.state()),
            clients,
            servers: HashMap::default(),
            timers: TimerQueue::default(),
            out: OutQueue::default(),
            extensions: Vec::new(),
            ext_timers: BinaryHeap::new(),
            ext_gens: HashMap::default(),
        }
    }

    /// Adds an extension (kept sorted by priority, stable for ties).
    pub fn add_extension(&mut self, ext: Box<dyn Extension>) {
        self.extensions.push(ext);
        self.extensions.sort_by_key(|e| e.priority());
    }

    /// The extensions, in priority order.
    pub fn extensions(&self) -> impl Iterator<Item = &dyn Extension> {
        self.extensions.iter().map(|e| &**e)
    }

    /// The timer settings.
    pub fn config(&self) -> &TimerConfig {
        &self.config
    }

    /// A new branch (`z9hG4bK` + 96 random bits) for a request's top Via.
    pub fn new_branch(&mut self) -> String {
        random::branch(&mut *self.rng)
    }

    /// A random value from the layer's source (tags, Call-IDs).
    pub fn random(&mut self) -> u64 {
        self.rng.next_u64()
    }

    /// Live client transactions.
    pub fn client_count(&self) -> usize {
        self.clients.len() + self.lingering.len()
    }

    /// Live server transactions.
    pub fn server_count(&self) -> usize {
        self.servers.len()
    }

    /// The state of a client transaction.
    pub fn client_state(&self, id: TransactionId) -> Option<ClientState> {
        match self.get(id).map(|t| &t.kind) {
            Some(TxKind::Client(c)) => Some(c.state),
            Some(TxKind::Server(_)) => None,
            None => self.lingering.state(id),
        }
    }

    /// The state of a server transaction.
    pub fn server_state(&self, id: TransactionId) -> Option<ServerState> {
        match &self.get(id)?.kind {
            TxKind::Server(s) => Some(s.state),
            TxKind::Client(_) => None,
        }
    }

    /// The request of a transaction (client: as sent; server: as
    /// received). A client transaction lets go of its request once it is
    /// Accepted or Completed (nothing is sent from it any more), and a
    /// server transaction once it is Completed (its final is sent and kept
    /// for retransmissions) or, for an INVITE answered 2xx, once the ACK
    /// came, so this is `None` then.
    pub fn request(&self, id: TransactionId) -> Option<&Message> {
        match &self.get(id)?.kind {
            TxKind::Client(c) => c.request.as_ref(),
            TxKind::Server(s) => s.request.as_ref(),
        }
    }

    fn get(&self, id: TransactionId) -> Option<&Tx> {
        let s = self.slots.get(id.index as usize)?;
        if s.generation != id.generation {
            return None;
        }
        s.tx.as_ref()
    }

    fn insert(&mut self, kind: TxKind) -> TransactionId {
        insert_slot(&mut self.slots, &mut self.free, || kind)
    }

    /// A new client transaction with this key (§17.1.3), made in its slot
    /// and indexed; refused if one has the key. The key is hashed once
    /// for the test and the index.
    fn insert_client(
        &mut self,
        key: ClientKey,
        make: impl FnOnce(ClientKey) -> Client,
    ) -> Result<TransactionId, TransactionError> {
        let hash = self.clients.hash(&key);
        let slots = &self.slots;
        if self
            .clients
            .get_hashed(hash, &key, |t| client_key(slots, t))
            .is_some()
        {
            return Err(TransactionError::Duplicate);
        }
        let id = insert_slot(&mut self.slots, &mut self.free, || {
            TxKind::Client(make(key))
        });
        let slots = &self.slots;
        self.clients.insert(hash, id, |t| client_key(slots, t));
        Ok(id)
    }

    /// Runs `f` on a live transaction with its effects context.
    fn with_tx<R>(
        &mut self,
        now: Instant,
        id: TransactionId,
        f: impl FnOnce(&mut TxKind, &mut Effects<'_>) -> R,
    ) -> Option<R> {
        let slot = self.slots.get_mut(id.index as usize)?;
        if slot.generation != id.generation {
            return None;
        }
        let tx = slot.tx.as_mut()?;
        let mut fx = Effects {
            now,
            id,
            config: &self.config,
            out: &mut self.out,
            timers: &mut self.timers,
            gens: &mut tx.gens,
        };
        Some(f(&mut tx.kind, &mut fx))
    }

    fn terminate(&mut self, id: TransactionId) {
        let Some(slot) = self.slots.get_mut(id.index as usize) else {
            return;
        };
        if slot.generation != id.generation {
            return;
        }
        let Some(tx) = slot.tx.take() else { return };
        self.free.push(id.index);
        let key = match tx.kind {
            TxKind::Client(c) => {
                self.clients.remove(self.clients.hash(&c.key), id);
                TransactionKey::Client(c.key)
            }
            TxKind::Server(s) => {
                self.servers.remove(&s.key);
                TransactionKey::Server(s.key)
            }
        };
        self.out.event(TransactionEvent::Terminated { id, key });
    }

    fn is_terminated(&self, id: TransactionId) -> bool {
        match self.get(id).map(|t| &t.kind) {
            Some(TxKind::Client(c)) => c.state == ClientState::Terminated,
            Some(TxKind::Server(s)) => s.state == ServerState::Terminated,
            None => false,
        }
    }

    fn reap(&mut self, id: TransactionId) {
        if self.is_terminated(id) {
            self.terminate(id);
        }
    }

    // ---- inputs -------------------------------------------------------

    /// Starts a client transaction for `request`, which must carry a top Via
    /// with an RFC 3261 branch (see [`new_branch`](Self::new_branch)).
    /// The transport fills in sent-by.
    pub fn send_request(
        &mut self,
        now: Instant,
        request: Message,
        target: Target,
    ) -> Result<TransactionId, TransactionError> {
        self.send_request_with_data(now, request, target, &[])
    }

    /// [`send_request`](Self::send_request) with data for the extensions'
    /// [`on_outbound_request`](Extension::on_outbound_request) hooks
    /// ([`HookCx::request_data`]).
    pub fn send_request_with_data(
        &mut self,
        now: Instant,
        request: Message,
        target: Target,
        data: &[std::sync::Arc<dyn std::any::Any + Send + Sync>],
    ) -> Result<TransactionId, TransactionError> {
        match request.method() {
            None => return Err(TransactionError::WrongKind("not a request")),
            Some(Method::Ack) => return Err(TransactionError::AckNotATransaction),
            Some(_) => {}
        }
        let mut request = request;
        if self.run_outbound_request_hooks(now, &mut request, data, &target) == Flow::Consumed {
            return Err(TransactionError::InvalidState {
                id: TransactionId {
                    index: u32::MAX,
                    generation: 0,
                },
                state: "vetoed by an extension",
                action: "send the request",
            });
        }
        let key = ClientKey::of_request(&request).ok_or(TransactionError::MissingBranch)?;
        // The key's branch is the Via's, read once (as has_rfc3261_branch
        // would read it again).
        if !key.branch.has_rfc3261_cookie() {
            return Err(TransactionError::MissingBranch);
        }
        let id = self.insert_client(key, |key| Client::new(key, request, target, false))?;
        self.with_tx(now, id, |tx, fx| {
            if let TxKind::Client(c) = tx {
                c.start(fx)
            }
        });
        Ok(id)
    }

    /// Cancels the INVITE of client transaction `invite` (§9.1). The CANCEL
    /// is sent at once if a provisional response has arrived, otherwise held
    /// until one does (and dropped if a final response comes first).
    pub fn send_cancel(
        &mut self,
        now: Instant,
        invite: TransactionId,
    ) -> Result<TransactionId, TransactionError> {
        self.send_cancel_with_reason(now, invite, None)
    }

    /// [`send_cancel`](Self::send_cancel) with a Reason header in the
    /// CANCEL (RFC 3326), e.g. `SIP;cause=200;text="Call completed
    /// elsewhere"`.
    pub fn send_cancel_with_reason(
        &mut self,
        now: Instant,
        invite: TransactionId,
        reason: Option<&str>,
    ) -> Result<TransactionId, TransactionError> {
        let (cancel, target, held) = match self.get(invite).map(|t| &t.kind) {
            Some(TxKind::Client(c)) if c.invite => match c.state {
                ClientState::Calling | ClientState::Proceeding => {
                    if c.held_cancel.is_some() {
                        return Err(TransactionError::Duplicate);
                    }
                    let request = c.request.as_ref().ok_or(TransactionError::InvalidState {
                        id: invite,
                        state: c.state.name(),
                        action: "cancel",
                    })?;
                    (
                        crate::requests::cancel_with_reason(request, reason)?,
                        c.target.clone(),
                        c.state == ClientState::Calling,
                    )
                }
                s => {
                    return Err(TransactionError::InvalidState {
                        id: invite,
                        state: s.name(),
                        action: "cancel",
                    })
                }
            },
            _ => {
                return Err(match self.lingering.state(invite) {
                    Some(s) => TransactionError::InvalidState {
                        id: invite,
                        state: s.name(),
                        action: "cancel",
                    },
                    None => TransactionError::UnknownTransaction(invite),
                })
            }
        };
        let key = ClientKey::of_request(&cancel).ok_or(TransactionError::MissingBranch)?;
        let id = self.insert_client(key, |key| Client::new(key, cancel, target, held))?;
        if held {
            if let Some(c) = self.client_mut(invite) {
                c.held_cancel = Some(id);
            }
        } else {
            self.with_tx(now, id, |tx, fx| {
                if let TxKind::Client(c) = tx {
                    c.start(fx)
                }
            });
            self.cancel_sent(now, invite);
        }
        Ok(id)
    }

    /// The CANCEL of client transaction `invite` went out (§9.1).
    fn cancel_sent(&mut self, now: Instant, invite: TransactionId) {
        self.with_tx(now, invite, |tx, fx| {
            if let TxKind::Client(c) = tx {
                c.cancel_sent(fx)
            }
        });
    }

    /// Sends a response through server transaction `id`.
    pub fn send_response(
        &mut self,
        now: Instant,
        id: TransactionId,
        response: Message,
    ) -> Result<(), TransactionError> {
        if response.is_request() {
            return Err(TransactionError::WrongKind("not a response"));
        }
        let request = match self.get(id).map(|t| &t.kind) {
            Some(TxKind::Server(s)) => s.request.clone(),
            _ => return Err(TransactionError::UnknownTransaction(id)),
        };
        let mut response = response;
        // No request: a final went out already, and the transaction
        // refuses this response below without the extensions seeing it
        // (or, in Accepted after the ACK, sends a late 2xx retransmission
        // as it is).
        if let Some(request) = request.filter(|_| !self.extensions.is_empty()) {
            let flow = self.run_hooks(
                now,
                |ext, cx| ext.on_outbound_response(cx, id, &request, &mut response),
                true,
                &[],
            );
            if flow == Flow::Consumed {
                return Ok(());
            }
        }
        let r = self
            .with_tx(now, id, |tx, fx| match tx {
                TxKind::Server(s) => s.send_response(fx, response),
                TxKind::Client(_) => Err(TransactionError::UnknownTransaction(id)),
            })
            .unwrap_or(Err(TransactionError::UnknownTransaction(id)));
        self.reap(id);
        r
    }

    /// A message from the transport.
    pub fn handle_inbound(&mut self, now: Instant, inbound: Inbound) {
        let source = Source {
            transport: inbound.transport,
            remote: inbound.remote,
            local: inbound.local,
            connection: inbound.connection,
        };
        let msg = inbound.message;
        if msg.is_request() {
            self.on_request(now, msg, source);
        } else {
            self.on_response(now, msg);
        }
    }

    fn on_response(&mut self, now: Instant, resp: Message) {
        // Looked up by the response's own bytes (no key built, §17.1.3),
        // among the transactions in progress, then the lingering ones.
        let (id, lingering) = match ClientKey::parts_of_response(&resp) {
            Some(p) => {
                let hash = self.clients.hash(&p);
                let slots = &self.slots;
                match self.clients.get_hashed(hash, &p, |t| client_key(slots, t)) {
                    Some(id) => (Some(id), None),
                    None => match self.lingering.find(hash, &p) {
                        Some((id, state)) => (Some(id), Some(state)),
                        None => (None, None),
                    },
                }
            }
            None => (None, None),
        };
        if !self.extensions.is_empty()
            && self.run_hooks(
                now,
                |ext, cx| ext.on_inbound_response(cx, &resp, id),
                false,
                &[],
            ) == Flow::Consumed
        {
            return;
        }
        let Some(id) = id else {
            self.out
                .event(TransactionEvent::StrayResponse { response: resp });
            return;
        };
        let code = resp.status().unwrap_or(0);
        if let Some(state) = lingering {
            // RFC 6026 §8.4: Accepted passes every 2xx up (a retransmission
            // to ACK again, or another fork's); the rest, and anything in
            // Completed (§17.1.2.2), is absorbed.
            if state == ClientState::Accepted && (200..=299).contains(&code) {
                self.out
                    .event(TransactionEvent::Response { id, response: resp });
            }
            return;
        }
        let held = self
            .with_tx(now, id, |tx, fx| match tx {
                TxKind::Client(c) => {
                    c.on_response(fx, resp);
                    c.held_cancel
                }
                TxKind::Server(_) => None,
            })
            .flatten();
        if let Some(cancel) = held {
            if (100..=199).contains(&code) {
                // §9.1: a provisional arrived; the held CANCEL may go now.
                self.clear_held(id);
                self.with_tx(now, cancel, |tx, fx| {
                    if let TxKind::Client(c) = tx {
                        c.start(fx)
                    }
                });
                self.cancel_sent(now, id);
            } else if code >= 200 {
                // A final came first: the CANCEL is never sent.
                self.clear_held(id);
                self.out
                    .event(TransactionEvent::CancelDropped { id: cancel });
                self.terminate(cancel);
            }
        }
        self.linger(now, id);
        self.reap(id);
    }

    /// Moves client transaction `id` to the lingering table if all it
    /// still does is wait out Timer M (INVITE, Accepted: RFC 6026 §8.4,
    /// 64*T1) or Timer K (non-INVITE, Completed: §17.1.2.2, T4 over UDP
    /// and zero over a reliable transport). Its slot is freed; the id
    /// stays its own (the slot's generation moves on when it is reused).
    fn linger(&mut self, now: Instant, id: TransactionId) {
        let Some(slot) = self.slots.get_mut(id.index as usize) else {
            return;
        };
        if slot.generation != id.generation {
            return;
        }
        let after = match &slot.tx {
            // A CANCEL held for this INVITE was dropped by its final
            // response (above), so nothing else refers to the slot.
            Some(Tx {
                kind: TxKind::Client(c),
                ..
            }) => match c.state {
                ClientState::Accepted => self.config.t1x64(),
                ClientState::Completed if !c.invite && c.reliable => Duration::ZERO,
                ClientState::Completed if !c.invite => self.config.t4,
                _ => return,
            },
            _ => return,
        };
        let Some(Tx {
            kind: TxKind::Client(c),
            ..
        }) = slot.tx.take()
        else {
            return;
        };
        self.free.push(id.index);
        let hash = self.clients.hash(&c.key);
        self.clients.remove(hash, id);
        self.lingering.insert(now, after, hash, c.key, id, c.state);
    }

    fn clear_held(&mut self, invite: TransactionId) {
        if let Some(c) = self.client_mut(invite) {
            c.held_cancel = None;
        }
    }

    /// The live client transaction `id` (generation checked, as in `get`).
    fn client_mut(&mut self, id: TransactionId) -> Option<&mut Client> {
        let s = self.slots.get_mut(id.index as usize)?;
        if s.generation != id.generation {
            return None;
        }
        match s.tx.as_mut()? {
            Tx {
                kind: TxKind::Client(c),
                ..
            } => Some(c),
            _ => None,
        }
    }

    fn on_request(&mut self, now: Instant, req: Message, source: Source) {
        if !self.extensions.is_empty()
            && self.run_hooks(
                now,
                |ext, cx| ext.on_inbound_request(cx, &req, &source),
                false,
                &[],
            ) == Flow::Consumed
        {
            return;
        }
        let Some(key) = ServerKey::of_request(&req) else {
            tracing::debug!("request without Via, CSeq or Call-ID: not matched");
            return;
        };
        let is_ack = req.method() == Some(&Method::Ack);
        if let Some(&id) = self.servers.get(&key) {
            if is_ack {
                // RFC 2543 matching also needs the To tag of our response.
                let tag_ok = match (&key, self.get(id).map(|t| &t.kind)) {
                    (ServerKey::Rfc2543 { .. }, Some(TxKind::Server(s))) => {
                        s.to_tag.as_deref() == req.to_tag()
                    }
                    _ => true,
                };
                if tag_ok {
                    self.with_tx(now, id, |tx, fx| {
                        if let TxKind::Server(s) = tx {
                            s.on_ack(fx, req, source)
                        }
                    });
                    self.reap(id);
                    return;
                }
            } else {
                self.with_tx(now, id, |tx, fx| {
                    if let TxKind::Server(s) = tx {
                        s.on_retransmission(fx)
                    }
                });
                return;
            }
        }
        if is_ack {
            // The ACK for a 2xx (or a stray): the dialog layer's business.
            self.out.event(TransactionEvent::Ack {
                request: req,
                source,
            });
            return;
        }
        let cancels = if req.method() == Some(&Method::Cancel) {
            let invite_key = key.with_method(Method::Invite);
            self.servers.get(&invite_key).copied()
        } else {
            None
        };
        let id = self.new_server(now, key.clone(), req.clone(), source.clone());
        self.out.event(TransactionEvent::Request {
            id,
            key,
            request: req,
            source,
            cancels,
        });
    }

    fn new_server(
        &mut self,
        now: Instant,
        key: ServerKey,
        req: Message,
        source: Source,
    ) -> TransactionId {
        let id = self.insert(TxKind::Server(Box::new(Server::new(
            key.clone(),
            req,
            source,
        ))));
        self.servers.insert(key, id);
        self.with_tx(now, id, |tx, fx| {
            if let TxKind::Server(s) = tx {
                s.start(fx)
            }
        });
        id
    }

    /// Runs due timers (transactions' and extensions').
    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some((id, key)) = self.lingering.pop_due(now) {
            self.out.event(TransactionEvent::Terminated {
                id,
                key: TransactionKey::Client(key),
            });
        }
        while let Some((_, id, timer, gen)) = self.timers.pop_due(now) {
            let live = self.get(id).is_some_and(|t| t.gens[timer.index()] == gen);
            if !live {
                continue;
            }
            let done = self
                .with_tx(now, id, |tx, fx| match tx {
                    TxKind::Client(c) => c.on_timer(fx, timer),
                    TxKind::Server(s) => s.on_timer(fx, timer),
                })
                .unwrap_or(false);
            if done {
                self.terminate(id);
            }
        }
        while let Some(Reverse((at, ext, token, gen))) = self.ext_timers.peek().copied() {
            if at > now {
                break;
            }
            self.ext_timers.pop();
            if self.ext_gens.get(&(ext, token)) != Some(&gen) {
                continue;
            }
            self.ext_gens.remove(&(ext, token));
            self.run_one_hook(now, ext, |e, cx| e.on_timer(cx, token));
        }
    }

    /// The transport could not send for transaction `id`.
    pub fn handle_transport_error(&mut self, now: Instant, id: TransactionId) {
        self.with_tx(now, id, |tx, fx| match tx {
            TxKind::Client(c) => c.on_transport_error(fx),
            TxKind::Server(s) => s.on_transport_error(fx),
        });
        self.reap(id);
    }

    // ---- outputs ------------------------------------------------------

    /// The next thing to do, if any.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.out.pop()
    }

    /// The next output in its compact form (the driver's
    /// [`poll_output`](Self::poll_output): a transmission or a response
    /// moves without the rest of an `Output`); after [`Out::Other`],
    /// [`poll_other_output`](Self::poll_other_output) gives it.
    pub(crate) fn poll_output_compact(&mut self) -> Option<Out> {
        self.out.pop_compact()
    }

    /// The output an [`Out::Other`] from
    /// [`poll_output_compact`](Self::poll_output_compact) stands for.
    pub(crate) fn poll_other_output(&mut self) -> Option<Output> {
        self.out.pop_other()
    }

    /// When [`handle_timeout`](Self::handle_timeout) is next due.
    pub fn poll_timeout(&mut self) -> Option<Instant> {
        let slots = &self.slots;
        self.timers.prune(|id, t, g| {
            slots
                .get(id.index as usize)
                .filter(|s| s.generation == id.generation)
                .and_then(|s| s.tx.as_ref())
                .is_some_and(|tx| tx.gens[t.index()] == g)
        });
        let gens = &self.ext_gens;
        while let Some(Reverse((_, ext, token, gen))) = self.ext_timers.peek() {
            if gens.get(&(*ext, *token)) == Some(gen) {
                break;
            }
            self.ext_timers.pop();
        }
        [
            self.timers.peek().map(|e| e.0),
            self.ext_timers.peek().map(|Reverse(e)| e.0),
            self.lingering.next_due(),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    // ---- hooks --------------------------------------------------------

    fn run_outbound_request_hooks(
        &mut self,
        now: Instant,
        request: &mut Message,
        data: &[std::sync::Arc<dyn std::any::Any + Send + Sync>],
        target: &Target,
    ) -> Flow {
        if self.extensions.is_empty() {
            return Flow::Continue;
        }
        self.run_hooks_with(
            now,
            |ext, cx| ext.on_outbound_request(cx, request),
            HookOrder::Outbound,
            data,
            Some(target),
        )
    }

    /// Runs a hook on every extension (inbound: ascending priority;
    /// outbound: descending) until one consumes, then applies the commands.
    fn run_hooks(
        &mut self,
        now: Instant,
        f: impl FnMut(&mut dyn Extension, &mut HookCx<'_>) -> Flow,
        outbound: bool,
        data: &[std::sync::Arc<dyn std::any::Any + Send + Sync>],
    ) -> Flow {
        let order = if outbound {
            HookOrder::Outbound
        } else {
            HookOrder::Inbound
        };
        self.run_hooks_with(now, f, order, data, None)
    }

    fn run_hooks_with(
        &mut self,
        now: Instant,
        mut f: impl FnMut(&mut dyn Extension, &mut HookCx<'_>) -> Flow,
        order: HookOrder,
        data: &[std::sync::Arc<dyn std::any::Any + Send + Sync>],
        target: Option<&Target>,
    ) -> Flow {
        let mut exts = std::mem::take(&mut self.extensions);
        let order: Vec<usize> = match order {
            HookOrder::Inbound => (0..exts.len()).collect(),
            HookOrder::Outbound => (0..exts.len()).rev().collect(),
            HookOrder::OutboundAfter(ext) => (0..ext.min(exts.len())).rev().collect(),
        };
        let mut flow = Flow::Continue;
        let mut pending = Vec::new();
        for i in order {
            let mut cx = HookCx {
                now,
                config: &self.config,
                rng: &mut *self.rng,
                commands: Vec::new(),
                data,
                target,
            };
            flow = f(&mut *exts[i], &mut cx);
            pending.push((i, cx.commands));
            if flow == Flow::Consumed {
                break;
            }
        }
        self.extensions = exts;
        for (i, cmds) in pending {
            self.apply(now, i, cmds);
        }
        flow
    }

    fn run_one_hook(
        &mut self,
        now: Instant,
        i: usize,
        f: impl FnOnce(&mut dyn Extension, &mut HookCx<'_>),
    ) {
        let mut exts = std::mem::take(&mut self.extensions);
        let mut cx = HookCx {
            now,
            config: &self.config,
            rng: &mut *self.rng,
            commands: Vec::new(),
            data: &[],
            target: None,
        };
        if let Some(e) = exts.get_mut(i) {
            f(&mut **e, &mut cx);
        }
        let cmds = cx.commands;
        self.extensions = exts;
        self.apply(now, i, cmds);
    }

    /// Sends a response extension `ext` sends itself through server
    /// transaction `id`. The extensions that come after it on the way out
    /// (lower priorities) see it, as they would the TU's; it and those
    /// before it do not see it again.
    fn extension_response(
        &mut self,
        now: Instant,
        ext: usize,
        id: TransactionId,
        response: Message,
    ) {
        let mut response = response;
        let request = match self.get(id).map(|t| &t.kind) {
            Some(TxKind::Server(s)) => s.request.clone(),
            _ => None,
        };
        if let Some(request) = request.filter(|_| ext > 0) {
            let flow = self.run_hooks_with(
                now,
                |e, cx| e.on_outbound_response(cx, id, &request, &mut response),
                HookOrder::OutboundAfter(ext),
                &[],
                None,
            );
            if flow == Flow::Consumed {
                return;
            }
        }
        let r = self
            .with_tx(now, id, |tx, fx| match tx {
                TxKind::Server(s) => s.send_response(fx, response),
                TxKind::Client(_) => Err(TransactionError::UnknownTransaction(id)),
            })
            .unwrap_or(Err(TransactionError::UnknownTransaction(id)));
        if let Err(e) = r {
            tracing::warn!(error = %e, "extension response not sent");
        }
        self.reap(id);
    }

    fn apply(&mut self, now: Instant, ext: usize, cmds: Vec<Command>) {
        for c in cmds {
            match c {
                Command::Schedule { at, token } => {
                    let g = self.ext_gens.entry((ext, token)).or_insert(0);
                    *g = g.wrapping_add(1);
                    self.ext_timers.push(Reverse((at, ext, token, *g)));
                }
                Command::Cancel { token } => {
                    self.ext_gens.remove(&(ext, token));
                }
                Command::SendRequest { request, target } => {
                    if let Err(e) = self.send_request(now, request, target) {
                        tracing::warn!(error = %e, "extension request not sent");
                    }
                }
                Command::SendResponse { id, response } => {
                    // Straight to the transaction: a hook's own response does
                    // not run the outbound hooks again.
                    self.extension_response(now, ext, id, response);
                }
                Command::Emit {
                    transaction,
                    payload,
                } => {
                    let name = self.extensions.get(ext).map_or("?", |e| e.name());
                    self.out.event(TransactionEvent::Extension {
                        name,
                        transaction,
                        payload,
                    });
                }
                Command::Respond {
                    request,
                    source,
                    response,
                } => {
                    let Some(key) = ServerKey::of_request(&request) else {
                        tracing::warn!("extension answer to a request without a key not sent");
                        continue;
                    };
                    let id = match self.servers.get(&key) {
                        Some(&id) => {
                            // A retransmission: the server transaction
                            // repeats what it sent (§17.2.2).
                            self.with_tx(now, id, |tx, fx| {
                                if let TxKind::Server(s) = tx {
                                    s.on_retransmission(fx)
                                }
                            });
                            continue;
                        }
                        None => self.new_server(now, key, request, source),
                    };
                    self.extension_response(now, ext, id, response);
                }
            }
        }
    }
}

/// Puts a new transaction in a free slot (its generation bumped, so old
/// ids of the slot stay dead) or a new one. The transaction is made by
/// `make` where it is stored: a `Tx` is some 300 bytes, and built first
/// and then moved in, it cost three `memcpy` calls per transaction.
fn insert_slot(
    slots: &mut Vec<Slot>,
    free: &mut Vec<u32>,
    make: impl FnOnce() -> TxKind,
) -> TransactionId {
    let (index, slot) = match free.pop().filter(|&i| (i as usize) < slots.len()) {
        Some(i) => {
            let slot = &mut slots[i as usize];
            slot.generation = slot.generation.wrapping_add(1);
            (i, slot)
        }
        None => {
            slots.push(Slot {
                generation: 0,
                tx: None,
            });
            let i = slots.len() - 1;
            (i as u32, &mut slots[i])
        }
    };
    slot.tx = Some(Tx {
        gens: [0; TIMER_COUNT],
        kind: make(),
    });
    TransactionId {
        index,
        generation: slot.generation,
    }
}

/// The order hooks run in: inbound ascending priority, outbound
/// descending, or outbound from just after one extension (for what that
/// extension sends itself).
#[derive(Debug, Clone, Copy)]
enum HookOrder {
    Inbound,
    Outbound,
    OutboundAfter(usize),
}

/// The key of live client transaction `id`.
fn client_key(slots: &[Slot], id: TransactionId) -> Option<&ClientKey> {
    let slot = slots.get(id.index as usize)?;
    if slot.generation != id.generation {
        return None;
    }
    match &slot.tx.as_ref()?.kind {
        TxKind::Client(c) => Some(&c.key),
        TxKind::Server(_) => None,
    }
}

#[cfg(test)]
mod tests {
    /// Every transaction's slot outlives its final response (Timers K, M):
    /// it is the client's size, the server side being boxed.
    #[test]
    fn a_slot_is_the_size_of_a_client_transaction() {
        let slot = std::mem::size_of::<super::Slot>();
        let client = std::mem::size_of::<crate::client::Client>();
        assert!(slot <= client + 64, "slot {slot}, client {client}");
    }
}
