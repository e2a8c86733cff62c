//! The random source for branches (injected so tests are reproducible).

use std::hash::{BuildHasher, Hasher};

/// Produces random 64-bit values.
pub trait RandomSource: Send {
    /// The next value.
    fn next_u64(&mut self) -> u64;
}

/// xorshift64* seeded from the OS (through std's hasher keys) or from a
/// fixed seed for tests. Not cryptographic; branches and tags only need
/// to be unique and hard to guess by accident.
#[derive(Debug, Clone)]
pub struct Xorshift(u64);

impl Xorshift {
    /// A generator with a fixed seed (reproducible runs).
    pub fn seeded(seed: u64) -> Xorshift {
        Xorshift(seed.max(1))
    }
    /// A generator seeded from the process's random hasher keys.
    pub fn from_os() -> Xorshift {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u64(0x9e37_79b9_7f4a_7c15);
        Xorshift::seeded(h.finish())
    }
}

impl RandomSource for Xorshift {
    fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

/// A new branch (RFC 3261 §8.1.1.7) as a `String`: [`Branch::random`]
/// without the allocation is what the stack itself uses.
pub fn branch(rng: &mut dyn RandomSource) -> String {
    Branch::random(rng).as_str().to_owned()
}

/// A branch of ours, held inline (31 bytes, no allocation): the magic
/// cookie and 96 random bits in lower-case hex (RFC 3261 §8.1.1.7). It
/// derefs to `&str`.
///
/// ```
/// use sip_transaction::{Branch, Xorshift};
/// let b = Branch::random(&mut Xorshift::seeded(1));
/// assert!(b.starts_with("z9hG4bK") && b.len() == 31);
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Branch([u8; BRANCH_LEN]);

impl Branch {
    /// A new branch from two draws of `rng`. Written out by hand:
    /// `format!` was a visible share of a call's CPU.
    pub fn random(rng: &mut dyn RandomSource) -> Branch {
        let a = rng.next_u64();
        let b = rng.next_u64() as u32;
        let cookie = sip_message::headers::MAGIC_COOKIE.as_bytes();
        let mut out = [0u8; BRANCH_LEN];
        out[..7].copy_from_slice(cookie);
        out[7..23].copy_from_slice(&sip_message::encode::hex16(a));
        out[23..].copy_from_slice(&sip_message::encode::hex16(u64::from(b))[8..]);
        Branch(out)
    }

    /// The branch as text.
    pub fn as_str(&self) -> &str {
        // ASCII throughout; the fallback cannot happen.
        std::str::from_utf8(&self.0).unwrap_or(sip_message::headers::MAGIC_COOKIE)
    }
}

impl std::ops::Deref for Branch {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<str> for Branch {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl std::fmt::Display for Branch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::fmt::Debug for Branch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(self.as_str(), f)
    }
}

/// A branch of ours: `z9hG4bK` and 24 hex digits.
const BRANCH_LEN: usize = 31;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn branch_is_the_cookie_and_24_hex_digits_from_two_draws() {
        let mut rng = Xorshift::seeded(7);
        let mut twin = Xorshift::seeded(7);
        let b = branch(&mut rng);
        let (a, lo) = (twin.next_u64(), twin.next_u64() as u32);
        assert_eq!(b, format!("z9hG4bK{a:016x}{lo:08x}"));
        assert_ne!(branch(&mut rng), b);
        // The inline form is the same text from the same draws.
        let mut again = Xorshift::seeded(7);
        let inline = Branch::random(&mut again);
        assert_eq!((inline.as_str(), &*inline), (b.as_str(), b.as_str()));
        assert_eq!(format!("{inline} {inline:?}"), format!("{b} {b:?}"));
    }

    #[test]
    fn branch_is_31_bytes_with_no_spare_capacity_and_pads_with_zeros() {
        struct Fixed(Vec<u64>);
        impl RandomSource for Fixed {
            fn next_u64(&mut self) -> u64 {
                self.0.pop().unwrap_or(0)
            }
        }
        for (a, lo) in [(0, 0), (u64::MAX, u64::MAX), (0x1f, 0xffff_ffff_0000_00ab)] {
            let b = branch(&mut Fixed(vec![lo, a]));
            assert_eq!(b, format!("z9hG4bK{a:016x}{:08x}", lo as u32));
            assert_eq!((b.len(), b.capacity()), (BRANCH_LEN, BRANCH_LEN));
        }
    }
}
