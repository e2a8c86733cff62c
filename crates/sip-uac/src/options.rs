//! Per-request options (NkSIP's sending options, a growing subset).

use std::sync::Arc;

use bytes::Bytes;

use crate::Reply;

/// Options for one request, built with chained calls.
///
/// ```
/// use sip_uac::RequestOptions;
/// let o = RequestOptions::new()
///     .header("X-Trace", "abc")
///     .body("text/plain", "hello")
///     .expires(60);
/// # let _ = o;
/// ```
#[derive(Debug, Clone, Default)]
#[must_use]
pub struct RequestOptions {
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: Option<(String, Bytes)>,
    pub(crate) from: Option<String>,
    pub(crate) to: Option<String>,
    pub(crate) call_id: Option<String>,
    pub(crate) cseq: Option<u32>,
    pub(crate) contact: Option<String>,
    /// Add the service's own Contact (NkSIP's `contact` option).
    pub(crate) auto_contact: bool,
    pub(crate) expires: Option<u32>,
    /// Routes after the service's default route set (`route`, and Route
    /// given with `header`).
    pub(crate) routes: Vec<String>,
    /// Routes before it (Route given with `insert_header`).
    pub(crate) first_routes: Vec<String>,
    /// A route set that replaces the service's and the others (Route
    /// given with `replace_header`).
    pub(crate) only_routes: Option<Vec<String>>,
    pub(crate) auto_ack: Option<bool>,
    pub(crate) max_auth_tries: Option<u32>,
    pub(crate) credentials: crate::auth::Credentials,
    pub(crate) on_provisional: Option<ProvisionalCallback>,
    pub(crate) extension_data: sip_transaction::RequestData,
    pub(crate) subscription_state: Option<String>,
    pub(crate) refer_to: Option<String>,
    pub(crate) replacements: Vec<(String, String)>,
}

/// A callback for provisional responses (see
/// [`RequestOptions::on_provisional`]).
#[derive(Clone)]
pub(crate) struct ProvisionalCallback(pub(crate) Arc<dyn Fn(&Reply) + Send + Sync>);

impl std::fmt::Debug for ProvisionalCallback {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ProvisionalCallback")
    }
}

impl RequestOptions {
    /// No options.
    pub fn new() -> Self {
        Self::default()
    }
    /// Adds a header (name and value as written). A Route joins the route
    /// set after the service's default routes, so the request also goes
    /// where it says (loose routing, RFC 3261 §8.1.2).
    pub fn header(mut self, name: &str, value: &str) -> Self {
        if is_header(name, sip_message::HeaderName::Route) {
            self.routes.push(value.to_owned());
            return self;
        }
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }
    /// Sets the body and its Content-Type.
    pub fn body(mut self, content_type: &str, body: impl Into<Bytes>) -> Self {
        self.body = Some((content_type.to_owned(), body.into()));
        self
    }
    /// From (name-addr text; a tag is added if it has none).
    pub fn from(mut self, from: &str) -> Self {
        self.from = Some(from.to_owned());
        self
    }
    /// To (name-addr text).
    pub fn to(mut self, to: &str) -> Self {
        self.to = Some(to.to_owned());
        self
    }
    /// Call-ID (e.g. to refresh a registration).
    pub fn call_id(mut self, call_id: &str) -> Self {
        self.call_id = Some(call_id.to_owned());
        self
    }
    /// CSeq number.
    pub fn cseq(mut self, n: u32) -> Self {
        self.cseq = Some(n);
        self
    }
    /// Contact (name-addr text, or `*`).
    pub fn contact(mut self, contact: &str) -> Self {
        self.contact = Some(contact.to_owned());
        self
    }
    /// Adds the service's own Contact (NkSIP's `contact` option), as
    /// INVITE and SUBSCRIBE always carry it: the listener of the request's
    /// transport and of the target's address family, with `;transport=`
    /// and `sips:` as needed (RFC 3261 §8.1.1.8). What a REGISTER needs to
    /// bind this service (§10.2.1), without spelling out its address. A
    /// Contact given with [`contact`](Self::contact) or as a header wins.
    ///
    /// ```no_run
    /// # async fn reg(svc: &sip_uac::Service) -> Result<(), sip_uac::Error> {
    /// use sip_uac::RequestOptions;
    /// let r = svc
    ///     .register("sip:registrar.example.com", RequestOptions::new().auto_contact().expires(3600))
    ///     .await?;
    /// println!("bound: {:?}", r.contacts());
    /// # Ok(()) }
    /// ```
    pub fn auto_contact(mut self) -> Self {
        self.auto_contact = true;
        self
    }
    /// Expires header, in seconds.
    pub fn expires(mut self, seconds: u32) -> Self {
        self.expires = Some(seconds);
        self
    }
    /// For INVITE: send the ACK for the 2xx automatically (default true).
    /// The automatic ACK has no body, so an INVITE without an offer whose
    /// 2xx brings one (a late offer) needs `auto_ack(false)` and
    /// [`Service::ack`](crate::Service::ack) with the answer (RFC 3264 §5);
    /// the automatic one logs a warning then.
    pub fn auto_ack(mut self, on: bool) -> Self {
        self.auto_ack = Some(on);
        self
    }
    /// How many times this request is sent again with credentials after
    /// a 401/407 ([`MAX_AUTH_TRIES`](crate::MAX_AUTH_TRIES) by default;
    /// NkSIP's `sip_uac_auto_auth_max_tries`); 0 returns the first
    /// challenge as the reply.
    pub fn max_auth_tries(mut self, n: u32) -> Self {
        self.max_auth_tries = Some(n);
        self
    }
    /// A Route (name-addr text), after the service's default route set.
    pub fn route(mut self, route: &str) -> Self {
        self.routes.push(route.to_owned());
        self
    }
    /// Digest credentials for any realm (NkSIP's `sip_pass`): on 401/407
    /// the request is sent again with them (RFC 3261 §22.2). Without a
    /// user name the From URI's user is used.
    pub fn auth(mut self, user: &str, password: &str) -> Self {
        self.credentials.user = Some(user.to_owned());
        self.credentials
            .secrets
            .push((None, crate::auth::Secret::Password(password.to_owned())));
        self
    }
    /// A password for one realm only, tried before any-realm ones.
    pub fn auth_realm(mut self, realm: &str, password: &str) -> Self {
        self.credentials.secrets.insert(
            0,
            (
                Some(realm.to_owned()),
                crate::auth::Secret::Password(password.to_owned()),
            ),
        );
        self
    }
    /// A precomputed `H(user:realm:password)` for one realm, so the
    /// password itself need not be configured.
    pub fn auth_ha1(mut self, realm: &str, ha1: &str) -> Self {
        self.credentials.secrets.insert(
            0,
            (
                Some(realm.to_owned()),
                crate::auth::Secret::Ha1(ha1.to_owned()),
            ),
        );
        self
    }
    /// The user name for digest credentials.
    pub fn auth_user(mut self, user: &str) -> Self {
        self.credentials.user = Some(user.to_owned());
        self
    }
    /// Called with each provisional response above 100 as it arrives
    /// (NkSIP's `callback`), always before the call returns its final
    /// reply; for [`invite_async`](crate::Service::invite_async), then
    /// with the final reply too. Keep it quick: it runs on the service's
    /// task.
    ///
    /// ```
    /// use sip_uac::RequestOptions;
    /// let o = RequestOptions::new().on_provisional(|r| println!("{} {}", r.code(), r.reason()));
    /// # let _ = o;
    /// ```
    pub fn on_provisional(mut self, f: impl Fn(&Reply) + Send + Sync + 'static) -> Self {
        self.on_provisional = Some(ProvisionalCallback(Arc::new(f)));
        self
    }
    /// Data for the service's extensions (plugins), handed to them with
    /// the request: a plugin documents the types it reads, e.g.
    /// `sip_100rel::PrackAnswer` for the body of automatic PRACKs.
    pub fn extension(mut self, data: impl std::any::Any + Send + Sync) -> Self {
        self.extension_data.push(Arc::new(data));
        self
    }
    /// Event header (RFC 6665 §8.2.1), e.g. `presence` or `dialog;id=1`;
    /// required by PUBLISH and SUBSCRIBE.
    pub fn event(self, event: &str) -> Self {
        self.set_header("Event", event)
    }
    /// For NOTIFY: the Subscription-State (RFC 6665 §8.2.3), e.g. `active`,
    /// `pending` or `terminated;reason=noresource`. Default `active`; an
    /// `active` or `pending` without `expires` gets the time left.
    pub fn subscription_state(mut self, state: &str) -> Self {
        self.subscription_state = Some(state.to_owned());
        self
    }
    /// For REFER: the Refer-To URI (RFC 3515 §2.1), required.
    pub fn refer_to(mut self, uri: &str) -> Self {
        self.refer_to = Some(uri.to_owned());
        self
    }
    /// SIP-If-Match (RFC 3903 §11.3.2): the entity tag of the publication to
    /// refresh, modify or remove.
    pub fn sip_if_match(self, etag: &str) -> Self {
        self.set_header("SIP-If-Match", etag)
    }
    /// Replaces every header of this name, given in the options or added
    /// by the service (NkSIP's `replace`, e.g. a User-Agent or
    /// Max-Forwards of one's own), with one value.
    pub fn replace_header(mut self, name: &str, value: &str) -> Self {
        if is_header(name, sip_message::HeaderName::Route) {
            // The whole route set, the service's default one included.
            self.only_routes = Some(vec![value.to_owned()]);
            return self;
        }
        self.headers.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
        self.replacements
            .retain(|(n, _)| !n.eq_ignore_ascii_case(name));
        self.replacements.push((name.to_owned(), value.to_owned()));
        self
    }
    /// Sets the option header `name` to one value.
    pub(crate) fn set_header(mut self, name: &str, value: &str) -> Self {
        self.headers.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
        self.header(name, value)
    }
    /// Adds a header before the other option headers (NkSIP's `insert`:
    /// it comes first among those of its name, e.g. a Route).
    pub fn insert_header(mut self, name: &str, value: &str) -> Self {
        if is_header(name, sip_message::HeaderName::Route) {
            // First of all, before the service's default routes too: the
            // next hop.
            self.first_routes.insert(0, value.to_owned());
            return self;
        }
        self.headers.insert(0, (name.to_owned(), value.to_owned()));
        self
    }
}

/// Whether a header name given as text (any case, long or compact form) is
/// `h`, by sip-message's name table.
pub(crate) fn is_header(name: &str, h: sip_message::HeaderName) -> bool {
    sip_message::HeaderName::from_bytes(name.as_bytes()) == h
}
