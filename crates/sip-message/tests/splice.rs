//! `Message::with_received` splices `received` and `rport` into the top
//! Via (RFC 3261 §18.2.1, RFC 3581 §4) without parsing again: the message
//! it gives must read exactly like the same bytes parsed from scratch, for
//! every corpus and bench message it accepts.

mod common;

use common::view;
use sip_message::Message;

#[test]
fn rfc3261_18_2_1_spliced_received_and_rport_read_as_a_fresh_parse() {
    let mut spliced = 0;
    for (path, bytes) in common::wire_messages() {
        let Ok(m) = Message::parse(bytes) else {
            continue;
        };
        for (received, rport) in [
            ("192.0.2.7", None),
            ("192.0.2.7", Some(5062)),
            ("2001:db8::9", Some(1)),
        ] {
            let Some(m2) = m.with_received(received, rport) else {
                continue;
            };
            spliced += 1;
            let fresh = Message::parse(m2.as_bytes().clone())
                .unwrap_or_else(|e| panic!("{}: spliced bytes do not parse: {e}", path.display()));
            assert_eq!(view(&m2), view(&fresh), "{}", path.display());
            let via = m2.top_via().unwrap();
            assert_eq!(via.received(), Some(received), "{}", path.display());
            if let Some(p) = rport {
                assert_eq!(
                    via.rport(),
                    Some(sip_message::headers::Rport::Port(p)),
                    "{}",
                    path.display()
                );
            }
            // The rest of the message is untouched.
            assert_eq!(m2.call_id(), m.call_id());
            assert_eq!(m2.body_bytes(), m.body_bytes());
            assert_eq!(m2.headers().count(), m.headers().count());
        }
    }
    assert!(spliced > 20, "only {spliced} splices exercised");
}

#[test]
fn what_with_received_leaves_to_with_top_via() {
    let parse = |via: &str| {
        Message::parse(format!(
            "OPTIONS sip:b@example.com SIP/2.0\r\nVia: {via}\r\nCall-ID: c\r\nCSeq: 1 OPTIONS\r\n\r\n"
        ))
        .unwrap()
    };
    // A received already there, a quoted value, rport asked for but none bare.
    for via in [
        "SIP/2.0/UDP h;branch=z9hG4bK1;received=10.0.0.1",
        "SIP/2.0/UDP h;branch=z9hG4bK1;x=\"a;b\"",
    ] {
        assert!(
            parse(via).with_received("192.0.2.1", None).is_none(),
            "{via}"
        );
    }
    assert!(parse("SIP/2.0/UDP h;branch=z9hG4bK1;rport=9")
        .with_received("192.0.2.1", Some(5060))
        .is_none());
    // No parameters at all, and white space before a second value.
    let m = parse("SIP/2.0/UDP h:5070  , SIP/2.0/TCP g")
        .with_received("192.0.2.1", None)
        .unwrap();
    assert!(String::from_utf8_lossy(m.as_bytes())
        .contains("Via: SIP/2.0/UDP h:5070;received=192.0.2.1  , SIP/2.0/TCP g\r\n"));
    assert_eq!(m.top_via().unwrap().port(), Some(5070));
    assert_eq!(m.via_count(), 2);
}
