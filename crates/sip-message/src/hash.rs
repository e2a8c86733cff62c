//! A fast keyed hasher for the stack's in-memory tables (transactions,
//! dialogs), whose keys are short strings (branch, Call-ID, tags) and
//! small integers.
//!
//! Each map gets its own random seed (taken from the standard library's
//! [`RandomState`]), so peers cannot choose keys that collide; each word of
//! input costs one 64×64→128-bit multiply instead of SipHash's rounds.
//! Only the hashes differ from [`std::collections::HashMap`]'s default:
//! lookups, and the absence of any iteration order, are the same.

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasher, Hasher, RandomState};

const K: u64 = 0x9e37_79b9_7f4a_7c15;

#[inline]
fn fold_mul(a: u64, b: u64) -> u64 {
    let p = u128::from(a) * u128::from(b);
    (p as u64) ^ ((p >> 64) as u64)
}

#[inline]
fn word(b: &[u8]) -> u64 {
    let mut w = [0u8; 8];
    w[..b.len()].copy_from_slice(b);
    u64::from_le_bytes(w)
}

/// Builds a [`FastHasher`] with this map's random seed.
#[derive(Debug, Clone, Copy)]
pub struct FastState {
    seed: [u64; 2],
}

impl FastState {
    /// A state with a fresh random seed.
    pub fn new() -> FastState {
        let r = RandomState::new();
        FastState {
            seed: [r.hash_one(1u8) | 1, r.hash_one(2u8)],
        }
    }
}

impl Default for FastState {
    fn default() -> Self {
        FastState::new()
    }
}

impl BuildHasher for FastState {
    type Hasher = FastHasher;
    #[inline]
    fn build_hasher(&self) -> FastHasher {
        FastHasher {
            acc: self.seed[1],
            seed: self.seed[0],
        }
    }
}

/// The hasher made by [`FastState`].
#[derive(Debug, Clone)]
pub struct FastHasher {
    acc: u64,
    seed: u64,
}

impl FastHasher {
    #[inline]
    fn mix(&mut self, x: u64) {
        self.acc = fold_mul(self.acc ^ x, self.seed ^ K);
    }
}

impl Hasher for FastHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(16);
        for c in &mut chunks {
            let (a, b) = c.split_at(8);
            let (a, b) = (word(a), word(b));
            self.acc = fold_mul(self.acc ^ a, b ^ self.seed);
        }
        let rest = chunks.remainder();
        if rest.len() > 8 {
            let (a, b) = rest.split_at(8);
            self.acc = fold_mul(self.acc ^ word(a), word(b) ^ self.seed);
        } else if !rest.is_empty() {
            self.mix(word(rest));
        }
        self.mix(bytes.len() as u64);
    }
    #[inline]
    fn write_u8(&mut self, i: u8) {
        self.mix(u64::from(i));
    }
    #[inline]
    fn write_u16(&mut self, i: u16) {
        self.mix(u64::from(i));
    }
    #[inline]
    fn write_u32(&mut self, i: u32) {
        self.mix(u64::from(i));
    }
    #[inline]
    fn write_u64(&mut self, i: u64) {
        self.mix(i);
    }
    #[inline]
    fn write_usize(&mut self, i: usize) {
        self.mix(i as u64);
    }
    #[inline]
    fn finish(&self) -> u64 {
        fold_mul(self.acc, self.seed).rotate_left(23)
    }
}

/// A [`HashMap`] with [`FastState`]; make one with `FastMap::default()`.
pub type FastMap<K, V> = HashMap<K, V, FastState>;
/// A [`HashSet`] with [`FastState`]; make one with `FastSet::default()`.
pub type FastSet<K> = HashSet<K, FastState>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_keys_hash_equal_and_different_keys_apart() {
        let s = FastState::new();
        assert_eq!(s.hash_one("z9hG4bK.abc"), s.hash_one("z9hG4bK.abc"));
        let hs: HashSet<u64> = (0..2000u32)
            .map(|i| s.hash_one(format!("z9hG4bK.{i:x}")))
            .collect();
        assert_eq!(hs.len(), 2000);
        // Lengths are part of the hash: ("ab", "c") is not ("a", "bc").
        assert_ne!(s.hash_one(("ab", "c")), s.hash_one(("a", "bc")));
    }

    #[test]
    fn a_map_works_as_with_the_default_hasher() {
        let mut m: FastMap<String, usize> = FastMap::default();
        for i in 0..500 {
            m.insert(format!("call-{i}@host"), i);
        }
        for i in 0..500 {
            assert_eq!(m.get(&format!("call-{i}@host")), Some(&i));
        }
        assert!(m.remove("call-7@host").is_some());
        assert!(!m.contains_key("call-7@host"));
    }
}
