//! The top Via as decoded at parse time.

use super::Span;
use crate::headers::{Rport, Transport};
use crate::uri::Host;

#[derive(Debug, Clone)]
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
}

impl ViaSpans {
    pub(crate) fn view<'a>(&self, buf: &'a [u8]) -> TopVia<'a> {
        let s = |sp: Span| std::str::from_utf8(&buf[sp.range()]).unwrap_or_default();
        TopVia {
            transport: self.transport,
            transport_name: s(self.transport_name),
            host: s(self.host),
            port: self.port,
            branch: self.branch.map(s),
            received: self.received.map(s),
            rport: self.rport,
            maddr: self.maddr.map(s),
            params: s(self.params),
        }
    }
}

/// The top Via of a message: what RFC 3261 §17 matches transactions on
/// and what §18 routes responses by. All fields are views of the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TopVia<'a> {
    /// Transport.
    pub transport: Transport,
    /// Transport token as written.
    pub transport_name: &'a str,
    /// sent-by host as written (IPv6 in brackets).
    pub host: &'a str,
    /// sent-by port.
    pub port: Option<u16>,
    /// `branch`.
    pub branch: Option<&'a str>,
    /// `received`.
    pub received: Option<&'a str>,
    /// `rport` (RFC 3581).
    pub rport: Option<Rport>,
    /// `maddr`.
    pub maddr: Option<&'a str>,
    /// The parameter text (from the first `;`).
    pub params: &'a str,
}

impl TopVia<'_> {
    /// The sent-by host, parsed.
    pub fn sent_by_host(&self) -> Option<Host> {
        Host::parse(self.host.as_bytes(), false)
    }
    /// True if the branch starts with the RFC 3261 magic cookie `z9hG4bK`
    /// (and has something after it; a bare cookie is RFC 4475 §3.2.1).
    pub fn has_rfc3261_branch(&self) -> bool {
        self.branch
            .is_some_and(|b| b.len() > 7 && b.starts_with(crate::headers::MAGIC_COOKIE))
    }
}
