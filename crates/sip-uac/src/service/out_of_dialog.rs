//! Requests outside a dialog (OPTIONS, MESSAGE, PUBLISH, REGISTER, `request`)
//! and the pipeline every request goes through: building, sending, RFC 3263
//! failover and digest retries.

use std::sync::atomic::Ordering;
use std::time::SystemTime;

use sip_message::headers::{Date, Transport as Kind};
use sip_message::uri::{unescape_str, Uri};
use sip_message::{Message, Method};
use sip_transport::Target;

use crate::error::Error;
use crate::options::RequestOptions;
use crate::reply::Reply;

use super::subscribe::is_event;
use super::wait_final::{wait_final, InviteGuard, NOT_CANCELLED};
use super::Service;
use crate::early::EarlyDialogs;

impl Service {
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
        let mut early = EarlyDialogs::new(self.inner.core.clone());
        let (request, ct, reply) = self
            .send_with_auth(
                method,
                uri,
                opts,
                false,
                &|_| {},
                &|_| {},
                &NOT_CANCELLED,
                Some(&mut early),
            )
            .await?;
        // The method is known once the URI is read (it may name it).
        if request.method() == Some(&Method::Invite) {
            return Ok(self
                .invite_answered(request, ct, reply, auto_ack, early)
                .await);
        }
        Ok(reply)
    }

    /// A request with what its method adds (NkSIP), answered by its final
    /// reply.
    pub(super) async fn send(
        &self,
        method: Option<Method>,
        uri: &str,
        opts: RequestOptions,
    ) -> Result<Reply, Error> {
        let (_, _, reply) = self
            .send_with_auth(
                method,
                uri,
                opts,
                true,
                &|_| {},
                &|_| {},
                &NOT_CANCELLED,
                None,
            )
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
    pub(super) async fn send_with_auth(
        &self,
        method: Option<Method>,
        uri: &str,
        opts: RequestOptions,
        auto: bool,
        on_send: &(dyn Fn(&Message) + Sync),
        on_started: &(dyn Fn(sip_transaction::TransactionId) + Sync),
        user_cancelled: &std::sync::atomic::AtomicBool,
        mut early: Option<&mut EarlyDialogs>,
    ) -> Result<(Message, sip_transaction::driver::ClientTransaction, Reply), Error> {
        let mut opts = opts;
        let mut challenges = Challenges::default();
        // The last request sent and its transaction, once one was: what a
        // failure to send the next one (a retry with credentials, the same
        // request to the next address) is reported against.
        let mut earlier: Option<(Message, sip_transaction::driver::ClientTransaction)> = None;
        loop {
            let Prepared {
                mut request,
                mut target,
                mut spare,
                mut auto_contact,
            } = match self.prepare(method.clone(), uri, &opts, auto).await {
                Ok(p) => p,
                Err(e) => return not_sent(earlier, None, e),
            };
            let (request, ct, reply) = loop {
                let kind = target.transport;
                on_send(&request);
                let sent = self
                    .inner
                    .tsx
                    .send_request_with_data(request.clone(), target, opts.extension_data.clone())
                    .await;
                let mut ct = match sent {
                    Ok(ct) => ct,
                    Err(e) => return not_sent(earlier, Some(&request), e.into()),
                };
                on_started(ct.id);
                let guard = (request.method() == Some(&Method::Invite)).then(|| InviteGuard {
                    tsx: &self.inner.tsx,
                    timer_c: self.inner.timer_c,
                    expires: opts
                        .expires
                        .map(|s| std::time::Duration::from_secs(u64::from(s))),
                    user_cancelled,
                    early: early.as_deref_mut().map(|e| (&request, e)),
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
                        // §13.2.2.3: a non-2xx final (or none) ends the
                        // early dialogs of the INVITE sent there.
                        if let Some(e) = early.as_deref_mut() {
                            e.end_all();
                        }
                        let tried = std::mem::replace(&mut request, next);
                        // One never sent (its connection refused) is not
                        // what a later failure is reported against.
                        if outcome.is_ok() {
                            earlier = Some((tried, ct));
                        }
                        target = spare.remove(0);
                        // §8.1.1.8: the Contact names the listener of the
                        // address the request goes to now.
                        if let Some(ac) = &mut auto_contact {
                            let c = self.inner.core.contacts.for_request(
                                target.transport,
                                ac.secure,
                                target.addr,
                            );
                            if c != ac.text {
                                if let Some(m) = with_contact(&request, &ac.text, &c) {
                                    request = m;
                                    ac.text = c.into_owned();
                                }
                            }
                        }
                        continue;
                    }
                }
                match outcome {
                    Ok(reply) => break (request, ct, reply),
                    // A refused connection, say: an error for the first
                    // request, a reply for a later one.
                    Err(e) => return not_sent(earlier, Some(&request), e),
                }
            };
            if let Some(next) = challenges.retry(self, &request, &reply, &opts) {
                // §13.2.2.3: the 401/407 ends the early dialogs it had.
                if let Some(e) = early.as_deref_mut() {
                    e.end_all();
                }
                opts = next;
                earlier = Some((request, ct));
                continue;
            }
            let reply = reply.sent_as(&request);
            return Ok((request, ct, reply));
        }
    }

    /// The options for the authenticated retry of `request`, or `None` when
    /// no credentials apply (no secret for the realm, a realm already
    /// refused without `stale=true`, no usable challenge).
    pub(super) fn retry_with_credentials(
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

    pub(super) async fn prepare(
        &self,
        method: Option<Method>,
        uri: &str,
        opts: &RequestOptions,
        auto: bool,
    ) -> Result<Prepared, Error> {
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
        let default_contact = (opts.auto_contact
            || matches!(method, Method::Invite | Method::Subscribe))
            && !given(sip_message::HeaderName::Contact);
        // Ours (not the options'): written again if the request goes to an
        // address of another family or transport (RFC 3263 §4.3 failover).
        let mut auto_contact = None;
        match &opts.contact {
            Some(c) => {
                b.add_raw_header("Contact", c);
            }
            None if default_contact => {
                let c = self
                    .inner
                    .core
                    .contacts
                    .for_request(target.transport, secure, target.addr);
                b.add_raw_header("Contact", &c);
                auto_contact = Some(AutoContact {
                    text: c.into_owned(),
                    secure,
                });
            }
            None => {}
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
        Ok(Prepared {
            request,
            target,
            spare,
            auto_contact,
        })
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
pub(super) struct Challenges {
    answered: Vec<String>,
    tries: u32,
}

impl Challenges {
    /// The options for the retry of `request` after `reply`, when it is a
    /// 401/407 that we answer.
    pub(super) fn retry(
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

/// Whether the outcome of sending to one address is a failure that RFC
/// 3263 §4.3 answers by trying the next one: nothing could be sent (a
/// refused connection), a transport error or timeout of the transaction
/// (the synthesized 503 and 408), or a 503 from the server; never after a
/// CANCEL, ours (Timer C, Expires) or the user's, since a new INVITE would
/// ring where nobody wants it to.
pub(super) fn failed_over(outcome: &Result<Reply, Error>, user_cancelled: bool) -> bool {
    match outcome {
        _ if user_cancelled => false,
        Err(e) => matches!(e, Error::NotSent),
        Ok(r) if r.cancelled => false,
        Ok(r) => r.code() == 503 || (r.code() == 408 && r.response().is_none()),
    }
}

/// A request built for its first target, with the other addresses of its
/// next hop.
pub(super) struct Prepared {
    request: Message,
    target: Target,
    /// The other addresses, in order, for RFC 3263 §4.3 failover.
    spare: Vec<Target>,
    /// The Contact we generated (none when the options gave one).
    auto_contact: Option<AutoContact>,
}

struct AutoContact {
    text: String,
    secure: bool,
}

/// `request` with its Contact `old` (one we wrote, as `Contact: <old>` on
/// a line of its own) replaced by `new`; `None` if it is not there or the
/// result does not parse.
fn with_contact(request: &Message, old: &str, new: &str) -> Option<Message> {
    let bytes = request.as_bytes();
    let line = format!("\r\nContact: {old}\r\n");
    let at = bytes
        .windows(line.len())
        .position(|w| w == line.as_bytes())?;
    let mut out = Vec::with_capacity(bytes.len() + new.len());
    out.extend_from_slice(&bytes[..at]);
    out.extend_from_slice(format!("\r\nContact: {new}\r\n").as_bytes());
    out.extend_from_slice(&bytes[at + line.len()..]);
    Message::parse(out).ok()
}

/// The outcome of a request that could not be prepared or sent (`e`):
/// before anything was sent, the error; once the `earlier` request was
/// sent, a 503 naming this one (`unsent`, or that request) with its
/// Call-ID, From tag and CSeq, since a transport failure after the first
/// send is a reply, not an error (nksip-uac.md §1.2).
pub(super) fn not_sent(
    earlier: Option<(Message, sip_transaction::driver::ClientTransaction)>,
    unsent: Option<&Message>,
    e: Error,
) -> Result<(Message, sip_transaction::driver::ClientTransaction, Reply), Error> {
    let Some((sent, ct)) = earlier else {
        return Err(e);
    };
    let request = unsent.cloned().unwrap_or(sent);
    let reply = Reply::synthesized(503, e.to_string()).sent_as(&request);
    Ok((request, ct, reply))
}
