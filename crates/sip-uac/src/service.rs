//! The Service: listeners, transaction layer and the sending functions.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use sip_dialog::{DialogId, DialogUpdate, SubscriptionId, SubscriptionStatus, Usage};
use sip_message::headers::{Date, Transport as Kind};
use sip_message::uri::{unescape_str, Uri};
use sip_message::{Message, Method};
use sip_transaction::driver::{self, TransactionHandle};
use sip_transaction::{Extension, TimerConfig, TransactionEvent, TransactionLayer, Xorshift};
use sip_transport::{Target, Transport, TransportConfig};
use tokio::task::JoinHandle;

use crate::core::Core;
use crate::error::Error;
use crate::handler::{DefaultHandler, Handler};
use crate::options::RequestOptions;
use crate::reply::Reply;

/// The user-cancel flag of a request that no handle can cancel.
static NOT_CANCELLED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

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
    /// How host names are looked up (the system resolver by default): a
    /// name with several addresses is tried in order when one fails
    /// (RFC 3263 §4.3).
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

struct Inner {
    name: String,
    transport: Transport,
    tsx: TransactionHandle,
    from: String,
    routes: Vec<String>,
    user_agent: Option<String>,
    credentials: crate::auth::Credentials,
    timer_c: std::time::Duration,
    cseq: AtomicU32,
    core: Arc<Core>,
    tasks: Mutex<Vec<JoinHandle<()>>>,
}

/// A SIP endpoint (NkSIP's service): its listeners, its transaction layer,
/// the handler that answers requests, and the sending functions.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), sip_uac::Error> {
/// use sip_uac::{RequestOptions, Service};
/// use sip_message::headers::Transport;
///
/// let bob = Service::builder("bob").udp("127.0.0.1:0".parse().unwrap()).start().await?;
/// let alice = Service::builder("alice").udp("127.0.0.1:0".parse().unwrap()).start().await?;
/// let to = format!("sip:bob@{}", bob.local_addr(Transport::Udp).unwrap());
/// let reply = alice.options(&to, RequestOptions::new()).await?;
/// assert_eq!(reply.code(), 200);
/// alice.stop().await;
/// bob.stop().await;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Service {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Service {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Service")
            .field("name", &self.inner.name)
            .finish()
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

    /// The service's name.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// The first listener of a transport.
    pub fn local_addr(&self, kind: Kind) -> Option<SocketAddr> {
        self.inner.transport.local_addr(kind)
    }

    /// Stops the listeners and tasks.
    pub async fn stop(&self) {
        self.inner.transport.shutdown().await;
        let tasks: Vec<JoinHandle<()>> = self
            .inner
            .tasks
            .lock()
            .map(|mut t| t.drain(..).collect())
            .unwrap_or_default();
        for t in tasks {
            t.abort();
        }
    }

    fn random(&self) -> u64 {
        self.inner.core.random()
    }

    fn branch(&self) -> sip_transaction::Branch {
        self.inner.core.branch()
    }

    /// OPTIONS (adds Supported and Allow).
    pub async fn options(&self, uri: &str, opts: RequestOptions) -> Result<Reply, Error> {
        self.send(Some(Method::Options), uri, opts).await
    }

    /// MESSAGE (RFC 3428); with an Expires option, a Date header is added.
    pub async fn message(&self, uri: &str, opts: RequestOptions) -> Result<Reply, Error> {
        self.send(Some(Method::Message), uri, opts).await
    }

    /// PUBLISH (RFC 3903): the options must carry an event
    /// ([`RequestOptions::event`]); refresh or modify with
    /// [`RequestOptions::sip_if_match`] set to the reply's `SIP-ETag`
    /// (`reply.header("SIP-ETag")`), remove with `expires(0)`.
    pub async fn publish(&self, uri: &str, opts: RequestOptions) -> Result<Reply, Error> {
        // RFC 3903 §4: "The PUBLISH request MUST contain an Event header".
        if !opts.headers.iter().any(|(n, _)| is_event(n)) {
            return Err(Error::InvalidOption("PUBLISH needs an event"));
        }
        self.send(Some(Method::Publish), uri, opts).await
    }

    /// REGISTER: To is the From (the address of record). Without a Contact
    /// option the registrar returns the current bindings.
    pub async fn register(&self, uri: &str, opts: RequestOptions) -> Result<Reply, Error> {
        self.send(Some(Method::Register), uri, opts).await
    }

    /// REGISTER removing our binding: `Contact` as given and `Expires: 0`.
    pub async fn unregister(
        &self,
        uri: &str,
        contact: &str,
        opts: RequestOptions,
    ) -> Result<Reply, Error> {
        self.send(
            Some(Method::Register),
            uri,
            opts.contact(contact).expires(0),
        )
        .await
    }

    /// REGISTER removing every binding: `Contact: *`, `Expires: 0`.
    pub async fn unregister_all(&self, uri: &str, opts: RequestOptions) -> Result<Reply, Error> {
        self.send(Some(Method::Register), uri, opts.contact("*").expires(0))
            .await
    }

    /// Any request with nothing method-specific added. The method comes from
    /// `method` or, if `None`, from the URI's `method=` parameter
    /// (`<sip:host;method=REGISTER?contact=*&expires=10>`, escaped).
    ///
    /// What the RFCs require whatever the sending function is still
    /// happens: an INVITE or SUBSCRIBE carries a Contact (§8.1.1.8, RFC
    /// 6665 §4.1.1), and an INVITE's 2xx is ACKed (`auto_ack`) and makes a
    /// dialog, as with [`invite`](Self::invite) (§13.2.2.4).
    pub async fn request(
        &self,
        method: Option<Method>,
        uri: &str,
        opts: RequestOptions,
    ) -> Result<Reply, Error> {
        let auto_ack = opts.auto_ack.unwrap_or(true);
        let (request, ct, reply) = self
            .send_with_auth(method, uri, opts, false, &|_| {}, &|_| {}, &NOT_CANCELLED)
            .await?;
        // The method is known once the URI is read (it may name it).
        if request.method() == Some(&Method::Invite) {
            return Ok(self.invite_answered(request, ct, reply, auto_ack).await);
        }
        Ok(reply)
    }

    /// Any request in a dialog (NkSIP's `request(Handle, Opts)`): MESSAGE,
    /// OPTIONS, INFO, a NOTIFY of one's own package... with the dialog's
    /// Call-ID, tags, next CSeq and route set (§12.2.1.1), and nothing
    /// method-specific added. ACK, CANCEL, INVITE and BYE have their own
    /// functions ([`ack`](Self::ack), [`cancel`](Self::cancel),
    /// [`reinvite`](Self::reinvite), [`bye`](Self::bye)), which keep the
    /// call's state: they are refused here.
    ///
    /// ```no_run
    /// # async fn chat(svc: &sip_uac::Service, call: &sip_uac::DialogId) -> Result<(), sip_uac::Error> {
    /// use sip_message::Method;
    /// use sip_uac::RequestOptions;
    /// let r = svc
    ///     .request_in_dialog(Method::Message, call, RequestOptions::new().body("text/plain", "hi"))
    ///     .await?;
    /// println!("{} {}", r.code(), r.reason());
    /// # Ok(()) }
    /// ```
    pub async fn request_in_dialog(
        &self,
        method: Method,
        dialog: &DialogId,
        opts: RequestOptions,
    ) -> Result<Reply, Error> {
        if matches!(
            method,
            Method::Ack | Method::Cancel | Method::Invite | Method::Bye
        ) {
            return Err(Error::InvalidOption(
                "request_in_dialog: ACK, CANCEL, INVITE and BYE have their own functions",
            ));
        }
        self.in_dialog(method, dialog, opts).await
    }

    /// A request with what its method adds (NkSIP), answered by its final
    /// reply.
    async fn send(
        &self,
        method: Option<Method>,
        uri: &str,
        opts: RequestOptions,
    ) -> Result<Reply, Error> {
        let (_, _, reply) = self
            .send_with_auth(method, uri, opts, true, &|_| {}, &|_| {}, &NOT_CANCELLED)
            .await?;
        Ok(reply)
    }

    /// Sends and waits for the final response; on 401/407 sends again with
    /// credentials (RFC 3261 §22.2: same Call-ID and From tag, CSeq + 1),
    /// at most [`MAX_AUTH_TRIES`] times and never twice for a realm whose
    /// credentials were refused (a wrong password ends in the server's
    /// reply, not a loop). Returns the last request, its client
    /// transaction and the reply.
    #[allow(clippy::too_many_arguments)]
    async fn send_with_auth(
        &self,
        method: Option<Method>,
        uri: &str,
        opts: RequestOptions,
        auto: bool,
        on_send: &(dyn Fn(&Message) + Sync),
        on_started: &(dyn Fn(sip_transaction::TransactionId) + Sync),
        user_cancelled: &std::sync::atomic::AtomicBool,
    ) -> Result<(Message, sip_transaction::driver::ClientTransaction, Reply), Error> {
        let mut opts = opts;
        let mut challenges = Challenges::default();
        loop {
            let (mut request, mut target, mut spare) =
                self.prepare(method.clone(), uri, &opts, auto).await?;
            let (request, ct, reply) = loop {
                let kind = target.transport;
                on_send(&request);
                let mut ct = self
                    .inner
                    .tsx
                    .send_request_with_data(request.clone(), target, opts.extension_data.clone())
                    .await?;
                on_started(ct.id);
                let guard = (request.method() == Some(&Method::Invite)).then(|| InviteGuard {
                    tsx: &self.inner.tsx,
                    timer_c: self.inner.timer_c,
                    expires: opts
                        .expires
                        .map(|s| std::time::Duration::from_secs(u64::from(s))),
                    user_cancelled,
                });
                let outcome = wait_final(
                    &mut ct,
                    kind != Kind::Udp,
                    opts.on_provisional.as_ref(),
                    guard,
                )
                .await;
                // RFC 3263 §4.3: after a failure the same request with a
                // new branch (a new transaction) goes to the next address.
                let user = user_cancelled.load(Ordering::SeqCst);
                if failed_over(&outcome, user) && !spare.is_empty() {
                    let branch = self.branch();
                    if let Ok(next) =
                        request.with_top_via(|v| v.params_mut().set("branch", Some(&branch)))
                    {
                        tracing::debug!(to = %spare[0].addr, "next address (RFC 3263 §4.3)");
                        request = next;
                        target = spare.remove(0);
                        continue;
                    }
                }
                break (request, ct, outcome?);
            };
            if let Some(next) = challenges.retry(self, &request, &reply, &opts) {
                opts = next;
                continue;
            }
            return Ok((request, ct, reply));
        }
    }

    /// The options for the authenticated retry of `request`, or `None` when
    /// no credentials apply (no secret for the realm, a realm already
    /// refused without `stale=true`, no usable challenge).
    fn retry_with_credentials(
        &self,
        request: &Message,
        reply: &Reply,
        opts: &RequestOptions,
        answered: &mut Vec<String>,
    ) -> Option<RequestOptions> {
        use sip_message::headers::{ProxyAuthenticate, WwwAuthenticate};
        let response = reply.response()?;
        // §22.2: a 401 carries WWW-Authenticate and is answered with
        // Authorization; a 407 Proxy-Authenticate, with Proxy-Authorization.
        let (challenges, credentials_header): (Vec<_>, _) = match reply.code() {
            401 => (
                response
                    .get_all::<WwwAuthenticate>()
                    .filter_map(Result::ok)
                    .map(|w| w.0)
                    .collect(),
                "Authorization",
            ),
            _ => (
                response
                    .get_all::<ProxyAuthenticate>()
                    .filter_map(Result::ok)
                    .map(|p| p.0)
                    .collect(),
                "Proxy-Authorization",
            ),
        };
        let mut creds = opts.credentials.clone();
        creds
            .secrets
            .extend(self.inner.credentials.secrets.iter().cloned());
        if creds.user.is_none() {
            creds.user = self.inner.credentials.user.clone();
        }
        let challenge = crate::auth::best(challenges.iter(), &creds)?;
        // RFC 7616 §3.3 stale=true: the nonce, not the password, was wrong.
        if answered.contains(&challenge.realm) && !challenge.stale {
            return None;
        }
        let from = std::str::from_utf8(request.values(sip_message::HeaderName::From).next()?)
            .ok()?
            .to_owned();
        let from_user = request
            .get::<sip_message::headers::From>()
            .ok()
            .and_then(|f| f.uri().as_sip().and_then(|u| u.user().map(str::to_owned)))
            .unwrap_or_else(|| self.inner.name.clone());
        let ruri = request.request_uri()?.ok()?.to_string();
        let mut cnonce = String::with_capacity(16);
        sip_message::encode::put_hex(&mut cnonce, self.random(), 1);
        let value = crate::auth::authorization(
            &challenge,
            &creds,
            &from_user,
            &crate::auth::Attempt {
                method: request.method()?.as_str(),
                uri: &ruri,
                cnonce: &cnonce,
                nc: 1,
            },
        )?;
        answered.push(challenge.realm);
        let (cseq, _) = request.cseq()?;
        let mut next = opts
            .clone()
            .from(&from)
            .call_id(request.call_id()?)
            .cseq(cseq.wrapping_add(1));
        next.headers
            .retain(|(n, _)| !n.eq_ignore_ascii_case(credentials_header));
        Some(next.header(credentials_header, &value.to_string()))
    }

    async fn prepare(
        &self,
        method: Option<Method>,
        uri: &str,
        opts: &RequestOptions,
        auto: bool,
    ) -> Result<(Message, Target, Vec<Target>), Error> {
        let text = uri.trim().trim_start_matches('<').trim_end_matches('>');
        let target: Uri = text
            .parse()
            .map_err(|_| Error::InvalidUri(uri.to_owned()))?;
        let Uri::Sip(sip) = target else {
            return Err(Error::InvalidUri(uri.to_owned()));
        };
        let method = match method {
            Some(m) => m,
            None => sip
                .method_param()
                .and_then(Method::from_token)
                .ok_or(Error::InvalidOption("method"))?,
        };
        if method == Method::Ack {
            return Err(Error::InvalidOption("ACK is sent with ack(), in a dialog"));
        }
        // Headers carried in the URI (`?name=value`), unescaped; taken
        // before the URI becomes the Request-URI.
        let uri_headers: Vec<(String, String)> = sip
            .headers()
            .map(|(n, v)| (unescape_str(n).into_owned(), unescape_str(v).into_owned()))
            .collect();
        // The Request-URI loses the method parameter and the headers
        // (§19.1.5); a URI with neither is used as it is.
        let ruri = if sip.method_param().is_none() && uri_headers.is_empty() {
            Uri::Sip(sip)
        } else {
            sip.to_builder()
                .remove_param("method")
                .clear_headers()
                .build()
                .map(Uri::Sip)
                .map_err(|_| Error::InvalidUri(uri.to_owned()))?
        };
        // The route set: Routes inserted by the options, the service's
        // default ones, those added by the options and by the URI's
        // headers; or the one the options replace them all with.
        let uri_routes: Vec<String> = uri_headers
            .iter()
            .filter(|(n, _)| crate::options::is_header(n, sip_message::HeaderName::Route))
            .map(|(_, v)| v.clone())
            .collect();
        let routes: Vec<&str> = match &opts.only_routes {
            Some(only) => only.iter().map(String::as_str).collect(),
            None => opts
                .first_routes
                .iter()
                .chain(&self.inner.routes)
                .chain(&opts.routes)
                .chain(&uri_routes)
                .map(String::as_str)
                .collect(),
        };
        // Loose routing: the first Route, if any, is where it goes. Known
        // before the request is written: its Contact names the listener
        // of the transport it goes out on (§8.1.1.8).
        let route_hop: Option<Uri> = match routes.first() {
            Some(r) => Some(
                r.trim()
                    .trim_start_matches('<')
                    .split('>')
                    .next()
                    .unwrap_or_default()
                    .parse()
                    .map_err(|_| Error::InvalidOption("route"))?,
            ),
            None => None,
        };
        let next_hop = route_hop.as_ref().unwrap_or(&ruri);
        let mut targets = sip_transport::target::resolve(next_hop, self.inner.transport.resolver())
            .await?
            .into_iter();
        let target: Target = targets.next().ok_or(Error::InvalidOption("target"))?;
        // The other addresses, in order, for RFC 3263 §4.3 failover.
        let spare: Vec<Target> = targets.collect();
        let secure = next_hop.scheme().eq_ignore_ascii_case("sips")
            || ruri.scheme().eq_ignore_ascii_case("sips");
        let branch = self.branch();
        let cseq = opts
            .cseq
            .unwrap_or_else(|| self.inner.cseq.fetch_add(1, Ordering::Relaxed));
        // Each generated value is written in this one buffer and copied
        // into the request (no allocation per header).
        let mut text = String::with_capacity(128);
        let mut b = sip_message::RequestBuilder::new(method.clone(), &ruri);
        for part in ["SIP/2.0/UDP placeholder.invalid;branch=", &branch, ";rport"] {
            text.push_str(part);
        }
        b.add_raw_header("Via", &text)
            .add_raw_header("Max-Forwards", "70");
        // From gets a tag unless it has one (§8.1.1.3).
        let from = opts.from.as_deref().unwrap_or(&self.inner.from);
        let from_tagged = from.contains(";tag=");
        text.clear();
        text.push_str(from);
        if !from_tagged {
            text.push_str(";tag=");
            sip_message::encode::put_hex(&mut text, self.random(), 1);
        }
        b.add_raw_header("From", &text);
        let to = match (&opts.to, &method) {
            (Some(t), _) => t.as_str(),
            // REGISTER: To = From (the address of record), without the tag.
            (None, Method::Register) if auto => from.split(";tag=").next().unwrap_or(from),
            // The Request-URI is this URI without headers and method (built
            // above), so it is used as is rather than built a second time.
            (None, _) => {
                text.clear();
                text.push('<');
                text.push_str(ruri.as_str());
                text.push('>');
                &text
            }
        };
        b.add_raw_header("To", to);
        text.clear();
        match &opts.call_id {
            Some(c) => text.push_str(c),
            None => {
                sip_message::encode::put_hex(&mut text, self.random(), 1);
                text.push('@');
                text.push_str(&self.inner.name);
            }
        }
        b.add_raw_header("Call-ID", &text)
            .add_header(&sip_message::headers::CSeq::new(cseq, method.clone()));
        for r in &routes {
            b.add_raw_header("Route", r);
        }
        // An INVITE and a SUBSCRIBE always carry a Contact (§8.1.1.8, RFC
        // 6665 §4.1.1; NkSIP adds it even through `request`): the
        // service's unless the options, or the URI's headers, give one.
        // A header the options or the URI give is not added a second time.
        let given = |name: sip_message::HeaderName| {
            opts.headers
                .iter()
                .chain(&uri_headers)
                .any(|(n, _)| crate::options::is_header(n, name))
        };
        let default_contact = matches!(method, Method::Invite | Method::Subscribe)
            && !given(sip_message::HeaderName::Contact);
        let contact: Option<std::borrow::Cow<'_, str>> = match &opts.contact {
            Some(c) => Some(c.as_str().into()),
            None => default_contact.then(|| {
                self.inner
                    .core
                    .contacts
                    .for_request(target.transport, secure, target.addr)
            }),
        };
        if let Some(c) = contact {
            b.add_raw_header("Contact", &c);
        }
        if let Some(e) = opts.expires {
            let (digits, start) = sip_message::encode::decimal_digits(u64::from(e));
            // Decimal digits are ASCII.
            b.add_raw_header(
                "Expires",
                std::str::from_utf8(&digits[start..]).unwrap_or("0"),
            );
            if auto && method == Method::Message {
                b.add_header(&Date::from_system_time(SystemTime::now()));
            }
        }
        let caps = &self.inner.core.caps;
        // OPTIONS and REGISTER say what we support (NkSIP), and §13.2.1:
        // an INVITE SHOULD carry Allow and Supported (the option tags of
        // the service's extensions, e.g. 100rel).
        if auto && matches!(method, Method::Options | Method::Register | Method::Invite) {
            if !given(sip_message::HeaderName::Allow) {
                b.add_raw_header("Allow", &caps.allow);
            }
            if (method != Method::Invite || !caps.supported.is_empty())
                && !given(sip_message::HeaderName::Supported)
            {
                b.add_raw_header("Supported", &caps.supported);
            }
        }
        if let Some(ua) = &self.inner.user_agent {
            b.add_raw_header("User-Agent", ua);
        }
        // The URI's headers; `body` sets the body.
        let mut body = opts.body.clone();
        for (n, v) in uri_headers {
            if crate::options::is_header(&n, sip_message::HeaderName::Route) {
                // In the route set above.
            } else if n.eq_ignore_ascii_case("body") {
                body = Some((String::new(), bytes::Bytes::from(v)));
            } else {
                b.add_raw_header(&n, &v);
            }
        }
        for (n, v) in &opts.headers {
            b.add_raw_header(n, v);
        }
        for (n, v) in &opts.replacements {
            b = b.replace_raw(n, v);
        }
        if let Some((ct, data)) = body {
            b = b.body(&ct, data);
        }
        let request = b.build().map_err(|_| Error::InvalidOption("headers"))?;
        Ok((request, target, spare))
    }

    /// INVITE. It always carries a Contact (NkSIP). A 2xx gives the reply a
    /// dialog id; with `auto_ack` (the default here) the ACK goes out at once
    /// and again for every retransmitted 2xx (§13.2.2.4).
    pub async fn invite(&self, uri: &str, opts: RequestOptions) -> Result<Reply, Error> {
        let auto_ack = opts.auto_ack.unwrap_or(true);
        let (invite, ct, reply) = self
            .send_with_auth(
                Some(Method::Invite),
                uri,
                opts,
                true,
                &|_| {},
                &|_| {},
                &NOT_CANCELLED,
            )
            .await?;
        Ok(self.invite_answered(invite, ct, reply, auto_ack).await)
    }

    /// INVITE without waiting (NkSIP's `async` option): returns as soon as
    /// the request is handed to its transaction, with a handle to CANCEL it
    /// and to await the final reply, which the `on_provisional` callback
    /// also gets (after the provisionals). Everything else is as with
    /// [`Service::invite`]: a 401/407 is answered with credentials (the
    /// handle then cancels the new transaction), `expires` CANCELs it, and
    /// a 2xx gives a dialog. Errors before anything is sent come back here.
    pub async fn invite_async(
        &self,
        uri: &str,
        opts: RequestOptions,
    ) -> Result<PendingInvite, Error> {
        let auto_ack = opts.auto_ack.unwrap_or(true);
        let callback = opts.on_provisional.clone();
        let current: Arc<Mutex<Option<sip_transaction::TransactionId>>> = Arc::default();
        let cancelled = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (started_tx, started_rx) = tokio::sync::oneshot::channel::<Result<(), Error>>();
        let (tx, rx) = tokio::sync::oneshot::channel();
        let svc = self.clone();
        let uri = uri.to_owned();
        let cur = current.clone();
        let was_cancelled = cancelled.clone();
        tokio::spawn(async move {
            let started = Mutex::new(Some(started_tx));
            let result = svc
                .send_with_auth(
                    Some(Method::Invite),
                    &uri,
                    opts,
                    true,
                    &|_| {},
                    &|id| {
                        if let Ok(mut c) = cur.lock() {
                            *c = Some(id);
                        }
                        // Cancelled while a challenge was being answered: the
                        // retry is cancelled too.
                        if was_cancelled.load(Ordering::SeqCst) {
                            let tsx = svc.inner.tsx.clone();
                            tokio::spawn(async move {
                                let _ = tsx.send_cancel(id).await;
                            });
                        }
                        if let Some(s) = started.lock().ok().and_then(|mut s| s.take()) {
                            let _ = s.send(Ok(()));
                        }
                    },
                    &was_cancelled,
                )
                .await;
            let reply = match result {
                Ok((invite, ct, reply)) => svc.invite_answered(invite, ct, reply, auto_ack).await,
                Err(e) => match started.lock().ok().and_then(|mut s| s.take()) {
                    // Nothing was sent: the caller gets the error.
                    Some(s) => {
                        let _ = s.send(Err(e));
                        return;
                    }
                    // A retry with credentials could not be sent.
                    None => Reply::synthesized(503, e.to_string()),
                },
            };
            // NkSIP's callback of an async call gets the final reply too.
            if let Some(cb) = &callback {
                (cb.0)(&reply);
            }
            let _ = tx.send(reply);
        });
        started_rx.await.map_err(|_| Error::Stopped)??;
        Ok(PendingInvite {
            transaction: current,
            cancelled,
            reply: rx,
            done: None,
        })
    }

    /// After an INVITE's final reply: for a 2xx, the dialog (§13.2.2.4), the
    /// ACK if `auto_ack`, and a task that ACKs each retransmitted 2xx once an
    /// ACK was sent (RFC 6026 Accepted state). Returns the reply, with the
    /// dialog id for a 2xx.
    async fn invite_answered(
        &self,
        invite: Message,
        ct: sip_transaction::driver::ClientTransaction,
        reply: Reply,
        auto_ack: bool,
    ) -> Reply {
        let Some(ok) = reply
            .response()
            .filter(|_| (200..300).contains(&reply.code()))
            .cloned()
        else {
            return reply;
        };
        let core = self.inner.core.clone();
        // Bound first so that the lock guard is gone before any await.
        let update = core
            .dialogs
            .lock()
            .ok()
            .map(|mut d| d.on_response(&invite, &ok));
        let id = match update {
            Some(Ok(
                DialogUpdate::Confirmed(id)
                | DialogUpdate::EarlyConfirmed(id)
                | DialogUpdate::Known(id),
            )) => id,
            _ => return reply,
        };
        // What extensions did in this dialog while it was early (a PRACK's
        // CSeq, an offer/answer in a reliable provisional and its PRACK).
        if let Ok(mut d) = core.dialogs.lock() {
            if let Some(dlg) = d.get_mut(&id) {
                for u in reply.seq_used.iter().filter(|u| u.dialog == id) {
                    dlg.advance_local_seq(u.seq);
                }
            }
        }
        let mut sdp = crate::core::Sdp::default();
        if !invite.body_bytes().is_empty() {
            sdp.local = Some(invite.body());
        }
        for x in reply.exchanged.iter().filter(|x| x.dialog == id) {
            sdp.local = x.local.clone().or(sdp.local);
            sdp.remote = x.remote.clone().or(sdp.remote);
        }
        if !ok.body_bytes().is_empty() {
            sdp.remote = Some(ok.body());
        }
        core.set_sdp(&id, sdp);
        core.set_invite(&id, invite.clone());
        if auto_ack {
            let answered_early = reply.exchanged.iter().any(|x| x.dialog == id);
            if !answered_early {
                warn_offer_in_2xx(&invite, &ok);
            }
            self.ack_2xx(&id, &invite, None).await;
        }
        self.keep_accepted(&id, &invite, ct).await;
        reply.with_dialog(id)
    }

    /// After the 2xx of our INVITE or re-INVITE `invite` in dialog `id`:
    /// RFC 6026 §8.4, the transaction stays Accepted for Timer M and
    /// passes every 2xx retransmission up; each gets the ACK again
    /// (§13.2.2.4). Not through a task per call: once this handle is
    /// dropped the driver hands them to the service's event task
    /// (`Core::on_retransmitted_2xx`), which finds the dialog here.
    async fn keep_accepted(
        &self,
        id: &DialogId,
        invite: &Message,
        mut ct: sip_transaction::driver::ClientTransaction,
    ) {
        let core = &self.inner.core;
        if let Ok(mut a) = core.accepted.lock() {
            a.insert(ct.id, crate::core::Accepted::new(id.clone(), invite));
        }
        while let Ok(TransactionEvent::Response { response, .. }) = ct.events.try_recv() {
            core.on_retransmitted_2xx(&self.inner.transport, &self.inner.tsx, ct.id, &response)
                .await;
        }
    }

    /// CANCELs a pending INVITE (§9.1). The CANCEL waits for a provisional
    /// if none has come yet; the INVITE's reply is then normally 487. If
    /// the callee answers neither, the reply is 408 "Timer B Timeout"
    /// 64*T1 after the CANCEL (§9.1). A CANCEL that comes too late (the
    /// INVITE already has its final response) or twice does nothing and
    /// is not an error (nksip-uac.md §7.2): the reply tells what happened.
    pub async fn cancel(&self, pending: &PendingInvite) -> Result<(), Error> {
        self.cancel_inner(pending, None).await
    }

    /// [`cancel`](Self::cancel) with a Reason header in the CANCEL (RFC
    /// 3326, NkSIP's `reason` option), e.g. `SIP;cause=200;text="Call
    /// completed elsewhere"` so that the callee's phone does not report a
    /// missed call.
    pub async fn cancel_with_reason(
        &self,
        pending: &PendingInvite,
        reason: &str,
    ) -> Result<(), Error> {
        if reason.bytes().any(|b| b == b'\r' || b == b'\n') {
            return Err(Error::InvalidOption("reason"));
        }
        self.cancel_inner(pending, Some(reason)).await
    }

    async fn cancel_inner(
        &self,
        pending: &PendingInvite,
        reason: Option<&str>,
    ) -> Result<(), Error> {
        use sip_transaction::TransactionError as T;
        pending.cancelled.store(true, Ordering::SeqCst);
        let id = pending
            .transaction
            .lock()
            .ok()
            .and_then(|t| *t)
            .ok_or(Error::Stopped)?;
        let sent = match reason {
            Some(r) => self.inner.tsx.send_cancel_with_reason(id, r).await,
            None => self.inner.tsx.send_cancel(id).await,
        };
        match sent {
            Ok(_) => Ok(()),
            Err(e @ (T::InvalidState { .. } | T::UnknownTransaction(_) | T::Duplicate)) => {
                tracing::debug!(%id, error = %e, "CANCEL not sent: the INVITE is answered or already cancelled");
                Ok(())
            }
            Err(e) => Err(e.into()),
        }
    }

    /// ACK for the 2xx of an INVITE or re-INVITE sent with `auto_ack(false)` (§13.2.2.4),
    /// with the options' body (the SDP answer to an offer in the 2xx). An
    /// ACK sent already (automatically or by an earlier call) is sent again
    /// unchanged.
    pub async fn ack(&self, dialog: &DialogId, opts: RequestOptions) -> Result<(), Error> {
        let core = &self.inner.core;
        // The latest INVITE of ours answered 2xx: a re-INVITE's, else the
        // one that made the call.
        let invite = core
            .reinvite(dialog)
            .or_else(|| core.invite(dialog))
            .ok_or(Error::UnknownDialog)?;
        let body = opts.body.as_ref().map(|(ct, b)| (ct.as_str(), b.clone()));
        if let Some((_, b)) = &body {
            // §13.2.2.4: the ACK carries our answer to an offer in the 2xx.
            core.update_sdp(dialog, Some(b.clone()), None);
        }
        if self.ack_2xx(dialog, &invite, body).await {
            Ok(())
        } else {
            Err(Error::UnknownDialog)
        }
    }

    /// Sends the ACK for `id`'s 2xx ([`Core::ack_2xx`]).
    async fn ack_2xx(
        &self,
        id: &DialogId,
        invite: &Message,
        body: Option<(&str, bytes::Bytes)>,
    ) -> bool {
        self.inner
            .core
            .ack_2xx(&self.inner.transport, id, invite, body)
            .await
    }

    /// UPDATE in a dialog (RFC 3311): a target refresh, or a new offer
    /// with the options' body.
    pub async fn update(&self, dialog: &DialogId, opts: RequestOptions) -> Result<Reply, Error> {
        self.in_dialog(Method::Update, dialog, opts).await
    }

    /// re-INVITE in a confirmed call (RFC 3261 §14.1): a new offer in the
    /// options' body (hold with `a=sendonly`, resume, another codec), or
    /// none, which asks the far end for an offer (its 2xx then carries it,
    /// and the ACK must carry the answer: use `auto_ack(false)` and
    /// [`ack`](Self::ack) with it). It takes the dialog's next CSeq and
    /// carries our Contact; the 2xx is ACKed at once unless
    /// `auto_ack(false)` (§13.2.2.4), and again for each retransmission,
    /// refreshes the remote target (§12.2.1.2), and the session takes the
    /// new offer and answer. A non-2xx leaves the session as it was
    /// (§14.1; 491 means the far end was re-INVITing too: try again after
    /// a random delay). Refused before sending while another re-INVITE
    /// of ours, or the ACK of one of the far end's, is pending in the
    /// dialog (§14.1).
    ///
    /// ```no_run
    /// # async fn hold(svc: &sip_uac::Service, call: &sip_uac::DialogId, held_sdp: &'static str)
    /// # -> Result<(), sip_uac::Error> {
    /// use sip_uac::RequestOptions;
    /// let r = svc.reinvite(call, RequestOptions::new().body("application/sdp", held_sdp)).await?;
    /// assert!(r.code() == 200 || r.code() == 491);
    /// # Ok(()) }
    /// ```
    pub async fn reinvite(&self, dialog: &DialogId, opts: RequestOptions) -> Result<Reply, Error> {
        let core = self.inner.core.clone();
        core.start_reinvite(dialog)?;
        // Released however this ends, a dropped future included (a caller's
        // timeout would otherwise refuse every later re-INVITE).
        struct Claim<'a>(&'a Core, &'a DialogId);
        impl Drop for Claim<'_> {
            fn drop(&mut self) {
                self.0.end_reinvite(self.1);
            }
        }
        let claim = Claim(&core, dialog);
        let auto_ack = opts.auto_ack.unwrap_or(true);
        let offer = opts.body.as_ref().map(|(_, b)| b.clone());
        let sent = self
            .in_dialog_sent(Method::Invite, dialog, opts, &Usage::Invite, |_| {})
            .await;
        drop(claim);
        let (invite, ct, reply) = sent?;
        let Some(ok) = reply
            .response()
            .filter(|_| (200..300).contains(&reply.code()))
            .cloned()
        else {
            return Ok(reply);
        };
        // The offer and answer in force now (RFC 3264 §8); without an
        // offer of ours the 2xx carries one, answered in the ACK.
        let remote = (!ok.body_bytes().is_empty()).then(|| ok.body());
        core.update_sdp(dialog, offer, remote);
        core.set_reinvite(dialog, invite.clone());
        if auto_ack {
            warn_offer_in_2xx(&invite, &ok);
            self.ack_2xx(dialog, &invite, None).await;
        }
        // Retransmissions of this 2xx get the ACK again, as for the first.
        self.keep_accepted(dialog, &invite, ct).await;
        Ok(reply.with_dialog(dialog.clone()))
    }

    /// BYE in a dialog; the dialog ends with it.
    pub async fn bye(&self, dialog: &DialogId, opts: RequestOptions) -> Result<Reply, Error> {
        let reply = self.in_dialog(Method::Bye, dialog, opts).await?;
        let core = &self.inner.core;
        let caller = core.has_invite(dialog);
        if let Ok(mut s) = core.sessions.lock() {
            s.bye(dialog, caller);
        }
        // The call is over; a subscription in the dialog (a REFER's) may
        // outlive it (RFC 5057 §5).
        core.end_invite_usage(dialog);
        Ok(reply)
    }

    /// INFO in a dialog (RFC 6086).
    pub async fn info(&self, dialog: &DialogId, opts: RequestOptions) -> Result<Reply, Error> {
        self.in_dialog(Method::Info, dialog, opts).await
    }

    async fn in_dialog(
        &self,
        method: Method,
        dialog: &DialogId,
        opts: RequestOptions,
    ) -> Result<Reply, Error> {
        self.in_dialog_with(method, dialog, opts, &Usage::Invite, |_| {})
            .await
    }

    /// [`in_dialog`](Self::in_dialog) for `usage`, with `built` seeing
    /// each request before it is sent. A 401/407 is answered with
    /// credentials as out of the dialog (§22.2: the retry takes the
    /// dialog's next CSeq); the final response's effect on the usage and
    /// the dialog is applied (RFC 5057).
    async fn in_dialog_with(
        &self,
        method: Method,
        dialog: &DialogId,
        opts: RequestOptions,
        usage: &Usage,
        built: impl Fn(&Message),
    ) -> Result<Reply, Error> {
        let (_, _, reply) = self
            .in_dialog_sent(method, dialog, opts, usage, built)
            .await?;
        Ok(reply)
    }

    /// [`in_dialog_with`](Self::in_dialog_with), also giving the last
    /// request sent and its client transaction. A 2xx to a target refresh
    /// request refreshes the remote target (§12.2.1.2).
    async fn in_dialog_sent(
        &self,
        method: Method,
        dialog: &DialogId,
        opts: RequestOptions,
        usage: &Usage,
        built: impl Fn(&Message),
    ) -> Result<(Message, sip_transaction::driver::ClientTransaction, Reply), Error> {
        let inner = &self.inner;
        let mut opts = opts;
        let mut challenges = Challenges::default();
        loop {
            let (request, mut ct) = inner
                .core
                .in_dialog_request(
                    &inner.transport,
                    &inner.tsx,
                    method.clone(),
                    dialog,
                    &opts.headers,
                    &opts.replacements,
                    opts.body.as_ref(),
                    &built,
                )
                .await?;
            let reliable = request
                .top_via()
                .is_some_and(|v| v.transport() != Kind::Udp);
            let guard = (method == Method::Invite).then(|| InviteGuard {
                tsx: &inner.tsx,
                timer_c: inner.timer_c,
                expires: None,
                user_cancelled: &NOT_CANCELLED,
            });
            let reply = wait_final(&mut ct, reliable, opts.on_provisional.as_ref(), guard).await?;
            if let Some(next) = challenges.retry(self, &request, &reply, &opts) {
                opts = next;
                continue;
            }
            if let (Some(response), Ok(mut d)) = (reply.response(), inner.core.dialogs.lock()) {
                if let Some(dlg) = d.get_mut(dialog) {
                    dlg.on_response(&method, response);
                }
            }
            // A 408 we made of the 487 to our own CANCEL ends no usage.
            let effect = if reply.cancelled { 487 } else { reply.code() };
            inner.core.response_effect(dialog, usage, effect);
            return Ok((request, ct, reply));
        }
    }

    /// SUBSCRIBE (RFC 6665 §4.1.2): the `event` option is required; a
    /// Contact is added. A 2xx gives the reply a
    /// [`subscription`](Reply::subscription) id; NOTIFYs for it (even one
    /// that comes before the 2xx, §4.1.2.4) reach the handler's
    /// [`on_in_dialog_request`](crate::Handler::on_in_dialog_request), and
    /// one saying `terminated` ends it. Refresh or end it with
    /// [`subscribe_refresh`](Self::subscribe_refresh).
    pub async fn subscribe(&self, uri: &str, opts: RequestOptions) -> Result<Reply, Error> {
        if !opts.headers.iter().any(|(n, _)| is_event(n)) {
            return Err(Error::InvalidOption("event (SUBSCRIBE requires one)"));
        }
        let core = self.inner.core.clone();
        let sent: Mutex<Option<Message>> = Mutex::new(None);
        let result = self
            .send_with_auth(
                Some(Method::Subscribe),
                uri,
                opts,
                true,
                &|m| {
                    if let Ok(mut e) = core.events.lock() {
                        e.pending_sent(m);
                    }
                    if let Ok(mut s) = sent.lock() {
                        *s = Some(m.clone());
                    }
                },
                &|_| {},
                &NOT_CANCELLED,
            )
            .await;
        let (subscribe, reply) = match result {
            Ok((subscribe, _, reply)) => (subscribe, reply),
            Err(e) => {
                // A retry after a challenge may have failed after a send.
                let sent = sent.lock().ok().and_then(|mut s| s.take());
                if let (Some(m), Ok(mut ev)) = (&sent, core.events.lock()) {
                    ev.pending_done(m);
                }
                return Err(e);
            }
        };
        let sid = self.subscribed(&subscribe, &reply);
        if let Ok(mut e) = core.events.lock() {
            e.pending_done(&subscribe);
        }
        Ok(match sid {
            Some(sid) => reply.with_subscription(sid),
            None => reply,
        })
    }

    /// SUBSCRIBE in an existing dialog (RFC 6665 §4.5.2: a new usage of
    /// the dialog, e.g. `dialog` or `refer`-like events about a call): the
    /// `event` option is required. The subscription shares the dialog and
    /// ends on its own (a `terminated` NOTIFY, expiry) without ending the
    /// call; a 2xx gives the reply its [`subscription`](Reply::subscription)
    /// id, refreshed or ended with [`subscribe_refresh`](Self::subscribe_refresh).
    pub async fn subscribe_in_dialog(
        &self,
        dialog: &DialogId,
        opts: RequestOptions,
    ) -> Result<Reply, Error> {
        let event = opts
            .headers
            .iter()
            .find(|(n, _)| is_event(n))
            .map(|(_, v)| v.clone())
            .ok_or(Error::InvalidOption("event (SUBSCRIBE requires one)"))?;
        let event =
            <sip_message::headers::Event as sip_message::headers::TypedHeader>::from_value(&event)
                .map_err(|_| Error::InvalidOption("event"))?;
        let sid = SubscriptionId::new(
            dialog.clone(),
            &event.package().to_ascii_lowercase(),
            event.id(),
        );
        let core = &self.inner.core;
        // Known before it is sent: its NOTIFY may come before the 2xx
        // (RFC 6665 §4.1.2.4). One that exists is refreshed, not made again.
        {
            let mut e = core.events.lock().map_err(|_| Error::Stopped)?;
            if e.subscriber.status(&sid).is_some() {
                return Err(Error::InvalidOption(
                    "subscription exists: use subscribe_refresh",
                ));
            }
            e.subscriber.subscribe_sent(sid.clone());
        }
        let usage = crate::subscriptions::usage_of(&sid);
        let reply = self
            .in_dialog_with(Method::Subscribe, dialog, opts, &usage, |_| {})
            .await;
        let ok = reply.as_ref().ok().and_then(|r| {
            r.response()
                .filter(|_| (200..300).contains(&r.code()))
                .map(|m| m.get::<sip_message::headers::Expires>().ok().map(|e| e.0))
        });
        match ok {
            Some(expires) => {
                // A `terminated` NOTIFY may have overtaken the 2xx and
                // ended it already: then no usage is added back.
                let live = core.events.lock().is_ok_and(|mut e| {
                    let live = e.subscriber.status(&sid).is_some();
                    if live {
                        e.subscriber.on_2xx(crate::core::now(), &sid, expires);
                    }
                    live
                });
                if live {
                    core.add_usage(&sid);
                }
                reply.map(|r| r.with_subscription(sid))
            }
            None => {
                if let Ok(mut e) = core.events.lock() {
                    e.subscriber.remove(&sid);
                }
                reply
            }
        }
    }

    /// After a SUBSCRIBE's final reply: for a 2xx, the dialog (unless its
    /// NOTIFY made it first) and the subscription with the 2xx's Expires
    /// (RFC 6665 §4.1.2.1).
    fn subscribed(&self, subscribe: &Message, reply: &Reply) -> Option<SubscriptionId> {
        let ok = reply
            .response()
            .filter(|_| (200..300).contains(&reply.code()))?;
        let core = &self.inner.core;
        let update = core.dialogs.lock().ok()?.on_response(subscribe, ok);
        let did = match update {
            Ok(
                DialogUpdate::Confirmed(id)
                | DialogUpdate::EarlyConfirmed(id)
                | DialogUpdate::Known(id)
                | DialogUpdate::Early(id),
            ) => id,
            _ => return None,
        };
        let (package, id) = crate::subscriptions::event_of(subscribe)?;
        let sid = SubscriptionId::new(did, &package, id.as_deref());
        let expires = ok.get::<sip_message::headers::Expires>().ok().map(|e| e.0);
        if let Ok(mut e) = core.events.lock() {
            e.subscriber.subscribe_sent(sid.clone());
            e.subscriber.on_2xx(crate::core::now(), &sid, expires);
        }
        core.add_usage(&sid);
        Some(sid)
    }

    /// SUBSCRIBE in the subscription's dialog: a refresh, or with
    /// `expires(0)` an unsubscribe (RFC 6665 §4.1.2.2-3; the notifier's
    /// final NOTIFY then ends it).
    pub async fn subscribe_refresh(
        &self,
        id: &SubscriptionId,
        opts: RequestOptions,
    ) -> Result<Reply, Error> {
        let mut opts = opts.event(&crate::subscriptions::event_header(id));
        if let Some(e) = opts.expires {
            opts = opts.header("Expires", &e.to_string());
        }
        let usage = crate::subscriptions::usage_of(id);
        let reply = self
            .in_dialog_with(Method::Subscribe, &id.dialog, opts, &usage, |_| {})
            .await?;
        let core = &self.inner.core;
        if (200..300).contains(&reply.code()) {
            let expires = reply
                .response()
                .and_then(|r| r.get::<sip_message::headers::Expires>().ok())
                .map(|e| e.0);
            if let Ok(mut e) = core.events.lock() {
                e.subscriber.on_2xx(crate::core::now(), id, expires);
            }
        } else if sip_dialog::ResponseEffect::of(reply.code())
            != sip_dialog::ResponseEffect::TransactionOnly
        {
            // RFC 5057: the usage (or the dialog) ended with this answer,
            // in `in_dialog_with`; the subscription goes with it.
            if let Ok(mut e) = core.events.lock() {
                e.subscriber.remove(id);
            }
        }
        Ok(reply.with_subscription(id.clone()))
    }

    /// NOTIFY for a subscription this service granted (RFC 6665 §4.2.2),
    /// e.g. the id its handler got in
    /// [`on_subscription`](crate::Handler::on_subscription). The
    /// Subscription-State is the `subscription_state` option (default
    /// `active`; `active` and `pending` get the time left as `expires`);
    /// a `terminated` NOTIFY ends the subscription. For REFER, the body is
    /// a `message/sipfrag` status line (RFC 3515 §2.4.5). A subscription
    /// this service holds as subscriber is refused with
    /// [`Error::UnknownSubscription`] (its NOTIFYs come from the other side).
    pub async fn notify(&self, id: &SubscriptionId, opts: RequestOptions) -> Result<Reply, Error> {
        let core = &self.inner.core;
        let state = {
            let e = core.events.lock().map_err(|_| Error::Stopped)?;
            if !e.notifier.contains(id) && e.subscriber.status(id).is_some() {
                // Ours as subscriber: a NOTIFY from us would end it.
                return Err(Error::UnknownSubscription);
            }
            let left = e.notifier.state_for_notify(crate::core::now(), id, true);
            match opts.subscription_state.as_deref() {
                None => left.to_string(),
                Some(s)
                    if (s.eq_ignore_ascii_case("active") || s.eq_ignore_ascii_case("pending"))
                        && *left.state() != sip_message::headers::SubState::Terminated =>
                {
                    // §4.2.2: active and pending carry the time left.
                    let expires = left.expires().unwrap_or(0);
                    format!("{s};expires={expires}")
                }
                Some(s) => s.to_owned(),
            }
        };
        let terminated = state
            .trim_start()
            .to_ascii_lowercase()
            .starts_with("terminated");
        let opts = opts
            .set_header("Event", &crate::subscriptions::event_header(id))
            .set_header("Subscription-State", &state);
        let usage = crate::subscriptions::usage_of(id);
        let reply = self
            .in_dialog_with(Method::Notify, &id.dialog, opts, &usage, |_| {})
            .await;
        // RFC 5057: 481, 408 and the like ended the usage (or the dialog)
        // in `in_dialog_with`; the subscription goes with it.
        let refused = reply.as_ref().is_ok_and(|r| {
            sip_dialog::ResponseEffect::of(r.code()) != sip_dialog::ResponseEffect::TransactionOnly
        });
        if terminated || refused {
            if let Ok(mut e) = core.events.lock() {
                e.notifier.remove(id);
            }
            core.end_usage(id);
        }
        reply
    }

    /// REFER in a dialog (RFC 3515): the `refer_to` option is required. A
    /// 2xx gives the reply the implicit subscription (event `refer`, id the
    /// REFER's CSeq, §2.4.4) whose NOTIFYs report the referral with
    /// `message/sipfrag` bodies; see [`subscription`](Self::subscription).
    pub async fn refer(&self, dialog: &DialogId, opts: RequestOptions) -> Result<Reply, Error> {
        let Some(to) = opts.refer_to.clone() else {
            return Err(Error::InvalidOption("refer_to (REFER requires one)"));
        };
        let to = if to.trim_start().starts_with('<') {
            to
        } else {
            format!("<{to}>")
        };
        let opts = opts.set_header("Refer-To", &to);
        let core = self.inner.core.clone();
        let sid: Mutex<Option<SubscriptionId>> = Mutex::new(None);
        let reply = self
            .in_dialog_with(Method::Refer, dialog, opts, &Usage::Invite, |m| {
                // Known before sending: a NOTIFY may beat the 2xx. A retry
                // with credentials has a new CSeq, so a new id.
                if let Some((seq, _)) = m.cseq() {
                    let id = SubscriptionId::refer(dialog.clone(), seq);
                    let old = sid.lock().ok().and_then(|mut s| s.replace(id.clone()));
                    if let Ok(mut e) = core.events.lock() {
                        if let Some(old) = old {
                            e.subscriber.remove(&old);
                        }
                        e.subscriber.subscribe_sent(id);
                    }
                }
            })
            .await?;
        let Some(id) = sid.lock().ok().and_then(|mut s| s.take()) else {
            return Ok(reply);
        };
        if (200..300).contains(&reply.code()) {
            if let Ok(mut e) = core.events.lock() {
                e.subscriber.on_2xx(crate::core::now(), &id, None);
            }
            core.add_usage(&id);
            Ok(reply.with_subscription(id))
        } else {
            if let Ok(mut e) = core.events.lock() {
                e.subscriber.remove(&id);
            }
            Ok(reply)
        }
    }

    /// Where a subscription this service holds stands (subscriber side),
    /// or `None` once it has ended and been forgotten.
    pub fn subscription(&self, id: &SubscriptionId) -> Option<SubscriptionStatus> {
        self.inner
            .core
            .events
            .lock()
            .ok()?
            .subscriber
            .status(id)
            .cloned()
    }

    /// Answers later an INVITE the handler left ringing (it answered only
    /// a provisional): another provisional (it keeps ringing) or the final
    /// answer, with the To tag of its first provisional (NkSIP's
    /// `nksip_request:reply`). [`Error::UnknownRequest`] once it was
    /// answered, cancelled (487) or expired.
    ///
    /// ```no_run
    /// # async fn f(svc: sip_uac::Service, id: sip_uac::RequestId) -> Result<(), sip_uac::Error> {
    /// use sip_uac::Answer;
    /// svc.answer(&id, Answer::code(200).body("application/sdp", "v=0\r\n")).await?;
    /// # Ok(()) }
    /// ```
    pub async fn answer(&self, id: &crate::RequestId, answer: crate::Answer) -> Result<(), Error> {
        let core = &self.inner.core;
        let fin = answer.code >= 200;
        let (tx, ringing) = core
            .ringing_for_answer(id, fin)
            .ok_or(Error::UnknownRequest)?;
        let since = Some(ringing.expires_at);
        crate::callee::answer_invite(
            core,
            &self.inner.tsx,
            tx,
            &ringing.invite,
            &ringing.tag,
            answer,
            since,
        )
        .await;
        Ok(())
    }

    /// A snapshot of one dialog's fields (NkSIP's dialog `get_meta`), or
    /// `None` once it has ended.
    pub fn dialog(&self, id: &DialogId) -> Option<crate::DialogInfo> {
        let core = &self.inner.core;
        let invite_state = core.sessions.lock().ok().and_then(|s| s.state(id));
        let sdp = core.sdp(id);
        let d = core.dialogs.lock().ok()?;
        let d = d.get(id)?;
        Some(crate::DialogInfo {
            id: d.id().clone(),
            role: d.role(),
            state: d.state(),
            invite_state,
            local_uri: d.local().map(|n| n.uri().to_string()),
            remote_uri: d.remote().map(|n| n.uri().to_string()),
            local_target: d.local_target().map(str::to_owned),
            remote_target: d.remote_target().to_owned(),
            route_set: d.route_set().iter().map(|r| r.uri().to_string()).collect(),
            local_seq: d.local_seq(),
            remote_seq: d.remote_seq(),
            secure: d.secure(),
            local_sdp: sdp.local,
            remote_sdp: sdp.remote,
        })
    }

    /// The dialogs this service takes part in.
    pub fn dialog_count(&self) -> usize {
        self.inner.core.dialogs.lock().map_or(0, |d| d.len())
    }
}

/// How many times one request is sent again with credentials by default
/// (RFC 3261 §22: a 401/407 may follow from a proxy and then the
/// registrar); [`RequestOptions::max_auth_tries`] changes it per request.
pub const MAX_AUTH_TRIES: u32 = 3;

/// Answering the challenges of one request (RFC 3261 §22.2): at most
/// [`MAX_AUTH_TRIES`] retries (or the request's own limit), never twice
/// for a realm refused without
/// `stale=true`.
#[derive(Default)]
struct Challenges {
    answered: Vec<String>,
    tries: u32,
}

impl Challenges {
    /// The options for the retry of `request` after `reply`, when it is a
    /// 401/407 that we answer.
    fn retry(
        &mut self,
        svc: &Service,
        request: &Message,
        reply: &Reply,
        opts: &RequestOptions,
    ) -> Option<RequestOptions> {
        let most = opts.max_auth_tries.unwrap_or(MAX_AUTH_TRIES);
        if self.tries >= most || !matches!(reply.code(), 401 | 407) {
            return None;
        }
        let next = svc.retry_with_credentials(request, reply, opts, &mut self.answered)?;
        self.tries += 1;
        Some(next)
    }
}

/// The automatic ACK carries no body: when the INVITE had no offer and
/// its 2xx carries one, the ACK should carry the answer (RFC 3264 §5,
/// RFC 3261 §13.2.2.4), which only the application can write. Said in the
/// log, so that the cause of a one-way or silent call is found.
fn warn_offer_in_2xx(invite: &Message, ok: &Message) {
    if invite.body_bytes().is_empty() && !ok.body_bytes().is_empty() {
        tracing::warn!(
            call_id = ok.call_id().unwrap_or(""),
            "the 2xx carries an offer the INVITE did not make, and the automatic ACK \
             has no answer (RFC 3264 §5): send such an INVITE with auto_ack(false), \
             then ack() with the answer"
        );
    }
}

/// Whether the outcome of sending to one address is a failure that RFC
/// 3263 §4.3 answers by trying the next one: nothing could be sent (a
/// refused connection), a transport error or timeout of the transaction
/// (the synthesized 503 and 408), or a 503 from the server; never after a
/// CANCEL, ours (Timer C, Expires) or the user's, since a new INVITE would
/// ring where nobody wants it to.
fn failed_over(outcome: &Result<Reply, Error>, user_cancelled: bool) -> bool {
    match outcome {
        _ if user_cancelled => false,
        Err(e) => matches!(e, Error::NotSent),
        Ok(r) if r.cancelled => false,
        Ok(r) => r.code() == 503 || (r.code() == 408 && r.response().is_none()),
    }
}

/// What bounds an INVITE's wait for its final response besides its
/// transaction, whose Timer B stops at the first provisional (§17.1.1.2).
struct InviteGuard<'a> {
    tsx: &'a TransactionHandle,
    /// Timer C, started by the first provisional and restarted by every
    /// one above 100 (RFC 3261 §16.6 step 11, §16.7 step 2; NkSIP's
    /// `sip_timer_c`): when it runs out the INVITE is CANCELled, and its
    /// reply is 408 "Timer C Timeout".
    timer_c: std::time::Duration,
    /// The INVITE's Expires (NkSIP's INVITE `expires`): when it runs out
    /// without a final response the INVITE is CANCELled (§13.2.1 lets the
    /// UAC do so); the reply is then normally the callee's 487.
    expires: Option<std::time::Duration>,
    /// The user CANCELled it ([`Service::cancel`]): Timer C then sends no
    /// CANCEL of its own, and the 487 stays the user's.
    user_cancelled: &'a std::sync::atomic::AtomicBool,
}

/// Why an INVITE was CANCELled (by us, or by the user before us).
#[derive(Clone, Copy, PartialEq, Eq)]
enum CancelledBy {
    TimerC,
    Expires,
    /// Found when one of ours was due: the user's CANCEL went first.
    User,
}

/// Waits for the final response however long the transaction takes: never
/// gives up before it does (NkSIP's 5 s sync timeout is a known bug). An
/// INVITE is bounded by its [`InviteGuard`]: once that CANCELs it, the
/// transaction layer ends it 64*T1 later if no final came (§9.1), so a
/// callee that rings forever and ignores the CANCEL cannot hold the caller.
///
/// On a reliable transport (TCP, TLS) a transport error before any response
/// is the first send failing (connection refused or unreachable): an error,
/// since nothing was sent. Later, or over UDP, it is a 503 reply (§8.1.3.1).
async fn wait_final(
    ct: &mut sip_transaction::driver::ClientTransaction,
    reliable: bool,
    on_provisional: Option<&crate::options::ProvisionalCallback>,
    guard: Option<InviteGuard<'_>>,
) -> Result<Reply, Error> {
    let id = ct.id;
    // Timer C runs from the first provisional (until then Timer B bounds
    // the INVITE) and moves with each later one; the Expires from the
    // start. One timer entry serves the whole wait, and it is touched only
    // when armed and when it fires: a provisional moves `timer_c_at`, and
    // a timer that fires early is set again to it (so a call answered
    // without a provisional registers no timer, and one with a 180
    // registers one).
    let mut timer_c_at: Option<tokio::time::Instant> = None;
    let expires_at = guard
        .as_ref()
        .and_then(|g| g.expires)
        .map(|e| tokio::time::Instant::now() + e);
    let mut cancelled_by: Option<CancelledBy> = None;
    let timer = tokio::time::sleep_until(tokio::time::Instant::now());
    tokio::pin!(timer);
    let mut timer_set = false;
    let mut heard = false;
    let mut seq_used = Vec::new();
    let mut exchanged = Vec::new();
    loop {
        // Our next deadline, until we have CANCELled.
        let due = match (cancelled_by, timer_c_at, expires_at) {
            (Some(_), ..) => None,
            (None, Some(c), Some(e)) => Some(c.min(e)),
            (None, c, e) => c.or(e),
        };
        let event = match due {
            None => ct.events.recv().await,
            Some(due) => {
                if !timer_set || due < timer.deadline() {
                    timer.as_mut().reset(due);
                    timer_set = true;
                }
                tokio::select! {
                    e = ct.events.recv() => e,
                    _ = &mut timer => {
                        let now = tokio::time::Instant::now();
                        if due > now {
                            // Timer C moved on since the timer was set.
                            timer.as_mut().reset(due);
                            continue;
                        }
                        let by = if expires_at.is_some_and(|e| e <= now) {
                            CancelledBy::Expires
                        } else {
                            CancelledBy::TimerC
                        };
                        if let Some(g) = &guard {
                            if g.user_cancelled.load(Ordering::SeqCst) {
                                // The user's CANCEL is out already: its
                                // 487 (or §9.1's bound) ends the wait.
                                cancelled_by = Some(CancelledBy::User);
                                continue;
                            }
                            if let Err(e) = g.tsx.send_cancel(id).await {
                                // A final response crossed it: it is on its way.
                                tracing::debug!(%id, error = %e, "INVITE not cancelled");
                            }
                        }
                        cancelled_by = Some(by);
                        continue;
                    }
                }
            }
        };
        let Some(e) = event else { break };
        match e {
            TransactionEvent::Response { response, .. } => {
                let code = response.status().unwrap_or(0);
                if code >= 200 {
                    let mut reply = if code == 487 && cancelled_by == Some(CancelledBy::TimerC) {
                        // The callee's answer to our Timer C CANCEL: the
                        // caller learns why (NkSIP: 408 "Timer C Timeout").
                        Reply::synthesized(408, "Timer C Timeout")
                    } else {
                        Reply::from_response(response)
                    };
                    reply.seq_used = seq_used;
                    reply.exchanged = exchanged;
                    reply.cancelled = cancelled_by.is_some();
                    return Ok(reply);
                }
                if let Some(g) = &guard {
                    // Started by the first provisional, restarted by every
                    // one above 100 (§16.7 step 2).
                    if code > 100 || timer_c_at.is_none() {
                        timer_c_at = Some(tokio::time::Instant::now() + g.timer_c);
                    }
                }
                if code > 100 {
                    if let Some(cb) = on_provisional {
                        (cb.0)(&Reply::from_response(response));
                    }
                }
                heard = true;
            }
            TransactionEvent::Timeout { timer, .. } => {
                let reason = if heard && cancelled_by == Some(CancelledBy::TimerC) {
                    "Timer C Timeout".to_owned()
                } else {
                    format!("Timer {timer:?} Timeout")
                };
                let mut reply = Reply::synthesized(408, reason);
                reply.cancelled = cancelled_by.is_some();
                return Ok(reply);
            }
            TransactionEvent::TransportError { .. } if reliable && !heard => {
                return Err(Error::NotSent);
            }
            TransactionEvent::TransportError { .. } => {
                return Ok(Reply::synthesized(503, "Resend Error"))
            }
            // Reports of extensions acting in this request's dialogs.
            TransactionEvent::Extension { payload, .. } => {
                if let Some(u) = payload.downcast_ref::<sip_dialog::LocalSeqUsed>() {
                    seq_used.push(u.clone());
                } else if let Some(x) = payload.downcast_ref::<sip_dialog::SessionExchanged>() {
                    exchanged.push(x.clone());
                }
            }
            _ => {}
        }
    }
    Ok(Reply::synthesized(408, "Transaction Timeout"))
}

/// An INVITE sent with [`Service::invite_async`].
#[derive(Debug)]
pub struct PendingInvite {
    /// The INVITE's current transaction (a new one after a challenge).
    transaction: Arc<Mutex<Option<sip_transaction::TransactionId>>>,
    /// [`Service::cancel`] was called (a retry after a challenge is
    /// cancelled as soon as it starts).
    cancelled: Arc<std::sync::atomic::AtomicBool>,
    reply: tokio::sync::oneshot::Receiver<Reply>,
    /// The final reply once it came (asked for again, it is the same).
    done: Option<Reply>,
}

impl PendingInvite {
    /// Waits for the final reply. It borrows the handle, so a caller can
    /// wait with a deadline and then cancel the same INVITE:
    ///
    /// ```no_run
    /// # async fn ring(svc: &sip_uac::Service) -> Result<(), sip_uac::Error> {
    /// use std::time::Duration;
    /// use sip_uac::RequestOptions;
    /// let mut call = svc.invite_async("sip:bob@192.0.2.4", RequestOptions::new()).await?;
    /// let reply = tokio::select! {
    ///     r = call.reply() => r,
    ///     _ = tokio::time::sleep(Duration::from_secs(20)) => {
    ///         svc.cancel(&call).await?;
    ///         call.reply().await // normally 487
    ///     }
    /// };
    /// println!("{} {}", reply.code(), reply.reason());
    /// # Ok(()) }
    /// ```
    pub async fn reply(&mut self) -> Reply {
        if let Some(r) = &self.done {
            return r.clone();
        }
        let r = (&mut self.reply)
            .await
            .unwrap_or_else(|_| Reply::synthesized(503, "Service Stopped"));
        self.done = Some(r.clone());
        r
    }
}

/// Whether a header name is Event (or its compact form `o`).
fn is_event(name: &str) -> bool {
    crate::options::is_header(name, sip_message::HeaderName::Event)
}
