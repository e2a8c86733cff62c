//! Via (RFC 3261 §20.42, §18.2.1; rport RFC 3581; IPv6 RFC 5118).

use std::fmt;

use bytes::Bytes;
use bytestring::ByteString;
use nom::error::ErrorKind;
use smallvec::SmallVec;

use super::TypedHeader;
use crate::header_name::HeaderName;
use crate::lex::{self, fail, sep, skip_ws, token, PResult, RawParam};
use crate::params::Params;
use crate::uri::Host;

/// The branch magic cookie of RFC 3261 §8.1.1.7.
pub const MAGIC_COOKIE: &str = "z9hG4bK";

/// The transport of a Via or a target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Transport {
    /// UDP
    Udp,
    /// TCP
    Tcp,
    /// TLS over TCP
    Tls,
    /// SCTP
    Sctp,
    /// TLS over SCTP
    TlsSctp,
    /// WebSocket (RFC 7118)
    Ws,
    /// Secure WebSocket (RFC 7118)
    Wss,
    /// Any other token (kept as text in [`Via::transport_name`]).
    Other,
}

impl Transport {
    /// Recognises a transport token (case-insensitive).
    pub fn from_bytes(b: &[u8]) -> Transport {
        match b.len() {
            2 if b.eq_ignore_ascii_case(b"ws") => Transport::Ws,
            3 if b.eq_ignore_ascii_case(b"udp") => Transport::Udp,
            3 if b.eq_ignore_ascii_case(b"tcp") => Transport::Tcp,
            3 if b.eq_ignore_ascii_case(b"tls") => Transport::Tls,
            3 if b.eq_ignore_ascii_case(b"wss") => Transport::Wss,
            4 if b.eq_ignore_ascii_case(b"sctp") => Transport::Sctp,
            8 if b.eq_ignore_ascii_case(b"tls-sctp") => Transport::TlsSctp,
            _ => Transport::Other,
        }
    }
    /// The upper-case token used in Via.
    pub fn as_str(self) -> &'static str {
        match self {
            Transport::Udp => "UDP",
            Transport::Tcp => "TCP",
            Transport::Tls => "TLS",
            Transport::Sctp => "SCTP",
            Transport::TlsSctp => "TLS-SCTP",
            Transport::Ws => "WS",
            Transport::Wss => "WSS",
            Transport::Other => "OTHER",
        }
    }
    /// True for transports that retransmit for us (RFC 3261 §17: timers
    /// D, I, J, K are zero and A, E, G are not used).
    pub fn is_reliable(self) -> bool {
        !matches!(self, Transport::Udp | Transport::Other)
    }
    /// The default port: 5061 for TLS-based transports, 5060 otherwise (RFC 3261 §19.1.2).
    pub fn default_port(self) -> u16 {
        match self {
            Transport::Tls | Transport::TlsSctp | Transport::Wss => 5061,
            _ => 5060,
        }
    }
}

impl fmt::Display for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The fixed part of a Via value, as slices of the message.
pub(crate) struct ViaHead<'a> {
    pub(crate) protocol: &'a [u8],
    pub(crate) version: &'a [u8],
    pub(crate) transport: &'a [u8],
    pub(crate) host: &'a [u8],
    pub(crate) port: Option<u16>,
}

/// `via-parm = sent-protocol LWS sent-by *( SEMI via-params )`, where
/// `sent-protocol = protocol-name SLASH protocol-version SLASH transport`;
/// each parameter goes to `on_param`. Returns the head and the rest.
#[inline(always)]
pub(crate) fn scan_via<'a>(
    i: &'a [u8],
    on_param: impl FnMut(&'a [u8], Option<&'a [u8]>),
) -> Option<(ViaHead<'a>, &'a [u8])> {
    let i = skip_ws(i);
    // Fast path for the form nearly everyone writes: "SIP/2.0/<t> ".
    let fast = i.strip_prefix(b"SIP/2.0/").and_then(|r| {
        let n = r.iter().position(|b| !lex::is_token(*b)).unwrap_or(r.len());
        // White space after the slash (SLASH = SWS "/" SWS) takes the general path.
        (n > 0).then(|| (&r[n..], &i[..3], &i[4..7], &r[..n]))
    });
    let (i, protocol, version, transport) = match fast {
        Some(parts) => parts,
        None => {
            let (i, protocol) = token(i).ok()?;
            let (i, ()) = sep(b'/')(i).ok()?;
            let (i, version) = token(i).ok()?;
            let (i, ()) = sep(b'/')(i).ok()?;
            let (i, transport) = token(i).ok()?;
            (i, protocol, version, transport)
        }
    };
    // LWS is mandatory before sent-by.
    let j = skip_ws(i);
    if j.len() == i.len() {
        return None;
    }
    let (i, host) = sent_by_host(j).ok()?;
    let (i, port) = match sep(b':')(i) {
        Ok((r, ())) => {
            let (r, p) = lex::digits::<u16>(r).ok()?;
            (r, Some(p))
        }
        Err(_) => (i, None),
    };
    let rest = lex::scan_params(i, on_param)?;
    Some((
        ViaHead {
            protocol,
            version,
            transport,
            host,
            port,
        },
        rest,
    ))
}

fn sent_by_host(i: &[u8]) -> PResult<'_, &[u8]> {
    let end = if i.first() == Some(&b'[') {
        match i.iter().position(|b| *b == b']') {
            Some(p) => p + 1,
            None => return fail(i, ErrorKind::Char),
        }
    } else {
        lex::host_run(i)
    };
    if end == 0 {
        return fail(i, ErrorKind::Char);
    }
    Ok((&i[end..], &i[..end]))
}

/// The `rport` parameter (RFC 3581).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Rport {
    /// `;rport` without a value: the client asks for it.
    Requested,
    /// `;rport=N` filled in by the server.
    Port(u16),
}

pub(crate) fn rport_of(v: Option<&[u8]>) -> Option<Rport> {
    match v {
        None => Some(Rport::Requested),
        Some(v) => lex::number::<u16>(v).map(Rport::Port),
    }
}

/// One Via value.
///
/// ```
/// use sip_message::headers::{Via, Transport};
/// use sip_message::headers::TypedHeader;
/// let v = Via::from_value("SIP/2.0/UDP [2001:db8::9:1]:5070;branch=z9hG4bK6a;rport")?;
/// assert_eq!(v.transport(), Transport::Udp);
/// assert_eq!(v.port(), Some(5070));
/// assert_eq!(v.branch(), Some("z9hG4bK6a"));
/// assert!(v.rport().is_some());
/// # Ok::<(), sip_message::HeaderError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Via {
    protocol: ByteString,
    version: ByteString,
    transport_name: ByteString,
    transport: Transport,
    host: Host,
    port: Option<u16>,
    params: Params,
}

impl Via {
    /// A `SIP/2.0/<transport>` Via with a sent-by and a branch.
    pub fn new(transport: Transport, host: Host, port: Option<u16>, branch: &str) -> Via {
        let mut params = Params::new();
        params.set("branch", Some(branch));
        Via {
            protocol: "SIP".into(),
            version: "2.0".into(),
            transport_name: transport.as_str().into(),
            transport,
            host,
            port,
            params,
        }
    }
    /// Sets the transport (the token becomes the canonical one).
    pub fn set_transport(&mut self, t: Transport) {
        self.transport = t;
        self.transport_name = t.as_str().into();
    }
    /// Sets the sent-by host and port.
    pub fn set_sent_by(&mut self, host: Host, port: Option<u16>) {
        self.host = host;
        self.port = port;
    }
    /// The transport.
    pub fn transport(&self) -> Transport {
        self.transport
    }
    /// The transport token as written.
    pub fn transport_name(&self) -> &str {
        &self.transport_name
    }
    /// Protocol name and version (`SIP`, `2.0`).
    pub fn protocol(&self) -> (&str, &str) {
        (&self.protocol, &self.version)
    }
    /// The sent-by host.
    pub fn host(&self) -> &Host {
        &self.host
    }
    /// The sent-by port.
    pub fn port(&self) -> Option<u16> {
        self.port
    }
    /// The parameters.
    pub fn params(&self) -> &Params {
        &self.params
    }
    /// Mutable parameters (e.g. to add `received`).
    pub fn params_mut(&mut self) -> &mut Params {
        &mut self.params
    }
    /// `branch`.
    pub fn branch(&self) -> Option<&str> {
        self.params.value("branch")
    }
    /// `received`.
    pub fn received(&self) -> Option<&str> {
        self.params.value("received")
    }
    /// `rport` (RFC 3581).
    pub fn rport(&self) -> Option<Rport> {
        let p = self.params.get("rport")?;
        rport_of(p.value().map(str::as_bytes))
    }
    /// `maddr`.
    pub fn maddr(&self) -> Option<&str> {
        self.params.value("maddr")
    }
    /// `ttl`.
    pub fn ttl(&self) -> Option<u8> {
        self.params.value("ttl").and_then(|t| t.parse().ok())
    }
}

impl TypedHeader for Via {
    const NAME: HeaderName = HeaderName::Via;
    const LIST: bool = true;
    fn encode_value(&self, out: &mut Vec<u8>) {
        self.encode(out);
    }
    fn decode(src: &Bytes, value: &[u8]) -> Option<Self> {
        let mut params: SmallVec<[RawParam<'_>; 4]> = SmallVec::new();
        let (r, rest) = scan_via(value, |n, v| params.push((n, v)))?;
        if !skip_ws(rest).is_empty() {
            return None;
        }
        let t = |s| lex::text(src, s);
        // RFC 5118 §4.5: received may hold an IPv6 address, bracketed or not.
        if let Some((_, Some(v))) = params.iter().find(|(n, _)| lex::eq_ic(n, b"received")) {
            Host::parse(v, true)?;
        }
        Some(Via {
            protocol: t(r.protocol)?,
            version: t(r.version)?,
            transport_name: t(r.transport)?,
            transport: Transport::from_bytes(r.transport),
            host: Host::parse(r.host, false)?,
            port: r.port,
            params: Params::from_raw(src, &params)?,
        })
    }
}

impl Via {
    fn encode(&self, out: &mut Vec<u8>) {
        // sent-protocol SP sent-by (RFC 3261 §20.42)
        out.extend_from_slice(self.protocol.as_bytes());
        out.push(b'/');
        out.extend_from_slice(self.version.as_bytes());
        out.push(b'/');
        out.extend_from_slice(self.transport_name.as_bytes());
        out.push(b' ');
        self.host.encode(out);
        if let Some(p) = self.port {
            out.push(b':');
            crate::encode::put_u64(out, u64::from(p));
        }
        self.params.encode(out);
    }
}

impl fmt::Display for Via {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for part in [
            &*self.protocol,
            "/",
            &*self.version,
            "/",
            &*self.transport_name,
            " ",
        ] {
            f.write_str(part)?;
        }
        fmt::Display::fmt(&self.host, f)?;
        if let Some(p) = self.port {
            f.write_str(":")?;
            fmt::Display::fmt(&p, f)?;
        }
        fmt::Display::fmt(&self.params, f)
    }
}
