//! Stream framing on arbitrary bytes: it never claims a frame longer than
//! the buffer (or an empty one), a keep-alive is within the buffer, and a
//! frame it finds is found again in the buffer cut to that frame.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sip_message::framing::{check, check_with, Status};
use sip_message_fuzz::small_limits;

fn checked(data: &[u8], s: Status) {
    match s {
        Status::Complete(n) => {
            assert!(
                n > 0 && n <= data.len(),
                "Complete({n}) of {} bytes",
                data.len()
            );
            assert_eq!(
                check(&data[..n]),
                Ok(Status::Complete(n)),
                "frame not stable"
            );
        }
        Status::KeepAlive { len, .. } => {
            assert!(
                len > 0 && len <= data.len(),
                "keep-alive of {len} in {}",
                data.len()
            );
        }
        Status::Partial => {}
    }
}

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = check(data) {
        checked(data, s);
    }
    if let Ok(Status::Complete(n)) = check_with(data, &small_limits()) {
        assert!(
            n > 0 && n <= data.len(),
            "Complete({n}) of {} bytes",
            data.len()
        );
    }
});
