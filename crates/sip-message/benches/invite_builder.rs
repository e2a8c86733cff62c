//! The INVITE of `testdata/bench/invite_sdp.sip`, rebuilt with
//! `RequestBuilder` from typed values a UAC holds. Shared by the criterion
//! bench and the profiling example so both measure the same work.

use std::path::PathBuf;

use bytes::Bytes;
use sip_message::headers::{
    CSeq, Contact, ContentType, From, MaxForwards, MediaType, NameAddr, SessionExpires, To,
    Transport, Via,
};
use sip_message::uri::{Host, SipUri};
use sip_message::{Message, Method, RequestBuilder};

/// The original message bytes.
pub fn original() -> Message {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("testdata/bench/invite_sdp.sip");
    Message::parse(Bytes::from(std::fs::read(p).expect("bench message"))).expect("parses")
}

/// Returns a closure that builds and encodes the INVITE.
pub fn invite_builder() -> impl Fn() -> Bytes {
    // Typed values a UAC holds when it sends the INVITE of invite_sdp.sip.
    let uri: sip_message::Uri = SipUri::parse("sip:bob@biloxi.example.com").unwrap().into();
    let mut via = Via::new(
        Transport::Udp,
        Host::Ipv4([192, 0, 2, 101].into()),
        Some(5060),
        "z9hG4bK776asdhds",
    );
    via.params_mut().set("rport", None);
    let to = To(NameAddr::new(uri.clone()).with_display("Bob"));
    let from = From(
        NameAddr::new(SipUri::parse("sip:alice@atlanta.example.com").unwrap())
            .with_display("Alice")
            .with_param("tag", Some("1928301774")),
    );
    let cseq = CSeq::new(314159, Method::Invite);
    let contact = Contact::Addr(NameAddr::new(
        SipUri::parse("sip:alice@192.0.2.101:5060;transport=udp").unwrap(),
    ));
    let se = SessionExpires {
        delta: 1800,
        params: {
            let mut p = sip_message::params::Params::new();
            p.set("refresher", Some("uac"));
            p
        },
    };
    let ct = ContentType(MediaType::new("application", "sdp"));
    let original = original();
    let sdp = original.body();

    move || {
        RequestBuilder::new(Method::Invite, &uri)
            .header(&via)
            .header(&MaxForwards(70))
            .header(&to)
            .header(&from)
            .raw_header("Call-ID", "a84b4c76e66710@pc33.atlanta.example.com")
            .header(&cseq)
            .header(&contact)
            .raw_header(
                "Allow",
                "INVITE, ACK, CANCEL, OPTIONS, BYE, REFER, NOTIFY, MESSAGE, SUBSCRIBE, INFO, PRACK, UPDATE",
            )
            .raw_header("Supported", "100rel, timer, replaces, norefersub")
            .header(&se)
            .raw_header("Min-SE", "90")
            .raw_header("User-Agent", "ExampleSoftphone/4.2.1 (Linux x86_64)")
            .header(&ct)
            .body("", sdp.clone())
            .encode()
    }
}
