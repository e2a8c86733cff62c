//! Spare buffers for builders: each builder needs a header list and a
//! value buffer (about 1 KB each) for the few microseconds it lives, and
//! a UA builds several per call. A finished builder leaves them here for
//! the next one on the same thread instead of freeing them, so they stay
//! warm in cache and the allocator is not asked twice per message.
//!
//! Bounded: a few pairs per thread, and a buffer that grew large (a big
//! body or many headers) is freed rather than kept.

use std::cell::RefCell;

/// Pairs kept per thread.
const KEEP: usize = 4;
/// A value buffer above this capacity is not kept.
const MAX_VALUES: usize = 8 * 1024;
/// A header list above this capacity is not kept.
const MAX_ENTRIES: usize = 64;

/// Capacity of a new buffer when no spare is there.
pub(super) const NEW_VALUES: usize = 1024;
pub(super) const NEW_ENTRIES: usize = 16;

thread_local! {
    static SPARE: RefCell<Vec<(Vec<super::Entry>, Vec<u8>)>> = const { RefCell::new(Vec::new()) };
}

/// An empty header list and value buffer: spare ones if this thread has
/// any, new ones otherwise.
pub(super) fn take() -> (Vec<super::Entry>, Vec<u8>) {
    let spare = SPARE
        .try_with(|s| s.try_borrow_mut().ok().and_then(|mut s| s.pop()))
        .ok()
        .flatten();
    spare.unwrap_or_else(|| {
        (
            Vec::with_capacity(NEW_ENTRIES),
            Vec::with_capacity(NEW_VALUES),
        )
    })
}

/// Keeps the buffers of a finished builder for the next one (emptied), or
/// frees them if enough are kept or they grew large.
pub(super) fn give(mut entries: Vec<super::Entry>, mut values: Vec<u8>) {
    // Too large to keep, or too small to be worth a place (a clone's
    // buffers are only as large as their contents).
    if values.capacity() > MAX_VALUES
        || entries.capacity() > MAX_ENTRIES
        || values.capacity() < NEW_VALUES
        || entries.capacity() < NEW_ENTRIES
    {
        return;
    }
    entries.clear();
    values.clear();
    // During thread teardown the list may be gone: the buffers are freed.
    let _ = SPARE.try_with(|s| {
        if let Ok(mut s) = s.try_borrow_mut() {
            if s.len() < KEEP {
                s.push((entries, values));
            }
        }
    });
}

/// Pairs kept on this thread now.
#[cfg(test)]
pub(super) fn kept() -> usize {
    SPARE.with(|s| s.borrow().len())
}

#[cfg(test)]
mod tests {
    use crate::{Method, RequestBuilder};

    fn options(extra: usize) -> RequestBuilder {
        let uri = "sip:bob@example.com".parse().unwrap();
        let mut b = RequestBuilder::new(Method::Options, &uri)
            .raw_header("Via", "SIP/2.0/UDP h;branch=z9hG4bK1")
            .raw_header("Call-ID", "c1")
            .raw_header("CSeq", "1 OPTIONS");
        for i in 0..extra {
            b = b.raw_header("X-Pad", &format!("{i}"));
        }
        b
    }

    #[test]
    fn a_reused_buffer_leaves_nothing_behind_and_the_pool_is_bounded() {
        // Tests share threads only one at a time: start from what is there.
        let fresh = options(0).encode();
        for _ in 0..10 {
            drop(options(30));
        }
        assert!(super::kept() <= super::KEEP);
        assert!(super::kept() >= 1);
        // Built from a spare that held 30 more headers: the same bytes.
        assert_eq!(options(0).encode(), fresh);
        assert_eq!(
            options(0).build().unwrap().as_bytes(),
            &fresh,
            "build from a spare"
        );
    }

    #[test]
    fn large_buffers_are_freed_not_kept() {
        while super::kept() > 0 {
            drop(super::take());
        }
        let big = "x".repeat(super::MAX_VALUES + 1);
        drop(options(0).raw_header("X-Big", &big));
        assert_eq!(super::kept(), 0);
        drop(options(0));
        assert_eq!(super::kept(), 1);
        // A clone's buffers are only as large as their contents: not kept.
        let b = options(0);
        let c = b.clone();
        drop(c);
        assert_eq!(super::kept(), 0, "the original took the spare");
        drop(b);
        assert_eq!(super::kept(), 1);
    }
}
