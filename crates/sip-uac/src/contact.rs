//! Our Contact, per listener (RFC 3261 §8.1.1.8): the far end sends the
//! requests of the dialogs we make there, so it names the transport and
//! the address of the listener a request goes out on (or a response
//! answers on). A TCP-only service that said `<sip:bob@host:port>` would be
//! sent its BYE over UDP, where nobody listens.
//!
//! A listener on a wildcard address (0.0.0.0, ::) cannot be named as it
//! is: its Contact takes the local address the system routes toward the
//! peer, with the listener's port.

use std::borrow::Cow;
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Mutex;

use sip_message::headers::{NameAddr, Transport as Kind};
use sip_message::Message;

/// One listener's Contact, as text and parsed (for the dialogs we answer).
struct Entry {
    kind: Kind,
    addr: SocketAddr,
    /// SIPS: for a request whose Request-URI (or first Route) is a SIPS
    /// URI, which §8.1.1.8 says MUST get a SIPS Contact.
    secure: bool,
    text: String,
    parsed: Option<NameAddr>,
}

/// The Contact of every listener of a service.
pub(crate) struct Contacts {
    name: String,
    entries: Vec<Entry>,
    /// For wildcard listeners: the local address toward each peer address
    /// (bounded: cleared when full).
    toward: Mutex<HashMap<IpAddr, IpAddr>>,
    /// Without any listener (not reachable from `Service`, which always
    /// has one): a Contact all the same.
    fallback: Entry,
}

impl Contacts {
    /// The Contacts of user `name` at `listeners`: `sip:` for UDP,
    /// `;transport=tcp` for TCP, `;transport=tls` and a `sips:` one for TLS.
    pub(crate) fn new(name: &str, listeners: &[(Kind, SocketAddr)]) -> Contacts {
        let entry = |kind: Kind, addr: SocketAddr, secure: bool| {
            let text = contact_text(name, kind, addr, secure);
            Entry {
                kind,
                addr,
                secure,
                parsed: text.parse().ok(),
                text,
            }
        };
        let mut entries = Vec::new();
        for &(kind, addr) in listeners {
            entries.push(entry(kind, addr, false));
            if kind == Kind::Tls {
                entries.push(entry(kind, addr, true));
            }
        }
        Contacts {
            name: name.to_owned(),
            entries,
            toward: Mutex::new(HashMap::new()),
            fallback: entry(Kind::Udp, SocketAddr::from(([127, 0, 0, 1], 5060)), false),
        }
    }

    /// The best Contact for a message over `kind` to or from an address of
    /// `family_v6`'s family: that transport's listener (SIPS if `secure`
    /// and TLS), the same address family first; else the first listener.
    fn pick(&self, kind: Kind, secure: bool, family_v6: Option<bool>) -> &Entry {
        let fits = |e: &&Entry| e.kind == kind && (kind != Kind::Tls || e.secure == secure);
        let family = |e: &&Entry| family_v6.is_none_or(|v6| e.addr.is_ipv6() == v6);
        self.entries
            .iter()
            .find(|e| fits(e) && family(e))
            .or_else(|| self.entries.iter().find(fits))
            .or_else(|| self.entries.iter().find(|e| !e.secure))
            .unwrap_or(&self.fallback)
    }

    /// The Contact for a request we send over `kind` to `to`; `secure`:
    /// its Request-URI or first Route is a SIPS URI.
    pub(crate) fn for_request(&self, kind: Kind, secure: bool, to: SocketAddr) -> Cow<'_, str> {
        let e = self.pick(kind, secure, Some(to.is_ipv6()));
        self.named(e, Some(to.ip()))
    }

    /// The Contact for our response to `request` (its transport is its top
    /// Via's; SIPS if its Request-URI is).
    pub(crate) fn for_response(&self, request: &Message) -> Cow<'_, str> {
        let (e, peer) = self.answering(request);
        self.named(e, peer)
    }

    /// [`for_response`](Self::for_response), parsed: the local target of
    /// a dialog we answer (§12.1.1).
    pub(crate) fn addr_for_response(&self, request: &Message) -> Option<NameAddr> {
        let (e, peer) = self.answering(request);
        match self.named(e, peer) {
            Cow::Borrowed(_) => e.parsed.clone(),
            Cow::Owned(text) => text.parse().ok(),
        }
    }

    fn answering(&self, request: &Message) -> (&Entry, Option<IpAddr>) {
        let via = request.top_via();
        let kind = via.as_ref().map_or(Kind::Udp, |v| v.transport());
        // Where the request came from: `received` (added on receipt when
        // the sent-by was not the source, §18.2.1), else the sent-by.
        let peer = via.as_ref().and_then(|v| {
            v.received()
                .and_then(|r| r.parse::<IpAddr>().ok())
                .or_else(|| v.host().trim_matches(['[', ']']).parse().ok())
        });
        let secure = request
            .request_uri_str()
            .is_some_and(|u| u.get(..5).is_some_and(|s| s.eq_ignore_ascii_case("sips:")));
        (self.pick(kind, secure, peer.map(|p| p.is_ipv6())), peer)
    }

    /// `e`'s Contact text; for a wildcard listener, with the local address
    /// toward `peer` in its place (unchanged if that cannot be found).
    fn named<'a>(&'a self, e: &'a Entry, peer: Option<IpAddr>) -> Cow<'a, str> {
        if !e.addr.ip().is_unspecified() {
            return Cow::Borrowed(&e.text);
        }
        match peer.and_then(|p| self.local_toward(p)) {
            Some(ip) => Cow::Owned(contact_text(
                &self.name,
                e.kind,
                SocketAddr::new(ip, e.addr.port()),
                e.secure,
            )),
            None => Cow::Borrowed(&e.text),
        }
    }

    /// The local address the system would send from toward `peer` (a
    /// connected UDP socket's address: no packet is sent), cached.
    fn local_toward(&self, peer: IpAddr) -> Option<IpAddr> {
        if let Some(ip) = self.toward.lock().ok()?.get(&peer) {
            return Some(*ip);
        }
        let any: SocketAddr = if peer.is_ipv6() {
            (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
        } else {
            (std::net::Ipv4Addr::UNSPECIFIED, 0).into()
        };
        let probe = std::net::UdpSocket::bind(any).ok()?;
        probe.connect((peer, 9)).ok()?;
        let ip = probe.local_addr().ok()?.ip();
        let mut cache = self.toward.lock().ok()?;
        if cache.len() >= TOWARD_CACHE {
            cache.clear();
        }
        cache.insert(peer, ip);
        Some(ip)
    }
}

/// Peers whose local address toward them is remembered at most.
const TOWARD_CACHE: usize = 4096;

/// `<sip:name@addr>` for UDP, `;transport=tcp|tls` for the others,
/// `<sips:name@addr>` when `secure`.
fn contact_text(name: &str, kind: Kind, addr: SocketAddr, secure: bool) -> String {
    match (kind, secure) {
        (Kind::Udp, _) => format!("<sip:{name}@{addr}>"),
        (_, true) => format!("<sips:{name}@{addr}>"),
        (k, false) => format!(
            "<sip:{name}@{addr};transport={}>",
            k.as_str().to_ascii_lowercase()
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn contacts() -> Contacts {
        Contacts::new(
            "bob",
            &[
                (Kind::Tcp, "127.0.0.1:5070".parse().unwrap()),
                (Kind::Tls, "127.0.0.1:5071".parse().unwrap()),
                (Kind::Udp, "[::1]:5060".parse().unwrap()),
                (Kind::Udp, "127.0.0.1:5060".parse().unwrap()),
            ],
        )
    }

    #[test]
    fn rfc3261_8_1_1_8_the_contact_names_the_listener_of_the_transport_used() {
        let c = contacts();
        let v4 = "192.0.2.1:5060".parse().unwrap();
        let v6 = "[2001:db8::1]:5060".parse().unwrap();
        assert_eq!(
            c.for_request(Kind::Udp, false, v4),
            "<sip:bob@127.0.0.1:5060>"
        );
        assert_eq!(c.for_request(Kind::Udp, false, v6), "<sip:bob@[::1]:5060>");
        assert_eq!(
            c.for_request(Kind::Tcp, false, v6),
            "<sip:bob@127.0.0.1:5070;transport=tcp>",
            "no IPv6 TCP listener: the IPv4 one"
        );
        assert_eq!(
            c.for_request(Kind::Tls, false, v4),
            "<sip:bob@127.0.0.1:5071;transport=tls>"
        );
        assert_eq!(
            c.for_request(Kind::Tls, true, v4),
            "<sips:bob@127.0.0.1:5071>"
        );
        // Every one parses.
        assert!(c.entries.iter().all(|e| e.parsed.is_some()));
    }

    #[test]
    fn a_wildcard_listener_is_named_by_the_local_address_toward_the_peer() {
        let c = Contacts::new("bob", &[(Kind::Udp, "0.0.0.0:5060".parse().unwrap())]);
        let to = "127.0.0.1:5070".parse().unwrap();
        // Loopback is reached from loopback.
        assert_eq!(
            c.for_request(Kind::Udp, false, to),
            "<sip:bob@127.0.0.1:5060>"
        );
        let invite = Message::parse(
            &b"INVITE sip:bob@x SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK1\r\n\
               From: <sip:a@x>;tag=1\r\nTo: <sip:bob@x>\r\nCall-ID: c\r\nCSeq: 1 INVITE\r\n\
               Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n"[..],
        )
        .unwrap();
        assert_eq!(c.for_response(&invite), "<sip:bob@127.0.0.1:5060>");
        assert_eq!(
            c.addr_for_response(&invite).map(|a| a.uri().to_string()),
            Some("sip:bob@127.0.0.1:5060".to_owned())
        );
    }

    #[test]
    fn a_transport_without_listener_gets_the_first_listener() {
        let c = Contacts::new("bob", &[(Kind::Tcp, "127.0.0.1:5070".parse().unwrap())]);
        let to = "192.0.2.1:5060".parse().unwrap();
        assert_eq!(
            c.for_request(Kind::Udp, false, to),
            "<sip:bob@127.0.0.1:5070;transport=tcp>"
        );
        let none = Contacts::new("bob", &[]);
        assert_eq!(
            none.for_request(Kind::Udp, false, to),
            "<sip:bob@127.0.0.1:5060>"
        );
    }

    #[test]
    fn a_response_answers_on_the_transport_of_the_request() {
        let c = contacts();
        let req = |via: &str, ruri: &str| {
            Message::parse(format!(
                "INVITE {ruri} SIP/2.0\r\nVia: SIP/2.0/{via} 192.0.2.1;branch=z9hG4bK1\r\n\
                 From: <sip:a@x>;tag=1\r\nTo: <sip:bob@x>\r\nCall-ID: c\r\nCSeq: 1 INVITE\r\n\
                 Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
            ))
            .unwrap()
        };
        assert_eq!(
            c.for_response(&req("TCP", "sip:bob@x")),
            "<sip:bob@127.0.0.1:5070;transport=tcp>"
        );
        assert_eq!(
            c.for_response(&req("TLS", "sips:bob@x")),
            "<sips:bob@127.0.0.1:5071>"
        );
        assert_eq!(
            c.for_response(&req("UDP", "sip:bob@x")),
            "<sip:bob@127.0.0.1:5060>",
            "the UDP listener of the family of the sender (192.0.2.1)"
        );
        assert!(c.addr_for_response(&req("TCP", "sip:bob@x")).is_some());
    }
}
