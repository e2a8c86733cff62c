//! Client transactions that only wait out their last timer: an INVITE in
//! the Accepted state until Timer M (RFC 6026 §8.4, 64*T1) and a
//! non-INVITE in Completed until Timer K (RFC 3261 §17.1.2.2, T4 over
//! UDP).
//!
//! Neither sends anything again. All they still do is match responses:
//! the Accepted INVITE passes each 2xx up (a retransmission the TU ACKs
//! again, or a 2xx from another fork), the Completed request absorbs
//! retransmissions. So each keeps only its key, id, state and deadline
//! here (about 130 bytes with its index and timer entries) instead of a whole
//! transaction slot (about 300 bytes plus a timer entry). Every call of a
//! UAC under load holds one of these for 32 s; kept apart, they also
//! leave the transactions in progress in a small, cache-warm table.

use std::hash::BuildHasher;
use std::time::{Duration, Instant};

use hashbrown::HashTable;
use sip_message::hash::FastState;

use crate::client::ClientState;
use crate::id::{ClientKey, ClientKeyView, TransactionId};
use crate::timer::{Timer, TimerQueue};

struct Record {
    key: ClientKey,
    id: TransactionId,
    state: ClientState,
}

/// The lingering client transactions, by key and by id, with their
/// deadlines in a [`TimerQueue`] of their own (nothing leaves early, so
/// every entry there is live, and its generation field holds the index of
/// its record).
pub(crate) struct Lingering {
    records: Vec<Option<Record>>,
    free: Vec<u32>,
    by_key: HashTable<u32>,
    by_id: HashTable<u32>,
    expiry: TimerQueue,
    state: FastState,
}

impl Lingering {
    /// Keys hash with `state`, the client index's, so that a response's
    /// key is hashed once for both.
    pub(crate) fn new(state: FastState) -> Lingering {
        Lingering {
            records: Vec::new(),
            free: Vec::new(),
            by_key: HashTable::new(),
            by_id: HashTable::new(),
            expiry: TimerQueue::default(),
            state,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.by_id.len()
    }

    fn record(&self, i: u32) -> Option<&Record> {
        self.records.get(i as usize)?.as_ref()
    }

    /// Adds transaction `id` (its key hashing to `hash`, and not already
    /// here) until `now + after`.
    pub(crate) fn insert(
        &mut self,
        now: Instant,
        after: Duration,
        hash: u64,
        key: ClientKey,
        id: TransactionId,
        state: ClientState,
    ) {
        let record = Record { key, id, state };
        let i = match self.free.pop() {
            Some(i) => {
                self.records[i as usize] = Some(record);
                i
            }
            None => {
                self.records.push(Some(record));
                (self.records.len() - 1) as u32
            }
        };
        let (records, st) = (&self.records, self.state);
        let key_hash = |j: &u32| {
            records[*j as usize]
                .as_ref()
                .map_or(0, |r| st.hash_one(&r.key as &dyn ClientKeyView))
        };
        self.by_key.insert_unique(hash, i, key_hash);
        let id_hash = |j: &u32| {
            records[*j as usize]
                .as_ref()
                .map_or(0, |r| st.hash_one(r.id))
        };
        self.by_id.insert_unique(st.hash_one(id), i, id_hash);
        let timer = match state {
            ClientState::Accepted => Timer::M,
            _ => Timer::K,
        };
        // The record's index rides in the entry's generation field (no
        // entry here goes stale), so expiry needs no look-up by id.
        self.expiry.push(now, after, id, timer, i);
    }

    /// The transaction with this key (hashing to `hash`) and its state.
    pub(crate) fn find(
        &self,
        hash: u64,
        key: &dyn ClientKeyView,
    ) -> Option<(TransactionId, ClientState)> {
        let i = self.by_key.find(hash, |j| {
            self.record(*j)
                .is_some_and(|r| (&r.key as &dyn ClientKeyView) == key)
        })?;
        self.record(*i).map(|r| (r.id, r.state))
    }

    /// The record index of transaction `id`, if it lingers here.
    fn index_of(&self, id: TransactionId) -> Option<u32> {
        self.by_id
            .find(self.state.hash_one(id), |j| {
                self.record(*j).is_some_and(|r| r.id == id)
            })
            .copied()
    }

    /// The state of transaction `id`, if it lingers here.
    pub(crate) fn state(&self, id: TransactionId) -> Option<ClientState> {
        self.index_of(id)
            .and_then(|i| self.record(i))
            .map(|r| r.state)
    }

    /// The earliest deadline.
    pub(crate) fn next_due(&self) -> Option<Instant> {
        self.expiry.peek().map(|e| e.0)
    }

    /// Removes and returns one transaction whose deadline has come.
    pub(crate) fn pop_due(&mut self, now: Instant) -> Option<(TransactionId, ClientKey)> {
        let (_, id, _, at) = self.expiry.pop_due(now)?;
        // The entry names its record; a mismatch cannot happen, but the
        // look-up by id would still find the right one.
        let i = match self.record(at) {
            Some(r) if r.id == id => at,
            _ => self.index_of(id)?,
        };
        let r = self.records.get_mut(i as usize)?.take()?;
        self.free.push(i);
        let key_hash = self.state.hash_one(&r.key as &dyn ClientKeyView);
        if let Ok(e) = self.by_key.find_entry(key_hash, |j| *j == i) {
            e.remove();
        }
        if let Ok(e) = self
            .by_id
            .find_entry(self.state.hash_one(r.id), |j| *j == i)
        {
            e.remove();
        }
        Some((r.id, r.key))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sip_message::Method;

    fn key(i: u32) -> ClientKey {
        ClientKey {
            branch: format!("z9hG4bK{i}").as_str().into(),
            method: if i % 2 == 0 {
                Method::Invite
            } else {
                Method::Bye
            },
        }
    }

    fn id(i: u32) -> TransactionId {
        TransactionId {
            index: i % 7,
            generation: i,
        }
    }

    #[test]
    fn finds_by_key_and_id_until_each_deadline_in_order() {
        let st = FastState::new();
        let mut l = Lingering::new(st);
        let t0 = Instant::now();
        let (m, k) = (Duration::from_secs(32), Duration::from_secs(5));
        for i in 0..1000u32 {
            let now = t0 + Duration::from_millis(u64::from(i));
            let (after, state) = if i % 2 == 0 {
                (m, ClientState::Accepted)
            } else {
                (k, ClientState::Completed)
            };
            let kk = key(i);
            l.insert(
                now,
                after,
                st.hash_one(&kk as &dyn ClientKeyView),
                kk,
                id(i),
                state,
            );
        }
        assert_eq!(l.len(), 1000);
        let k7 = key(7);
        let h7 = st.hash_one(&k7 as &dyn ClientKeyView);
        assert_eq!(l.find(h7, &k7), Some((id(7), ClientState::Completed)));
        // A response's borrowed parts find it too; another method does not.
        let parts = (k7.branch.as_bytes(), &Method::Bye);
        assert_eq!(
            l.find(st.hash_one(&parts as &dyn ClientKeyView), &parts),
            Some((id(7), ClientState::Completed))
        );
        let other = (k7.branch.as_bytes(), &Method::Invite);
        assert_eq!(
            l.find(st.hash_one(&other as &dyn ClientKeyView), &other),
            None
        );
        assert_eq!(l.state(id(8)), Some(ClientState::Accepted));
        assert_eq!(
            l.state(TransactionId {
                index: 1,
                generation: 5000
            }),
            None
        );
        assert_eq!(l.next_due(), Some(t0 + Duration::from_millis(1) + k));

        // Deadlines come in order across the two durations.
        let mut last = t0;
        let mut seen = 0;
        let end = t0 + Duration::from_secs(40);
        while let Some(due) = l.next_due() {
            assert!(due >= last && due <= end);
            last = due;
            let (got, gkey) = l.pop_due(due).expect("due");
            assert_eq!(
                gkey.branch.as_bytes(),
                format!("z9hG4bK{}", got.generation).as_bytes()
            );
            assert_eq!(l.state(got), None);
            seen += 1;
            assert!(seen <= 1000);
        }
        assert_eq!((seen, l.len()), (1000, 0));
        assert_eq!(l.find(h7, &k7), None);
        // Freed records are reused.
        l.insert(end, k, h7, key(7), id(7), ClientState::Completed);
        assert_eq!(
            (l.records.len(), l.state(id(7))),
            (1000, Some(ClientState::Completed))
        );
    }

    #[test]
    fn a_clock_that_goes_back_keeps_deadline_order() {
        let st = FastState::new();
        let mut l = Lingering::new(st);
        let t0 = Instant::now() + Duration::from_secs(10);
        let k = Duration::from_secs(5);
        for (i, back) in [0u64, 3, 1, 2].iter().enumerate() {
            let kk = key(i as u32 * 2 + 1);
            let h = st.hash_one(&kk as &dyn ClientKeyView);
            l.insert(
                t0 - Duration::from_secs(*back),
                k,
                h,
                kk,
                id(i as u32),
                ClientState::Completed,
            );
        }
        let mut order = Vec::new();
        while let Some((got, _)) = l.pop_due(t0 + k) {
            order.push(got.generation);
        }
        assert_eq!(order, vec![1, 3, 2, 0]);
        assert!(l.pop_due(t0 + k).is_none());
    }
}
