//! The Via rules of RFC 3261 §18 and RFC 3581, as pure functions.

use std::net::{IpAddr, SocketAddr};

use sip_message::headers::{Rport, Transport as Kind};
use sip_message::uri::Host;
use sip_message::{Message, ViaEditError};

use crate::inbound::ConnectionId;

/// §18.2.1 and RFC 3581 §4: the server transport adds `received` when the
/// sent-by host is not the source address (or `rport` is asked for), and
/// fills in `rport` with the source port when the client asked for it.
/// Returns the message unchanged when nothing is to be added.
pub fn stamp_received(msg: Message, source: SocketAddr) -> Result<Message, ViaEditError> {
    let Some(top) = msg.top_via() else {
        return Ok(msg);
    };
    let wants_rport = top.rport() == Some(Rport::Requested);
    let same_host = top.sent_by_host().and_then(|h| h.ip()) == Some(source.ip());
    if same_host && !wants_rport {
        return Ok(msg);
    }
    let ip = unmap(source.ip()).to_string();
    msg.with_top_via(|v| {
        v.params_mut().set("received", Some(&ip));
        if wants_rport {
            v.params_mut()
                .set("rport", Some(&source.port().to_string()));
        }
    })
}

/// IPv4-mapped IPv6 sources (dual-stack sockets) are written as IPv4.
fn unmap(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// Sets the top Via transport and sent-by of an outgoing request to the
/// listener it leaves from (§18.1.1). Unchanged if already so.
pub fn stamp_sent_by(msg: Message, kind: Kind, local: SocketAddr) -> Result<Message, ViaEditError> {
    if let Some(top) = msg.top_via() {
        let host = Host::from(local.ip());
        if top.transport() == kind
            && top.port() == Some(local.port())
            && top.sent_by_host().as_ref() == Some(&host)
        {
            return Ok(msg);
        }
    }
    msg.with_top_via(|v| {
        v.set_transport(kind);
        v.set_sent_by(Host::from(local.ip()), Some(local.port()));
    })
}

/// Where a response goes (RFC 3261 §18.2.2, RFC 3581 §4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResponseDestination {
    /// Transport from the top Via.
    pub transport: Kind,
    /// Host to send to (received, maddr or sent-by).
    pub host: Host,
    /// Port (rport value, sent-by port or the default).
    pub port: u16,
    /// The connection the request came on, to be tried first (reliable transports).
    pub connection: Option<ConnectionId>,
}

/// Computes where a response goes from its top Via.
///
/// Reliable transport: back on the request's connection; if it is gone,
/// to `received` (or sent-by) at the sent-by port. Unreliable: to `maddr`
/// if present; otherwise to `received` at the `rport` value or sent-by
/// port; otherwise to sent-by.
pub fn response_destination(
    resp: &Message,
    connection: Option<ConnectionId>,
) -> Option<ResponseDestination> {
    let top = resp.top_via()?;
    let kind = top.transport();
    let sent_by = top.sent_by_host()?;
    let received = top
        .received()
        .and_then(|r| Host::from_text(r).or_else(|| bracket(r)));
    let default = kind.default_port();
    let rport = match top.rport() {
        Some(Rport::Port(p)) => Some(p),
        _ => None,
    };
    if kind.is_reliable() {
        return Some(ResponseDestination {
            transport: kind,
            host: received.unwrap_or(sent_by),
            port: rport.or(top.port()).unwrap_or(default),
            connection,
        });
    }
    if let Some(maddr) = top.maddr().and_then(Host::from_text) {
        return Some(ResponseDestination {
            transport: kind,
            host: maddr,
            port: top.port().unwrap_or(default),
            connection: None,
        });
    }
    if let Some(r) = received {
        return Some(ResponseDestination {
            transport: kind,
            host: r,
            port: rport.or(top.port()).unwrap_or(default),
            connection: None,
        });
    }
    Some(ResponseDestination {
        transport: kind,
        host: sent_by,
        port: top.port().unwrap_or(default),
        connection: None,
    })
}

/// A `received` IPv6 address without brackets (RFC 5118 §4.5).
fn bracket(s: &str) -> Option<Host> {
    Host::from_text(&format!("[{s}]"))
}

/// §18.1.2: a response whose top Via sent-by is not one of ours is dropped.
pub fn response_is_ours(resp: &Message, ours: &[SocketAddr]) -> bool {
    let Some(top) = resp.top_via() else {
        return false;
    };
    let Some(host) = top.sent_by_host() else {
        return false;
    };
    let port = top.port().unwrap_or(top.transport().default_port());
    ours.iter().any(|a| {
        a.port() == port
            && match host.ip() {
                Some(ip) => ip == a.ip() || a.ip().is_unspecified(),
                // A name we advertised cannot be checked without resolving; accept it.
                None => true,
            }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(via: &str) -> Message {
        Message::parse(format!(
            "OPTIONS sip:a@b SIP/2.0\r\nVia: {via}\r\nCall-ID: c\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
        ))
        .unwrap()
    }
    fn resp(via: &str) -> Message {
        Message::parse(format!(
            "SIP/2.0 200 OK\r\nVia: {via}\r\nCall-ID: c\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
        ))
        .unwrap()
    }

    #[test]
    fn rfc3261_18_2_1_received_added_when_sent_by_differs() {
        let src: SocketAddr = "192.0.2.7:5060".parse().unwrap();
        let m = stamp_received(
            req("SIP/2.0/UDP bobspc.biloxi.com:5060;branch=z9hG4bK1"),
            src,
        )
        .unwrap();
        assert_eq!(m.top_via().unwrap().received(), Some("192.0.2.7"));
        let same = stamp_received(req("SIP/2.0/UDP 192.0.2.7:5060;branch=z9hG4bK1"), src).unwrap();
        assert_eq!(same.top_via().unwrap().received(), None);
    }

    #[test]
    fn rfc3581_4_rport_filled_and_received_always_added() {
        let src: SocketAddr = "192.0.2.7:40612".parse().unwrap();
        let m =
            stamp_received(req("SIP/2.0/UDP 192.0.2.7:5060;branch=z9hG4bK1;rport"), src).unwrap();
        let v = m.top_via().unwrap();
        assert_eq!(v.rport(), Some(Rport::Port(40612)));
        assert_eq!(v.received(), Some("192.0.2.7"));
    }

    #[test]
    fn rfc3261_18_2_2_unreliable_destinations() {
        let d = response_destination(
            &resp("SIP/2.0/UDP a.example.com:5070;branch=z9hG4bK1;received=192.0.2.7;rport=40612"),
            None,
        )
        .unwrap();
        assert_eq!((d.host, d.port), (Host::Ipv4([192, 0, 2, 7].into()), 40612));
        let d = response_destination(
            &resp("SIP/2.0/UDP a.example.com:5070;branch=z9hG4bK1;received=192.0.2.7"),
            None,
        )
        .unwrap();
        assert_eq!(d.port, 5070);
        let d = response_destination(
            &resp("SIP/2.0/UDP a.example.com;branch=z9hG4bK1;maddr=239.0.0.1"),
            None,
        )
        .unwrap();
        assert_eq!((d.host, d.port), (Host::Ipv4([239, 0, 0, 1].into()), 5060));
        let d =
            response_destination(&resp("SIP/2.0/UDP a.example.com;branch=z9hG4bK1"), None).unwrap();
        assert_eq!(d.host, Host::Domain("a.example.com".into()));
        let d = response_destination(
            &resp("SIP/2.0/UDP [2001:db8::1];branch=z9hG4bK1;received=2001:db8::9"),
            None,
        )
        .unwrap();
        assert_eq!(d.host, Host::Ipv6("2001:db8::9".parse().unwrap()));
    }

    #[test]
    fn rfc3261_18_2_2_reliable_uses_connection() {
        let d = response_destination(
            &resp("SIP/2.0/TCP a.example.com:5070;branch=z9hG4bK1;received=192.0.2.7"),
            Some(ConnectionId(4)),
        )
        .unwrap();
        assert_eq!(d.connection, Some(ConnectionId(4)));
        assert_eq!((d.host, d.port), (Host::Ipv4([192, 0, 2, 7].into()), 5070));
    }

    #[test]
    fn rfc3261_18_1_2_foreign_responses_are_not_ours() {
        let ours = ["127.0.0.1:5062".parse().unwrap()];
        assert!(response_is_ours(
            &resp("SIP/2.0/UDP 127.0.0.1:5062;branch=z9hG4bK1"),
            &ours
        ));
        assert!(!response_is_ours(
            &resp("SIP/2.0/UDP 127.0.0.1:5063;branch=z9hG4bK1"),
            &ours
        ));
        assert!(!response_is_ours(
            &resp("SIP/2.0/UDP 192.0.2.1:5062;branch=z9hG4bK1"),
            &ours
        ));
    }

    #[test]
    fn rfc3261_18_1_1_sent_by_stamped() {
        let m = stamp_sent_by(
            req("SIP/2.0/UDP placeholder;branch=z9hG4bK1"),
            Kind::Tcp,
            "127.0.0.1:5070".parse().unwrap(),
        )
        .unwrap();
        let v = m.top_via().unwrap();
        assert_eq!(
            (v.transport(), v.host(), v.port()),
            (Kind::Tcp, "127.0.0.1", Some(5070))
        );
        assert_eq!(v.branch(), Some("z9hG4bK1"));
    }
}
