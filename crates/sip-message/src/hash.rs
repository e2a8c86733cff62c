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

/// Eight bytes at `at` (the caller has checked the length): a fixed-size
/// copy, which compiles to one load.
#[inline]
fn load8(b: &[u8], at: usize) -> u64 {
    let mut w = [0u8; 8];
    w.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(w)
}

#[inline]
fn load4(b: &[u8], at: usize) -> u64 {
    let mut w = [0u8; 4];
    w.copy_from_slice(&b[at..at + 4]);
    u64::from(u32::from_le_bytes(w))
}

/// Two words that together cover every byte of `b` (at most 16 bytes),
/// read with overlapping loads instead of a copy of variable length.
#[inline]
fn tail_words(b: &[u8]) -> (u64, u64) {
    let n = b.len();
    if n >= 8 {
        (load8(b, 0), load8(b, n - 8))
    } else if n >= 4 {
        (load4(b, 0), load4(b, n - 4))
    } else if n > 0 {
        let w = u64::from(b[0]) | u64::from(b[n / 2]) << 8 | u64::from(b[n - 1]) << 16;
        (w, 0)
    } else {
        (0, 0)
    }
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
        // 16 bytes per multiply; the last (up to) 16 are read as two words
        // that may overlap the ones before. The length goes in last, so
        // inputs that differ only in how they are split hash apart.
        let mut rest = bytes;
        while rest.len() > 16 {
            self.acc = fold_mul(self.acc ^ load8(rest, 0), load8(rest, 8) ^ self.seed);
            rest = &rest[16..];
        }
        let (a, b) = tail_words(rest);
        self.acc = fold_mul(self.acc ^ a, b ^ self.seed);
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
    fn every_byte_of_every_length_counts() {
        // Overlapping loads must still cover each byte: flipping any one
        // byte of a key of any length up to 40 changes its hash.
        let s = FastState::new();
        for len in 0..=40usize {
            let key: Vec<u8> = (0..len as u8).map(|i| b'a' + i % 26).collect();
            let h = s.hash_one(&key[..]);
            for i in 0..len {
                let mut k = key.clone();
                k[i] ^= 0x20;
                assert_ne!(s.hash_one(&k[..]), h, "byte {i} of {len}");
            }
            // And the length itself: a zero byte appended is another key.
            let mut longer = key.clone();
            longer.push(0);
            assert_ne!(s.hash_one(&longer[..]), h, "length {len}");
        }
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
