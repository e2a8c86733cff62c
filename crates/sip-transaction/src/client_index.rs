//! Client transactions by key (§17.1.3: top Via branch and CSeq method),
//! holding only their ids.
//!
//! Each key lives once, in its transaction; the table stores 8-byte ids
//! and compares a candidate through the transaction. An INVITE stays in
//! the table for Timer M (RFC 6026 §8.4, 32 s) after its call: a table
//! of whole keys was about 90 bytes per entry, most of a call's lasting
//! memory besides its slot, and the lookups of every response ran
//! through it.

use std::hash::BuildHasher;

use hashbrown::HashTable;
use sip_message::hash::FastState;

use crate::id::{ClientKey, ClientKeyView, TransactionId};

pub(crate) struct ClientIndex {
    table: HashTable<TransactionId>,
    state: FastState,
}

impl Default for ClientIndex {
    fn default() -> Self {
        ClientIndex {
            table: HashTable::new(),
            state: FastState::new(),
        }
    }
}

impl ClientIndex {
    /// The hash of a key, however it is held (a key or a message's parts
    /// hash alike, see [`ClientKeyView`]).
    pub(crate) fn hash(&self, key: &dyn ClientKeyView) -> u64 {
        self.state.hash_one(key)
    }

    /// The hashing state, for tables that look up the same keys.
    pub(crate) fn state(&self) -> FastState {
        self.state
    }

    pub(crate) fn len(&self) -> usize {
        self.table.len()
    }

    /// The transaction with this key; `key_of` gives a transaction's key.
    #[cfg(test)]
    pub(crate) fn get<'a>(
        &self,
        key: &dyn ClientKeyView,
        key_of: impl Fn(TransactionId) -> Option<&'a ClientKey>,
    ) -> Option<TransactionId> {
        self.get_hashed(self.hash(key), key, key_of)
    }

    /// [`get`](Self::get) with the key's hash already made.
    pub(crate) fn get_hashed<'a>(
        &self,
        hash: u64,
        key: &dyn ClientKeyView,
        key_of: impl Fn(TransactionId) -> Option<&'a ClientKey>,
    ) -> Option<TransactionId> {
        self.table
            .find(hash, |id| {
                key_of(*id).is_some_and(|k| (k as &dyn ClientKeyView) == key)
            })
            .copied()
    }

    /// Adds `id`, whose key hashes to `hash` (the caller has checked it is
    /// not there). Growing rehashes the others through `key_of`: every id
    /// in the table has its transaction.
    pub(crate) fn insert<'a>(
        &mut self,
        hash: u64,
        id: TransactionId,
        key_of: impl Fn(TransactionId) -> Option<&'a ClientKey>,
    ) {
        let state = self.state;
        self.table.insert_unique(hash, id, |other| {
            let key = key_of(*other);
            debug_assert!(key.is_some(), "client index holds a dead transaction");
            key.map_or(0, |k| state.hash_one(k as &dyn ClientKeyView))
        });
    }

    /// Removes `id`, whose key hashes to `hash`.
    pub(crate) fn remove(&mut self, hash: u64, id: TransactionId) {
        match self.table.find_entry(hash, |x| *x == id) {
            Ok(e) => {
                e.remove();
            }
            // Only if an id were ever rehashed without its transaction (the
            // table's invariant, checked in debug builds): found the slow
            // way, so that it cannot stay behind.
            Err(_) => self.table.retain(|x| *x != id),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sip_message::Method;

    fn key(branch: &str, method: Method) -> ClientKey {
        ClientKey {
            branch: branch.into(),
            method,
        }
    }

    #[test]
    fn finds_by_key_or_parts_through_growth_and_removal() {
        let mut index = ClientIndex::default();
        let keys: Vec<ClientKey> = (0..2000)
            .map(|i| {
                let m = if i % 2 == 0 {
                    Method::Invite
                } else {
                    Method::Cancel
                };
                // Same branch twice: INVITE and CANCEL are two keys.
                key(&format!("z9hG4bK{}", i / 2), m)
            })
            .collect();
        let id = |i: usize| TransactionId {
            index: i as u32,
            generation: 7,
        };
        let key_of = |t: TransactionId| keys.get(t.index as usize).filter(|_| t.generation == 7);
        for (i, k) in keys.iter().enumerate() {
            assert_eq!(index.get(k, key_of), None);
            index.insert(index.hash(k), id(i), key_of);
        }
        assert_eq!(index.len(), keys.len());
        for (i, k) in keys.iter().enumerate() {
            assert_eq!(index.get(k, key_of), Some(id(i)), "{k:?}");
            // A response's borrowed parts find the same transaction.
            let parts = (k.branch.as_bytes(), &k.method);
            assert_eq!(index.get(&parts, key_of), Some(id(i)));
        }
        // Case matters (§17.1.3 compares branches byte for byte), and so
        // does the method.
        assert_eq!(index.get(&key("Z9HG4BK1", Method::Invite), key_of), None);
        assert_eq!(index.get(&key("z9hG4bK1", Method::Bye), key_of), None);
        for (i, k) in keys.iter().enumerate().filter(|(i, _)| i % 2 == 0) {
            index.remove(index.hash(k), id(i));
        }
        assert_eq!(index.len(), keys.len() / 2);
        for (i, k) in keys.iter().enumerate() {
            let want = (i % 2 == 1).then(|| id(i));
            assert_eq!(index.get(k, key_of), want);
        }
        // Removing what is not there changes nothing.
        index.remove(index.hash(&keys[0]), id(0));
        assert_eq!(index.len(), keys.len() / 2);
    }
}
