//! Hosts of SIP URIs and Via sent-by (RFC 3261 §25.1 `host`, RFC 5118).

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use bytestring::ByteString;

/// What a host's text is: an address, or a host name (ASCII, so UTF-8).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum HostKind {
    /// A host name; its text is the host.
    Domain,
    /// An IPv4 or IPv6 address.
    Ip(IpAddr),
}

/// A host: a domain name, an IPv4 address or an IPv6 reference.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Host {
    /// A host name, as written (compare case-insensitively).
    Domain(ByteString),
    /// An IPv4 address.
    Ipv4(Ipv4Addr),
    /// An IPv6 address (written in brackets in URIs and sent-by).
    Ipv6(Ipv6Addr),
}

impl Host {
    /// Parses a host: `hostname`, `IPv4address` or `"[" IPv6address "]"`.
    /// An unbracketed IPv6 address is accepted only when `bare_v6` is true
    /// (Via `received`, RFC 5118 §4.5).
    pub(crate) fn parse(s: &[u8], bare_v6: bool) -> Option<Host> {
        match Host::kind(s, bare_v6)? {
            HostKind::Ip(a) => Some(Host::from(a)),
            HostKind::Domain => std::str::from_utf8(s)
                .ok()
                .map(|t| Host::Domain(ByteString::from(t))),
        }
    }

    /// What [`Host::parse`] reads `s` as, without copying a host name: a
    /// caller that holds the text shared makes the [`Host::Domain`] itself.
    pub(crate) fn kind(s: &[u8], bare_v6: bool) -> Option<HostKind> {
        if let Some(inner) = s.strip_prefix(b"[").and_then(|r| r.strip_suffix(b"]")) {
            return parse_v6(inner).map(|a| HostKind::Ip(IpAddr::V6(a)));
        }
        if bare_v6 && s.contains(&b':') {
            return parse_v6(s).map(|a| HostKind::Ip(IpAddr::V6(a)));
        }
        if s.is_empty() {
            return None;
        }
        if let Some(a) = parse_v4(s) {
            return Some(HostKind::Ip(IpAddr::V4(a)));
        }
        // hostname = *( domainlabel "." ) toplabel [ "." ]; labels of
        // alphanum and "-". Underscore is tolerated: it is common in the
        // field (service names) and harmless to routing.
        let ok = s
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'))
            && s[0] != b'.'
            && s[0] != b'-';
        ok.then_some(HostKind::Domain)
    }

    /// Parses host text as written in a URI.
    pub fn from_text(s: &str) -> Option<Host> {
        Host::parse(s.as_bytes(), false)
    }

    /// The IP address, if the host is one.
    pub fn ip(&self) -> Option<IpAddr> {
        match self {
            Host::Ipv4(a) => Some(IpAddr::V4(*a)),
            Host::Ipv6(a) => Some(IpAddr::V6(*a)),
            Host::Domain(_) => None,
        }
    }
}

/// Parses a dotted-quad IPv4 address straight from the bytes, accepting
/// exactly what [`Ipv4Addr`]'s `FromStr` accepts (four decimal octets of
/// at most 255, no leading zero in an octet of two or more digits) without
/// the text conversion and the general parser: it runs for the Via of
/// every message and for most URIs. One pass; `None` at the first byte
/// that is neither a digit nor a dot.
fn parse_v4(s: &[u8]) -> Option<Ipv4Addr> {
    let mut octets = [0u8; 4];
    let mut i = 0;
    // The octet being read: its value, digit count and first digit.
    let (mut v, mut len, mut first) = (0u16, 0, 0u8);
    for &b in s {
        match b {
            b'0'..=b'9' => {
                if len == 3 || (len == 1 && first == b'0') {
                    return None;
                }
                if len == 0 {
                    first = b;
                }
                v = v * 10 + u16::from(b - b'0');
                len += 1;
            }
            b'.' if len > 0 && i < 3 => {
                octets[i] = u8::try_from(v).ok()?;
                (i, v, len) = (i + 1, 0, 0);
            }
            _ => return None,
        }
    }
    if len == 0 || i != 3 {
        return None;
    }
    octets[3] = u8::try_from(v).ok()?;
    Some(Ipv4Addr::from(octets))
}

/// Parses an IPv6 address, tolerating the three-colon form that RFC 3261's
/// ABNF wrongly allows (`2001:db8:::192.0.2.1`, RFC 5118 §4.10).
fn parse_v6(s: &[u8]) -> Option<Ipv6Addr> {
    let t = std::str::from_utf8(s).ok()?;
    if let Ok(a) = t.parse() {
        return Some(a);
    }
    if t.contains(":::") && !t.contains("::::") {
        return t.replacen(":::", "::", 1).parse().ok();
    }
    None
}

impl Host {
    /// Appends the host as a URI or a Via writes it (IPv6 in brackets);
    /// an IPv4 address digit by digit, without `fmt`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        match self {
            Host::Domain(d) => out.extend_from_slice(d.as_bytes()),
            Host::Ipv4(a) => {
                let (buf, len) = crate::encode::ipv4_digits(*a);
                out.extend_from_slice(&buf[..len]);
            }
            other => {
                use std::io::Write as _;
                let _ = write!(out, "{other}");
            }
        }
    }
}

impl fmt::Display for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Host::Domain(d) => f.write_str(d),
            Host::Ipv4(a) => write!(f, "{a}"),
            Host::Ipv6(a) => write!(f, "[{a}]"),
        }
    }
}

impl From<IpAddr> for Host {
    fn from(a: IpAddr) -> Host {
        match a {
            IpAddr::V4(a) => Host::Ipv4(a),
            IpAddr::V6(a) => Host::Ipv6(a),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv4_reads_what_the_standard_parser_reads() {
        let octets = [
            "", "0", "00", "01", "1", "9", "10", "99", "100", "199", "200", "249", "250", "255",
            "256", "299", "300", "999", "0000", "1a", "+1", " 1",
        ];
        let mut n = 0;
        for a in octets {
            for b in octets {
                for c in octets {
                    for d in octets {
                        n += 1;
                        let t = format!("{a}.{b}.{c}.{d}");
                        let variant = match n % 4 {
                            0 => t,
                            1 => format!("{t}."),
                            2 => format!(".{t}"),
                            _ => format!("{t}.{a}"),
                        };
                        let want = variant.parse::<Ipv4Addr>().ok();
                        assert_eq!(parse_v4(variant.as_bytes()), want, "{variant:?}");
                    }
                }
            }
        }
        for t in [
            "",
            ".",
            "...",
            "1.2.3",
            "1.2.3.4.5",
            "1..2.3",
            "1.2.3.4 ",
            "\u{661}.2.3.4",
        ] {
            assert_eq!(parse_v4(t.as_bytes()), t.parse().ok(), "{t:?}");
        }
    }

    #[test]
    fn rfc5118_hosts() {
        assert_eq!(
            Host::parse(b"[2001:db8::10]", false),
            Some(Host::Ipv6("2001:db8::10".parse().unwrap()))
        );
        assert_eq!(Host::parse(b"2001:db8::10", false), None);
        assert!(Host::parse(b"2001:db8::9:255", true).is_some());
        // RFC 5118 §4.10: tolerate the ABNF bug.
        assert_eq!(
            Host::parse(b"[2001:db8:::192.0.2.1]", false),
            Some(Host::Ipv6("2001:db8::192.0.2.1".parse().unwrap()))
        );
        assert_eq!(
            Host::parse(b"192.0.2.1", false),
            Some(Host::Ipv4([192, 0, 2, 1].into()))
        );
        assert!(matches!(
            Host::parse(b"example.com", false),
            Some(Host::Domain(_))
        ));
        assert_eq!(Host::parse(b"exa mple", false), None);
    }
}
