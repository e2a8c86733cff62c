//! A thin tokio driver: one task owns the [`TransactionLayer`], feeds it
//! what the transport receives and what handles ask for, sleeps until the
//! next deadline, and carries out its outputs.
//!
//! Time comes from `tokio::time::Instant`, so `#[tokio::test(start_paused
//! = true)]` drives every timer on virtual time.

use sip_message::hash::FastMap as HashMap;
use smallvec::SmallVec;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::Instant;

use sip_message::headers::Transport as Kind;
use sip_message::Message;
use sip_transport::{Inbound, Target, Transport};
use tokio::sync::{mpsc, oneshot};
use tracing::debug;

use crate::error::TransactionError;
use crate::id::TransactionId;
use crate::layer::TransactionLayer;
use crate::output::{Out, Output, TransactionEvent, Transmit};

enum Command {
    /// The reply (the new transaction's id, or why not) and then its
    /// events go to `subscriber`.
    Request {
        request: Message,
        target: Target,
        data: crate::hooks::RequestData,
        subscriber: Subscriber,
    },
    Cancel {
        invite: TransactionId,
        reason: Option<String>,
        subscriber: Subscriber,
    },
    Response {
        id: TransactionId,
        response: Message,
        reply: oneshot::Sender<Result<(), TransactionError>>,
    },
    Branch {
        reply: oneshot::Sender<String>,
    },
}

/// A client transaction started through the driver: its id and the
/// stream of what happens to it (responses, timeout, transport error,
/// termination). The stream ends when the transaction is gone.
#[derive(Debug)]
pub struct ClientTransaction {
    /// The transaction.
    pub id: TransactionId,
    /// Its events.
    pub events: Events,
}

/// The events of one client transaction, in order; `recv` gives `None`
/// once the transaction is gone.
///
/// A small queue shared with the driver task rather than a tokio channel:
/// a transaction gets a handful of events, and every INVITE's stream
/// lives as long as its transaction (Timer M, 32 s, RFC 6026 §8.4), so
/// a channel's block of 32 slots per transaction was most of the memory a
/// call used. The same queue first carries the driver's reply to the
/// command that started the transaction (no oneshot channel), and keeps
/// its first two events inline: one allocation per transaction.
#[derive(Debug)]
pub struct Events {
    queue: Arc<Mutex<Queue>>,
}

/// Events kept inline before the queue goes to the heap: a provisional and
/// the final response, as a rule.
const INLINE_EVENTS: usize = 2;

/// A queued event in 24 bytes: a response (nearly every event a client
/// transaction's handle gets) as it is, any other boxed. The queue is one
/// allocation per transaction; a full `TransactionEvent` per slot made it
/// about four times the size.
#[derive(Debug)]
enum Queued {
    Response {
        id: TransactionId,
        response: Message,
    },
    Other(Box<TransactionEvent>),
}

impl From<TransactionEvent> for Queued {
    fn from(e: TransactionEvent) -> Queued {
        match e {
            TransactionEvent::Response { id, response } => Queued::Response { id, response },
            other => Queued::Other(Box::new(other)),
        }
    }
}

impl From<Queued> for TransactionEvent {
    fn from(q: Queued) -> TransactionEvent {
        match q {
            Queued::Response { id, response } => TransactionEvent::Response { id, response },
            Queued::Other(e) => *e,
        }
    }
}

#[derive(Debug)]
struct Queue {
    /// The driver's answer to the command, taken once by the handle.
    reply: Option<Result<TransactionId, TransactionError>>,
    /// FIFO: `items[head..]` are the queued events (taken ones are `None`).
    items: SmallVec<[Option<Queued>; INLINE_EVENTS]>,
    head: usize,
    waker: Option<Waker>,
    sender_gone: bool,
    receiver_gone: bool,
}

impl Queue {
    fn push_back(&mut self, e: Queued) {
        // Taken slots are dropped once they are at least half: each event
        // is moved O(1) times on average, and the inline slots are reused.
        if self.head > 0 && self.head * 2 >= self.items.len() {
            self.items.drain(..self.head);
            self.head = 0;
        }
        self.items.push(Some(e));
    }

    /// The next event in its queued form: made a whole event only where
    /// it is handed out, so it is built once, in place.
    fn pop_front(&mut self) -> Option<Queued> {
        let e = self.items.get_mut(self.head)?.take();
        self.head += 1;
        if self.head == self.items.len() {
            self.items.clear();
            self.head = 0;
        }
        e
    }

    fn clear(&mut self) {
        self.items.clear();
        self.head = 0;
    }
}

impl Events {
    fn pair() -> (Subscriber, Events) {
        let queue = Arc::new(Mutex::new(Queue {
            reply: None,
            items: SmallVec::new(),
            head: 0,
            waker: None,
            sender_gone: false,
            receiver_gone: false,
        }));
        (
            Subscriber {
                queue: queue.clone(),
            },
            Events { queue },
        )
    }

    /// The driver's reply to the command that carried the other end; an
    /// error if the driver dropped the command unanswered (it stopped).
    fn poll_reply(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Result<TransactionId, TransactionError>> {
        let Ok(mut q) = self.queue.lock() else {
            return Poll::Ready(Err(TransactionError::WrongKind("driver stopped")));
        };
        if let Some(r) = q.reply.take() {
            return Poll::Ready(r);
        }
        if q.sender_gone {
            return Poll::Ready(Err(TransactionError::WrongKind("driver stopped")));
        }
        if !q.waker.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
            q.waker = Some(cx.waker().clone());
        }
        Poll::Pending
    }

    /// The next event; `None` once the transaction is gone and every
    /// event was taken.
    pub async fn recv(&mut self) -> Option<TransactionEvent> {
        std::future::poll_fn(|cx| self.poll_recv(cx)).await
    }

    /// Polls for the next event (see [`recv`](Self::recv)).
    pub fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<TransactionEvent>> {
        let Ok(mut q) = self.queue.lock() else {
            return Poll::Ready(None);
        };
        if let Some(e) = q.pop_front() {
            return Poll::Ready(Some(e.into()));
        }
        if q.sender_gone {
            return Poll::Ready(None);
        }
        if !q.waker.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
            q.waker = Some(cx.waker().clone());
        }
        Poll::Pending
    }

    /// The next event if one is there.
    pub fn try_recv(&mut self) -> Result<TransactionEvent, mpsc::error::TryRecvError> {
        let Ok(mut q) = self.queue.lock() else {
            return Err(mpsc::error::TryRecvError::Disconnected);
        };
        match q.pop_front() {
            Some(e) => Ok(e.into()),
            None if q.sender_gone => Err(mpsc::error::TryRecvError::Disconnected),
            None => Err(mpsc::error::TryRecvError::Empty),
        }
    }
}

impl Drop for Events {
    fn drop(&mut self) {
        if let Ok(mut q) = self.queue.lock() {
            q.receiver_gone = true;
            q.clear();
            q.waker = None;
        }
    }
}

/// The driver's end of an [`Events`].
#[derive(Debug)]
struct Subscriber {
    queue: Arc<Mutex<Queue>>,
}

impl Subscriber {
    /// Hands the command's result to the handle waiting for it.
    fn reply(&self, r: Result<TransactionId, TransactionError>) {
        let waker = match self.queue.lock() {
            Ok(mut q) => {
                q.reply = Some(r);
                q.waker.take()
            }
            Err(_) => None,
        };
        if let Some(w) = waker {
            w.wake();
        }
    }

    /// Queues an event; gives it back if the receiver is gone.
    fn send(&self, e: TransactionEvent) -> Option<TransactionEvent> {
        self.send_queued(e.into()).map(TransactionEvent::from)
    }

    /// [`send`](Self::send) of an event already in its queued form (24
    /// bytes, where a `TransactionEvent` is 272: each move of one is a
    /// `memcpy`).
    fn send_queued(&self, e: Queued) -> Option<Queued> {
        let waker = {
            let Ok(mut q) = self.queue.lock() else {
                return Some(e);
            };
            if q.receiver_gone {
                return Some(e);
            }
            q.push_back(e);
            q.waker.take()
        };
        if let Some(w) = waker {
            w.wake();
        }
        None
    }

    fn is_closed(&self) -> bool {
        self.queue.lock().map_or(true, |q| q.receiver_gone)
    }
}

impl Drop for Subscriber {
    fn drop(&mut self) {
        let waker = match self.queue.lock() {
            Ok(mut q) => {
                q.sender_gone = true;
                q.waker.take()
            }
            Err(_) => None,
        };
        if let Some(w) = waker {
            w.wake();
        }
    }
}

/// Talks to the driver task. Cheap to clone.
#[derive(Debug, Clone)]
pub struct TransactionHandle {
    commands: mpsc::Sender<Command>,
}

impl TransactionHandle {
    async fn call<T>(&self, make: impl FnOnce(oneshot::Sender<T>) -> Command) -> Option<T> {
        let (tx, rx) = oneshot::channel();
        self.commands.send(make(tx)).await.ok()?;
        rx.await.ok()
    }

    /// Sends a command that starts a client transaction and waits for the
    /// driver's reply on the transaction's own event queue.
    async fn start(
        &self,
        make: impl FnOnce(Subscriber) -> Command,
    ) -> Result<ClientTransaction, TransactionError> {
        let (subscriber, mut events) = Events::pair();
        if self.commands.send(make(subscriber)).await.is_err() {
            return Err(TransactionError::WrongKind("driver stopped"));
        }
        let id = std::future::poll_fn(|cx| events.poll_reply(cx)).await?;
        Ok(ClientTransaction { id, events })
    }

    /// Starts a client transaction (the request needs a top Via with a
    /// branch from [`new_branch`](Self::new_branch)).
    pub async fn send_request(
        &self,
        request: Message,
        target: Target,
    ) -> Result<ClientTransaction, TransactionError> {
        self.send_request_with_data(request, target, Vec::new())
            .await
    }

    /// [`send_request`](Self::send_request) with data for the extensions
    /// ([`HookCx::request_data`](crate::HookCx::request_data)).
    pub async fn send_request_with_data(
        &self,
        request: Message,
        target: Target,
        data: crate::hooks::RequestData,
    ) -> Result<ClientTransaction, TransactionError> {
        self.start(|subscriber| Command::Request {
            request,
            target,
            data,
            subscriber,
        })
        .await
    }

    /// CANCELs an INVITE client transaction (§9.1).
    pub async fn send_cancel(
        &self,
        invite: TransactionId,
    ) -> Result<ClientTransaction, TransactionError> {
        self.cancel(invite, None).await
    }

    /// [`send_cancel`](Self::send_cancel) with a Reason header (RFC 3326).
    pub async fn send_cancel_with_reason(
        &self,
        invite: TransactionId,
        reason: &str,
    ) -> Result<ClientTransaction, TransactionError> {
        self.cancel(invite, Some(reason.to_owned())).await
    }

    async fn cancel(
        &self,
        invite: TransactionId,
        reason: Option<String>,
    ) -> Result<ClientTransaction, TransactionError> {
        self.start(|subscriber| Command::Cancel {
            invite,
            reason,
            subscriber,
        })
        .await
    }

    /// Answers a server transaction.
    pub async fn send_response(
        &self,
        id: TransactionId,
        response: Message,
    ) -> Result<(), TransactionError> {
        self.call(|reply| Command::Response {
            id,
            response,
            reply,
        })
        .await
        .unwrap_or(Err(TransactionError::WrongKind("driver stopped")))
    }

    /// A fresh branch.
    pub async fn new_branch(&self) -> String {
        self.call(|reply| Command::Branch { reply })
            .await
            .unwrap_or_default()
    }
}

fn now() -> Instant {
    tokio::time::Instant::now().into_std()
}

/// Starts the driver task. Events that belong to no client transaction
/// (new requests, ACKs for 2xx, stray responses, ACK timeouts, extension
/// events, server transactions' errors and ends) come out of the returned
/// receiver. So do those of a client transaction without a live handle
/// (its [`ClientTransaction`] dropped, or one an extension started): its
/// responses (2xx retransmissions to an INVITE, RFC 6026 §8.4), transport
/// errors, extension events and, for an INVITE, its `Terminated`; its
/// timeouts, dropped CANCELs and a non-INVITE's `Terminated` concern no
/// one and are dropped.
pub fn spawn(
    layer: TransactionLayer,
    transport: Transport,
    inbound: mpsc::Receiver<Inbound>,
) -> (
    TransactionHandle,
    mpsc::Receiver<TransactionEvent>,
    tokio::task::JoinHandle<()>,
) {
    let (cmd_tx, cmd_rx) = mpsc::channel(1024);
    let (ev_tx, ev_rx) = mpsc::channel(4096);
    let task = tokio::spawn(run(layer, transport, inbound, cmd_rx, ev_tx));
    (TransactionHandle { commands: cmd_tx }, ev_rx, task)
}

/// At most this many queued messages, or commands, are taken at once
/// before the driver's outputs go out.
const BATCH: usize = 33;

async fn run(
    mut layer: TransactionLayer,
    transport: Transport,
    mut inbound: mpsc::Receiver<Inbound>,
    mut commands: mpsc::Receiver<Command>,
    events: mpsc::Sender<TransactionEvent>,
) {
    let mut subscribers: HashMap<TransactionId, Subscriber> = HashMap::default();
    let (err_tx, mut err_rx) = mpsc::unbounded_channel::<TransactionId>();
    let mut lanes: Lanes = HashMap::default();
    let mut inbound_open = true;
    let mut commands_open = true;
    // Subscribers whose receiver is gone (a TU that had its final response)
    // are swept whenever the map has doubled: amortized O(1), and their
    // channels are freed long before Timer K/M ends the transaction. Nothing
    // remembers them: a transaction without a handle has its events routed
    // by what they are (`for_tu_without_handle`), so no set of ids grows
    // with the calls in their 32 s of Timer M.
    let mut sweep_at = 1024;
    let sleep = tokio::time::sleep_until(tokio::time::Instant::now());
    tokio::pin!(sleep);
    let mut armed: Option<tokio::time::Instant> = None;
    // Reused for every take from the two channels.
    let mut received: Vec<Inbound> = Vec::with_capacity(BATCH);
    let mut commanded: Vec<Command> = Vec::with_capacity(BATCH);
    loop {
        if subscribers.len() >= sweep_at {
            subscribers.retain(|_, s| !s.is_closed());
            sweep_at = (subscribers.len() * 2).max(1024);
        }
        // One timer for the driver's life, moved only when the next
        // deadline changes (not a new timer entry per loop).
        let deadline = layer.poll_timeout().map(tokio::time::Instant::from_std);
        if deadline != armed {
            if let Some(d) = deadline {
                sleep.as_mut().reset(d);
            }
            armed = deadline;
        }
        tokio::select! {
            // What is already queued goes through at once, in one take
            // from the channel (bounded, so that commands and timers get
            // their turn); none taken means the channel closed.
            n = inbound.recv_many(&mut received, BATCH), if inbound_open => {
                if n == 0 {
                    inbound_open = false;
                }
                let now = now();
                for m in received.drain(..) {
                    layer.handle_inbound(now, m);
                }
            },
            n = commands.recv_many(&mut commanded, BATCH), if commands_open => {
                if n == 0 {
                    commands_open = false;
                }
                for c in commanded.drain(..) {
                    handle_command(&mut layer, &mut subscribers, c);
                }
            },
            Some(id) = err_rx.recv() => layer.handle_transport_error(now(), id),
            _ = &mut sleep, if armed.is_some() => {
                layer.handle_timeout(now());
                // Fired: re-armed by the next poll_timeout.
                armed = None;
            }
        }
        if !inbound_open && !commands_open {
            return;
        }
        // Compact: a transmission or a response (nearly every output)
        // moves as itself, not as a whole 272-byte `Output`.
        while let Some(out) = layer.poll_output_compact() {
            match out {
                Out::Transmit(t) => {
                    if let Some(t) = transmit_now(&transport, t, &err_tx) {
                        transmit(&transport, t, &err_tx, &mut lanes).await
                    }
                }
                Out::Response { id, response } => {
                    if let Some(e) = route_response(&subscribers, &events, id, response) {
                        overloaded(&mut layer, e);
                    }
                }
                Out::Other => match layer.poll_other_output() {
                    Some(Output::Transmit(t)) => {
                        if let Some(t) = transmit_now(&transport, t, &err_tx) {
                            transmit(&transport, t, &err_tx, &mut lanes).await
                        }
                    }
                    Some(Output::Event(e)) => {
                        if let Some(e) = route(&mut subscribers, &events, e) {
                            overloaded(&mut layer, e);
                        }
                    }
                    None => {}
                },
            }
        }
    }
}

fn handle_command(
    layer: &mut TransactionLayer,
    subscribers: &mut HashMap<TransactionId, Subscriber>,
    c: Command,
) {
    // The reply goes in before any event can (those come out of the
    // layer's outputs, after this command); a failed command's subscriber
    // is dropped, which the handle sees after the error.
    let mut subscribe = |sub: Subscriber, r: Result<TransactionId, TransactionError>| {
        let id = r.as_ref().ok().copied();
        sub.reply(r);
        if let Some(id) = id {
            subscribers.insert(id, sub);
        }
    };
    match c {
        Command::Request {
            request,
            target,
            data,
            subscriber,
        } => {
            let r = layer.send_request_with_data(now(), request, target, &data);
            subscribe(subscriber, r);
        }
        Command::Cancel {
            invite,
            reason,
            subscriber,
        } => {
            let r = layer.send_cancel_with_reason(now(), invite, reason.as_deref());
            subscribe(subscriber, r);
        }
        Command::Response {
            id,
            response,
            reply,
        } => {
            let _ = reply.send(layer.send_response(now(), id, response));
        }
        Command::Branch { reply } => {
            let _ = reply.send(layer.new_branch());
        }
    }
}

/// Where stream sends queue up: order is kept per destination (a 180
/// before its 200, an INVITE before its CANCEL), and a slow connect to one
/// peer does not hold up the others.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Lane {
    Connection(sip_transport::ConnectionId),
    Peer(Kind, std::net::SocketAddr),
}

type Lanes = HashMap<Lane, mpsc::UnboundedSender<Transmit>>;

/// How long an idle lane's task waits before it ends.
const LANE_IDLE: std::time::Duration = std::time::Duration::from_secs(60);

async fn send_one(transport: &Transport, t: Transmit) -> Result<(), TransactionId> {
    match t {
        Transmit::Request {
            id,
            message,
            target,
        } => transport
            .send(&message, &target)
            .await
            .map(|_| ())
            .map_err(|e| {
                debug!(%id, error = %e, "send failed");
                id
            }),
        Transmit::Response {
            id,
            message,
            connection,
        } => transport
            .send_response(&message, connection)
            .await
            .map(|_| ())
            .map_err(|e| {
                debug!(%id, error = %e, "response send failed");
                id
            }),
    }
}

/// [`send_one`] if the transport can send without waiting; `None` when
/// nothing was sent.
fn try_send_one(transport: &Transport, t: &Transmit) -> Option<Result<(), TransactionId>> {
    let (id, r) = match t {
        Transmit::Request {
            id,
            message,
            target,
        } => (id, transport.try_send(message, target)?),
        Transmit::Response {
            id,
            message,
            connection,
        } => (id, transport.try_send_response(message, *connection)?),
    };
    Some(r.map(|_| ()).map_err(|e| {
        debug!(%id, error = %e, "send failed");
        *id
    }))
}

/// The lane `t` queues on; `None` for a UDP request or a response
/// without a connection (a datagram send waits on nothing).
fn lane_of(t: &Transmit) -> Option<Lane> {
    match t {
        Transmit::Request { target, .. } if target.transport == Kind::Udp => None,
        Transmit::Request { target, .. } => Some(Lane::Peer(target.transport, target.addr)),
        Transmit::Response { connection, .. } => connection.map(Lane::Connection),
    }
}

/// True if `t` goes out without a lane.
fn laneless(t: &Transmit) -> bool {
    lane_of(t).is_none()
}

/// [`transmit`] without its future when the socket takes the datagram at
/// once (nearly every send): `None` when done (sent, or its error
/// reported), else `t` back for [`transmit`].
fn transmit_now(
    transport: &Transport,
    t: Transmit,
    errors: &mpsc::UnboundedSender<TransactionId>,
) -> Option<Transmit> {
    if !laneless(&t) {
        return Some(t);
    }
    match try_send_one(transport, &t) {
        Some(Ok(())) => None,
        Some(Err(id)) => {
            let _ = errors.send(id);
            None
        }
        None => Some(t),
    }
}

/// Sends what [`transmit_now`] could not: a datagram whose socket was
/// full (waited for), or a stream send, queued on its lane.
async fn transmit(
    transport: &Transport,
    t: Transmit,
    errors: &mpsc::UnboundedSender<TransactionId>,
    lanes: &mut Lanes,
) {
    let Some(lane) = lane_of(&t) else {
        if let Err(id) = send_one(transport, t).await {
            let _ = errors.send(id);
        }
        return;
    };
    let t = match lanes.get(&lane) {
        Some(q) => match q.send(t) {
            Ok(()) => return,
            Err(mpsc::error::SendError(t)) => t,
        },
        None => t,
    };
    // No live lane: start one.
    let (q, mut rx) = mpsc::unbounded_channel::<Transmit>();
    let _ = q.send(t);
    lanes.retain(|_, q| !q.is_closed());
    lanes.insert(lane, q);
    let transport = transport.clone();
    let errors = errors.clone();
    tokio::spawn(async move {
        while let Ok(Some(t)) = tokio::time::timeout(LANE_IDLE, rx.recv()).await {
            if let Err(id) = send_one(&transport, t).await {
                let _ = errors.send(id);
            }
        }
    });
}

/// Hands an event to whoever follows it. Returns the event when the TU's
/// queue is full: the driver never waits on the TU, which may itself be
/// waiting on the driver (a TU answering a request awaits its command).
fn route(
    subscribers: &mut HashMap<TransactionId, Subscriber>,
    events: &mpsc::Sender<TransactionEvent>,
    e: TransactionEvent,
) -> Option<TransactionEvent> {
    let owner = match &e {
        TransactionEvent::Response { id, .. }
        | TransactionEvent::Timeout { id, .. }
        | TransactionEvent::TransportError { id }
        | TransactionEvent::CancelDropped { id }
        | TransactionEvent::Terminated { id, .. } => Some(*id),
        TransactionEvent::Extension { transaction, .. } => *transaction,
        _ => None,
    };
    if let Some(id) = owner {
        let terminated = matches!(
            e,
            TransactionEvent::Terminated { .. } | TransactionEvent::CancelDropped { .. }
        );
        let Some(sub) = subscribers.get(&id) else {
            // A handle dropped and swept, or none ever (a server
            // transaction, or a client one an extension started).
            return if for_tu_without_handle(&e) {
                tu(events, e)
            } else {
                None
            };
        };
        let unsent = sub.send(e);
        if terminated {
            subscribers.remove(&id);
        }
        // Delivered, or given back because its handle is gone: what still
        // concerns the TU goes there, as once the subscriber is swept.
        let e = unsent?;
        return if for_tu_without_handle(&e) {
            tu(events, e)
        } else {
            None
        };
    }
    tu(events, e)
}

/// What the TU hears of a transaction without a live handle (its
/// handle dropped once the caller had its final response, or none ever:
/// a server transaction, a client one an extension started): all but
/// what only that caller could use, a client's timeout, its dropped
/// CANCEL and a non-INVITE client's end. So it hears responses, which
/// only an INVITE in the Accepted state still passes up then (a
/// retransmitted 2xx that the TU must ACK again, RFC 6026 §8.4 and RFC
/// 3261 §13.2.2.4), the end of such an INVITE transaction (Timer M: the
/// ACK need not be kept), transport errors and extension events. Decided
/// by the event alone, so no set of ids is kept for it.
fn for_tu_without_handle(e: &TransactionEvent) -> bool {
    match e {
        TransactionEvent::Timeout { .. } | TransactionEvent::CancelDropped { .. } => false,
        TransactionEvent::Terminated {
            key: crate::id::TransactionKey::Client(k),
            ..
        } => k.method == sip_message::Method::Invite,
        _ => true,
    }
}

/// [`route`] for a response: to its transaction's handle, or to the TU
/// when there is none or it is gone (a response is among what the TU
/// still hears then, see [`for_tu_without_handle`]). A response
/// never ends a subscription, so neither map changes.
fn route_response(
    subscribers: &HashMap<TransactionId, Subscriber>,
    events: &mpsc::Sender<TransactionEvent>,
    id: TransactionId,
    response: Message,
) -> Option<TransactionEvent> {
    let q = Queued::Response { id, response };
    let unsent = match subscribers.get(&id) {
        Some(sub) => sub.send_queued(q)?,
        None => q,
    };
    tu(events, unsent.into())
}

/// Hands an event to the TU's queue; returns it when the queue is full.
fn tu(events: &mpsc::Sender<TransactionEvent>, e: TransactionEvent) -> Option<TransactionEvent> {
    // A TU that stopped listening makes them vanish.
    match events.try_send(e) {
        Ok(()) | Err(mpsc::error::TrySendError::Closed(_)) => None,
        Err(mpsc::error::TrySendError::Full(e)) => Some(e),
    }
}

/// The TU is behind by a whole queue: a new request is refused with 503
/// and Retry-After (RFC 3261 §21.5.4: overloaded), anything else dropped.
fn overloaded(layer: &mut TransactionLayer, e: TransactionEvent) {
    match e {
        TransactionEvent::Request { id, request, .. } => {
            tracing::warn!(%id, "TU overloaded: request answered 503");
            match sip_message::ResponseBuilder::from_request(&request, 503)
                .raw_header("Retry-After", "1")
                .build()
            {
                Ok(resp) => {
                    if let Err(e) = layer.send_response(now(), id, resp) {
                        debug!(error = %e, "503 not sent");
                    }
                }
                Err(e) => debug!(error = %e, "503 not built"),
            }
        }
        other => {
            tracing::warn!(event = ?std::mem::discriminant(&other), "TU overloaded: event dropped")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(i: u32) -> TransactionEvent {
        TransactionEvent::TransportError {
            id: TransactionId {
                index: i,
                generation: 0,
            },
        }
    }

    fn idx(e: Option<TransactionEvent>) -> Option<u32> {
        match e? {
            TransactionEvent::TransportError { id } => Some(id.index),
            _ => None,
        }
    }

    #[test]
    fn events_come_out_in_order_inline_and_spilled() {
        let (tx, mut rx) = Events::pair();
        // Interleaved pushes and takes, across the inline slots and beyond.
        let mut next_in = 0;
        let mut next_out = 0;
        for round in 0..50u32 {
            for _ in 0..(round % 5) {
                assert!(tx.send(ev(next_in)).is_none());
                next_in += 1;
            }
            for _ in 0..(round % 3) {
                match rx.try_recv() {
                    Ok(e) => {
                        assert_eq!(idx(Some(e)), Some(next_out));
                        next_out += 1;
                    }
                    Err(mpsc::error::TryRecvError::Empty) => assert_eq!(next_out, next_in),
                    Err(e) => panic!("{e:?}"),
                }
            }
            let q = rx.queue.lock().unwrap();
            // Taken slots never outnumber the waiting events by much.
            assert!(q.head <= q.items.len());
            assert!(q.items.len() - q.head == (next_in - next_out) as usize);
        }
        while let Ok(e) = rx.try_recv() {
            assert_eq!(idx(Some(e)), Some(next_out));
            next_out += 1;
        }
        assert_eq!(next_out, next_in);
        drop(tx);
        assert!(matches!(
            rx.try_recv(),
            Err(mpsc::error::TryRecvError::Disconnected)
        ));
    }

    #[test]
    fn responses_and_other_events_come_back_whole_from_a_small_queue() {
        let (tx, mut rx) = Events::pair();
        let response = Message::parse(
            "SIP/2.0 180 Ringing\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\n\
             Call-ID: q1\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n",
        )
        .unwrap();
        let id = TransactionId {
            index: 5,
            generation: 2,
        };
        tx.send(TransactionEvent::Response {
            id,
            response: response.clone(),
        });
        tx.send(ev(9));
        match rx.try_recv() {
            Ok(TransactionEvent::Response {
                id: got,
                response: r,
            }) => {
                assert_eq!(got, id);
                assert_eq!(r.as_bytes(), response.as_bytes());
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(idx(rx.try_recv().ok()), Some(9));
        // A slot is a response or a box, not a whole event: the queue (one
        // allocation per client transaction) stays a fraction of its old
        // 656 bytes.
        assert_eq!(std::mem::size_of::<Option<Queued>>(), 24);
        assert!(std::mem::size_of::<Mutex<Queue>>() <= 192);
    }

    /// A response goes where [`route`] sent it: to its handle while the
    /// handle lives, else to the TU (RFC 6026 §8.4: a 2xx retransmission
    /// after the handle was dropped still needs its ACK).
    #[test]
    fn route_response_delivers_as_route_does() {
        let response = Message::parse(
            "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\n\
             Call-ID: q2\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n",
        )
        .unwrap();
        let id = |index| TransactionId {
            index,
            generation: 0,
        };
        let mut subscribers: HashMap<TransactionId, Subscriber> = HashMap::default();
        let (live, mut live_rx) = Events::pair();
        let (gone, gone_rx) = Events::pair();
        drop(gone_rx);
        subscribers.insert(id(1), live);
        subscribers.insert(id(2), gone);
        // 1: a live handle; 2: a dropped one; 3 and 4: none (swept, or
        // never one).
        for fast in [true, false] {
            let (events, mut tu_rx) = mpsc::channel(8);
            for i in 1..=4 {
                let r = if fast {
                    route_response(&subscribers, &events, id(i), response.clone())
                } else {
                    let e = TransactionEvent::Response {
                        id: id(i),
                        response: response.clone(),
                    };
                    route(&mut subscribers, &events, e)
                };
                assert!(r.is_none());
            }
            match live_rx.try_recv() {
                Ok(TransactionEvent::Response {
                    id: got,
                    response: r,
                }) => {
                    assert_eq!(got, id(1));
                    assert_eq!(r.as_bytes(), response.as_bytes());
                }
                other => panic!("{other:?}"),
            }
            for want in 2..=4 {
                match tu_rx.try_recv() {
                    Ok(TransactionEvent::Response { id: got, .. }) => assert_eq!(got, id(want)),
                    other => panic!("{other:?}"),
                }
            }
            assert!(tu_rx.try_recv().is_err());
            assert_eq!(subscribers.len(), 2);
        }
        // A full TU queue gives the response back, as `route` does.
        let (events, _tu_rx) = mpsc::channel(1);
        assert!(route_response(&subscribers, &events, id(4), response.clone()).is_none());
        assert!(matches!(
            route_response(&subscribers, &events, id(4), response),
            Some(TransactionEvent::Response { .. })
        ));
    }

    /// Without a handle (none, or a dropped one), a client transaction's
    /// timeout, dropped CANCEL and non-INVITE end are dropped; its INVITE
    /// end, transport error and extension events and every server
    /// transaction event reach the TU. A live handle gets
    /// them all, and its `Terminated` (or dropped CANCEL) ends the
    /// subscription.
    #[test]
    fn events_without_a_handle_reach_the_tu_by_what_they_are() {
        use crate::id::{ClientKey, ServerKey, TransactionKey};
        use crate::Timer;
        use sip_message::Method;
        let id = |index| TransactionId {
            index,
            generation: 0,
        };
        let client = |method| {
            TransactionKey::Client(ClientKey {
                branch: "z9hG4bK1".into(),
                method,
            })
        };
        let server = TransactionKey::Server(ServerKey::Rfc3261 {
            branch: "z9hG4bK2".into(),
            sent_by: "h:5060".into(),
            method: Method::Invite,
        });
        let cases = [
            (
                TransactionEvent::Timeout {
                    id: id(1),
                    timer: Timer::F,
                },
                false,
            ),
            (TransactionEvent::CancelDropped { id: id(1) }, false),
            (
                TransactionEvent::Terminated {
                    id: id(1),
                    key: client(Method::Bye),
                },
                false,
            ),
            (
                TransactionEvent::Terminated {
                    id: id(1),
                    key: client(Method::Invite),
                },
                true,
            ),
            (TransactionEvent::TransportError { id: id(1) }, true),
            (
                TransactionEvent::Terminated {
                    id: id(1),
                    key: server,
                },
                true,
            ),
            (
                TransactionEvent::Extension {
                    name: "x",
                    transaction: Some(id(1)),
                    payload: Arc::new(1u8),
                },
                true,
            ),
        ];
        for (e, to_tu) in cases {
            let mut subscribers: HashMap<TransactionId, Subscriber> = HashMap::default();
            let (events, mut tu_rx) = mpsc::channel(8);
            let shown = format!("{e:?}");
            assert!(route(&mut subscribers, &events, e.clone()).is_none());
            assert_eq!(tu_rx.try_recv().is_ok(), to_tu, "{shown}");
            // A handle dropped but not yet swept: the same.
            let (gone, gone_rx) = Events::pair();
            drop(gone_rx);
            subscribers.insert(id(1), gone);
            assert!(route(&mut subscribers, &events, e.clone()).is_none());
            assert_eq!(tu_rx.try_recv().is_ok(), to_tu, "dropped handle: {shown}");
            subscribers.clear();
            // With a live handle: to the handle, never to the TU.
            let (live, mut live_rx) = Events::pair();
            subscribers.insert(id(1), live);
            // A dropped CANCEL is its transaction's last event too.
            let ends = matches!(
                e,
                TransactionEvent::Terminated { .. } | TransactionEvent::CancelDropped { .. }
            );
            assert!(route(&mut subscribers, &events, e).is_none());
            assert!(
                live_rx.try_recv().is_ok() && tu_rx.try_recv().is_err(),
                "{shown}"
            );
            assert_eq!(subscribers.is_empty(), ends, "{shown}");
        }
    }

    /// The sends `transmit_now` takes are those `transmit` sends without
    /// a lane: UDP requests and responses without a connection.
    #[test]
    fn laneless_is_transmits_none_lane() {
        let m = Message::parse(
            "OPTIONS sip:b@h SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\n\
             Call-ID: t1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n",
        )
        .unwrap();
        let id = TransactionId {
            index: 1,
            generation: 0,
        };
        let addr = "192.0.2.1:5060".parse().unwrap();
        for kind in [Kind::Udp, Kind::Tcp, Kind::Tls] {
            let t = Transmit::Request {
                id,
                message: m.clone(),
                target: Target::new(kind, addr),
            };
            assert_eq!(laneless(&t), kind == Kind::Udp, "{kind}");
        }
        // (A connection id comes only from the transport: a response on
        // a connection is the one case left to `transmit`'s own match.)
        let t = Transmit::Response {
            id,
            message: m,
            connection: None,
        };
        assert!(laneless(&t));
    }

    #[test]
    fn two_events_stay_inline() {
        let (tx, rx) = Events::pair();
        tx.send(ev(1));
        tx.send(ev(2));
        assert!(!rx.queue.lock().unwrap().items.spilled());
    }

    #[test]
    fn reply_comes_before_events_and_a_dropped_command_is_an_error() {
        // A waker that does nothing (`Waker::noop` is newer than the MSRV).
        struct Noop;
        impl std::task::Wake for Noop {
            fn wake(self: Arc<Self>) {}
        }
        let waker = Waker::from(Arc::new(Noop));
        let mut cx = Context::from_waker(&waker);
        let (tx, mut rx) = Events::pair();
        assert!(rx.poll_reply(&mut cx).is_pending());
        tx.send(ev(7));
        tx.reply(Ok(TransactionId {
            index: 3,
            generation: 1,
        }));
        match rx.poll_reply(&mut cx) {
            Poll::Ready(Ok(id)) => assert_eq!(id.index, 3),
            other => panic!("{other:?}"),
        }
        assert_eq!(idx(rx.try_recv().ok()), Some(7));

        // A command the driver dropped (it stopped): an error, not a hang.
        let (tx, mut rx) = Events::pair();
        drop(tx);
        assert!(matches!(
            rx.poll_reply(&mut cx),
            Poll::Ready(Err(TransactionError::WrongKind(_)))
        ));

        // A refused command: its error, then the stream's end.
        let (tx, mut rx) = Events::pair();
        tx.reply(Err(TransactionError::Duplicate));
        drop(tx);
        assert!(matches!(
            rx.poll_reply(&mut cx),
            Poll::Ready(Err(TransactionError::Duplicate))
        ));
    }
}
