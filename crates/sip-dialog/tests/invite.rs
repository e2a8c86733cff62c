//! The INVITE usage (RFC 3261 §13) on explicit instants.

use std::time::{Duration, Instant};

use sip_dialog::{Dialog, DialogUpdate, Dialogs, InviteState, SessionOutput, Sessions, StopReason};
use sip_message::headers::Transport;
use sip_message::{Message, Method};

const CALL: &str = "a84b4c76e66710@pc33.atlanta.example.com";

fn invite() -> Message {
    Message::parse(format!(
        "INVITE sip:bob@biloxi.example.com SIP/2.0\r\nVia: SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bKnashds8\r\n\
         Max-Forwards: 70\r\nFrom: Alice <sip:alice@atlanta.example.com>;tag=1928301774\r\n\
         To: Bob <sip:bob@biloxi.example.com>\r\nCall-ID: {CALL}\r\nCSeq: 314159 INVITE\r\n\
         Contact: <sip:alice@pc33.atlanta.example.com>\r\n\
         Proxy-Authorization: Digest username=\"alice\", realm=\"atlanta.example.com\", nonce=\"wf84f1ce\", uri=\"sip:bob@biloxi.example.com\", response=\"42ce3cef44b22f50c6a6071bc8\"\r\n\
         Content-Length: 0\r\n\r\n"
    ))
    .unwrap()
}

fn ok(tag: &str) -> Message {
    Message::parse(format!(
        "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bKnashds8\r\n\
         Record-Route: <sip:ss1.atlanta.example.com;lr>\r\n\
         From: Alice <sip:alice@atlanta.example.com>;tag=1928301774\r\nTo: Bob <sip:bob@biloxi.example.com>;tag={tag}\r\n\
         Call-ID: {CALL}\r\nCSeq: 314159 INVITE\r\nContact: <sip:bob@{tag}.biloxi.example.com>\r\nContent-Length: 0\r\n\r\n"
    ))
    .unwrap()
}

fn sessions() -> Sessions {
    Sessions::new(Duration::from_millis(500), Duration::from_secs(4))
}

fn acks(out: &[SessionOutput]) -> Vec<&Message> {
    out.iter()
        .filter_map(|o| match o {
            SessionOutput::SendAck(m) => Some(m),
            _ => None,
        })
        .collect()
}

#[test]
fn rfc3261_13_2_2_4_ack_for_2xx_has_invite_cseq_route_set_and_credentials() {
    let inv = invite();
    let mut dialogs = Dialogs::new();
    let DialogUpdate::Confirmed(id) = dialogs.on_response(&inv, &ok("b1")).unwrap() else {
        panic!()
    };
    let mut s = sessions();
    s.uac_2xx(
        dialogs.get_mut(&id).unwrap(),
        &inv,
        None,
        "z9hG4bKack1",
        "z9hG4bKbye1",
        Transport::Udp,
        None,
    )
    .unwrap();
    let out = s.drain();
    let ack = acks(&out)[0].clone();
    assert_eq!(ack.method(), Some(&Method::Ack));
    assert_eq!(ack.cseq(), Some((314159, &Method::Ack)));
    assert_eq!(
        ack.request_uri_str(),
        Some("sip:bob@b1.biloxi.example.com"),
        "remote target"
    );
    assert_eq!(ack.to_tag(), Some("b1"));
    assert!(ack.values_by_name("Route").next().is_some(), "route set");
    assert!(
        ack.values_by_name("Proxy-Authorization").next().is_some(),
        "credentials of the INVITE"
    );
    assert_eq!(
        ack.top_via().unwrap().branch(),
        Some("z9hG4bKack1"),
        "a new branch: the ACK is its own"
    );
    assert_eq!(s.state(&id), Some(InviteState::Confirmed));
    // A retransmitted 2xx gets the very same ACK.
    s.uac_2xx(
        dialogs.get_mut(&id).unwrap(),
        &inv,
        Some(&id),
        "z9hG4bKack2",
        "z9hG4bKbye2",
        Transport::Udp,
        None,
    )
    .unwrap();
    let again = s.drain();
    assert_eq!(acks(&again)[0].as_bytes(), ack.as_bytes());
}

#[test]
fn rfc3261_13_2_2_4_a_second_forked_2xx_is_acked_then_ended_with_bye() {
    let inv = invite();
    let mut dialogs = Dialogs::new();
    let DialogUpdate::Confirmed(first) = dialogs.on_response(&inv, &ok("fork1")).unwrap() else {
        panic!()
    };
    let DialogUpdate::Confirmed(second) = dialogs.on_response(&inv, &ok("fork2")).unwrap() else {
        panic!()
    };
    let mut s = sessions();
    s.uac_2xx(
        dialogs.get_mut(&first).unwrap(),
        &inv,
        None,
        "z9hG4bKa1",
        "z9hG4bKb1",
        Transport::Udp,
        None,
    )
    .unwrap();
    s.drain();
    s.uac_2xx(
        dialogs.get_mut(&second).unwrap(),
        &inv,
        Some(&first),
        "z9hG4bKa2",
        "z9hG4bKb2",
        Transport::Udp,
        None,
    )
    .unwrap();
    let out = s.drain();
    assert_eq!(acks(&out).len(), 1);
    let bye = out
        .iter()
        .find_map(|o| match o {
            SessionOutput::SendBye(m) => Some(m.clone()),
            _ => None,
        })
        .expect("BYE for the losing fork");
    assert_eq!(bye.to_tag(), Some("fork2"));
    assert_eq!(bye.cseq(), Some((314160, &Method::Bye)));
    assert_eq!(s.state(&first), Some(InviteState::Confirmed));
    assert_eq!(s.state(&second), Some(InviteState::Bye));
}

fn uas_dialog() -> (Dialog, Message) {
    let inv = invite();
    (Dialog::uas(&inv, "uas1", None, 1, false).unwrap(), inv)
}

#[test]
fn rfc3261_13_3_1_4_uas_retransmits_2xx_t1_doubling_to_t2_until_ack() {
    let (d, inv) = uas_dialog();
    let mut s = sessions();
    s.uas_invite(&d, &inv);
    let t0 = Instant::now();
    s.uas_sent_2xx(t0, d.id(), ok("uas1"));
    let mut times = Vec::new();
    let mut now = t0;
    for _ in 0..8 {
        let next = s.poll_timeout().unwrap();
        now = next;
        s.handle_timeout(now, |_| None);
        if s.drain()
            .iter()
            .any(|o| matches!(o, SessionOutput::Retransmit2xx(_)))
        {
            times.push((now - t0).as_millis() as u64);
        }
    }
    assert_eq!(
        times,
        vec![500, 1500, 3500, 7500, 11500, 15500, 19500, 23500]
    );
    // The ACK stops it.
    s.uas_ack(d.id());
    assert_eq!(s.state(d.id()), Some(InviteState::Confirmed));
    assert_eq!(s.poll_timeout(), None);
    let _ = now;
}

#[test]
fn rfc3261_13_3_1_4_no_ack_within_64_t1_ends_the_session_with_bye() {
    let (d, inv) = uas_dialog();
    let mut s = sessions();
    s.uas_invite(&d, &inv);
    let t0 = Instant::now();
    s.uas_sent_2xx(t0, d.id(), ok("uas1"));
    s.drain();
    let mut d2 = d.clone();
    s.handle_timeout(t0 + Duration::from_secs(32), |_| {
        Some(
            d2.request(Method::Bye, None, "z9hG4bKbye", Transport::Udp)
                .unwrap()
                .build()
                .unwrap(),
        )
    });
    let out = s.drain();
    assert!(out
        .iter()
        .any(|o| matches!(o, SessionOutput::SendBye(m) if m.method() == Some(&Method::Bye))));
    assert!(out.iter().any(|o| matches!(
        o,
        SessionOutput::Status {
            reason: Some(StopReason::AckTimeout),
            ..
        }
    )));
    assert_eq!(s.state(d.id()), Some(InviteState::Bye));
    assert_eq!(s.poll_timeout(), None);
}

#[test]
fn stop_reasons_follow_the_final_response_and_who_hung_up() {
    assert_eq!(StopReason::for_final(486), StopReason::Busy);
    assert_eq!(StopReason::for_final(603), StopReason::Declined);
    assert_eq!(StopReason::for_final(487), StopReason::Cancelled);
    assert_eq!(StopReason::for_final(408), StopReason::Timeout);
    assert_eq!(StopReason::for_final(480), StopReason::Code(480));
    let (d, inv) = uas_dialog();
    let mut s = sessions();
    s.uas_invite(&d, &inv);
    s.uas_sent_2xx(Instant::now(), d.id(), ok("uas1"));
    s.uas_ack(d.id());
    s.drain();
    s.bye(d.id(), true);
    assert!(s.drain().iter().any(|o| matches!(
        o,
        SessionOutput::Status {
            state: InviteState::Bye,
            reason: Some(StopReason::CallerBye),
            ..
        }
    )));
    // Only once.
    s.bye(d.id(), false);
    assert!(s.drain().is_empty());
}

#[test]
fn uac_early_sessions_stop_with_the_invites_final() {
    let inv = invite();
    let mut dialogs = Dialogs::new();
    let ringing = Message::parse(
        String::from_utf8_lossy(ok("early").as_bytes()).replace("200 OK", "180 Ringing"),
    )
    .unwrap();
    let DialogUpdate::Early(id) = dialogs.on_response(&inv, &ringing).unwrap() else {
        panic!()
    };
    let mut s = sessions();
    s.uac_early(dialogs.get(&id).unwrap(), &inv);
    assert_eq!(s.state(&id), Some(InviteState::ProceedingUac));
    s.uac_failed(std::slice::from_ref(&id), StopReason::for_final(486));
    assert!(s.drain().iter().any(|o| matches!(
        o,
        SessionOutput::Status {
            reason: Some(StopReason::Busy),
            ..
        }
    )));
    assert_eq!(s.state(&id), Some(InviteState::Bye));
}

#[test]
fn after_forget_ack_a_late_2xx_gets_a_fresh_ack_and_the_state_stays() {
    let inv = invite();
    let mut dialogs = Dialogs::new();
    let DialogUpdate::Confirmed(a) = dialogs.on_response(&inv, &ok("a")).unwrap() else {
        panic!()
    };
    let DialogUpdate::Confirmed(b) = dialogs.on_response(&inv, &ok("b")).unwrap() else {
        panic!()
    };
    let mut s = sessions();
    s.uac_2xx(
        dialogs.get_mut(&a).unwrap(),
        &inv,
        None,
        "z9hG4bK1",
        "z9hG4bK2",
        Transport::Udp,
        None,
    )
    .unwrap();
    s.uac_2xx(
        dialogs.get_mut(&b).unwrap(),
        &inv,
        Some(&a),
        "z9hG4bK3",
        "z9hG4bK4",
        Transport::Udp,
        None,
    )
    .unwrap();
    let first = acks(&s.drain())[0].clone();
    s.forget_ack(&a);
    s.forget_ack(&b);
    s.uac_2xx(
        dialogs.get_mut(&a).unwrap(),
        &inv,
        Some(&a),
        "z9hG4bK5",
        "z9hG4bK6",
        Transport::Udp,
        None,
    )
    .unwrap();
    let out = s.drain();
    let fresh = acks(&out)[0];
    assert_eq!(fresh.cseq(), first.cseq());
    assert_eq!(fresh.to_tag(), first.to_tag());
    assert_eq!(fresh.request_uri_str(), first.request_uri_str());
    assert_eq!(out.len(), 1, "no status change, no BYE");
    // The losing fork stays ended: its late 2xx is ACKed, not revived.
    s.uac_2xx(
        dialogs.get_mut(&b).unwrap(),
        &inv,
        Some(&a),
        "z9hG4bK7",
        "z9hG4bK8",
        Transport::Udp,
        None,
    )
    .unwrap();
    assert_eq!(s.drain().len(), 1);
    assert_eq!(s.state(&b), Some(InviteState::Bye));
}

#[test]
fn rfc3261_14_1_the_2xx_of_a_reinvite_gets_an_ack_of_its_own() {
    let inv = invite();
    let mut dialogs = Dialogs::new();
    let DialogUpdate::Confirmed(id) = dialogs.on_response(&inv, &ok("b1")).unwrap() else {
        panic!()
    };
    let mut s = sessions();
    let mut ack_for = |s: &mut Sessions, invite: &Message, branch: &str| {
        s.uac_2xx(
            dialogs.get_mut(&id).unwrap(),
            invite,
            Some(&id),
            branch,
            "z9hG4bKbye",
            Transport::Udp,
            None,
        )
        .unwrap();
        acks(&s.drain())[0].clone()
    };
    let first = ack_for(&mut s, &inv, "z9hG4bKack1");
    assert_eq!(first.cseq(), Some((314159, &Method::Ack)));
    // The re-INVITE takes a higher CSeq (§14.1): its 2xx is not a
    // retransmission of the first one, and its ACK names its own number.
    let reinvite = Message::parse(
        String::from_utf8_lossy(inv.as_bytes())
            .replace("CSeq: 314159 INVITE", "CSeq: 314160 INVITE"),
    )
    .unwrap();
    let second = ack_for(&mut s, &reinvite, "z9hG4bKack2");
    assert_eq!(second.cseq(), Some((314160, &Method::Ack)));
    // Its retransmitted 2xx gets that same ACK again.
    let again = ack_for(&mut s, &reinvite, "z9hG4bKack3");
    assert_eq!(again.as_bytes(), second.as_bytes());
    // A late 2xx of the first INVITE still gets an ACK with its own CSeq,
    // and the session stays the re-INVITE's.
    let late = ack_for(&mut s, &inv, "z9hG4bKack4");
    assert_eq!(late.cseq(), Some((314159, &Method::Ack)));
    let again = ack_for(&mut s, &reinvite, "z9hG4bKack5");
    assert_eq!(again.as_bytes(), second.as_bytes());
    // The end of the first INVITE's transaction (Timer M) keeps the
    // re-INVITE's ACK.
    s.forget_ack_of(&id, 314159);
    let kept = ack_for(&mut s, &reinvite, "z9hG4bKack6");
    assert_eq!(kept.as_bytes(), second.as_bytes());
    assert_eq!(s.state(&id), Some(InviteState::Confirmed));
}
