//! Parse; if the input parses: its kept bytes (`as_bytes`) parse again to
//! the same header lines and body; a response built from it with
//! `ResponseBuilder::from_request` (with and without a To tag) parses, and
//! its `build()` is what parsing its `encode()` gives, as is that of a
//! request that copies the message's lines (`copy_from`); and
//! the transport's top-Via edit (`with_top_via`) works whenever the top Via
//! decodes, keeping every other line.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sip_message::headers::Via;
use sip_message::{
    HeaderName, Message, ParseError, ParseErrorKind, RequestBuilder, ResponseBuilder, ViaEditError,
};

/// Everything the public API shows of a message, for comparing two.
fn view(m: &Message) -> String {
    let via = m.top_via().map(|v| {
        format!(
            "{:?} {} {:?} {:?} {:?} {:?} {:?} {}",
            v.transport(),
            v.host(),
            v.port(),
            v.branch(),
            v.received(),
            v.rport(),
            v.maddr(),
            v.params()
        )
    });
    let headers: Vec<_> = m.headers().map(|h| (h.name, h.raw_name, h.value)).collect();
    format!(
        "{:?} {:?} {:?} {:?} {:?} {:?} {:?} {:?} {:?} {:?} {:?} {:?} {:?} {:?} {:?} {:?}",
        m.as_bytes(),
        m.method(),
        m.request_uri_str(),
        m.status(),
        m.reason_phrase(),
        m.version(),
        headers,
        m.body_bytes(),
        via,
        m.via_count(),
        m.cseq(),
        m.call_id(),
        (m.from_tag(), m.to_tag()),
        m.content_length(),
        m.content_length_conflict(),
        m.max_forwards()
    )
}

/// `build()` gives what parsing the encoded bytes gives.
fn same_as_parsed(built: Result<Message, ParseError>, parsed: Result<Message, ParseError>) {
    match (built, parsed) {
        (Ok(b), Ok(p)) => assert_eq!(view(&b), view(&p), "build differs from parse"),
        (Err(b), Err(p)) => assert_eq!(b, p, "build fails otherwise than parse"),
        (b, p) => panic!("build {b:?}, parse {p:?}"),
    }
}

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
        same_as_parsed(b.build(), Message::parse(bytes));
    }
    if let (Some(m), Some(Ok(uri))) = (msg.method(), msg.request_uri()) {
        let names: Vec<HeaderName> = msg.headers().map(|h| h.name).collect();
        let b = RequestBuilder::new(m.clone(), &uri).copy_from(&msg, &names);
        same_as_parsed(b.build(), Message::parse(b.encode()));
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
