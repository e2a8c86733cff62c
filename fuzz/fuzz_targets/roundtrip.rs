//! Parse; if the input parses: its kept bytes (`as_bytes`) parse again to
//! the same header lines and body; a response built from it with
//! `ResponseBuilder::from_request` (with and without a To tag) parses; and
//! the transport's top-Via edit (`with_top_via`) works whenever the top Via
//! decodes, keeping every other line.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sip_message::headers::Via;
use sip_message::{Message, ParseErrorKind, ResponseBuilder, ViaEditError};

fuzz_target!(|data: &[u8]| {
    let Ok(msg) = Message::parse(data.to_vec()) else {
        return;
    };
    let again = Message::parse(msg.as_bytes().clone()).expect("as_bytes parses again");
    assert!(
        again
            .headers()
            .map(|h| (h.raw_name, h.value))
            .eq(msg.headers().map(|h| (h.raw_name, h.value))),
        "as_bytes parses to other headers"
    );
    assert_eq!(again.body_bytes(), msg.body_bytes());

    let code = 100 + u16::from(data.first().copied().unwrap_or(0)) % 600;
    for tag in [None, Some("fuzz-tag")] {
        let mut b = ResponseBuilder::from_request(&msg, code);
        if let Some(t) = tag {
            b = b.with_to_tag(t);
        }
        let bytes = b.encode();
        if let Err(e) = Message::parse(bytes.clone()) {
            panic!(
                "response does not parse: {e}: {:?}",
                String::from_utf8_lossy(&bytes)
            );
        }
    }

    let edited = msg.with_top_via(|v| {
        v.params_mut().set("received", Some("192.0.2.1"));
        v.params_mut().set("rport", Some("5060"));
    });
    match edited {
        Ok(m) => {
            let first = m.get::<Via>().expect("the edited Via decodes");
            assert_eq!(first.received(), Some("192.0.2.1"));
            assert_eq!(m.via_count(), msg.via_count());
            assert_eq!(m.headers().count(), msg.headers().count());
            assert_eq!(m.body_bytes(), msg.body_bytes());
        }
        Err(ViaEditError::NoVia) => assert!(msg.top_via().is_none()),
        Err(ViaEditError::Malformed) => assert!(msg.get::<Via>().is_err()),
        Err(ViaEditError::Reparse(e)) => assert!(
            matches!(
                e.kind,
                ParseErrorKind::TooLarge | ParseErrorKind::LineTooLong
            ),
            "edited message does not parse: {e}"
        ),
        Err(e) => panic!("with_top_via: {e}"),
    }
});
