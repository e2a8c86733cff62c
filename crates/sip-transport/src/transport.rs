//! The transport layer handle: binding, sending, connections, shutdown.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use dashmap::DashMap;
use sip_message::headers::Transport as Kind;
use sip_message::uri::Host;
use sip_message::Message;
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tracing::{debug, trace, warn};

use crate::config::TransportConfig;
use crate::error::TransportError;
use crate::inbound::{ConnectionId, Inbound};
use crate::stats::{inc, Counters, Stats};
use crate::stream::{self, ConnHandle};
use crate::target::{Resolver, Target};
use crate::{tls, udp, via};

/// State shared by the handle and every task.
pub(crate) struct Shared {
    pub(crate) config: TransportConfig,
    pub(crate) counters: Counters,
    /// Where inbound messages go. Tasks take their own clone when they
    /// start; `shutdown` empties it so that the receiver ends once the tasks
    /// are gone.
    inbound: Mutex<Option<mpsc::Sender<Inbound>>>,
    shut_down: std::sync::atomic::AtomicBool,
    /// Every address we put in Via sent-by (§18.1.2 checks responses against it).
    pub(crate) sent_by: Vec<via::SentBy>,
    /// Each UDP listener, with the `UDP host:port` its requests' top Via
    /// gets (§18.1.1), written once at bind rather than for every send.
    udp: Vec<(SocketAddr, Arc<UdpSocket>, via::SentByText)>,
    tcp: Vec<SocketAddr>,
    tls: Vec<SocketAddr>,
    pub(crate) connections: DashMap<ConnectionId, ConnHandle>,
    pub(crate) by_addr: DashMap<(Kind, SocketAddr), ConnectionId>,
    next_id: AtomicU64,
    open: AtomicUsize,
    tasks: Mutex<Vec<JoinHandle<()>>>,
    tls_acceptor: Option<tokio_rustls::TlsAcceptor>,
    tls_connector: Option<tokio_rustls::TlsConnector>,
    resolver: Arc<dyn Resolver>,
}

impl Shared {
    /// A sender for a new task, unless the layer is shut down.
    pub(crate) fn inbound_sender(&self) -> Option<mpsc::Sender<Inbound>> {
        if self.is_shut_down() {
            return None;
        }
        self.inbound.lock().ok()?.clone()
    }

    pub(crate) fn is_shut_down(&self) -> bool {
        self.shut_down.load(Ordering::Acquire)
    }

    pub(crate) fn next_connection_id(&self) -> ConnectionId {
        ConnectionId(self.next_id.fetch_add(1, Ordering::Relaxed))
    }

    pub(crate) fn track(&self, task: JoinHandle<()>) {
        if let Ok(mut t) = self.tasks.lock() {
            t.retain(|h| !h.is_finished());
            t.push(task);
        }
    }

    /// Takes a slot under the connection limit.
    fn reserve_connection(&self) -> Result<(), TransportError> {
        let max = self.config.max_connections;
        let prev = self.open.fetch_add(1, Ordering::AcqRel);
        if prev >= max {
            self.open.fetch_sub(1, Ordering::AcqRel);
            inc(&self.counters.connections_rejected);
            return Err(TransportError::TooManyConnections(max));
        }
        Ok(())
    }

    fn release_connection(&self) {
        self.open.fetch_sub(1, Ordering::AcqRel);
    }

    pub(crate) fn forget_connection(&self, id: ConnectionId, kind: Kind, remote: SocketAddr) {
        self.connections.remove(&id);
        self.by_addr.remove_if(&(kind, remote), |_, v| *v == id);
        self.release_connection();
        inc(&self.counters.connections_closed);
    }
}

/// The transport layer: listeners, connections and the send path.
///
/// `bind` starts the listeners and returns the handle (cheap to clone)
/// and the receiver of inbound messages.
///
/// ```no_run
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// use sip_transport::{Transport, TransportConfig, Target};
/// use sip_message::{Message, headers::Transport as Kind};
///
/// let (transport, mut inbound) =
///     Transport::bind(TransportConfig::default().udp("127.0.0.1:0".parse()?)).await?;
/// let me = transport.local_addr(Kind::Udp).unwrap();
/// let options = Message::parse(format!(
///     "OPTIONS sip:{me} SIP/2.0\r\nVia: SIP/2.0/UDP placeholder;branch=z9hG4bK1\r\n\
///      From: <sip:a@b>;tag=1\r\nTo: <sip:{me}>\r\nCall-ID: c1\r\nCSeq: 1 OPTIONS\r\n\
///      Content-Length: 0\r\n\r\n"))?;
/// transport.send(&options, &Target::new(Kind::Udp, me)).await?;
/// let got = inbound.recv().await.unwrap();
/// assert_eq!(got.message.call_id(), Some("c1"));
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Transport {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transport")
            .field(
                "udp",
                &self
                    .shared
                    .udp
                    .iter()
                    .map(|(a, _, _)| a)
                    .collect::<Vec<_>>(),
            )
            .field("tcp", &self.shared.tcp)
            .field("tls", &self.shared.tls)
            .field("connections", &self.shared.connections.len())
            .finish()
    }
}

/// What a send did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sent {
    /// The transport actually used (a large UDP request may go over TCP).
    pub transport: Kind,
    /// Local address it left from.
    pub local: SocketAddr,
    /// Destination.
    pub remote: SocketAddr,
    /// The connection, for TCP/TLS.
    pub connection: Option<ConnectionId>,
}

impl Transport {
    /// Binds every configured listener and starts their tasks. Names are
    /// located as RFC 3263 says, through DNS with the system's
    /// configuration ([`DnsResolver`](crate::dns::DnsResolver)); where that
    /// configuration cannot be read, through the system's address lookup
    /// ([`SystemResolver`](crate::SystemResolver): addresses only, no NAPTR nor SRV).
    pub async fn bind(
        config: TransportConfig,
    ) -> Result<(Transport, mpsc::Receiver<Inbound>), TransportError> {
        Self::bind_with_resolver(config, crate::dns::default_resolver()).await
    }

    /// [`Transport::bind`] with a custom name resolver.
    pub async fn bind_with_resolver(
        config: TransportConfig,
        resolver: Arc<dyn Resolver>,
    ) -> Result<(Transport, mpsc::Receiver<Inbound>), TransportError> {
        let (tx, rx) = mpsc::channel(config.inbound_queue.max(1));
        let mut udp_sockets = Vec::new();
        for addr in &config.udp_listeners {
            let s = udp::bind(*addr, config.socket_buffer)
                .map_err(|e| TransportError::io(Kind::Udp, *addr, e))?;
            let local = s
                .local_addr()
                .map_err(|e| TransportError::io(Kind::Udp, *addr, e))?;
            let text = via::SentByText::new(Kind::Udp, local);
            udp_sockets.push((local, Arc::new(s), text));
        }
        let mut tcp_listeners = Vec::new();
        for addr in &config.tcp_listeners {
            let l = TcpListener::bind(addr)
                .await
                .map_err(|e| TransportError::io(Kind::Tcp, *addr, e))?;
            let local = l
                .local_addr()
                .map_err(|e| TransportError::io(Kind::Tcp, *addr, e))?;
            tcp_listeners.push((local, l));
        }
        if !config.tls_listeners.is_empty() && config.tls.server.is_none() {
            return Err(TransportError::Tls(
                "TLS listeners need a server certificate".into(),
            ));
        }
        let mut tls_listeners = Vec::new();
        for addr in &config.tls_listeners {
            let l = TcpListener::bind(addr)
                .await
                .map_err(|e| TransportError::io(Kind::Tls, *addr, e))?;
            let local = l
                .local_addr()
                .map_err(|e| TransportError::io(Kind::Tls, *addr, e))?;
            tls_listeners.push((local, l));
        }
        let tls_acceptor = config
            .tls
            .server
            .clone()
            .map(tokio_rustls::TlsAcceptor::from);
        let client = match config.tls.client.clone() {
            Some(c) => Some(c),
            None => tls::default_client_config().ok(),
        };
        let tls_connector = client.map(tokio_rustls::TlsConnector::from);
        let sent_by = udp_sockets
            .iter()
            .map(|(a, _, _)| *a)
            .chain(tcp_listeners.iter().map(|(a, _)| *a))
            .chain(tls_listeners.iter().map(|(a, _)| *a))
            .map(via::SentBy::new)
            .collect();
        let shared = Arc::new(Shared {
            counters: Counters::default(),
            inbound: Mutex::new(Some(tx)),
            shut_down: std::sync::atomic::AtomicBool::new(false),
            sent_by,
            udp: udp_sockets,
            tcp: tcp_listeners.iter().map(|(a, _)| *a).collect(),
            tls: tls_listeners.iter().map(|(a, _)| *a).collect(),
            connections: DashMap::new(),
            by_addr: DashMap::new(),
            next_id: AtomicU64::new(1),
            open: AtomicUsize::new(0),
            tasks: Mutex::new(Vec::new()),
            tls_acceptor,
            tls_connector,
            resolver,
            config,
        });
        for (local, sock, _) in &shared.udp {
            let Some(tx) = shared.inbound_sender() else {
                break;
            };
            let task = tokio::spawn(udp::run(sock.clone(), *local, shared.clone(), tx));
            shared.track(task);
        }
        for (local, l) in tcp_listeners {
            let task = tokio::spawn(accept_loop(shared.clone(), l, local, Kind::Tcp));
            shared.track(task);
        }
        for (local, l) in tls_listeners {
            let task = tokio::spawn(accept_loop(shared.clone(), l, local, Kind::Tls));
            shared.track(task);
        }
        Ok((Transport { shared }, rx))
    }

    /// The first listener of this transport.
    pub fn local_addr(&self, kind: Kind) -> Option<SocketAddr> {
        self.local_addrs()
            .into_iter()
            .find(|(k, _)| *k == kind)
            .map(|(_, a)| a)
    }

    /// Every listener.
    pub fn local_addrs(&self) -> Vec<(Kind, SocketAddr)> {
        let s = &self.shared;
        s.udp
            .iter()
            .map(|(a, _, _)| (Kind::Udp, *a))
            .chain(s.tcp.iter().map(|a| (Kind::Tcp, *a)))
            .chain(s.tls.iter().map(|a| (Kind::Tls, *a)))
            .collect()
    }

    /// Counters.
    pub fn stats(&self) -> Stats {
        self.shared.counters.snapshot()
    }

    /// Open connections.
    pub fn connection_count(&self) -> usize {
        self.shared.connections.len()
    }

    /// The resolver in use.
    pub fn resolver(&self) -> &dyn Resolver {
        &*self.shared.resolver
    }

    /// Sends a message.
    ///
    /// A request gets its top Via transport and sent-by set to the listener
    /// it leaves from (§18.1.1); a UDP request larger than the MTU limit goes
    /// over TCP unless the target's transport was explicit, falling back to
    /// UDP if the TCP connection cannot be made. A response is sent as
    /// given; see [`Transport::send_response`] for §18.2.2 routing.
    pub async fn send(&self, msg: &Message, target: &Target) -> Result<Sent, TransportError> {
        if self.shared.is_shut_down() {
            return Err(TransportError::Shutdown);
        }
        if !msg.is_request() {
            return self.send_bytes(msg.as_bytes().clone(), target).await;
        }
        let big = msg.as_bytes().len() > self.shared.config.udp_mtu;
        if target.transport == Kind::Udp
            && big
            && !target.explicit_transport
            && !self.shared.tcp.is_empty()
        {
            let mut tcp = target.clone();
            tcp.transport = Kind::Tcp;
            match self.send_request(msg, &tcp).await {
                Ok(s) => return Ok(s),
                Err(
                    e @ (TransportError::Backpressure(_) | TransportError::TooManyConnections(_)),
                ) => return Err(e),
                Err(e) => {
                    debug!(error = %e, "TCP for a large request failed; retrying over UDP (RFC 3261 §18.1.1)")
                }
            }
        }
        self.send_request(msg, target).await
    }

    async fn send_request(&self, msg: &Message, target: &Target) -> Result<Sent, TransportError> {
        let kind = target.transport;
        // sent-by: the listener of this transport, where new connections
        // and UDP responses can reach us; without a listener, the
        // connection's own address (responses come back on it).
        // A UDP listener has its Via text from bind, as in `try_send`.
        let (via_local, text) = match kind {
            Kind::Udp => {
                let (a, _, t) = self.udp_listener(target.addr)?;
                (a, Some(*t))
            }
            Kind::Tcp | Kind::Tls => {
                let list = if kind == Kind::Tcp {
                    &self.shared.tcp
                } else {
                    &self.shared.tls
                };
                let a = match self.listener_for(list, target.addr) {
                    Some(a) => a,
                    None => self.connection(target).await?.1.local,
                };
                (a, None)
            }
            other => return Err(TransportError::Unsupported(other)),
        };
        let text = || text.unwrap_or_else(|| via::SentByText::new(kind, via_local));
        match stamped(msg, kind, via_local, text)? {
            // A datagram goes out as the three pieces (one vectored send):
            // no copy of the message.
            Stamped::Spliced(s) if kind == Kind::Udp => {
                self.send_udp(&[s.head, s.sent_by.as_bytes(), s.tail], target)
                    .await
            }
            Stamped::Spliced(s) => self.send_bytes(s.to_bytes(), target).await,
            Stamped::Whole(b) => self.send_bytes(b, target).await,
        }
    }

    /// [`send`](Self::send) when it needs no waiting: a message over UDP
    /// (no switch to TCP) whose socket takes the datagram at once. `None`
    /// means nothing was sent and [`send`](Self::send) is needed (another
    /// transport, a large request that may go over TCP, a full socket
    /// buffer). It saves the general send's future in the common case.
    pub fn try_send(&self, msg: &Message, target: &Target) -> Option<Result<Sent, TransportError>> {
        if self.shared.is_shut_down() {
            return Some(Err(TransportError::Shutdown));
        }
        if target.transport != Kind::Udp {
            return None;
        }
        if !msg.is_request() {
            return self.try_send_udp(&[msg.as_bytes(), &[], &[]], target);
        }
        let big = msg.as_bytes().len() > self.shared.config.udp_mtu;
        if big && !target.explicit_transport && !self.shared.tcp.is_empty() {
            return None;
        }
        let (via_local, text) = match self.udp_listener(target.addr) {
            Ok((a, _, t)) => (a, t),
            Err(e) => return Some(Err(e)),
        };
        match stamped(msg, Kind::Udp, via_local, || *text) {
            Ok(Stamped::Spliced(s)) => {
                self.try_send_udp(&[s.head, s.sent_by.as_bytes(), s.tail], target)
            }
            Ok(Stamped::Whole(b)) => self.try_send_udp(&[&b, &[], &[]], target),
            Err(e) => Some(Err(e)),
        }
    }

    /// The checks before every UDP send: not shut down, not too large.
    fn check_udp(&self, parts: &[&[u8]; 3]) -> Result<usize, TransportError> {
        if self.shared.is_shut_down() {
            return Err(TransportError::Shutdown);
        }
        let len = parts.iter().map(|p| p.len()).sum::<usize>();
        if len > self.shared.config.parse_limits.max_message_size || len > udp::MAX_DATAGRAM - 48 {
            return Err(TransportError::TooLarge(len));
        }
        Ok(len)
    }

    /// The counter and trace line of every UDP send that went out.
    fn sent_udp(&self, local: SocketAddr, target: &Target, len: usize) -> Sent {
        inc(&self.shared.counters.sent);
        trace!(remote = %target.addr, transport = %Kind::Udp, len, "sent");
        Sent {
            transport: Kind::Udp,
            local,
            remote: target.addr,
            connection: None,
        }
    }

    /// Sends one datagram made of `parts` (one part for whole bytes, three
    /// for a spliced Via), waiting for the socket if it is full.
    async fn send_udp(&self, parts: &[&[u8]; 3], target: &Target) -> Result<Sent, TransportError> {
        let len = self.check_udp(parts)?;
        let (local, sock) = self.udp_socket(target.addr)?;
        udp::send_parts(sock, parts, target.addr)
            .await
            .map_err(|e| TransportError::io(Kind::Udp, target.addr, e))?;
        Ok(self.sent_udp(local, target, len))
    }

    /// [`send_udp`](Self::send_udp) if the socket takes the datagram at
    /// once; `None` (nothing sent) if it would have to wait.
    fn try_send_udp(
        &self,
        parts: &[&[u8]; 3],
        target: &Target,
    ) -> Option<Result<Sent, TransportError>> {
        let len = match self.check_udp(parts) {
            Ok(n) => n,
            Err(e) => return Some(Err(e)),
        };
        let (local, sock) = match self.udp_socket(target.addr) {
            Ok(s) => s,
            Err(e) => return Some(Err(e)),
        };
        match udp::try_send_parts(sock, parts, target.addr) {
            Ok(_) => Some(Ok(self.sent_udp(local, target, len))),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => None,
            Err(e) => Some(Err(TransportError::io(Kind::Udp, target.addr, e))),
        }
    }

    /// Sends a response where RFC 3261 §18.2.2 says: back on the request's
    /// connection if it is open, else to `received`/`rport`, `maddr` or
    /// sent-by of the top Via.
    pub async fn send_response(
        &self,
        resp: &Message,
        request_connection: Option<ConnectionId>,
    ) -> Result<Sent, TransportError> {
        let dest = via::response_destination(resp, request_connection)
            .ok_or(TransportError::BadMessage("response without usable Via"))?;
        let addr = match dest.host.ip() {
            Some(ip) => SocketAddr::new(ip, dest.port),
            None => {
                let name = dest.host.to_string();
                *self
                    .shared
                    .resolver
                    .lookup(&name, dest.port)
                    .await?
                    .first()
                    .ok_or(TransportError::Resolve(name))?
            }
        };
        let mut target = Target::new(dest.transport, addr);
        target.connection = dest.connection;
        if let Host::Domain(d) = &dest.host {
            target.server_name = Some(d.to_string());
        }
        self.send_bytes(resp.as_bytes().clone(), &target).await
    }

    /// [`send_response`](Self::send_response) when it needs no waiting: a
    /// UDP response to a numeric address whose socket takes it at once.
    /// `None` means nothing was sent and `send_response` is needed.
    pub fn try_send_response(
        &self,
        resp: &Message,
        request_connection: Option<ConnectionId>,
    ) -> Option<Result<Sent, TransportError>> {
        let Some(dest) = via::response_destination(resp, request_connection) else {
            return Some(Err(TransportError::BadMessage(
                "response without usable Via",
            )));
        };
        if dest.transport != Kind::Udp {
            return None;
        }
        let target = Target::new(Kind::Udp, SocketAddr::new(dest.host.ip()?, dest.port));
        self.try_send_udp(&[resp.as_bytes(), &[], &[]], &target)
    }

    /// Sends pre-serialized bytes as they are.
    pub async fn send_bytes(&self, bytes: Bytes, target: &Target) -> Result<Sent, TransportError> {
        if target.transport == Kind::Udp {
            return self.send_udp(&[&bytes, &[], &[]], target).await;
        }
        if self.shared.is_shut_down() {
            return Err(TransportError::Shutdown);
        }
        let len = bytes.len();
        if len > self.shared.config.parse_limits.max_message_size {
            return Err(TransportError::TooLarge(len));
        }
        let sent = match target.transport {
            Kind::Tcp | Kind::Tls => {
                let (id, conn) = self.connection(target).await?;
                conn.queue.try_send(bytes).map_err(|e| match e {
                    mpsc::error::TrySendError::Full(_) => TransportError::Backpressure(target.addr),
                    mpsc::error::TrySendError::Closed(_) => TransportError::Closed,
                })?;
                Sent {
                    transport: conn.kind,
                    local: conn.local,
                    remote: conn.remote,
                    connection: Some(id),
                }
            }
            other => return Err(TransportError::Unsupported(other)),
        };
        inc(&self.shared.counters.sent);
        trace!(remote = %sent.remote, transport = %sent.transport, len, "sent");
        Ok(sent)
    }

    /// The UDP listener for `to`'s address family, borrowed (no `Arc`
    /// clone and drop per send: two atomic operations each time).
    fn udp_socket(&self, to: SocketAddr) -> Result<(SocketAddr, &UdpSocket), TransportError> {
        self.udp_listener(to).map(|(a, s, _)| (a, s))
    }

    /// [`udp_socket`](Self::udp_socket) with the listener's Via text.
    fn udp_listener(
        &self,
        to: SocketAddr,
    ) -> Result<(SocketAddr, &UdpSocket, &via::SentByText), TransportError> {
        self.shared
            .udp
            .iter()
            .find(|(a, _, _)| a.is_ipv4() == to.is_ipv4())
            .map(|(a, s, t)| (*a, &**s, t))
            .ok_or(TransportError::NoListener(Kind::Udp))
    }

    fn listener_for(&self, list: &[SocketAddr], to: SocketAddr) -> Option<SocketAddr> {
        list.iter().find(|a| a.is_ipv4() == to.is_ipv4()).copied()
    }

    /// An open connection for the target: the one it names, one to the same
    /// address, or a new one.
    async fn connection(
        &self,
        target: &Target,
    ) -> Result<(ConnectionId, ConnHandle), TransportError> {
        let s = &self.shared;
        if let Some(id) = target.connection {
            if let Some(c) = s.connections.get(&id) {
                if !c.queue.is_closed() {
                    return Ok((id, c.clone()));
                }
            }
        }
        if let Some(id) = s.by_addr.get(&(target.transport, target.addr)).map(|r| *r) {
            if let Some(c) = s.connections.get(&id) {
                if !c.queue.is_closed() {
                    return Ok((id, c.clone()));
                }
            }
        }
        self.connect(target).await
    }

    async fn connect(&self, target: &Target) -> Result<(ConnectionId, ConnHandle), TransportError> {
        let s = &self.shared;
        s.reserve_connection()?;
        let result = self.open_stream(target).await;
        match result {
            Ok(r) => Ok(r),
            Err(e) => {
                s.release_connection();
                Err(e)
            }
        }
    }

    async fn open_stream(
        &self,
        target: &Target,
    ) -> Result<(ConnectionId, ConnHandle), TransportError> {
        let s = &self.shared;
        let timeout = s.config.connect_timeout;
        let addr = target.addr;
        let tcp = tokio::time::timeout(timeout, TcpStream::connect(addr))
            .await
            .map_err(|_| TransportError::ConnectTimeout(addr))?
            .map_err(|e| TransportError::io(target.transport, addr, e))?;
        let _ = tcp.set_nodelay(true);
        let local = tcp
            .local_addr()
            .map_err(|e| TransportError::io(target.transport, addr, e))?;
        match target.transport {
            Kind::Tcp => Ok(stream::spawn(&self.shared, tcp, Kind::Tcp, local, addr)),
            Kind::Tls => {
                let connector = s
                    .tls_connector
                    .clone()
                    .ok_or_else(|| TransportError::Tls("no client configuration".into()))?;
                let name = match &target.server_name {
                    Some(n) => rustls_pki_types::ServerName::try_from(n.clone())
                        .map_err(|e| TransportError::Tls(e.to_string()))?,
                    None => rustls_pki_types::ServerName::IpAddress(addr.ip().into()),
                };
                let tls = tokio::time::timeout(timeout, connector.connect(name, tcp))
                    .await
                    .map_err(|_| TransportError::ConnectTimeout(addr))?
                    .map_err(|e| {
                        inc(&s.counters.tls_failures);
                        TransportError::Tls(e.to_string())
                    })?;
                Ok(stream::spawn(&self.shared, tls, Kind::Tls, local, addr))
            }
            other => Err(TransportError::Unsupported(other)),
        }
    }

    /// Stops every listener and connection task and refuses further sends
    /// ([`TransportError::Shutdown`]). Every inbound sender goes with them,
    /// so the inbound receiver ends.
    pub async fn shutdown(&self) {
        self.shared.shut_down.store(true, Ordering::Release);
        if let Ok(mut s) = self.shared.inbound.lock() {
            s.take();
        }
        let tasks: Vec<JoinHandle<()>> = match self.shared.tasks.lock() {
            Ok(mut t) => t.drain(..).collect(),
            Err(_) => Vec::new(),
        };
        for t in &tasks {
            t.abort();
        }
        for t in tasks {
            let _ = t.await;
        }
        self.shared.connections.clear();
        self.shared.by_addr.clear();
    }
}

/// A request's bytes with its top Via set for the listener it leaves
/// from (§18.1.1).
enum Stamped<'a> {
    /// The original bytes around a new `transport sent-by`.
    Spliced(via::Spliced<'a>),
    /// Whole bytes: the original (already right) or a rebuilt message.
    Whole(Bytes),
}

/// A request's top Via set for `kind` and `via_local` (§18.1.1): spliced
/// into the bytes with `text` (`SentByText::new(kind, via_local)`, or a
/// listener's copy written at bind), or, for a Via that cannot be located
/// that way, rebuilt (decoded, edited, re-parsed).
fn stamped(
    msg: &Message,
    kind: Kind,
    via_local: SocketAddr,
    text: impl FnOnce() -> via::SentByText,
) -> Result<Stamped<'_>, TransportError> {
    if msg.top_via().is_none() {
        return Err(TransportError::BadMessage("request without Via"));
    }
    Ok(match via::sent_by_splice(msg, kind, via_local, text) {
        Ok(None) => Stamped::Whole(msg.as_bytes().clone()),
        Ok(Some(s)) => Stamped::Spliced(s),
        Err(()) => Stamped::Whole(
            via::stamp_sent_by(msg.clone(), kind, via_local)
                .map_err(|_| TransportError::BadMessage("top Via is malformed"))?
                .as_bytes()
                .clone(),
        ),
    })
}

async fn accept_loop(shared: Arc<Shared>, listener: TcpListener, local: SocketAddr, kind: Kind) {
    loop {
        let (tcp, remote) = match listener.accept().await {
            Ok(r) => r,
            Err(e) => {
                // Out of descriptors and the like: back off briefly.
                warn!(%local, error = %e, "accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
        };
        if shared.reserve_connection().is_err() {
            debug!(%remote, "connection limit reached, closing new connection");
            drop(tcp);
            continue;
        }
        let _ = tcp.set_nodelay(true);
        match kind {
            Kind::Tls => {
                let Some(acceptor) = shared.tls_acceptor.clone() else {
                    shared.release_connection();
                    continue;
                };
                let shared2 = shared.clone();
                let timeout = shared.config.connect_timeout;
                // The handshake runs in its own task so a slow client
                // cannot hold up the accept loop.
                let task = tokio::spawn(async move {
                    match tokio::time::timeout(timeout, acceptor.accept(tcp)).await {
                        Ok(Ok(tls)) => {
                            stream::spawn(&shared2, tls, Kind::Tls, local, remote);
                        }
                        Ok(Err(e)) => {
                            inc(&shared2.counters.tls_failures);
                            shared2.release_connection();
                            debug!(%remote, error = %e, "TLS handshake failed");
                        }
                        Err(_) => {
                            inc(&shared2.counters.tls_failures);
                            shared2.release_connection();
                            debug!(%remote, "TLS handshake timed out");
                        }
                    }
                });
                shared.track(task);
            }
            _ => {
                stream::spawn(&shared, tcp, kind, local, remote);
            }
        }
    }
}

#[cfg(test)]
mod listener_text_tests {
    use super::*;

    /// Each UDP listener's Via text, written at bind, is the one a send
    /// from it would write (§18.1.1), and stamping with it gives the
    /// bytes stamping without it gives.
    #[tokio::test]
    async fn rfc3261_18_1_1_listener_text_is_the_computed_one() {
        let cfg = TransportConfig::default().udp("127.0.0.1:0".parse().unwrap());
        let (t, _rx) = Transport::bind(cfg).await.unwrap();
        let to: SocketAddr = "192.0.2.7:5060".parse().unwrap();
        let (local, _, text) = t.udp_listener(to).unwrap();
        assert_eq!(
            text.as_bytes(),
            via::SentByText::new(Kind::Udp, local).as_bytes()
        );
        let msg = Message::parse(
            "OPTIONS sip:b@192.0.2.7 SIP/2.0\r\n\
             Via: SIP/2.0/UDP placeholder.invalid;branch=z9hG4bK1;rport\r\n\
             Call-ID: l1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n",
        )
        .unwrap();
        let joined = |s: Stamped<'_>| match s {
            Stamped::Spliced(s) => s.to_bytes(),
            Stamped::Whole(b) => b,
        };
        let with = joined(stamped(&msg, Kind::Udp, local, || *text).unwrap());
        let computed = || via::SentByText::new(Kind::Udp, local);
        let without = joined(stamped(&msg, Kind::Udp, local, computed).unwrap());
        assert_eq!(with, without);
        let want = format!("Via: SIP/2.0/UDP {local};branch=z9hG4bK1;rport\r\n");
        assert!(std::str::from_utf8(&with).unwrap().contains(&want));
    }
}
