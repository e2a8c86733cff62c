//! A [`Resolver`] that asks DNS for A/AAAA, NAPTR and SRV records
//! (hickory-resolver), so that names are located as RFC 3263 says.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use hickory_resolver::config::{NameServerConfigGroup, ResolverConfig, ResolverOpts};
use hickory_resolver::name_server::TokioConnectionProvider;
use hickory_resolver::proto::rr::{RData, RecordType};
use hickory_resolver::TokioResolver;

use crate::error::TransportError;
use crate::rfc3263::{Naptr, Srv};
use crate::target::{BoxFuture, Resolver};

/// DNS lookups through hickory-resolver, with its cache. Built from the
/// system's configuration (`/etc/resolv.conf`, and `/etc/hosts` for
/// addresses) or given name servers.
///
/// ```no_run
/// # fn f() -> Result<(), sip_transport::TransportError> {
/// use sip_transport::dns::DnsResolver;
/// let dns = DnsResolver::from_system()?;
/// # let _ = dns; Ok(()) }
/// ```
#[derive(Clone)]
pub struct DnsResolver {
    inner: Arc<TokioResolver>,
}

impl std::fmt::Debug for DnsResolver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DnsResolver")
    }
}

impl DnsResolver {
    /// With the system's configuration.
    pub fn from_system() -> Result<DnsResolver, TransportError> {
        let mut builder = TokioResolver::builder_tokio()
            .map_err(|e| TransportError::Resolve(format!("system DNS configuration: {e}")))?;
        tune(builder.options_mut());
        Ok(DnsResolver {
            inner: Arc::new(builder.build()),
        })
    }

    /// Asking these name servers (plain DNS over UDP and TCP at `port`),
    /// without the system's configuration or hosts file: for a private
    /// zone, or a test's own server.
    pub fn with_name_servers(servers: &[IpAddr], port: u16) -> DnsResolver {
        let config = ResolverConfig::from_parts(
            None,
            Vec::new(),
            NameServerConfigGroup::from_ips_clear(servers, port, true),
        );
        let mut opts = ResolverOpts::default();
        opts.use_hosts_file = hickory_resolver::config::ResolveHosts::Never;
        tune(&mut opts);
        let mut builder =
            TokioResolver::builder_with_config(config, TokioConnectionProvider::default());
        *builder.options_mut() = opts;
        DnsResolver {
            inner: Arc::new(builder.build()),
        }
    }
}

/// What every resolver of ours changes from hickory's defaults: both
/// address families (a dual-stack name gives its IPv4 and IPv6 addresses,
/// for RFC 3263 §4.3 failover between them, as getaddrinfo does), a cache
/// for more than a handful of names, and a short wait per query (2 s, two
/// tries) so that one dead server does not hold a request long (the
/// whole search is bounded anyway, `rfc3263::LOCATE_TIMEOUT`).
fn tune(opts: &mut ResolverOpts) {
    opts.ip_strategy = hickory_resolver::config::LookupIpStrategy::Ipv4AndIpv6;
    opts.cache_size = 1024;
    opts.timeout = std::time::Duration::from_secs(2);
    opts.attempts = 2;
}

/// `name` as an absolute DNS name (a final dot), so that the search list
/// of resolv.conf is not tried on it: RFC 3263's names are fully
/// qualified. A single label (`localhost`) stays as it is, for the hosts
/// file and the search list.
fn absolute(name: &str) -> std::borrow::Cow<'_, str> {
    if name.ends_with('.') || !name.contains('.') {
        name.into()
    } else {
        format!("{name}.").into()
    }
}

/// A failed lookup: no records is an empty answer, anything else an error.
fn none_or(name: &str, e: hickory_resolver::ResolveError) -> Result<(), TransportError> {
    if e.is_no_records_found() || e.is_nx_domain() {
        Ok(())
    } else {
        Err(TransportError::Resolve(format!("{name}: {e}")))
    }
}

/// A domain name as text, without its final dot.
fn name_text(name: &hickory_resolver::proto::rr::Name) -> String {
    let mut s = name.to_utf8();
    if s.ends_with('.') && s.len() > 1 {
        s.pop();
    }
    s
}

impl Resolver for DnsResolver {
    fn lookup<'a>(
        &'a self,
        host: &'a str,
        port: u16,
    ) -> BoxFuture<'a, Result<Vec<SocketAddr>, TransportError>> {
        Box::pin(async move {
            let ips = self
                .inner
                .lookup_ip(absolute(host).as_ref())
                .await
                .map_err(|e| TransportError::Resolve(format!("{host}: {e}")))?;
            let v: Vec<SocketAddr> = ips.iter().map(|ip| SocketAddr::new(ip, port)).collect();
            if v.is_empty() {
                return Err(TransportError::Resolve(host.to_owned()));
            }
            Ok(v)
        })
    }

    fn naptr<'a>(&'a self, domain: &'a str) -> BoxFuture<'a, Result<Vec<Naptr>, TransportError>> {
        Box::pin(async move {
            let lookup = match self
                .inner
                .lookup(absolute(domain).as_ref(), RecordType::NAPTR)
                .await
            {
                Ok(l) => l,
                Err(e) => return none_or(domain, e).map(|()| Vec::new()),
            };
            Ok(lookup
                .iter()
                .filter_map(|r| match r {
                    RData::NAPTR(n) => Some(Naptr {
                        order: n.order(),
                        preference: n.preference(),
                        flags: String::from_utf8_lossy(n.flags()).into_owned(),
                        service: String::from_utf8_lossy(n.services()).into_owned(),
                        replacement: name_text(n.replacement()),
                    }),
                    _ => None,
                })
                .collect())
        })
    }

    fn srv<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Result<Vec<Srv>, TransportError>> {
        Box::pin(async move {
            let lookup = match self.inner.srv_lookup(absolute(name).as_ref()).await {
                Ok(l) => l,
                Err(e) => return none_or(name, e).map(|()| Vec::new()),
            };
            Ok(lookup
                .iter()
                .map(|s| Srv {
                    priority: s.priority(),
                    weight: s.weight(),
                    port: s.port(),
                    target: name_text(s.target()),
                })
                .collect())
        })
    }
}

/// DNS with the system's configuration, or the system's address lookup
/// where that cannot be read.
pub(crate) fn default_resolver() -> Arc<dyn Resolver> {
    match DnsResolver::from_system() {
        Ok(d) => Arc::new(d),
        Err(e) => {
            tracing::warn!(error = %e, "no DNS configuration: names resolved without NAPTR/SRV");
            Arc::new(crate::target::SystemResolver)
        }
    }
}
