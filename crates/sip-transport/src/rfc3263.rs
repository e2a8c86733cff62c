//! Locating a SIP server by name (RFC 3263): the transport from NAPTR
//! records (§4.1), then the port and addresses from SRV records (§4.2,
//! ordered as RFC 2782 says), then A/AAAA; each lookup behind the
//! [`Resolver`] trait. The result is every target in the order to try
//! them (§4.3: on a failure the next one).

use std::net::SocketAddr;

use sip_message::headers::Transport as Kind;
use tracing::debug;

use crate::error::TransportError;
use crate::target::{Resolver, Target, Targets};

/// At most this many targets from one name: a hostile or broken zone
/// with thousands of records makes no unbounded work.
pub const MAX_TARGETS: usize = 16;

/// At most this many NAPTR or SRV records of one name are looked at.
const MAX_RECORDS: usize = 16;

/// A NAPTR record (RFC 3403) as RFC 3263 §4.1 uses it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Naptr {
    /// Lower first.
    pub order: u16,
    /// Lower first, among records of the same order.
    pub preference: u16,
    /// `S` (the replacement is an SRV name) is the only one SIP uses.
    pub flags: String,
    /// `SIP+D2U`, `SIP+D2T`, `SIPS+D2T`, ...
    pub service: String,
    /// The SRV name to look up next, e.g. `_sip._udp.example.com`.
    pub replacement: String,
}

/// An SRV record (RFC 2782).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Srv {
    /// Lower first.
    pub priority: u16,
    /// Relative share among records of the same priority.
    pub weight: u16,
    /// The port.
    pub port: u16,
    /// The host to look up (A/AAAA); `.` means "no service here".
    pub target: String,
}

/// What a URI asks for before any lookup (RFC 3263 §4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Destination {
    /// A `sips:` URI (TLS only, §4.1).
    pub secure: bool,
    /// The `transport` parameter, if any.
    pub transport: Option<Kind>,
    /// The port, if the URI has one.
    pub port: Option<u16>,
}

/// The transport of a NAPTR service field we support (§4.1), for a
/// `sips:` URI only SIPS+D2T.
fn naptr_transport(service: &str, secure: bool) -> Option<Kind> {
    match service.to_ascii_uppercase().as_str() {
        "SIPS+D2T" => Some(Kind::Tls),
        "SIP+D2T" if !secure => Some(Kind::Tcp),
        "SIP+D2U" if !secure => Some(Kind::Udp),
        _ => None,
    }
}

/// The SRV name for a transport (§4.2): `_sips._tcp` for TLS (and TCP of
/// a `sips:` URI), `_sip._tcp`, `_sip._udp`; none for other transports.
fn srv_name(kind: Kind, secure: bool, domain: &str) -> Option<String> {
    let (service, proto) = match kind {
        Kind::Tls => ("_sips", "_tcp"),
        Kind::Tcp if secure => ("_sips", "_tcp"),
        Kind::Tcp => ("_sip", "_tcp"),
        Kind::Udp if !secure => ("_sip", "_udp"),
        _ => return None,
    };
    Some(format!("{service}.{proto}.{domain}"))
}

/// RFC 2782's order: priority ascending; within a priority, records drawn
/// one by one at random, each with a chance proportional to its weight
/// (weight 0 first in the running sum, so it is rarely picked while others
/// remain). `random` gives the draws. A target of `.` means the service is
/// not offered: those go.
pub fn order_srv(mut records: Vec<Srv>, mut random: impl FnMut() -> u64) -> Vec<Srv> {
    records.retain(|r| r.target != "." && !r.target.is_empty());
    records.sort_by_key(|r| r.priority);
    records.truncate(MAX_RECORDS);
    let mut out = Vec::with_capacity(records.len());
    let mut rest = records.as_slice();
    while let Some(first) = rest.first() {
        let same = rest
            .iter()
            .take_while(|r| r.priority == first.priority)
            .count();
        let (group, tail) = rest.split_at(same);
        // Zero weights at the start of the running sum (RFC 2782).
        let mut left: Vec<&Srv> = group.iter().filter(|r| r.weight == 0).collect();
        left.extend(group.iter().filter(|r| r.weight != 0));
        while !left.is_empty() {
            let total: u64 = left.iter().map(|r| u64::from(r.weight)).sum();
            let pick = if total == 0 {
                0
            } else {
                // The first whose running sum reaches a number in 0..=total.
                let n = random() % (total + 1);
                let mut sum = 0u64;
                left.iter()
                    .position(|r| {
                        sum += u64::from(r.weight);
                        sum >= n
                    })
                    .unwrap_or(0)
            };
            out.push(left.remove(pick).clone());
        }
        rest = tail;
    }
    out
}

/// The targets for `domain` (a name, not an IP literal) as a URI asks for
/// it (RFC 3263 §4.1, §4.2), in the order to try them (§4.3).
///
/// - A port in the URI: no NAPTR nor SRV; A/AAAA of the name, over the
///   URI's transport (UDP, or TLS for `sips:`).
/// - A transport but no port: SRV for that transport; without records,
///   A/AAAA at the transport's default port.
/// - Neither: NAPTR, the supported services in order and preference, SRV
///   of each; without NAPTR records, SRV for TLS, TCP and UDP, every
///   transport that has records in that order (§4.1 lets the client pick
///   among what the server supports; the others are there to fail over
///   to); without those either, A/AAAA over UDP (TLS for `sips:`) at the
///   default port.
///
/// An SRV answer whose only target is `.` says the service is not there
/// (RFC 2782): no fallback to the name's addresses. Nor is there one when
/// a NAPTR or SRV lookup failed (not "no such record": a server failure
/// or a timeout), which would send the request to whatever answers on the
/// name's address. The work is bounded: at most [`MAX_LOOKUPS`] lookups
/// and [`MAX_TARGETS`] targets, each name looked up once, and the whole
/// search within [`LOCATE_TIMEOUT`].
///
/// `explicit` marks targets whose transport the URI chose (see
/// [`Target::explicit_transport`]). `random` orders SRV records of equal
/// priority (RFC 2782).
pub async fn locate(
    domain: &str,
    dest: &Destination,
    explicit: bool,
    resolver: &dyn Resolver,
    random: &mut (dyn FnMut() -> u64 + Send),
) -> Result<Targets, TransportError> {
    match tokio::time::timeout(
        LOCATE_TIMEOUT,
        locate_within(domain, dest, explicit, resolver, random),
    )
    .await
    {
        Ok(r) => r,
        Err(_) => Err(TransportError::Resolve(format!(
            "{domain}: no answer within {} s",
            LOCATE_TIMEOUT.as_secs()
        ))),
    }
}

/// How long [`locate`] may take: Timer B's 64*T1, what a request would
/// wait for its answer anyway.
pub const LOCATE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(32);

/// At most this many lookups (NAPTR, SRV, A/AAAA) for one name.
pub const MAX_LOOKUPS: usize = 24;

async fn locate_within(
    domain: &str,
    dest: &Destination,
    explicit: bool,
    resolver: &dyn Resolver,
    random: &mut (dyn FnMut() -> u64 + Send),
) -> Result<Targets, TransportError> {
    // §26.2 (RFC 3261): a sips: URI goes over TLS whatever its transport
    // parameter says (TLS over UDP does not exist, RFC 3263 §4.1).
    let transport = match dest.transport {
        Some(_) if dest.secure => Some(Kind::Tls),
        t => t,
    };
    let default_kind = if dest.secure { Kind::Tls } else { Kind::Udp };
    let mut out = Targets::new();
    if let Some(port) = dest.port {
        let kind = transport.unwrap_or(default_kind);
        let addrs = resolver.lookup(domain, port).await?;
        push(&mut out, kind, addrs, domain, explicit);
        return Ok(out);
    }
    let mut lookups = 0usize;
    let mut failed = false;
    // (transport, SRV name) pairs to try, in order.
    let mut srv: Vec<(Kind, String)> = Vec::new();
    match transport {
        Some(kind) => match srv_name(kind, dest.secure, domain) {
            Some(name) => srv.push((kind, name)),
            None => {
                return Err(TransportError::Resolve(format!(
                    "{domain}: no SRV for {kind}"
                )))
            }
        },
        None => {
            lookups += 1;
            let mut naptrs: Vec<(Naptr, Kind)> = records(resolver.naptr(domain).await, &mut failed)
                .into_iter()
                .filter(|n| n.flags.eq_ignore_ascii_case("s"))
                .filter_map(|n| naptr_transport(&n.service, dest.secure).map(|k| (n, k)))
                .collect();
            naptrs.sort_by_key(|(n, _)| (n.order, n.preference));
            naptrs.truncate(MAX_RECORDS);
            srv.extend(naptrs.into_iter().map(|(n, k)| (k, n.replacement)));
            if srv.is_empty() {
                let kinds: &[Kind] = if dest.secure {
                    &[Kind::Tls]
                } else {
                    &[Kind::Tls, Kind::Tcp, Kind::Udp]
                };
                srv.extend(
                    kinds
                        .iter()
                        .filter_map(|k| srv_name(*k, dest.secure, domain).map(|n| (*k, n))),
                );
            }
        }
    }
    let mut any_srv = false;
    let mut looked_up: Vec<String> = Vec::new();
    for (kind, name) in srv {
        if lookups >= MAX_LOOKUPS || looked_up.contains(&name) {
            continue;
        }
        lookups += 1;
        let answer = records(resolver.srv(&name).await, &mut failed);
        looked_up.push(name);
        // Any record, `.` included, says what the server offers here.
        any_srv |= !answer.is_empty();
        for r in order_srv(answer, &mut *random) {
            if out.len() >= MAX_TARGETS || lookups >= MAX_LOOKUPS {
                return Ok(out);
            }
            lookups += 1;
            match resolver.lookup(&r.target, r.port).await {
                Ok(addrs) => push(&mut out, kind, addrs, domain, explicit),
                Err(e) => debug!(target = %r.target, error = %e, "SRV target has no address"),
            }
        }
    }
    if !any_srv && !failed {
        // §4.2: no SRV records: the name's addresses, default port.
        let kind = transport.unwrap_or(default_kind);
        let addrs = resolver.lookup(domain, kind.default_port()).await?;
        push(&mut out, kind, addrs, domain, explicit);
    }
    if out.is_empty() {
        return Err(TransportError::Resolve(domain.to_owned()));
    }
    Ok(out)
}

/// The records of a NAPTR or SRV lookup; a failure (not "no records",
/// which is an empty answer) is noted in `failed`.
fn records<T>(r: Result<Vec<T>, TransportError>, failed: &mut bool) -> Vec<T> {
    r.unwrap_or_else(|e| {
        debug!(error = %e, "NAPTR/SRV lookup failed");
        *failed = true;
        Vec::new()
    })
}

/// Appends targets for `addrs` over `kind`, at most [`MAX_TARGETS`] in
/// all; the TLS server name is the URI's domain (RFC 5922 §4: the
/// certificate names the domain, not the SRV target).
fn push(out: &mut Targets, kind: Kind, addrs: Vec<SocketAddr>, domain: &str, explicit: bool) {
    for addr in addrs {
        if out.len() >= MAX_TARGETS {
            return;
        }
        out.push(Target {
            transport: kind,
            addr,
            server_name: Some(domain.to_owned()),
            connection: None,
            explicit_transport: explicit,
        });
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;
    use crate::target::BoxFuture;

    /// A zone: NAPTR and SRV records by name, addresses by host; SRV
    /// names whose lookup fails (a server failure); lookups counted.
    #[derive(Default)]
    struct Zone {
        naptr: HashMap<String, Vec<Naptr>>,
        srv: HashMap<String, Vec<Srv>>,
        a: HashMap<String, Vec<std::net::IpAddr>>,
        failing: Vec<String>,
        lookups: std::sync::atomic::AtomicUsize,
    }

    impl Resolver for Zone {
        fn lookup<'a>(
            &'a self,
            host: &'a str,
            port: u16,
        ) -> BoxFuture<'a, Result<Vec<SocketAddr>, TransportError>> {
            self.lookups
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            Box::pin(async move {
                match self.a.get(host) {
                    Some(ips) => Ok(ips.iter().map(|ip| SocketAddr::new(*ip, port)).collect()),
                    None => Err(TransportError::Resolve(host.to_owned())),
                }
            })
        }
        fn naptr<'a>(
            &'a self,
            domain: &'a str,
        ) -> BoxFuture<'a, Result<Vec<Naptr>, TransportError>> {
            self.lookups
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            Box::pin(async move { Ok(self.naptr.get(domain).cloned().unwrap_or_default()) })
        }
        fn srv<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Result<Vec<Srv>, TransportError>> {
            self.lookups
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            Box::pin(async move {
                if self.failing.iter().any(|f| f == name) {
                    return Err(TransportError::Resolve(format!("{name}: SERVFAIL")));
                }
                Ok(self.srv.get(name).cloned().unwrap_or_default())
            })
        }
    }

    fn naptr(order: u16, pref: u16, service: &str, replacement: &str) -> Naptr {
        Naptr {
            order,
            preference: pref,
            flags: "s".into(),
            service: service.into(),
            replacement: replacement.into(),
        }
    }

    fn srv(priority: u16, weight: u16, port: u16, target: &str) -> Srv {
        Srv {
            priority,
            weight,
            port,
            target: target.into(),
        }
    }

    /// RFC 3263 §4.1's example zone: NAPTR for TLS, TCP and UDP.
    fn example_zone() -> Zone {
        let mut z = Zone::default();
        z.naptr.insert(
            "example.com".into(),
            vec![
                naptr(100, 50, "SIP+D2U", "_sip._udp.example.com"),
                naptr(90, 50, "SIP+D2T", "_sip._tcp.example.com"),
                naptr(50, 50, "SIPS+D2T", "_sips._tcp.example.com"),
            ],
        );
        z.srv.insert(
            "_sips._tcp.example.com".into(),
            vec![srv(0, 0, 5061, "server1.example.com")],
        );
        z.srv.insert(
            "_sip._tcp.example.com".into(),
            vec![srv(0, 0, 5060, "server1.example.com")],
        );
        z.srv.insert(
            "_sip._udp.example.com".into(),
            vec![srv(0, 0, 5060, "server2.example.com")],
        );
        z.a.insert(
            "server1.example.com".into(),
            vec!["192.0.2.1".parse().unwrap()],
        );
        z.a.insert(
            "server2.example.com".into(),
            vec!["192.0.2.2".parse().unwrap()],
        );
        z.a.insert("example.com".into(), vec!["192.0.2.9".parse().unwrap()]);
        z
    }

    fn dest(secure: bool, transport: Option<Kind>, port: Option<u16>) -> Destination {
        Destination {
            secure,
            transport,
            port,
        }
    }

    async fn run(z: &Zone, d: Destination) -> Vec<(Kind, String)> {
        let mut r = || 0u64;
        locate("example.com", &d, false, z, &mut r)
            .await
            .map(|t| {
                t.iter()
                    .map(|t| (t.transport, t.addr.to_string()))
                    .collect()
            })
            .unwrap_or_default()
    }

    #[tokio::test]
    async fn rfc3263_4_1_naptr_order_gives_the_transports_in_turn() {
        let got = run(&example_zone(), dest(false, None, None)).await;
        assert_eq!(
            got,
            [
                (Kind::Tls, "192.0.2.1:5061".to_owned()),
                (Kind::Tcp, "192.0.2.1:5060".to_owned()),
                (Kind::Udp, "192.0.2.2:5060".to_owned()),
            ]
        );
    }

    #[tokio::test]
    async fn rfc3263_4_1_a_sips_uri_uses_only_sips_d2t() {
        let got = run(&example_zone(), dest(true, None, None)).await;
        assert_eq!(got, [(Kind::Tls, "192.0.2.1:5061".to_owned())]);
    }

    #[tokio::test]
    async fn rfc3263_4_2_an_explicit_transport_queries_its_srv_only() {
        let got = run(&example_zone(), dest(false, Some(Kind::Udp), None)).await;
        assert_eq!(got, [(Kind::Udp, "192.0.2.2:5060".to_owned())]);
        let got = run(&example_zone(), dest(false, Some(Kind::Tls), None)).await;
        assert_eq!(got, [(Kind::Tls, "192.0.2.1:5061".to_owned())]);
    }

    #[tokio::test]
    async fn rfc3263_4_2_a_port_means_no_naptr_nor_srv() {
        let got = run(&example_zone(), dest(false, None, Some(5080))).await;
        assert_eq!(got, [(Kind::Udp, "192.0.2.9:5080".to_owned())]);
        let got = run(&example_zone(), dest(true, None, Some(5081))).await;
        assert_eq!(got, [(Kind::Tls, "192.0.2.9:5081".to_owned())]);
    }

    #[tokio::test]
    async fn rfc3263_4_1_without_naptr_srv_per_transport_then_a() {
        let mut z = example_zone();
        z.naptr.clear();
        // Every transport with SRV records, TLS first.
        let got = run(&z, dest(false, None, None)).await;
        assert_eq!(
            got,
            [
                (Kind::Tls, "192.0.2.1:5061".to_owned()),
                (Kind::Tcp, "192.0.2.1:5060".to_owned()),
                (Kind::Udp, "192.0.2.2:5060".to_owned()),
            ]
        );
        // Only UDP offered.
        z.srv.remove("_sips._tcp.example.com");
        z.srv.remove("_sip._tcp.example.com");
        let got = run(&z, dest(false, None, None)).await;
        assert_eq!(got, [(Kind::Udp, "192.0.2.2:5060".to_owned())]);
        // No SRV either: the name's address, UDP at 5060 (TLS at 5061 for
        // sips:).
        z.srv.clear();
        assert_eq!(
            run(&z, dest(false, None, None)).await,
            [(Kind::Udp, "192.0.2.9:5060".to_owned())]
        );
        assert_eq!(
            run(&z, dest(true, None, None)).await,
            [(Kind::Tls, "192.0.2.9:5061".to_owned())]
        );
    }

    #[tokio::test]
    async fn unsupported_naptr_services_and_flags_are_skipped_and_dot_means_none() {
        let mut z = example_zone();
        z.naptr.insert(
            "example.com".into(),
            vec![
                naptr(10, 10, "SIP+D2S", "_sip._sctp.example.com"),
                Naptr {
                    flags: "a".into(),
                    ..naptr(20, 10, "SIP+D2U", "server2.example.com")
                },
                naptr(30, 10, "SIP+D2U", "_sip._udp.example.com"),
            ],
        );
        let got = run(&z, dest(false, None, None)).await;
        assert_eq!(got, [(Kind::Udp, "192.0.2.2:5060".to_owned())]);
        // RFC 2782: target "." says the service is decidedly not offered:
        // no fallback to the name's address.
        z.srv
            .insert("_sip._udp.example.com".into(), vec![srv(0, 0, 0, ".")]);
        let got = run(&z, dest(false, None, None)).await;
        assert!(got.is_empty(), "{got:?}");
    }

    #[test]
    fn rfc2782_priority_first_then_weight_shares() {
        let records = vec![srv(20, 0, 1, "c"), srv(10, 60, 1, "a"), srv(10, 40, 1, "b")];
        // Priority 10 before 20, whatever the draws.
        for seed in 0..200u64 {
            let mut x = seed;
            let order = order_srv(records.clone(), || {
                x = x
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                x >> 33
            });
            assert_eq!(order[2].target, "c");
        }
        // Within priority 10, "a" (weight 60) comes first about 60% of
        // the time.
        let mut x = 1u64;
        let mut a_first = 0;
        for _ in 0..2000 {
            let order = order_srv(records.clone(), || {
                x = x
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                x >> 33
            });
            if order[0].target == "a" {
                a_first += 1;
            }
        }
        assert!((1000..1400).contains(&a_first), "{a_first}");
    }

    #[tokio::test]
    async fn a_zone_with_many_records_gives_at_most_max_targets() {
        let mut z = example_zone();
        z.srv.insert(
            "_sip._udp.example.com".into(),
            (0..100)
                .map(|i| srv(i, 0, 5060, "server2.example.com"))
                .collect(),
        );
        z.a.insert(
            "server2.example.com".into(),
            (1..=50)
                .map(|i| format!("192.0.2.{i}").parse().unwrap())
                .collect(),
        );
        let got = run(&z, dest(false, Some(Kind::Udp), None)).await;
        assert_eq!(got.len(), MAX_TARGETS);
    }

    #[tokio::test]
    async fn rfc3261_26_2_a_sips_uri_goes_over_tls_whatever_its_transport_parameter() {
        let got = run(&example_zone(), dest(true, Some(Kind::Udp), None)).await;
        assert_eq!(got, [(Kind::Tls, "192.0.2.1:5061".to_owned())]);
        let got = run(&example_zone(), dest(true, Some(Kind::Udp), Some(5099))).await;
        assert_eq!(got, [(Kind::Tls, "192.0.2.9:5099".to_owned())]);
    }

    #[tokio::test]
    async fn a_failed_srv_lookup_is_no_reason_to_use_the_names_address() {
        let mut z = example_zone();
        z.naptr.clear();
        z.srv.clear();
        z.failing.push("_sip._udp.example.com".into());
        // The A record exists, but the SRV server failed: no target
        // rather than a guess.
        assert!(run(&z, dest(false, Some(Kind::Udp), None)).await.is_empty());
    }

    #[tokio::test]
    async fn rfc2782_the_lowest_priority_is_kept_among_many_records() {
        let mut z = example_zone();
        let mut records: Vec<Srv> = (0..20)
            .map(|i| srv(10 + i, 0, 5060, "server2.example.com"))
            .collect();
        records.push(srv(1, 0, 5999, "server1.example.com"));
        z.srv.insert("_sip._udp.example.com".into(), records);
        let got = run(&z, dest(false, Some(Kind::Udp), None)).await;
        assert_eq!(got[0], (Kind::Udp, "192.0.2.1:5999".to_owned()));
    }

    #[tokio::test]
    async fn a_hostile_zone_costs_at_most_max_lookups() {
        let mut z = Zone::default();
        z.naptr.insert(
            "example.com".into(),
            (0..16)
                .map(|i| naptr(i, 0, "SIP+D2U", &format!("_sip._udp.n{i}.example.com")))
                .collect(),
        );
        for i in 0..16 {
            z.srv.insert(
                format!("_sip._udp.n{i}.example.com"),
                (0..16)
                    .map(|j| srv(0, 0, 5060, &format!("nowhere{j}.example.com")))
                    .collect(),
            );
        }
        assert!(run(&z, dest(false, None, None)).await.is_empty());
        let n = z.lookups.load(std::sync::atomic::Ordering::Relaxed);
        assert!(n <= MAX_LOOKUPS, "{n}");
    }

    /// A resolver whose answers never come.
    struct Silent;

    impl Resolver for Silent {
        fn lookup<'a>(
            &'a self,
            _host: &'a str,
            _port: u16,
        ) -> BoxFuture<'a, Result<Vec<SocketAddr>, TransportError>> {
            Box::pin(std::future::pending())
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_dns_that_never_answers_fails_within_the_locate_timeout() {
        let start = tokio::time::Instant::now();
        let mut r = || 0u64;
        let got = locate(
            "example.com",
            &dest(false, None, None),
            false,
            &Silent,
            &mut r,
        )
        .await;
        assert!(got.is_err());
        assert_eq!(start.elapsed(), LOCATE_TIMEOUT);
    }
}
