//! Offer/answer (RFC 3264, RFC 6337) cases.

use bytes::Bytes;
use sip_dialog::{Carrier, Exchange, NegotiationState, OfferAnswer, OfferError};

fn sdp(s: &'static str) -> Bytes {
    Bytes::from_static(s.as_bytes())
}

#[test]
fn rfc3261_13_2_1_offer_in_invite_answer_in_2xx() {
    let mut uac = OfferAnswer::new();
    assert_eq!(uac.send(sdp("o1"), Carrier::Invite), Ok(Exchange::Offer));
    assert_eq!(uac.state(), NegotiationState::LocalOffer);
    assert!(!uac.may_offer());
    assert_eq!(
        uac.receive(sdp("a1"), Carrier::ReliableResponse),
        Ok(Exchange::Answer)
    );
    assert_eq!(
        (uac.local(), uac.remote()),
        (Some(&sdp("o1")), Some(&sdp("a1")))
    );
    // The UAS side of the same exchange.
    let mut uas = OfferAnswer::new();
    assert_eq!(uas.receive(sdp("o1"), Carrier::Invite), Ok(Exchange::Offer));
    assert_eq!(
        uas.send(sdp("a1"), Carrier::ReliableResponse),
        Ok(Exchange::Answer)
    );
    assert_eq!(
        (uas.local(), uas.remote()),
        (Some(&sdp("a1")), Some(&sdp("o1")))
    );
}

#[test]
fn rfc3261_13_2_1_offerless_invite_offer_in_2xx_answer_in_ack() {
    let mut uac = OfferAnswer::new();
    assert_eq!(
        uac.receive(sdp("o2"), Carrier::ReliableResponse),
        Ok(Exchange::Offer)
    );
    assert_eq!(uac.send(sdp("a2"), Carrier::Ack), Ok(Exchange::Answer));
    assert_eq!(uac.state(), NegotiationState::Stable);
    // A second body in a later ACK is not an answer to anything.
    let mut uas = OfferAnswer::new();
    uas.send(sdp("o2"), Carrier::ReliableResponse).unwrap();
    uas.receive(sdp("a2"), Carrier::Ack).unwrap();
    assert_eq!(
        uas.receive(sdp("x"), Carrier::Ack),
        Err(OfferError::UnexpectedAnswer)
    );
}

#[test]
fn rfc3262_5_offer_in_reliable_1xx_answer_in_prack() {
    let mut uac = OfferAnswer::new();
    assert_eq!(
        uac.receive(sdp("o3"), Carrier::ReliableResponse),
        Ok(Exchange::Offer)
    );
    assert_eq!(uac.send(sdp("a3"), Carrier::Prack), Ok(Exchange::Answer));
    assert_eq!(
        (uac.local(), uac.remote()),
        (Some(&sdp("a3")), Some(&sdp("o3")))
    );
    // The 2xx to the INVITE then carries no new offer; an UPDATE may.
    assert_eq!(uac.send(sdp("o4"), Carrier::Update), Ok(Exchange::Offer));
    assert_eq!(
        uac.receive(sdp("a4"), Carrier::OtherResponse),
        Ok(Exchange::Answer)
    );
    assert_eq!(uac.local(), Some(&sdp("o4")));
}

#[test]
fn rfc3261_14_1_an_overlapping_offer_gets_491_and_glare_too() {
    // We offered in a re-INVITE; the peer's UPDATE with an offer crosses it.
    let mut a = OfferAnswer::new();
    a.send(sdp("o"), Carrier::Invite).unwrap();
    a.receive(sdp("a"), Carrier::ReliableResponse).unwrap();
    a.send(sdp("re-o"), Carrier::Invite).unwrap();
    let e = a.receive(sdp("their-o"), Carrier::Update).unwrap_err();
    assert_eq!((e, e.status_code()), (OfferError::RequestPending, 491));
    // We may not offer again either while ours is outstanding.
    assert_eq!(
        a.send(sdp("o3"), Carrier::Update),
        Err(OfferError::RequestPending)
    );
    // Our re-INVITE is rejected (491 from the peer): back to the old descriptions.
    a.offer_rejected();
    assert_eq!(a.state(), NegotiationState::Stable);
    assert_eq!((a.local(), a.remote()), (Some(&sdp("o")), Some(&sdp("a"))));
    // A peer whose offer we have not answered cannot offer again.
    let mut b = OfferAnswer::new();
    b.receive(sdp("o"), Carrier::Invite).unwrap();
    assert_eq!(
        b.receive(sdp("o2"), Carrier::Update),
        Err(OfferError::RequestPending)
    );
}

#[test]
fn rfc6337_2_1_bodies_outside_offer_answer_are_ignored() {
    let mut a = OfferAnswer::new();
    assert_eq!(
        a.receive(sdp("early media?"), Carrier::None),
        Ok(Exchange::Ignored)
    );
    assert_eq!(a.state(), NegotiationState::Stable);
    a.send(sdp("o"), Carrier::Invite).unwrap();
    // An unreliable 183 with SDP does not answer (it is a preview at most).
    assert_eq!(
        a.receive(sdp("preview"), Carrier::None),
        Ok(Exchange::Ignored)
    );
    assert_eq!(a.state(), NegotiationState::LocalOffer);
}

#[test]
fn rfc3261_14_1_glare_retry_delays_by_call_id_ownership() {
    use sip_dialog::glare_retry_delay;
    use std::time::Duration;
    for r in [0u64, 1, 190, 191, 12345, u64::MAX] {
        let owner = glare_retry_delay(true, r);
        assert!(
            owner >= Duration::from_millis(2100) && owner <= Duration::from_secs(4),
            "{owner:?}"
        );
        assert_eq!(owner.as_millis() % 10, 0);
        let other = glare_retry_delay(false, r);
        assert!(other <= Duration::from_secs(2), "{other:?}");
    }
    assert_eq!(glare_retry_delay(true, 190), Duration::from_secs(4));
    assert_eq!(glare_retry_delay(false, 200), Duration::from_secs(2));
}
