//! Counters of what was received, sent and dropped.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// Live counters (cheap atomics).
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) received: AtomicU64,
    pub(crate) sent: AtomicU64,
    pub(crate) parse_errors: AtomicU64,
    pub(crate) dropped_responses: AtomicU64,
    pub(crate) keepalives: AtomicU64,
    pub(crate) connections_opened: AtomicU64,
    pub(crate) connections_rejected: AtomicU64,
    pub(crate) connections_closed: AtomicU64,
    pub(crate) idle_closed: AtomicU64,
    pub(crate) tls_failures: AtomicU64,
    pub(crate) inbound_overflow: AtomicU64,
}

/// A snapshot of the counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Messages received and handed up.
    pub received: u64,
    /// Messages sent.
    pub sent: u64,
    /// Datagrams or stream messages that did not parse (dropped).
    pub parse_errors: u64,
    /// Responses dropped because their top Via was not ours (§18.1.2).
    pub dropped_responses: u64,
    /// CRLF keep-alives seen (RFC 5626 §3.5.1): pings and pongs on streams,
    /// and all-CRLF UDP datagrams.
    pub keepalives: u64,
    /// TCP/TLS connections opened (both directions).
    pub connections_opened: u64,
    /// Connections refused at the limit.
    pub connections_rejected: u64,
    /// Connections closed for any reason.
    pub connections_closed: u64,
    /// Connections closed for idleness (including a stalled half message)
    /// or because the peer stopped reading (a write stalled that long).
    pub idle_closed: u64,
    /// TLS handshakes that failed.
    pub tls_failures: u64,
    /// Inbound messages dropped because the layer above did not keep up.
    pub inbound_overflow: u64,
}

impl Counters {
    pub(crate) fn snapshot(&self) -> Stats {
        Stats {
            received: self.received.load(Relaxed),
            sent: self.sent.load(Relaxed),
            parse_errors: self.parse_errors.load(Relaxed),
            dropped_responses: self.dropped_responses.load(Relaxed),
            keepalives: self.keepalives.load(Relaxed),
            connections_opened: self.connections_opened.load(Relaxed),
            connections_rejected: self.connections_rejected.load(Relaxed),
            connections_closed: self.connections_closed.load(Relaxed),
            idle_closed: self.idle_closed.load(Relaxed),
            tls_failures: self.tls_failures.load(Relaxed),
            inbound_overflow: self.inbound_overflow.load(Relaxed),
        }
    }
}

pub(crate) fn inc(c: &AtomicU64) {
    c.fetch_add(1, Relaxed);
}
