//! The builder that starts a [`Service`](super::Service): listeners, identity,
//! timers, handler and extensions.

use std::net::SocketAddr;
use std::sync::atomic::AtomicU32;
use std::sync::{Arc, Mutex};

use sip_transaction::driver::{self};
use sip_transaction::{Extension, TimerConfig, TransactionLayer, Xorshift};
use sip_transport::{Transport, TransportConfig};

use crate::core::Core;
use crate::error::Error;
use crate::handler::{DefaultHandler, Handler};

use super::Inner;
use super::Service;

/// Timer C's default: 180 s (NkSIP's `sip_timer_c`).
pub const DEFAULT_TIMER_C: std::time::Duration = std::time::Duration::from_secs(180);

/// Starts a [`Service`].
#[must_use]
pub struct ServiceBuilder {
    name: String,
    transport: TransportConfig,
    from: Option<String>,
    routes: Vec<String>,
    timers: TimerConfig,
    timer_c: std::time::Duration,
    resolver: Option<Arc<dyn sip_transport::Resolver>>,
    user_agent: Option<String>,
    handler: Arc<dyn Handler>,
    credentials: crate::auth::Credentials,
    extensions: Vec<Box<dyn Extension>>,
}

impl ServiceBuilder {
    /// Adds a plugin of the transaction layer (e.g. `sip_100rel::Rel100`).
    /// Its methods join the service's Allow and its option tags its
    /// Supported, so requests that Require them are accepted.
    pub fn extension(mut self, ext: impl Extension + 'static) -> Self {
        self.extensions.push(Box::new(ext));
        self
    }
    /// Default digest credentials for every request (a request's own come
    /// first).
    pub fn credentials(mut self, user: &str, password: &str) -> Self {
        self.credentials.user = Some(user.to_owned());
        self.credentials
            .secrets
            .push((None, crate::auth::Secret::Password(password.to_owned())));
        self
    }
    /// Listens on UDP at `addr` (port 0: the OS picks).
    pub fn udp(mut self, addr: SocketAddr) -> Self {
        self.transport = self.transport.udp(addr);
        self
    }
    /// Listens on TCP at `addr`.
    pub fn tcp(mut self, addr: SocketAddr) -> Self {
        self.transport = self.transport.tcp(addr);
        self
    }
    /// The whole transport configuration (TLS, limits...).
    pub fn transport(mut self, cfg: TransportConfig) -> Self {
        self.transport = cfg;
        self
    }
    /// Default From (NkSIP's `sip_from`), e.g. `"Alice" <sip:alice@atlanta.com>`.
    pub fn from(mut self, from: &str) -> Self {
        self.from = Some(from.to_owned());
        self
    }
    /// Default route set (outbound proxy), in order.
    pub fn route(mut self, route: &str) -> Self {
        self.routes.push(route.to_owned());
        self
    }
    /// T1, T2, T4.
    pub fn timers(mut self, t: TimerConfig) -> Self {
        self.timers = t;
        self
    }
    /// Timer C: how long an INVITE waits for its final response after its
    /// last provisional (before the first one, Timer B bounds it), 180 s by
    /// default (NkSIP's `sip_timer_c`; RFC 3261 §16.6 sets 3 minutes as
    /// the floor for proxies). When it runs out the INVITE is CANCELled
    /// and its reply is 408 "Timer C Timeout".
    pub fn timer_c(mut self, d: std::time::Duration) -> Self {
        self.timer_c = d;
        self
    }
    /// How host names are looked up. By default DNS with the system's
    /// configuration, NAPTR and SRV included (RFC 3263 §4.1-4.2,
    /// `sip_transport::dns::DnsResolver`); a name's targets are tried in
    /// order when one fails (§4.3). Give another, e.g.
    /// `DnsResolver::with_name_servers` for a private zone, or a fixed
    /// table in tests.
    pub fn resolver(mut self, r: Arc<dyn sip_transport::Resolver>) -> Self {
        self.resolver = Some(r);
        self
    }
    /// User-Agent header for requests.
    pub fn user_agent(mut self, ua: &str) -> Self {
        self.user_agent = Some(ua.to_owned());
        self
    }
    /// How received requests are answered.
    pub fn handler(mut self, h: impl Handler) -> Self {
        self.handler = Arc::new(h);
        self
    }

    /// Binds the listeners and starts the service.
    pub async fn start(self) -> Result<Service, Error> {
        let mut transport_cfg = self.transport;
        if transport_cfg.udp_listeners.is_empty()
            && transport_cfg.tcp_listeners.is_empty()
            && transport_cfg.tls_listeners.is_empty()
        {
            transport_cfg = transport_cfg.udp(SocketAddr::from(([127, 0, 0, 1], 0)));
        }
        let (transport, inbound) = match self.resolver {
            Some(r) => Transport::bind_with_resolver(transport_cfg, r).await?,
            None => Transport::bind(transport_cfg).await?,
        };
        let mut layer = TransactionLayer::new(self.timers);
        let mut caps = crate::core::Capabilities::new();
        for ext in self.extensions {
            caps.add(&ext.capabilities());
            layer.add_extension(ext);
        }
        let (tsx, events, driver_task) = driver::spawn(layer, transport.clone(), inbound);
        let contacts = crate::contact::Contacts::new(&self.name, &transport.local_addrs());
        let core = Arc::new(Core::new(
            self.timers.t1,
            self.timers.t2,
            contacts,
            Xorshift::from_os(),
            caps,
        ));
        let server_task = tokio::spawn(crate::core::serve(
            core.clone(),
            self.handler,
            tsx.clone(),
            transport.clone(),
            events,
        ));
        let name = self.name;
        let from = self.from.unwrap_or_else(|| format!("<sip:{name}@nksip>"));
        Ok(Service {
            inner: Arc::new(Inner {
                name,
                transport,
                tsx,
                from,
                routes: self.routes,
                user_agent: self.user_agent,
                credentials: self.credentials,
                timer_c: self.timer_c,
                cseq: AtomicU32::new(1),
                core,
                tasks: Mutex::new(vec![driver_task, server_task]),
            }),
        })
    }
}

impl Service {
    /// A builder for a service called `name`.
    pub fn builder(name: &str) -> ServiceBuilder {
        ServiceBuilder {
            name: name.to_owned(),
            transport: TransportConfig::default(),
            from: None,
            routes: Vec::new(),
            timers: TimerConfig::default(),
            timer_c: DEFAULT_TIMER_C,
            resolver: None,
            user_agent: None,
            handler: Arc::new(DefaultHandler),
            credentials: crate::auth::Credentials::default(),
            extensions: Vec::new(),
        }
    }
}
