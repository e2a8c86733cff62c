//! One dialog (RFC 3261 §12): its state and the rules for requests in it.

use std::borrow::Cow;

use sip_message::headers::{
    name_addr_uri, plain_name_addr, Contact, From, NameAddr, RecordRoute, To, Transport,
    TypedHeader,
};
use sip_message::uri::Uri;
use sip_message::HeaderName;
use sip_message::{Message, Method, RequestBuilder};

use crate::error::DialogError;
use crate::id::DialogId;

/// Which side of the dialog we are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// We sent the dialog-creating request.
    Uac,
    /// We received it.
    Uas,
}

/// Dialog states (§12): early after a provisional with a tag, confirmed
/// after a 2xx.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum DialogState {
    /// Created by a 101-199 response.
    Early,
    /// Created or confirmed by a 2xx.
    Confirmed,
    /// Ended.
    Terminated,
}

/// The state RFC 3261 §12.1 keeps for a dialog.
///
/// Addresses are kept as compact text (the header values as this side
/// writes them) and parsed only when a request is built or when asked for:
/// a confirmed dialog costs a few hundred bytes.
#[derive(Debug, Clone)]
pub struct Dialog {
    id: DialogId,
    role: Role,
    state: DialogState,
    local_seq: u32,
    remote_seq: Option<u32>,
    /// Our address (From for a UAC, To for a UAS) and the peer's, tags
    /// included, and our Contact for target refresh requests.
    addrs: Addresses,
    /// The remote target, kept parsed so that each request built in the
    /// dialog does not parse it again.
    remote_target: Target,
    /// Route set, in the order requests carry it (name-addr text).
    route_set: Vec<Box<str>>,
    /// The first route lacks `lr`: strict routing (§12.2.1.1).
    strict: bool,
    secure: bool,
}

/// Our address, the peer's and our Contact (§12.1.1, §12.1.2: copied into
/// every request of the dialog), one after the other in one allocation.
#[derive(Debug, Clone)]
struct Addresses {
    text: Box<str>,
    /// Where the peer's address starts; ours is before it.
    remote_at: usize,
    /// Where our Contact starts, when we have one; the peer's address
    /// ends there.
    contact_at: Option<usize>,
}

impl Addresses {
    fn new(local: &str, remote: &str, contact: Option<&str>) -> Addresses {
        let len = local.len() + remote.len() + contact.map_or(0, str::len);
        let mut t = String::with_capacity(len);
        for part in [local, remote, contact.unwrap_or_default()] {
            t.push_str(part);
        }
        Addresses {
            text: t.into_boxed_str(),
            remote_at: local.len(),
            contact_at: contact.map(|_| local.len() + remote.len()),
        }
    }
    fn local(&self) -> &str {
        self.text.get(..self.remote_at).unwrap_or_default()
    }
    fn remote(&self) -> &str {
        let end = self.contact_at.unwrap_or(self.text.len());
        self.text.get(self.remote_at..end).unwrap_or_default()
    }
    fn contact(&self) -> Option<&str> {
        self.contact_at
            .map(|c| self.text.get(c..).unwrap_or_default())
    }
}

fn text(n: &impl std::fmt::Display) -> Box<str> {
    n.to_string().into_boxed_str()
}

/// A header value as written, or `decoded` (a typed header, written anew)
/// when it is not plain.
fn written_or<'a>(
    plain: Option<&'a str>,
    decoded: impl FnOnce() -> Result<String, DialogError>,
) -> Result<Cow<'a, str>, DialogError> {
    Ok(match plain {
        Some(v) => Cow::Borrowed(v),
        None => Cow::Owned(decoded()?),
    })
}

/// The remote target (§12.1.2, §12.2.1.2): the URI, whose text is the
/// target's text, or the text alone when it did not parse again.
#[derive(Debug, Clone)]
// The URI is the usual case; boxing it would allocate for every dialog.
#[allow(clippy::large_enum_variant)]
enum Target {
    Uri(Uri),
    Text(Box<str>),
}

impl Target {
    /// The target as stored for `uri`: the URI parsed from its text (what
    /// [`Dialog::remote_target_uri`] has always returned).
    fn of(uri: &Uri) -> Target {
        let t = text(uri);
        match t.parse() {
            Ok(u) => Target::Uri(u),
            Err(_) => Target::Text(t),
        }
    }
    fn text(&self) -> &str {
        match self {
            Target::Uri(u) => u.as_str(),
            Target::Text(t) => t,
        }
    }
    fn uri(&self) -> Option<&Uri> {
        match self {
            Target::Uri(u) => Some(u),
            Target::Text(_) => None,
        }
    }
}

fn routes_text(rs: &[NameAddr]) -> (Vec<Box<str>>, bool) {
    let strict = rs
        .first()
        .is_some_and(|r| !r.uri().as_sip().is_some_and(|u| u.lr()));
    (rs.iter().map(text).collect(), strict)
}

fn parse_name_addr(s: &str) -> Option<NameAddr> {
    s.parse().ok()
}

fn first<H: TypedHeader>(m: &Message, what: &'static str) -> Result<H, DialogError> {
    m.get::<H>().map_err(|_| DialogError::MissingHeader(what))
}

/// The first `name` header of `m` as text we can copy into the headers of
/// our requests: the value as written when it is one line holding exactly
/// one name-addr or addr-spec (what the parser already checked of From and
/// To). `None` otherwise (folded, several values, `*`, not UTF-8), and the
/// caller decodes the typed header instead.
fn clean_name_addr(m: &Message, name: HeaderName) -> Option<&str> {
    plain_name_addr(m.values(name).next()?)
}

/// Whether URI text has the `sips` scheme (§12.1.1, §12.1.2: a sips
/// Request-URI over TLS makes the dialog secure).
fn is_sips(uri: &str) -> bool {
    uri.get(..5)
        .is_some_and(|s| s.eq_ignore_ascii_case("sips:"))
}

/// The remote target from `m`'s Contact. The URI is cut out of the header
/// as written, copied once and parsed; anything unusual (or text that is
/// not a URI, or not UTF-8) goes through the typed Contact. A copy, not a
/// view of `m`: the dialog outlives the message, and a view would keep
/// the whole received buffer alive (for a stream, its read buffer).
fn contact_target(m: &Message) -> Result<Target, DialogError> {
    let fast = m.values(HeaderName::Contact).next().and_then(|v| {
        let uri = name_addr_uri(v)?;
        Uri::parse(bytes::Bytes::copy_from_slice(uri)).ok()
    });
    match fast {
        Some(u) => Ok(Target::Uri(u)),
        None => Ok(Target::of(&contact_uri(m)?)),
    }
}

fn contact_uri(m: &Message) -> Result<Uri, DialogError> {
    match m.get::<Contact>() {
        Ok(Contact::Addr(a)) => Ok(a.uri().clone()),
        _ => Err(DialogError::MissingContact),
    }
}

fn record_route(m: &Message) -> Result<Vec<NameAddr>, DialogError> {
    m.get_all::<RecordRoute>()
        .map(|r| {
            r.map(|r| r.0)
                .map_err(|_| DialogError::MissingHeader("Record-Route"))
        })
        .collect()
}

fn is_target_refresh(m: &Method) -> bool {
    matches!(
        m,
        Method::Invite | Method::Update | Method::Subscribe | Method::Notify | Method::Refer
    )
}

impl Dialog {
    /// The UAC side of a dialog created by `response` (a 101-199 with a To
    /// tag, or a 2xx) to our dialog-creating `request` (§12.1.2).
    ///
    /// The route set is the response's Record-Route in reverse; the remote
    /// target its Contact (an early dialog without one keeps the
    /// Request-URI; a 2xx without one is an error).
    pub fn uac(request: &Message, response: &Message) -> Result<Dialog, DialogError> {
        let call_id = request
            .call_id()
            .ok_or(DialogError::MissingHeader("Call-ID"))?;
        let local_tag = request
            .from_tag()
            .ok_or(DialogError::MissingHeader("From tag"))?;
        let remote_tag = response
            .to_tag()
            .ok_or(DialogError::MissingHeader("To tag"))?;
        Dialog::uac_with_id(
            request,
            response,
            DialogId::new(call_id, local_tag, remote_tag),
        )
    }

    /// [`Dialog::uac`] with its id already made from the request's Call-ID
    /// and From tag and the response's To tag.
    pub(crate) fn uac_with_id(
        request: &Message,
        response: &Message,
        id: DialogId,
    ) -> Result<Dialog, DialogError> {
        let code = response
            .status()
            .ok_or(DialogError::MissingHeader("status"))?;
        let (seq, _) = request.cseq().ok_or(DialogError::MissingHeader("CSeq"))?;
        let request_uri = request
            .request_uri_str()
            .ok_or(DialogError::MissingHeader("Request-URI"))?;
        let remote_target = match contact_target(response) {
            Ok(t) => t,
            Err(e) if code >= 200 => return Err(e),
            Err(_) => Target::of(
                &request
                    .request_uri()
                    .and_then(Result::ok)
                    .ok_or(DialogError::MissingHeader("Request-URI"))?,
            ),
        };
        let mut route_set = record_route(response)?;
        route_set.reverse();
        let (route_set, strict) = routes_text(&route_set);
        // §12.1.2: a sips Request-URI over TLS makes the dialog secure.
        let secure = is_sips(request_uri)
            && request
                .top_via()
                .is_some_and(|v| v.transport() == Transport::Tls);
        // From, To and Contact as written where they are plain (they are
        // copied into every request of the dialog), decoded otherwise.
        let local = written_or(clean_name_addr(request, HeaderName::From), || {
            Ok(first::<From>(request, "From")?.0.to_string())
        })?;
        let remote = written_or(clean_name_addr(response, HeaderName::To), || {
            Ok(first::<To>(response, "To")?.0.to_string())
        })?;
        let local_contact = match clean_name_addr(request, HeaderName::Contact) {
            Some(v) => Some(Cow::Borrowed(v)),
            None => request
                .get::<Contact>()
                .ok()
                .and_then(|c| c.addr().map(|a| Cow::Owned(a.to_string()))),
        };
        let addrs = Addresses::new(&local, &remote, local_contact.as_deref());
        Ok(Dialog {
            id,
            role: Role::Uac,
            state: if code >= 200 {
                DialogState::Confirmed
            } else {
                DialogState::Early
            },
            local_seq: seq,
            remote_seq: None,
            addrs,
            remote_target,
            route_set,
            strict,
            secure,
        })
    }

    /// The UAS side of a dialog created by the received `request`, which we
    /// answer with `local_tag` in To (§12.1.1). The route set is the
    /// request's Record-Route in order; the remote target its Contact.
    /// `local_seq` is where our own CSeq numbering starts (§8.1.1.5).
    pub fn uas(
        request: &Message,
        local_tag: &str,
        local_contact: Option<NameAddr>,
        local_seq: u32,
        over_tls: bool,
    ) -> Result<Dialog, DialogError> {
        let call_id = request
            .call_id()
            .ok_or(DialogError::MissingHeader("Call-ID"))?;
        let (seq, _) = request.cseq().ok_or(DialogError::MissingHeader("CSeq"))?;
        let request_uri = request
            .request_uri_str()
            .ok_or(DialogError::MissingHeader("Request-URI"))?;
        // Our To: the request's with our tag, as written where it is plain
        // and untagged (§12.1.1), decoded otherwise.
        let local = match clean_name_addr(request, HeaderName::To) {
            Some(v) if request.to_tag().is_none() => {
                let mut t = String::with_capacity(v.len() + 5 + local_tag.len());
                for part in [v, ";tag=", local_tag] {
                    t.push_str(part);
                }
                t
            }
            _ => first::<To>(request, "To")?
                .0
                .with_param("tag", Some(local_tag))
                .to_string(),
        };
        let (route_set, strict) = routes_text(&record_route(request)?);
        let remote = written_or(clean_name_addr(request, HeaderName::From), || {
            Ok(first::<From>(request, "From")?.0.to_string())
        })?;
        let local_contact = local_contact.as_ref().map(ToString::to_string);
        let addrs = Addresses::new(&local, &remote, local_contact.as_deref());
        let remote_target = contact_target(request)?;
        Ok(Dialog {
            // A request without From tag (RFC 2543) has a null remote tag.
            id: DialogId::new(call_id, local_tag, request.from_tag().unwrap_or("")),
            role: Role::Uas,
            state: DialogState::Early,
            local_seq,
            remote_seq: Some(seq),
            addrs,
            remote_target,
            route_set,
            strict,
            // §12.1.1: a sips Request-URI over TLS.
            secure: over_tls && is_sips(request_uri),
        })
    }

    /// The subscriber's dialog created by a NOTIFY for our `subscribe`
    /// (which may arrive before the SUBSCRIBE's 2xx, or from any fork;
    /// RFC 6665 §4.1.2.4): our tag from the SUBSCRIBE, the peer's from the
    /// NOTIFY's From, the route set from the NOTIFY's Record-Route (in
    /// order, as a UAS would), the remote target from its Contact.
    pub fn from_notify(subscribe: &Message, notify: &Message) -> Result<Dialog, DialogError> {
        let local_tag = subscribe
            .from_tag()
            .ok_or(DialogError::MissingHeader("From tag"))?;
        let (seq, _) = subscribe.cseq().ok_or(DialogError::MissingHeader("CSeq"))?;
        let mut d = Dialog::uas(notify, local_tag, None, seq, false)?;
        d.role = Role::Uac;
        d.state = DialogState::Confirmed;
        let contact = subscribe
            .get::<Contact>()
            .ok()
            .and_then(|c| c.addr().map(|a| a.to_string()));
        d.addrs = Addresses::new(d.addrs.local(), d.addrs.remote(), contact.as_deref());
        Ok(d)
    }

    /// A 2xx confirms an early dialog; the route set and remote target are
    /// recomputed from it (§13.2.2.4).
    pub fn confirm(&mut self, response: &Message) -> Result<(), DialogError> {
        if self.role == Role::Uac {
            let mut rs = record_route(response)?;
            rs.reverse();
            (self.route_set, self.strict) = routes_text(&rs);
            // The same Contact reading as `uac` (plain name-addr cut out as
            // written, anything else through the typed header).
            self.remote_target = contact_target(response)?;
        }
        self.state = DialogState::Confirmed;
        Ok(())
    }

    /// A final response to a request we sent in this dialog: a 2xx to a
    /// target refresh request (re-INVITE, UPDATE, ...) replaces the remote
    /// target with its Contact, if it has one (§12.2.1.2).
    pub fn on_response(&mut self, method: &Method, response: &Message) {
        let ok = response.status().is_some_and(|c| (200..300).contains(&c));
        if ok && is_target_refresh(method) {
            if let Ok(uri) = contact_uri(response) {
                self.remote_target = Target::of(&uri);
            }
        }
    }

    /// Ends the dialog.
    pub fn terminate(&mut self) {
        self.state = DialogState::Terminated;
    }

    /// Applies a request received in this dialog (§12.2.2): the CSeq must not
    /// go back (500), and a target refresh request replaces the remote
    /// target with its Contact.
    pub fn receive_request(&mut self, req: &Message) -> Result<(), DialogError> {
        let (seq, method) = req.cseq().ok_or(DialogError::MissingHeader("CSeq"))?;
        if let Some(last) = self.remote_seq {
            if seq < last {
                return Err(DialogError::CSeqOutOfOrder { got: seq, last });
            }
        }
        // ACK and CANCEL carry the INVITE's number; PRACK and the rest go up.
        self.remote_seq = Some(self.remote_seq.map_or(seq, |l| l.max(seq)));
        if is_target_refresh(method) {
            if let Ok(uri) = contact_uri(req) {
                self.remote_target = Target::of(&uri);
            }
        }
        Ok(())
    }

    /// A request within the dialog (§12.2.1.1). ACK and CANCEL reuse the
    /// CSeq number `invite_seq` of their INVITE; any other method takes the
    /// next local sequence number. `branch` and `transport` make the top Via
    /// (the transport fills in sent-by). The route set decides Request-URI
    /// and Route: loose routing (`lr` on the first route) keeps the remote
    /// target as Request-URI; strict routing puts the first route there and
    /// the remote target last in Route.
    pub fn request(
        &mut self,
        method: Method,
        invite_seq: Option<u32>,
        branch: &str,
        transport: Transport,
    ) -> Result<RequestBuilder, DialogError> {
        // The remote target was stored from a parsed URI, so it parsed again.
        let target = self
            .remote_target
            .uri()
            .ok_or(DialogError::MissingContact)?;
        let seq = match (&method, invite_seq) {
            (Method::Ack | Method::Cancel, Some(s)) => s,
            _ => {
                self.local_seq = self.local_seq.wrapping_add(1);
                self.local_seq
            }
        };
        // Loose routing sends to the stored target itself (the builder
        // shares its text); strict routing makes a new Request-URI.
        let strict_uri;
        let (request_uri, routes): (&Uri, Vec<&str>) = if !self.strict {
            (target, self.route_set.iter().map(|r| &**r).collect())
        } else {
            // Strict routing (§12.2.1.1, §16.12.1.2): the first route
            // (without URI headers) becomes the Request-URI, and the remote
            // target goes last in Route.
            let first = self.route_set.first().and_then(|r| parse_name_addr(r));
            let ruri = match first.as_ref().map(NameAddr::uri) {
                Some(Uri::Sip(s)) => s
                    .to_builder()
                    .clear_headers()
                    .build()
                    .map(Uri::Sip)
                    .unwrap_or_else(|_| Uri::Sip(s.clone())),
                Some(other) => other.clone(),
                None => target.clone(),
            };
            strict_uri = ruri;
            (
                &strict_uri,
                self.route_set[1..].iter().map(|r| &**r).collect(),
            )
        };
        // The transport writes the real sent-by when it sends (§18.1.1).
        let mut via = String::with_capacity(40 + branch.len());
        for part in [
            "SIP/2.0/",
            transport.as_str(),
            " placeholder.invalid;branch=",
            branch,
        ] {
            via.push_str(part);
        }
        // Filled in place: a by-value call per header moves the builder.
        let mut b = RequestBuilder::new(method.clone(), request_uri);
        b.add_raw_header("Via", &via)
            .add_raw_header("Max-Forwards", "70")
            .add_raw_header("From", self.addrs.local())
            .add_raw_header("To", self.addrs.remote())
            .add_raw_header("Call-ID", self.id.call_id())
            .add_header(&sip_message::headers::CSeq::new(seq, method.clone()));
        for r in routes {
            b.add_raw_header("Route", r);
        }
        if self.strict {
            b.add_raw_header("Route", &format!("<{}>", self.remote_target.text()));
        }
        if is_target_refresh(&method) {
            if let Some(c) = self.addrs.contact() {
                b.add_raw_header("Contact", c);
            }
        }
        Ok(b)
    }

    /// Local target: our Contact in this dialog, as the target refresh
    /// requests we send carry it (where the peer sends its requests,
    /// §12.1.1, §12.1.2), if we have one.
    pub fn local_target(&self) -> Option<&str> {
        self.addrs.contact()
    }

    /// The dialog id.
    pub fn id(&self) -> &DialogId {
        &self.id
    }
    /// Our role.
    pub fn role(&self) -> Role {
        self.role
    }
    /// The state.
    pub fn state(&self) -> DialogState {
        self.state
    }
    /// Last CSeq number we used.
    pub fn local_seq(&self) -> u32 {
        self.local_seq
    }
    /// Makes sure the next request takes a number above `seq`: a request
    /// sent in this dialog by someone else (an extension's PRACK) used it
    /// (§12.2.1.1: each request's CSeq is one above the last).
    pub fn advance_local_seq(&mut self, seq: u32) {
        if seq > self.local_seq {
            self.local_seq = seq;
        }
    }
    /// Last CSeq number the peer used.
    pub fn remote_seq(&self) -> Option<u32> {
        self.remote_seq
    }
    /// The peer's current target (its Contact) as text.
    pub fn remote_target(&self) -> &str {
        self.remote_target.text()
    }
    /// The peer's current target, parsed.
    pub fn remote_target_uri(&self) -> Option<Uri> {
        self.remote_target.uri().cloned()
    }
    /// [`remote_target_uri`](Self::remote_target_uri), borrowed.
    pub fn remote_target_uri_ref(&self) -> Option<&Uri> {
        self.remote_target.uri()
    }
    /// The route set in request order, parsed.
    pub fn route_set(&self) -> Vec<NameAddr> {
        self.route_set
            .iter()
            .filter_map(|r| parse_name_addr(r))
            .collect()
    }
    /// True for a sips/TLS dialog.
    pub fn secure(&self) -> bool {
        self.secure
    }
    /// Our address with our tag.
    pub fn local(&self) -> Option<NameAddr> {
        parse_name_addr(self.addrs.local())
    }
    /// The peer's address with its tag.
    pub fn remote(&self) -> Option<NameAddr> {
        parse_name_addr(self.addrs.remote())
    }
}
