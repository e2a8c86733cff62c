//! Parse arbitrary bytes; if they parse, decode everything (check_syntax,
//! every typed header, the Request-URI, the top Via) and validate. Also
//! parse under small limits: what is accepted must be within them.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sip_message::Message;
use sip_message_fuzz::{assert_within_limits, small_limits, touch_message};

fuzz_target!(|data: &[u8]| {
    if let Ok(msg) = Message::parse(data.to_vec()) {
        assert!(data.starts_with(msg.as_bytes()), "as_bytes is not a prefix");
        touch_message(&msg);
    }
    let limits = small_limits();
    if let Ok(msg) = Message::parse_with(data.to_vec(), &limits) {
        assert_within_limits(data, &msg, &limits);
    }
});
