//! Configuration: listeners, limits, timeouts and TLS.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use sip_message::ParseLimits;

/// TLS material.
#[derive(Clone, Default)]
pub struct TlsConfig {
    /// Server side (needed to listen for TLS): certificate chain and key.
    pub server: Option<Arc<rustls::ServerConfig>>,
    /// Client side. Defaults to the Mozilla root store (webpki-roots), no
    /// client certificate.
    pub client: Option<Arc<rustls::ClientConfig>>,
}

impl std::fmt::Debug for TlsConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsConfig")
            .field("server", &self.server.is_some())
            .field("client", &self.client.is_some())
            .finish()
    }
}

/// What the transport layer listens on and how it bounds its work.
///
/// ```
/// use sip_transport::TransportConfig;
/// let cfg = TransportConfig::default()
///     .udp("127.0.0.1:0".parse().unwrap())
///     .tcp("127.0.0.1:0".parse().unwrap())
///     .max_connections(512);
/// assert_eq!(cfg.udp_listeners.len(), 1);
/// ```
#[derive(Debug, Clone)]
pub struct TransportConfig {
    /// UDP sockets to bind (port 0 lets the OS choose).
    pub udp_listeners: Vec<SocketAddr>,
    /// TCP listeners.
    pub tcp_listeners: Vec<SocketAddr>,
    /// TLS listeners (need [`TlsConfig::server`]).
    pub tls_listeners: Vec<SocketAddr>,
    /// TLS material.
    pub tls: TlsConfig,
    /// Parser limits (message, head, header count, line, Via count).
    pub parse_limits: ParseLimits,
    /// Most open TCP/TLS connections, inbound and outbound together.
    pub max_connections: usize,
    /// A connection with no traffic for this long is closed.
    pub idle_timeout: Duration,
    /// Outbound connect (and TLS handshake) timeout.
    pub connect_timeout: Duration,
    /// A UDP request larger than this goes over TCP (RFC 3261 §18.1.1).
    pub udp_mtu: usize,
    /// Socket receive/send buffer size for UDP sockets, if set.
    pub socket_buffer: Option<usize>,
    /// Messages queued per connection before sends fail with backpressure.
    pub send_queue: usize,
    /// Capacity of the inbound event channel.
    pub inbound_queue: usize,
}

impl Default for TransportConfig {
    fn default() -> Self {
        TransportConfig {
            udp_listeners: Vec::new(),
            tcp_listeners: Vec::new(),
            tls_listeners: Vec::new(),
            tls: TlsConfig::default(),
            parse_limits: ParseLimits::default(),
            max_connections: 1024,
            idle_timeout: Duration::from_secs(120),
            connect_timeout: Duration::from_secs(5),
            udp_mtu: 1300,
            socket_buffer: None,
            send_queue: 1024,
            inbound_queue: 4096,
        }
    }
}

impl TransportConfig {
    /// Adds a UDP listener.
    pub fn udp(mut self, addr: SocketAddr) -> Self {
        self.udp_listeners.push(addr);
        self
    }
    /// Adds a TCP listener.
    pub fn tcp(mut self, addr: SocketAddr) -> Self {
        self.tcp_listeners.push(addr);
        self
    }
    /// Adds a TLS listener.
    pub fn tls(mut self, addr: SocketAddr) -> Self {
        self.tls_listeners.push(addr);
        self
    }
    /// Sets the TLS material.
    pub fn tls_config(mut self, tls: TlsConfig) -> Self {
        self.tls = tls;
        self
    }
    /// Sets the connection limit.
    pub fn max_connections(mut self, n: usize) -> Self {
        self.max_connections = n;
        self
    }
    /// Sets the idle timeout.
    pub fn idle_timeout(mut self, d: Duration) -> Self {
        self.idle_timeout = d;
        self
    }
    /// Sets the connect timeout.
    pub fn connect_timeout(mut self, d: Duration) -> Self {
        self.connect_timeout = d;
        self
    }
    /// Sets the UDP size above which requests switch to TCP.
    pub fn udp_mtu(mut self, n: usize) -> Self {
        self.udp_mtu = n;
        self
    }
    /// Sets UDP socket buffer sizes (large ones for load tests).
    pub fn socket_buffer(mut self, n: usize) -> Self {
        self.socket_buffer = Some(n);
        self
    }
    /// Sets the parser limits.
    pub fn parse_limits(mut self, l: ParseLimits) -> Self {
        self.parse_limits = l;
        self
    }
}
