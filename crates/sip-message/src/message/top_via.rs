//! The top Via as decoded at parse time.

use super::Span;
use crate::headers::{Rport, Transport};
use crate::uri::Host;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ViaSpans {
    pub(crate) transport: Transport,
    pub(crate) transport_name: Span,
    pub(crate) host: Span,
    pub(crate) port: Option<u16>,
    pub(crate) branch: Option<Span>,
    pub(crate) received: Option<Span>,
    pub(crate) rport: Option<Rport>,
    pub(crate) maddr: Option<Span>,
    pub(crate) params: Span,
    /// The whole first Via value (without a following comma).
    pub(crate) element: Span,
}

impl ViaSpans {
    pub(crate) fn view<'a>(&'a self, buf: &'a [u8]) -> TopVia<'a> {
        TopVia { buf, spans: self }
    }
}

/// The top Via of a message: what RFC 3261 §17 matches transactions on
/// and what §18 routes responses by. Every field is a view of the message,
/// located at parse time and turned into text only when asked for.
#[derive(Debug, Clone, Copy)]
pub struct TopVia<'a> {
    buf: &'a [u8],
    spans: &'a ViaSpans,
}

impl<'a> TopVia<'a> {
    fn s(&self, sp: Span) -> &'a str {
        // Located by the Via grammar: token and host characters (ASCII).
        std::str::from_utf8(&self.buf[sp.range()]).unwrap_or_default()
    }
    fn b(&self, sp: Span) -> &'a [u8] {
        self.buf.get(sp.range()).unwrap_or_default()
    }
    /// Transport.
    pub fn transport(&self) -> Transport {
        self.spans.transport
    }
    /// Transport token as written.
    pub fn transport_name(&self) -> &'a str {
        self.s(self.spans.transport_name)
    }
    /// sent-by host as written (IPv6 in brackets).
    pub fn host(&self) -> &'a str {
        self.s(self.spans.host)
    }
    /// sent-by port.
    pub fn port(&self) -> Option<u16> {
        self.spans.port
    }
    /// `branch`.
    pub fn branch(&self) -> Option<&'a str> {
        self.spans.branch.map(|b| self.s(b))
    }
    /// `received`.
    pub fn received(&self) -> Option<&'a str> {
        self.spans.received.map(|b| self.s(b))
    }
    /// `rport` (RFC 3581).
    pub fn rport(&self) -> Option<Rport> {
        self.spans.rport
    }
    /// `maddr`.
    pub fn maddr(&self) -> Option<&'a str> {
        self.spans.maddr.map(|b| self.s(b))
    }
    /// The parameter text (from the first `;`).
    pub fn params(&self) -> &'a str {
        self.s(self.spans.params)
    }
    /// Transport token as written, as bytes: what [`transport_name`]
    /// reads without the UTF-8 check.
    ///
    /// [`transport_name`]: Self::transport_name
    pub fn transport_name_bytes(&self) -> &'a [u8] {
        self.b(self.spans.transport_name)
    }
    /// sent-by host as written, as bytes (see [`host`](Self::host)).
    pub fn host_bytes(&self) -> &'a [u8] {
        self.b(self.spans.host)
    }
    /// `branch` as bytes (see [`branch`](Self::branch)); a quoted branch
    /// may hold octets that are not UTF-8, which `branch` reads as "".
    pub fn branch_bytes(&self) -> Option<&'a [u8]> {
        self.spans.branch.map(|b| self.b(b))
    }
    /// The sent-by host, parsed.
    pub fn sent_by_host(&self) -> Option<Host> {
        Host::parse(self.host().as_bytes(), false)
    }
    /// True if the branch starts with the RFC 3261 magic cookie `z9hG4bK`
    /// and has something after it (a bare cookie is RFC 4475 §3.2.1).
    pub fn has_rfc3261_branch(&self) -> bool {
        // Compared as bytes. A branch that is not UTF-8 (a quoted value can
        // hold any octet) reads as no text at all in `branch`, so it has no
        // cookie here either; the ASCII test spares the UTF-8 one.
        self.spans.branch.is_some_and(|sp| {
            let b = &self.buf[sp.range()];
            b.len() > 7
                && b.starts_with(crate::headers::MAGIC_COOKIE.as_bytes())
                && (b.is_ascii() || std::str::from_utf8(b).is_ok())
        })
    }
}

impl PartialEq for TopVia<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.transport() == other.transport()
            && self.host() == other.host()
            && self.port() == other.port()
            && self.params() == other.params()
    }
}

#[cfg(test)]
mod tests {
    use crate::Message;

    /// The byte accessors read what the text ones do, byte for byte, and
    /// where the text one gives "" for octets that are not UTF-8, the
    /// bytes are those octets.
    #[test]
    fn byte_accessors_agree_with_the_text_ones() {
        let vias: [&[u8]; 10] = [
            b"SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK776asdhds",
            b"SIP/2.0/UDP placeholder.invalid;branch=z9hG4bKAbC;rport",
            b"SIP / 2.0 / TCP  PC33.Atlanta.COM : 5061 ;branch=z9hG4bKx",
            b"SIP/2.0/TLS [2001:DB8::1]:65535;branch=z9hG4bKx",
            b"sip/2.0/udp h;BRANCH=z9hG4bKcase",
            b"SIP/2.0/SCTP h",
            b"SIP/2.0/UDP h;branch=\"z9hG4bKq\"",
            b"SIP/2.0/UDP h;branch=\"z9hG4bK\xc3\xa9\"",
            b"SIP/2.0/UDP h;branch=\"z9hG4bK\xff\xfe\"",
            b"SIP/2.0/UDP h;branch=z9hG4bK1, SIP/2.0/TCP other;branch=z9hG4bK2",
        ];
        let mut checked = 0;
        for via in vias {
            let mut m = b"OPTIONS sip:a@b SIP/2.0\r\nVia: ".to_vec();
            m.extend_from_slice(via);
            m.extend_from_slice(b"\r\nCall-ID: c\r\nCSeq: 1 OPTIONS\r\n\r\n");
            let Ok(msg) = Message::parse(m) else { continue };
            let Some(v) = msg.top_via() else { continue };
            let what = String::from_utf8_lossy(via);
            assert_eq!(
                v.transport_name_bytes(),
                v.transport_name().as_bytes(),
                "{what}"
            );
            assert_eq!(v.host_bytes(), v.host().as_bytes(), "{what}");
            match (v.branch_bytes(), v.branch()) {
                (Some(b), Some(t)) if std::str::from_utf8(b).is_ok() => {
                    assert_eq!(b, t.as_bytes(), "{what}")
                }
                (Some(_), Some(t)) => assert_eq!(t, "", "{what}"),
                (None, None) => {}
                (b, t) => panic!("{what}: {b:?} {t:?}"),
            }
            checked += 1;
        }
        assert!(checked >= 8, "{checked}");
    }

    #[test]
    fn cookie_test_on_bytes_agrees_with_the_text() {
        let branches: [&[u8]; 9] = [
            b"z9hG4bK776asdhds",
            b"z9hG4bK",
            b"z9hG4bK1",
            b"Z9HG4BK776",
            b"776asdhds",
            b"\"z9hG4bKq\"",
            b"\"z9hG4bK\xc3\xa9\"",
            b"\"z9hG4bK\xff\xfe\"",
            b"z9hG4bK\xff",
        ];
        for b in branches {
            let mut m = b"OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=".to_vec();
            m.extend_from_slice(b);
            m.extend_from_slice(b"\r\nCall-ID: c\r\nCSeq: 1 OPTIONS\r\n\r\n");
            let Ok(msg) = Message::parse(m) else { continue };
            let Some(v) = msg.top_via() else { continue };
            let by_text = v
                .branch()
                .is_some_and(|t| t.len() > 7 && t.starts_with(crate::headers::MAGIC_COOKIE));
            assert_eq!(
                v.has_rfc3261_branch(),
                by_text,
                "{:?}",
                String::from_utf8_lossy(b)
            );
        }
    }
}
