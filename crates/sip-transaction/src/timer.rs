//! Timers of RFC 3261 §17 (Table 4) and RFC 6026, and the deadline queue.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
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

/// One armed timer: deadline, transaction, which timer, its generation.
type Entry = (Instant, TransactionId, Timer, u32);

/// Durations at least this long get a FIFO lane of their own.
const LANE_MIN: Duration = Duration::from_secs(1);
/// At most this many lanes (64*T1, T4, Timer D: two with the defaults,
/// where Timer D and 64*T1 are both 32 s).
const MAX_LANES: usize = 8;

/// The deadlines of every transaction, with lazy cancellation: each
/// transaction keeps a generation per timer, and an entry whose generation
/// is stale is skipped.
///
/// Most timers run for one of a few long fixed durations (64*T1 for B, F,
/// H, J, L and M; T4 for I and K; Timer D), and are armed as time goes
/// forward: each such duration gets a FIFO lane, already in deadline order,
/// where a push and a pop cost O(1) however many calls are in their 32 s
/// of Timer M. A min-heap holds the rest (retransmission timers, a
/// deadline armed out of order).
#[derive(Debug, Default)]
pub(crate) struct TimerQueue {
    heap: BinaryHeap<Reverse<Entry>>,
    lanes: Vec<(Duration, VecDeque<Entry>)>,
}

/// Where the earliest entry is.
#[derive(Clone, Copy)]
enum Source {
    Heap,
    Lane(usize),
}

impl TimerQueue {
    /// Arms `timer` of `id` (generation `gen`) to fire `after` from `now`.
    pub(crate) fn push(
        &mut self,
        now: Instant,
        after: Duration,
        id: TransactionId,
        timer: Timer,
        gen: u32,
    ) {
        let e = (now + after, id, timer, gen);
        if after >= LANE_MIN {
            let lane = match self.lanes.iter().position(|(d, _)| *d == after) {
                Some(i) => Some(i),
                None if self.lanes.len() < MAX_LANES => {
                    self.lanes.push((after, VecDeque::new()));
                    Some(self.lanes.len() - 1)
                }
                None => None,
            };
            if let Some(i) = lane {
                let q = &mut self.lanes[i].1;
                // In deadline order only: an entry due before the last goes
                // to the heap. Entries due at the same instant (a batch of
                // events handled with one `now`) stay in arming order: which
                // of them fires first does not matter, and comparing their
                // ids too sent most of a busy service's Timer M entries to
                // the heap (100,000 there at 10,000 calls/s, each pop a
                // walk down it).
                if q.back().is_none_or(|last| last.0 <= e.0) {
                    q.push_back(e);
                    return;
                }
            }
        }
        self.heap.push(Reverse(e));
    }

    /// The earliest entry and where it is.
    fn first(&self) -> Option<(Entry, Source)> {
        let mut best = self.heap.peek().map(|Reverse(e)| (*e, Source::Heap));
        for (i, (_, q)) in self.lanes.iter().enumerate() {
            if let Some(e) = q.front() {
                if best.is_none_or(|(b, _)| *e < b) {
                    best = Some((*e, Source::Lane(i)));
                }
            }
        }
        best
    }

    fn remove(&mut self, from: Source) {
        match from {
            Source::Heap => {
                self.heap.pop();
            }
            Source::Lane(i) => {
                self.lanes[i].1.pop_front();
            }
        }
    }

    /// The earliest entry due at or before `now`.
    pub(crate) fn pop_due(&mut self, now: Instant) -> Option<Entry> {
        let (e, from) = self.first()?;
        if e.0 > now {
            return None;
        }
        self.remove(from);
        Some(e)
    }

    /// The earliest entry.
    pub(crate) fn peek(&self) -> Option<Entry> {
        self.first().map(|(e, _)| e)
    }

    /// Drops stale entries at the front so that `peek` shows a live one.
    pub(crate) fn prune(&mut self, live: impl Fn(TransactionId, Timer, u32) -> bool) {
        while let Some(((_, id, t, g), from)) = self.first() {
            if live(id, t, g) {
                break;
            }
            self.remove(from);
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.heap.len() + self.lanes.iter().map(|(_, q)| q.len()).sum::<usize>()
    }
}

#[cfg(test)]
mod queue_tests {
    use super::*;
    use crate::random::{RandomSource, Xorshift};

    /// Whatever the durations and the order of arming, entries come out
    /// as from one min-heap of them all, and stale ones are pruned.
    #[test]
    fn lanes_and_heap_pop_in_deadline_order() {
        let mut rng = Xorshift::seeded(42);
        let t0 = Instant::now();
        let durations = [
            Duration::ZERO,
            Duration::from_millis(200),
            Duration::from_millis(500),
            Duration::from_secs(5),
            Duration::from_secs(32),
            Duration::from_secs(32),
        ];
        let mut q = TimerQueue::default();
        let mut reference = BinaryHeap::new();
        let mut now = t0;
        for i in 0..5_000u32 {
            // Time mostly goes forward, sometimes a little back.
            let step = rng.next_u64() % 50;
            now = if rng.next_u64() % 10 == 0 {
                now.checked_sub(Duration::from_millis(step)).unwrap_or(t0)
            } else {
                now + Duration::from_millis(step)
            };
            let after = durations[(rng.next_u64() % durations.len() as u64) as usize];
            let id = TransactionId {
                index: i % 97,
                generation: 0,
            };
            q.push(now, after, id, Timer::B, i);
            reference.push(Reverse((now + after, id, Timer::B, i)));
        }
        assert_eq!(q.len(), reference.len());
        assert!(!q.lanes.is_empty(), "the long durations have lanes");
        // Every tenth generation is stale.
        q.prune(|_, _, g| g % 10 != 0);
        while reference.peek().is_some_and(|Reverse(e)| e.3 % 10 == 0) {
            reference.pop();
        }
        let end = now + Duration::from_secs(60);
        let (mut popped, mut wanted) = (Vec::new(), Vec::new());
        while let Some(Reverse(want)) = reference.pop() {
            if want.3 % 10 == 0 {
                continue;
            }
            let got = loop {
                let e = q.pop_due(end).expect("an entry");
                if e.3 % 10 != 0 {
                    break e;
                }
            };
            // Entries due at the same instant may come out in any order.
            assert_eq!(got.0, want.0);
            popped.push(got);
            wanted.push(want);
        }
        popped.sort();
        wanted.sort();
        assert_eq!(popped, wanted, "the same entries");
    }

    /// Entries armed in a batch with one `now` (same deadline, ids in any
    /// order) stay in their lane: none goes to the heap.
    #[test]
    fn a_batch_with_one_deadline_stays_in_its_lane() {
        let mut q = TimerQueue::default();
        let now = Instant::now();
        for index in [5u32, 3, 9, 1, 7] {
            let id = TransactionId {
                index,
                generation: 0,
            };
            q.push(now, Duration::from_secs(32), id, Timer::M, 0);
        }
        assert!(q.heap.is_empty(), "{} entries in the heap", q.heap.len());
        assert_eq!(q.len(), 5);
        let mut n = 0;
        while q.pop_due(now + Duration::from_secs(32)).is_some() {
            n += 1;
        }
        assert_eq!(n, 5);
    }
}
