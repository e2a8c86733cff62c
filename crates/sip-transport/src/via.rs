//! The Via rules of RFC 3261 §18 and RFC 3581, as pure functions.

use std::net::{IpAddr, SocketAddr};

use bytes::Bytes;

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
    let ip = ip_text(unmap(source.ip()));
    // Spliced in, the spans moved (no second parse) where the Via is
    // simple; decoded and rebuilt otherwise.
    if let Some(m) = msg.with_received(&ip, wants_rport.then_some(source.port())) {
        return Ok(m);
    }
    msg.with_top_via(|v| {
        v.params_mut().set("received", Some(&ip));
        if wants_rport {
            v.params_mut()
                .set("rport", Some(&source.port().to_string()));
        }
    })
}

/// An address as text (IPv6 without brackets, as `received` takes it).
fn ip_text(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(_) => {
            let mut out = Vec::with_capacity(15);
            Host::from(ip).encode(&mut out);
            String::from_utf8(out).unwrap_or_default()
        }
        IpAddr::V6(v6) => v6.to_string(),
    }
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

/// Byte offset of `part` in `buf` when `part` is a view of `buf` (the
/// [`sip_message::TopVia`] accessors return views of the message buffer).
fn offset_in(buf: &[u8], part: &[u8]) -> Option<usize> {
    let off = (part.as_ptr() as usize).checked_sub(buf.as_ptr() as usize)?;
    let end = off.checked_add(part.len())?;
    // Within `buf`'s own memory the bytes are `buf`'s: no need to compare.
    (end <= buf.len()).then_some(off)
}

fn skip_lws(buf: &[u8], mut i: usize) -> usize {
    while buf
        .get(i)
        .is_some_and(|b| matches!(b, b' ' | b'\t' | b'\r' | b'\n'))
    {
        i += 1;
    }
    i
}

/// Where the top Via's `transport SWS sent-by` runs in `msg`'s bytes:
/// from the transport token to the end of the port (or host).
fn sent_by_range(msg: &Message) -> Option<(usize, usize)> {
    let top = msg.top_via()?;
    let buf = msg.as_bytes();
    // Read as bytes (no UTF-8 check). Text that is not ASCII is left to
    // the general path, as it was when `transport_name`/`host` read it as
    // "" (not a view of the message) for octets that are not UTF-8.
    let name = top.transport_name_bytes();
    let host = top.host_bytes();
    if !name.is_ascii() || !host.is_ascii() {
        return None;
    }
    let start = offset_in(buf, name)?;
    let host_at = offset_in(buf, host)?;
    if host.is_empty() || host_at < start + name.len() {
        return None;
    }
    let mut end = host_at + host.len();
    if top.port().is_some() {
        // sent-by = host [ COLON port ], COLON = SWS ":" SWS (§25.1).
        let colon = skip_lws(buf, end);
        if buf.get(colon) != Some(&b':') {
            return None;
        }
        let digits = skip_lws(buf, colon + 1);
        end = digits;
        while buf.get(end).is_some_and(u8::is_ascii_digit) {
            end += 1;
        }
        if end == digits {
            return None;
        }
    }
    Some((start, end))
}

/// The text that replaces the top Via's `transport SWS sent-by`:
/// `TRANSPORT host:port`, on the stack (at most `TLS-SCTP [v6]:65535`).
#[derive(Clone, Copy)]
pub(crate) struct SentByText {
    buf: [u8; 64],
    len: usize,
}

impl SentByText {
    /// The text for a request leaving over `kind` from `local` (§18.1.1).
    pub(crate) fn new(kind: Kind, local: SocketAddr) -> SentByText {
        let mut t = SentByText::empty();
        t.push(kind.as_str().as_bytes());
        t.push_byte(b' ');
        t.push_host_port(local);
        t
    }

    fn empty() -> SentByText {
        SentByText {
            buf: [0; 64],
            len: 0,
        }
    }

    fn push(&mut self, b: &[u8]) {
        // Bounded by construction (8 + 1 + 47 + 1 + 5 < 64); never panics.
        if let Some(dst) = self.buf.get_mut(self.len..self.len + b.len()) {
            dst.copy_from_slice(b);
            self.len += b.len();
        }
    }

    fn push_byte(&mut self, b: u8) {
        if let Some(dst) = self.buf.get_mut(self.len) {
            *dst = b;
            self.len += 1;
        }
    }

    /// Decimal, no leading zeros.
    fn push_u16(&mut self, n: u16) {
        let (d, start) = sip_message::encode::decimal_digits(u64::from(n));
        self.push(&d[start..]);
    }

    /// `host:port` (IPv6 in brackets, RFC 3261 §25.1), as
    /// [`Host::encode`] writes the host: IPv4 digit by digit, without `fmt`.
    fn push_host_port(&mut self, a: SocketAddr) {
        match Host::from(a.ip()) {
            Host::Ipv4(v4) => self.push_ipv4(v4),
            other => {
                use std::fmt::Write as _;
                let _ = write!(self, "{other}");
            }
        }
        self.push_byte(b':');
        self.push_u16(a.port());
    }

    /// Dotted decimal, as [`Host::encode`] writes it.
    fn push_ipv4(&mut self, v4: std::net::Ipv4Addr) {
        let (out, n) = sip_message::encode::ipv4_digits(v4);
        self.push(&out[..n]);
    }

    pub(crate) fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

impl std::fmt::Write for SentByText {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        if self.len + s.len() > self.buf.len() {
            return Err(std::fmt::Error);
        }
        self.push(s.as_bytes());
        Ok(())
    }
}

/// An outgoing request's bytes with its top Via transport and sent-by set
/// to the listener it leaves from (§18.1.1), as three pieces: the bytes
/// before, the new `transport sent-by`, the bytes after.
pub(crate) struct Spliced<'a> {
    pub(crate) head: &'a [u8],
    pub(crate) sent_by: SentByText,
    pub(crate) tail: &'a [u8],
}

impl Spliced<'_> {
    pub(crate) fn len(&self) -> usize {
        self.head.len() + self.sent_by.as_bytes().len() + self.tail.len()
    }

    /// The pieces joined: one allocation of exactly the length, which
    /// `Bytes` takes over as it is (a `Vec` with spare capacity would cost
    /// it a second, shared-state allocation).
    pub(crate) fn to_bytes(&self) -> Bytes {
        let mut out = Vec::with_capacity(self.len());
        out.extend_from_slice(self.head);
        out.extend_from_slice(self.sent_by.as_bytes());
        out.extend_from_slice(self.tail);
        Bytes::from(out)
    }
}

/// How an outgoing request's top Via gets the listener's transport and
/// sent-by (§18.1.1) without decode, re-encode or re-parse: `Ok(None)`
/// when it already has them (the bytes go out as they are), else the
/// pieces to send. `Err(())` when the Via cannot be located that way; the
/// caller then uses [`stamp_sent_by`]. The message itself is not needed
/// after the send (the transaction keeps its own copy, and a
/// retransmission is stamped again the same way), so only bytes are made.
/// The new text comes from `text`, which must be `SentByText::new(kind,
/// local)` (a listener keeps its own, written once).
pub(crate) fn sent_by_splice(
    msg: &Message,
    kind: Kind,
    local: SocketAddr,
    text: impl FnOnce() -> SentByText,
) -> Result<Option<Spliced<'_>>, ()> {
    let top = msg.top_via().ok_or(())?;
    if top.transport() == kind
        && top.port() == Some(local.port())
        && top.sent_by_host() == Some(Host::from(local.ip()))
    {
        return Ok(None);
    }
    let (start, end) = sent_by_range(msg).ok_or(())?;
    let buf = msg.as_bytes();
    Ok(Some(Spliced {
        head: &buf[..start],
        sent_by: text(),
        tail: &buf[end..],
    }))
}

/// The wire bytes of [`sent_by_splice`], joined. `None` when the Via
/// cannot be located that way; the caller then uses [`stamp_sent_by`].
#[cfg(test)]
pub(crate) fn sent_by_bytes(msg: &Message, kind: Kind, local: SocketAddr) -> Option<Bytes> {
    match sent_by_splice(msg, kind, local, || SentByText::new(kind, local)) {
        Ok(None) => Some(msg.as_bytes().clone()),
        Ok(Some(s)) => Some(s.to_bytes()),
        Err(()) => None,
    }
}

#[cfg(test)]
/// `host:port` of a socket address (IPv6 in brackets, RFC 3261 §25.1).
fn push_host_port(out: &mut Vec<u8>, a: SocketAddr) {
    Host::from(a.ip()).encode(out);
    out.push(b':');
    sip_message::encode::put_u64(out, u64::from(a.port()));
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
    is_ours(
        resp,
        ours.iter().copied(),
        ours.iter().map(|a| IpText::new(a.ip())),
    )
}

/// [`response_is_ours`] against our sent-by addresses with their text
/// written once (the transport's, made at bind).
pub(crate) fn response_is_ours_among(resp: &Message, ours: &[SentBy]) -> bool {
    is_ours(
        resp,
        ours.iter().map(|o| o.addr),
        ours.iter().map(|o| o.text),
    )
}

/// An address we put in Via sent-by, with its IPv4 text as we write it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SentBy {
    pub(crate) addr: SocketAddr,
    text: IpText,
}

impl SentBy {
    pub(crate) fn new(addr: SocketAddr) -> SentBy {
        SentBy {
            addr,
            text: IpText::new(addr.ip()),
        }
    }
}

/// Dotted decimal of an IPv4 address as [`Host::encode`] writes it;
/// empty (matching no text) for IPv6.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct IpText {
    buf: [u8; 15],
    len: u8,
}

impl IpText {
    fn new(ip: IpAddr) -> IpText {
        match ip {
            IpAddr::V4(v4) => {
                let (buf, n) = sip_message::encode::ipv4_digits(v4);
                IpText { buf, len: n as u8 }
            }
            IpAddr::V6(_) => IpText {
                buf: [0; 15],
                len: 0,
            },
        }
    }

    /// True if `text` is this address as we write it (never for IPv6).
    fn is(&self, text: &[u8]) -> bool {
        self.len > 0 && self.buf.get(..usize::from(self.len)) == Some(text)
    }
}

/// The check of [`response_is_ours`]: `addrs` and `texts` are our
/// addresses and their [`IpText`]s, in the same order.
fn is_ours(
    resp: &Message,
    addrs: impl Iterator<Item = SocketAddr> + Clone,
    texts: impl Iterator<Item = IpText>,
) -> bool {
    let Some(top) = resp.top_via() else {
        return false;
    };
    let port = top.port().unwrap_or(top.transport().default_port());
    // The sent-by as we wrote it (§18.1.1: one of our listeners, IPv4):
    // ours without parsing the address. Anything else is decided below.
    // As bytes: digits and dots are ASCII, so octets that are not UTF-8
    // (which `host` reads as "") match no address either way.
    let text = top.host_bytes();
    if addrs
        .clone()
        .zip(texts)
        .any(|(a, t)| a.port() == port && t.is(text))
    {
        return true;
    }
    let Some(host) = top.sent_by_host() else {
        return false;
    };
    addrs.into_iter().any(|a| {
        a.port() == port
            && match host.ip() {
                Some(ip) => ip == a.ip() || a.ip().is_unspecified(),
                // A name we advertised cannot be checked without resolving; accept it.
                None => true,
            }
    })
}

#[cfg(test)]
mod host_port_tests {
    use super::push_host_port;

    #[test]
    fn host_port_matches_the_standard_formatting() {
        for a in [
            "0.0.0.0:0",
            "127.0.0.1:5060",
            "255.255.255.255:65535",
            "10.0.100.9:9",
            "1.22.3.44:10",
            "100.2.30.4:99",
            "9.9.9.9:100",
            "9.9.9.9:1000",
            "9.9.9.9:9999",
            "9.9.9.9:10000",
            "[::1]:5060",
            "[2001:db8::7]:65000",
        ] {
            let addr: std::net::SocketAddr = a.parse().unwrap();
            let mut out = Vec::new();
            push_host_port(&mut out, addr);
            assert_eq!(String::from_utf8(out).unwrap(), addr.to_string());
            for kind in [super::Kind::Udp, super::Kind::TlsSctp] {
                let t = super::SentByText::new(kind, addr);
                assert_eq!(t.as_bytes(), format!("{} {addr}", kind.as_str()).as_bytes());
            }
            assert_eq!(super::ip_text(addr.ip()), addr.ip().to_string());
        }
    }
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
        // The text fast path and the parsed address agree.
        let ours: [SocketAddr; 3] = [
            "127.0.0.1:5062".parse().unwrap(),
            "0.0.0.0:5070".parse().unwrap(),
            "[::1]:5080".parse().unwrap(),
        ];
        for (via, want) in [
            ("SIP/2.0/UDP 127.0.0.1:5062", true),
            ("SIP/2.0/UDP 127.0.0.10:5062", false),
            ("SIP/2.0/UDP 127.0.0.1:5070", true),
            ("SIP/2.0/UDP 192.0.2.9:5070", true),
            ("SIP/2.0/UDP 0.0.0.0:5062", false),
            ("SIP/2.0/UDP [::1]:5080", true),
            ("SIP/2.0/UDP [0:0::1]:5080", true),
            ("SIP/2.0/UDP [::2]:5080", false),
            ("SIP/2.0/UDP ours.example.com:5080", true),
            ("SIP/2.0/UDP ours.example.com:5081", false),
            ("SIP/2.0/UDP 127.0.0.1", false),
        ] {
            let r = resp(&format!("{via};branch=z9hG4bK1"));
            assert_eq!(response_is_ours(&r, &ours), want, "{via}");
            // With the texts written once: the same answer.
            let among: Vec<SentBy> = ours.iter().map(|a| SentBy::new(*a)).collect();
            assert_eq!(response_is_ours_among(&r, &among), want, "{via}");
        }
        for a in [
            "0.0.0.0",
            "1.2.3.4",
            "10.20.30.40",
            "255.255.255.255",
            "100.0.9.99",
        ] {
            let ip: IpAddr = a.parse().unwrap();
            assert!(IpText::new(ip).is(a.as_bytes()));
            assert!(!IpText::new(ip).is(format!("{a}0").as_bytes()));
        }
        assert!(!IpText::new("::1".parse().unwrap()).is(b"::1"));
        assert!(!IpText::new("::1".parse().unwrap()).is(b""));
    }

    #[test]
    fn offset_in_finds_views_only() {
        let buf = b"SIP/2.0/UDP host;branch=z9hG4bK1".to_vec();
        assert_eq!(offset_in(&buf, &buf[8..11]), Some(8));
        assert_eq!(offset_in(&buf, &buf[buf.len()..]), Some(buf.len()));
        // The same bytes elsewhere are not a view of `buf`.
        let copy = buf[8..11].to_vec();
        assert_eq!(offset_in(&buf, &copy), None);
        assert_eq!(offset_in(&buf[..10], &buf[8..11]), None);
        assert_eq!(offset_in(&buf[9..], &buf[8..11]), None);
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

    #[test]
    fn rfc3261_18_1_1_sent_by_spliced_like_rebuilt() {
        let cases = [
            (
                "SIP/2.0/UDP placeholder.invalid;branch=z9hG4bK1;rport",
                "127.0.0.1:5070",
            ),
            (
                "SIP / 2.0 / UDP  a.example.com : 5070 ;branch=z9hG4bK1",
                "127.0.0.1:5070",
            ),
            (
                "SIP/2.0/TCP [2001:db8::1]:5060;branch=z9hG4bK1",
                "[2001:db8::2]:5080",
            ),
            (
                "SIP/2.0/UDP h;branch=z9hG4bK1, SIP/2.0/UDP other;branch=z9hG4bK2",
                "192.0.2.1:5060",
            ),
            ("SIP/2.0/UDP h", "192.0.2.1:5060"),
            (
                "SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK1",
                "192.0.2.1:5060",
            ),
            // Our address spelled otherwise.
            (
                "SIP/2.0/udp 192.0.2.1 : 5060;branch=z9hG4bK1",
                "192.0.2.1:5060",
            ),
        ];
        for (via, local) in cases {
            let local: SocketAddr = local.parse().unwrap();
            for kind in [Kind::Udp, Kind::Tcp] {
                let m = req(via);
                let spliced = Message::parse(sent_by_bytes(&m, kind, local).unwrap()).unwrap();
                let rebuilt = stamp_sent_by(m.clone(), kind, local).unwrap();
                let (a, b) = (spliced.top_via().unwrap(), rebuilt.top_via().unwrap());
                assert_eq!(
                    (a.transport(), a.sent_by_host(), a.port(), a.branch()),
                    (b.transport(), b.sent_by_host(), b.port(), b.branch()),
                    "{via}"
                );
                assert_eq!(a.params().trim(), b.params().trim(), "{via}");
                assert_eq!(spliced.via_count(), m.via_count());
                assert_eq!(spliced.body_bytes(), m.body_bytes());
            }
        }
        // Compact form, with a body after the headers.
        let m = Message::parse(
            "OPTIONS sip:a@b SIP/2.0\r\nv: SIP/2.0/UDP x.invalid;branch=z9hG4bK9\r\nCall-ID: c\r\n\
             CSeq: 1 OPTIONS\r\nContent-Length: 4\r\n\r\nbody",
        )
        .unwrap();
        let local: SocketAddr = "10.0.0.1:5062".parse().unwrap();
        let s = Message::parse(sent_by_bytes(&m, Kind::Udp, local).unwrap()).unwrap();
        let v = s.top_via().unwrap();
        assert_eq!((v.host(), v.port()), ("10.0.0.1", Some(5062)));
        assert_eq!(s.body_bytes(), b"body".as_slice());
        // Already right: the bytes go out as they are.
        let m = req("SIP/2.0/UDP 10.0.0.1:5062;branch=z9hG4bK1");
        assert_eq!(&sent_by_bytes(&m, Kind::Udp, local).unwrap(), m.as_bytes());
    }

    #[test]
    fn rfc3581_4_received_spliced_like_rebuilt() {
        let cases = [
            "SIP/2.0/UDP placeholder.invalid;branch=z9hG4bK1;rport",
            "SIP/2.0/UDP a.example.com:5070;rport;branch=z9hG4bK1",
            "SIP/2.0/UDP a.example.com:5070 ; RPORT ;branch=z9hG4bK1 , SIP/2.0/UDP b;branch=z9hG4bK2",
            "SIP/2.0/UDP a.example.com;branch=z9hG4bK1",
            "SIP/2.0/UDP a.example.com:5070",
            "SIP/2.0/TCP [2001:db8::1]:5060;branch=z9hG4bK1;rport",
            "SIP/2.0/UDP a.example.com;branch=z9hG4bK1;x=\"q;r\";rport",
            "SIP/2.0/UDP a.example.com;branch=z9hG4bK1;received=192.0.2.99",
        ];
        for src in ["192.0.2.7:40612", "[2001:db8::9]:40612"] {
            let src: SocketAddr = src.parse().unwrap();
            for via in cases {
                let m = req(via);
                let top = m.top_via().unwrap();
                let wants = top.rport() == Some(Rport::Requested);
                let ip = unmap(src.ip()).to_string();
                if !via.contains('"') && !via.contains("received") {
                    let b = m.with_received(&ip, wants.then_some(src.port()));
                    assert!(b.is_some(), "not spliced: {via}");
                }
                let spliced = stamp_received(m.clone(), src).unwrap();
                let rebuilt = m
                    .with_top_via(|v| {
                        v.params_mut().set("received", Some(&ip));
                        if wants {
                            v.params_mut().set("rport", Some(&src.port().to_string()));
                        }
                    })
                    .unwrap();
                let (a, b) = (spliced.top_via().unwrap(), rebuilt.top_via().unwrap());
                assert_eq!(
                    (a.transport(), a.host(), a.port(), a.branch()),
                    (b.transport(), b.host(), b.port(), b.branch()),
                    "{via}"
                );
                assert_eq!(
                    (a.received(), a.rport()),
                    (b.received(), b.rport()),
                    "{via}"
                );
                assert_eq!(a.received(), Some(ip.as_str()));
                assert_eq!(spliced.via_count(), m.via_count(), "{via}");
                let d = response_destination(&spliced, None).unwrap();
                assert_eq!(
                    d.port,
                    if wants {
                        40612
                    } else {
                        top.port().unwrap_or(5060)
                    }
                );
            }
        }
    }
}
