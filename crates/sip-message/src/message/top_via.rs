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
