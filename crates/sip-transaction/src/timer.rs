//! Timers of RFC 3261 §17 (Table 4) and RFC 6026, and the deadline queue.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::{Duration, Instant};

use crate::id::TransactionId;

/// The transaction timers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Timer {
    /// INVITE request retransmit interval (UDP only), starts at T1 and doubles.
    A,
    /// INVITE transaction timeout, 64*T1.
    B,
    /// Wait time for response retransmits (INVITE client), >32 s UDP, 0 reliable.
    D,
    /// non-INVITE request retransmit interval (UDP only), T1 doubling to T2.
    E,
    /// non-INVITE transaction timeout, 64*T1.
    F,
    /// INVITE response retransmit interval (UDP only), T1 doubling to T2.
    G,
    /// Wait time for ACK receipt, 64*T1.
    H,
    /// Wait time for ACK retransmits, T4 UDP, 0 reliable.
    I,
    /// Wait time for non-INVITE request retransmits, 64*T1 UDP, 0 reliable.
    J,
    /// Wait time for response retransmits (non-INVITE client), T4 UDP, 0 reliable.
    K,
    /// Wait time for accepted INVITE request retransmits (RFC 6026), 64*T1.
    L,
    /// Wait time for retransmission of 2xx to INVITE or additional 2xx from other branches (RFC 6026), 64*T1.
    M,
    /// How long an INVITE server transaction waits for the TU's first
    /// response before it sends 100 (Trying) itself: [`TRYING_DELAY`]
    /// (RFC 3261 §17.2.1; reSIProcate calls it TimerTrying).
    Trying,
}

pub(crate) const TIMER_COUNT: usize = 13;

/// RFC 3261 §17.2.1: the INVITE server transaction MUST send 100 (Trying)
/// unless the TU answers within 200 ms. It waits that long for the TU's
/// first response, and sends 100 only if none came (or at once if the
/// INVITE is retransmitted first): a TU that answers at once spares a
/// message each way.
pub const TRYING_DELAY: Duration = Duration::from_millis(200);

impl Timer {
    pub(crate) fn index(self) -> usize {
        self as usize
    }
}

/// T1, T2, T4 and Timer D (RFC 3261 §17.1.1.1, Table 4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimerConfig {
    /// RTT estimate, 500 ms by default.
    pub t1: Duration,
    /// Maximum retransmit interval for non-INVITE requests and INVITE responses, 4 s.
    pub t2: Duration,
    /// Maximum duration a message will remain in the network, 5 s.
    pub t4: Duration,
    /// Timer D for unreliable transports (at least 32 s).
    pub timer_d: Duration,
}

impl Default for TimerConfig {
    fn default() -> Self {
        TimerConfig {
            t1: Duration::from_millis(500),
            t2: Duration::from_secs(4),
            t4: Duration::from_secs(5),
            timer_d: Duration::from_secs(32),
        }
    }
}

impl TimerConfig {
    /// 64*T1: timers B, F, H, J (UDP), L, M.
    pub fn t1x64(&self) -> Duration {
        self.t1 * 64
    }
}

/// A min-heap of deadlines with lazy cancellation: each transaction keeps a
/// generation per timer, and an entry whose generation is stale is skipped.
#[derive(Debug, Default)]
pub(crate) struct TimerQueue {
    heap: BinaryHeap<Reverse<(Instant, TransactionId, Timer, u32)>>,
}

impl TimerQueue {
    pub(crate) fn push(&mut self, at: Instant, id: TransactionId, timer: Timer, gen: u32) {
        self.heap.push(Reverse((at, id, timer, gen)));
    }

    /// The earliest entry due at or before `now`.
    pub(crate) fn pop_due(&mut self, now: Instant) -> Option<(Instant, TransactionId, Timer, u32)> {
        match self.heap.peek() {
            Some(Reverse((at, ..))) if *at <= now => self.heap.pop().map(|Reverse(e)| e),
            _ => None,
        }
    }

    pub(crate) fn peek(&self) -> Option<&(Instant, TransactionId, Timer, u32)> {
        self.heap.peek().map(|Reverse(e)| e)
    }

    /// Drops stale entries at the top so that `peek` shows a live one.
    pub(crate) fn prune(&mut self, live: impl Fn(TransactionId, Timer, u32) -> bool) {
        while let Some(Reverse((_, id, t, g))) = self.heap.peek() {
            if live(*id, *t, *g) {
                break;
            }
            self.heap.pop();
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.heap.len()
    }
}
