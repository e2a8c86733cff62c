//! Where to send: a transport and an address, picked from a SIP URI
//! (RFC 3261 §18, §19.1.2; RFC 3263 with NAPTR and SRV, see
//! [`crate::rfc3263`]), with the name lookups behind the [`Resolver`]
//! trait.

use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;

use sip_message::headers::Transport as Kind;
use sip_message::uri::{Host, Uri};
use smallvec::SmallVec;

use crate::error::TransportError;
use crate::inbound::ConnectionId;

/// A destination for one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// Transport.
    pub transport: Kind,
    /// Address.
    pub addr: SocketAddr,
    /// Host name for TLS server-name checks (SNI); the IP if none.
    pub server_name: Option<String>,
    /// Reuse this connection if it is still open.
    pub connection: Option<ConnectionId>,
    /// True if the transport came from the URI (`transport=` or `sips:`),
    /// in which case a large UDP request is not switched to TCP.
    pub explicit_transport: bool,
}

impl Target {
    /// A target with no connection preference.
    pub fn new(transport: Kind, addr: SocketAddr) -> Target {
        Target {
            transport,
            addr,
            server_name: None,
            connection: None,
            explicit_transport: false,
        }
    }
}

/// A boxed future, for object-safe async trait methods.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The name lookups of RFC 3263: addresses (A/AAAA), and the NAPTR and
/// SRV records that say which transport and port a domain's SIP service
/// uses. Replaceable, e.g. by a fixed table in tests. A resolver without
/// NAPTR and SRV (the defaults give none) still works: a name is then
/// reached at its addresses and the transport's default port.
pub trait Resolver: Send + Sync + 'static {
    /// The addresses of `host`, with `port` applied.
    fn lookup<'a>(
        &'a self,
        host: &'a str,
        port: u16,
    ) -> BoxFuture<'a, Result<Vec<SocketAddr>, TransportError>>;

    /// The NAPTR records of `domain` (RFC 3403); none if it has none.
    fn naptr<'a>(
        &'a self,
        _domain: &'a str,
    ) -> BoxFuture<'a, Result<Vec<crate::rfc3263::Naptr>, TransportError>> {
        Box::pin(async { Ok(Vec::new()) })
    }

    /// The SRV records of `name`, e.g. `_sip._udp.example.com` (RFC
    /// 2782); none if it has none.
    fn srv<'a>(
        &'a self,
        _name: &'a str,
    ) -> BoxFuture<'a, Result<Vec<crate::rfc3263::Srv>, TransportError>> {
        Box::pin(async { Ok(Vec::new()) })
    }
}

/// The system resolver through `tokio::net::lookup_host`.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemResolver;

impl Resolver for SystemResolver {
    fn lookup<'a>(
        &'a self,
        host: &'a str,
        port: u16,
    ) -> BoxFuture<'a, Result<Vec<SocketAddr>, TransportError>> {
        Box::pin(async move {
            let addrs = tokio::net::lookup_host((host, port))
                .await
                .map_err(|_| TransportError::Resolve(host.to_owned()))?;
            let v: Vec<SocketAddr> = addrs.collect();
            if v.is_empty() {
                return Err(TransportError::Resolve(host.to_owned()));
            }
            Ok(v)
        })
    }
}

/// The transport, host and port a URI asks for, before name lookup.
///
/// `transport=` selects the transport; `sips:` means TLS (RFC 3261
/// §19.1.2, §26.2); `maddr` overrides the host (§19.1.1); the port
/// defaults to 5060, or 5061 for TLS.
pub fn uri_destination(uri: &Uri) -> Result<(Kind, Host, u16, bool), TransportError> {
    let sip = uri
        .as_sip()
        .ok_or_else(|| TransportError::Resolve(format!("not a SIP URI: {uri}")))?;
    let (mut kind, explicit) = match sip.transport() {
        Some(t) => (Kind::from_bytes(t.as_bytes()), true),
        None => (Kind::Udp, false),
    };
    if sip.is_secure() {
        kind = match kind {
            Kind::Udp | Kind::Tcp | Kind::Tls => Kind::Tls,
            other => other,
        };
    }
    let host = match sip.maddr().and_then(Host::from_text) {
        Some(h) => h,
        None => sip.host().clone(),
    };
    let port = sip.port().unwrap_or_else(|| kind.default_port());
    Ok((kind, host, port, explicit || sip.is_secure()))
}

/// The targets [`resolve`] gives, in order: one, inline, for a numeric
/// host (no allocation on the path of every request to an IP address),
/// as many as the resolver returns for a name.
pub type Targets = SmallVec<[Target; 1]>;

/// The target for a numeric host (RFC 3263 §4.2: an IP literal is used
/// as it is, no lookup; its server name for TLS is the address itself,
/// so none); `None` for a name.
fn ip_target(kind: Kind, host: &Host, port: u16, explicit: bool) -> Option<Target> {
    let ip = match host {
        Host::Ipv4(a) => IpAddr::V4(*a),
        Host::Ipv6(a) => IpAddr::V6(*a),
        Host::Domain(_) => return None,
    };
    Some(Target {
        transport: kind,
        addr: SocketAddr::new(ip, port),
        server_name: None,
        connection: None,
        explicit_transport: explicit,
    })
}

/// The one target of a URI whose destination host is an IP literal,
/// found without awaiting anything; `None` when the host is a name, which
/// needs [`resolve`].
pub fn resolve_numeric(uri: &Uri) -> Option<Result<Target, TransportError>> {
    match uri_destination(uri) {
        Ok((kind, host, port, explicit)) => ip_target(kind, &host, port, explicit).map(Ok),
        Err(e) => Some(Err(e)),
    }
}

/// Targets for a URI, in the order to try them (RFC 3263 §4.3): a
/// numeric host directly (as [`resolve_numeric`]); a name through
/// `resolver`, by NAPTR, SRV and A/AAAA as RFC 3263 §4.1-4.2 say (see
/// [`crate::rfc3263::locate`]).
pub async fn resolve(uri: &Uri, resolver: &dyn Resolver) -> Result<Targets, TransportError> {
    let (kind, host, port, explicit) = uri_destination(uri)?;
    let name = match host {
        Host::Domain(d) => d,
        ip => return Ok(ip_target(kind, &ip, port, explicit).into_iter().collect()),
    };
    let sip = uri
        .as_sip()
        .ok_or_else(|| TransportError::Resolve(format!("not a SIP URI: {uri}")))?;
    // `kind` is the transport parameter's, made TLS for sips: (§26.2).
    let dest = crate::rfc3263::Destination {
        secure: sip.is_secure(),
        transport: sip.transport().map(|_| kind),
        port: sip.port(),
    };
    let mut random = draws();
    crate::rfc3263::locate(&name, &dest, explicit, resolver, &mut random).await
}

/// Random numbers for RFC 2782's weighted order (not for security).
fn draws() -> impl FnMut() -> u64 + Send {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(0x5EED);
    let mut x = h.finish() | 1;
    move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dest(s: &str) -> (Kind, Host, u16, bool) {
        uri_destination(&s.parse().unwrap()).unwrap()
    }

    #[test]
    fn rfc3261_19_1_2_defaults_and_params() {
        assert_eq!(
            dest("sip:a@192.0.2.1"),
            (Kind::Udp, Host::Ipv4([192, 0, 2, 1].into()), 5060, false)
        );
        assert_eq!(dest("sip:a@192.0.2.1;transport=tcp").0, Kind::Tcp);
        assert_eq!(
            dest("sips:a@192.0.2.1"),
            (Kind::Tls, Host::Ipv4([192, 0, 2, 1].into()), 5061, true)
        );
        assert_eq!(dest("sip:a@[2001:db8::1]:5070").2, 5070);
        assert_eq!(
            dest("sip:a@example.com;maddr=192.0.2.9").1,
            Host::Ipv4([192, 0, 2, 9].into())
        );
        assert!(uri_destination(&"tel:+123".parse().unwrap()).is_err());
    }

    struct Fixed;
    impl Resolver for Fixed {
        fn lookup<'a>(
            &'a self,
            _h: &'a str,
            port: u16,
        ) -> BoxFuture<'a, Result<Vec<SocketAddr>, TransportError>> {
            Box::pin(async move { Ok(vec![SocketAddr::from(([127, 0, 0, 1], port))]) })
        }
    }

    /// A resolver that must not be asked.
    struct Never;
    impl Resolver for Never {
        fn lookup<'a>(
            &'a self,
            h: &'a str,
            _port: u16,
        ) -> BoxFuture<'a, Result<Vec<SocketAddr>, TransportError>> {
            panic!("looked up {h}")
        }
    }

    #[tokio::test]
    async fn rfc3263_4_2_ip_literals_give_one_inline_target_without_lookup() {
        let cases = [
            ("sip:a@192.0.2.1", Kind::Udp, "192.0.2.1:5060", false),
            (
                "sip:a@192.0.2.1:5070;transport=tcp",
                Kind::Tcp,
                "192.0.2.1:5070",
                true,
            ),
            ("sips:a@192.0.2.1", Kind::Tls, "192.0.2.1:5061", true),
            (
                "sip:a@[2001:db8::1]:5070",
                Kind::Udp,
                "[2001:db8::1]:5070",
                false,
            ),
            (
                "sip:a@example.com;maddr=192.0.2.9",
                Kind::Udp,
                "192.0.2.9:5060",
                false,
            ),
        ];
        for (uri, kind, addr, explicit) in cases {
            let t = resolve(&uri.parse().unwrap(), &Never).await.unwrap();
            assert!(!t.spilled(), "{uri}");
            // What the Vec-returning version gave: one target, no name.
            let mut want = Target::new(kind, addr.parse().unwrap());
            want.explicit_transport = explicit;
            assert_eq!(t.as_slice(), [want.clone()], "{uri}");
            // The synchronous form gives the same target.
            let n = resolve_numeric(&uri.parse().unwrap()).unwrap().unwrap();
            assert_eq!(n, want, "{uri}");
        }
        // A name needs the resolver; a URI that is not SIP is an error.
        assert!(resolve_numeric(&"sip:a@example.com".parse().unwrap()).is_none());
        assert!(resolve_numeric(&"tel:+123".parse().unwrap()).is_some_and(|r| r.is_err()));
    }

    struct Two;
    impl Resolver for Two {
        fn lookup<'a>(
            &'a self,
            _h: &'a str,
            port: u16,
        ) -> BoxFuture<'a, Result<Vec<SocketAddr>, TransportError>> {
            Box::pin(async move {
                Ok(vec![
                    SocketAddr::from(([192, 0, 2, 1], port)),
                    SocketAddr::from(([192, 0, 2, 2], port)),
                ])
            })
        }
    }

    #[tokio::test]
    async fn names_give_every_address_in_the_resolvers_order() {
        let t = resolve(&"sips:bob@biloxi.example.com".parse().unwrap(), &Two)
            .await
            .unwrap();
        let addrs: Vec<SocketAddr> = t.iter().map(|t| t.addr).collect();
        assert_eq!(
            addrs,
            [
                SocketAddr::from(([192, 0, 2, 1], 5061)),
                SocketAddr::from(([192, 0, 2, 2], 5061))
            ]
        );
        for t in &t {
            assert_eq!(t.transport, Kind::Tls);
            assert_eq!(t.server_name.as_deref(), Some("biloxi.example.com"));
            assert!(t.explicit_transport);
            assert_eq!(t.connection, None);
        }
    }

    #[tokio::test]
    async fn names_go_through_the_resolver() {
        let t = resolve(
            &"sip:bob@biloxi.example.com;transport=tcp".parse().unwrap(),
            &Fixed,
        )
        .await
        .unwrap();
        assert_eq!(t[0].addr, SocketAddr::from(([127, 0, 0, 1], 5060)));
        assert_eq!(t[0].transport, Kind::Tcp);
        assert_eq!(t[0].server_name.as_deref(), Some("biloxi.example.com"));
    }
}
