//! Timer schedules per machine and transport, on explicit instants.

mod common;

use std::time::Instant;

use common::*;
use sip_message::headers::Transport as Kind;
use sip_message::{Message, Method};
use sip_transaction::{
    ClientState, Output, ServerState, Timer, TransactionEvent, TransactionId, TransactionLayer,
    Transmit,
};

fn count_timeouts(outs: &[(std::time::Duration, Output)]) -> Vec<(u64, Timer)> {
    outs.iter()
        .filter_map(|(d, o)| match o {
            Output::Event(TransactionEvent::Timeout { timer, .. }) => {
                Some((d.as_millis() as u64, *timer))
            }
            _ => None,
        })
        .collect()
}

#[test]
fn rfc3261_17_1_2_2_non_invite_udp_retransmits_t1_2t1_4t1_then_t2_until_timer_f() {
    let mut l = layer(1);
    let t0 = Instant::now();
    let b = l.new_branch();
    l.send_request(t0, request("OPTIONS", &b, Kind::Udp), target(Kind::Udp))
        .unwrap();
    assert_eq!(transmits(&drain(&mut l)).len(), 1);
    let outs = run_until(&mut l, t0, ms(40_000));
    // E: 500, 1000, 2000, then 4000 (T2) each; F at 64*T1 = 32 s.
    assert_eq!(
        transmit_times(&outs),
        vec![500, 1500, 3500, 7500, 11500, 15500, 19500, 23500, 27500, 31500]
    );
    assert_eq!(count_timeouts(&outs), vec![(32_000, Timer::F)]);
    // Nothing is transmitted after Timer F, and the transaction is gone.
    assert!(outs
        .iter()
        .all(|(d, o)| !(matches!(o, Output::Transmit(_)) && d.as_millis() > 32_000)));
    assert_eq!(l.client_count(), 0);
}

#[test]
fn rfc3261_17_1_2_2_proceeding_keeps_retransmitting_every_t2() {
    let mut l = layer(2);
    let t0 = Instant::now();
    let b = l.new_branch();
    let req = request("REGISTER", &b, Kind::Udp);
    let id = l.send_request(t0, req.clone(), target(Kind::Udp)).unwrap();
    drain(&mut l);
    // 1xx at 600 ms (after the first retransmission at 500 ms).
    l.handle_timeout(t0 + ms(500));
    drain(&mut l);
    l.handle_inbound(t0 + ms(600), inbound(response(&req, 180, None), Kind::Udp));
    assert_eq!(l.client_state(id), Some(ClientState::Proceeding));
    let outs = run_until(&mut l, t0, ms(40_000));
    // Timer E was armed for 1 s after the 500 ms retransmission (fires at
    // 1500); from then on it is reset to T2.
    assert_eq!(
        transmit_times(&outs),
        vec![1500, 5500, 9500, 13500, 17500, 21500, 25500, 29500]
    );
    assert_eq!(count_timeouts(&outs), vec![(32_000, Timer::F)]);
}

#[test]
fn rfc3261_17_1_1_2_invite_timer_a_doubles_until_timer_b() {
    let mut l = layer(3);
    let t0 = Instant::now();
    let b = l.new_branch();
    l.send_request(t0, request("INVITE", &b, Kind::Udp), target(Kind::Udp))
        .unwrap();
    drain(&mut l);
    let outs = run_until(&mut l, t0, ms(60_000));
    assert_eq!(
        transmit_times(&outs),
        vec![500, 1500, 3500, 7500, 15500, 31500]
    );
    assert_eq!(count_timeouts(&outs), vec![(32_000, Timer::B)]);
    assert_eq!(l.client_count(), 0);
}

#[test]
fn rfc3261_17_1_1_2_reliable_transport_never_retransmits() {
    for kind in [Kind::Tcp, Kind::Tls] {
        let mut l = layer(4);
        let t0 = Instant::now();
        let b = l.new_branch();
        l.send_request(t0, request("INVITE", &b, kind), target(kind))
            .unwrap();
        drain(&mut l);
        let outs = run_until(&mut l, t0, ms(60_000));
        assert!(transmit_times(&outs).is_empty());
        assert_eq!(count_timeouts(&outs), vec![(32_000, Timer::B)]);
    }
}

#[test]
fn rfc3261_17_1_1_2_provisional_stops_retransmission_and_timer_b() {
    let mut l = layer(5);
    let t0 = Instant::now();
    let b = l.new_branch();
    let req = request("INVITE", &b, Kind::Udp);
    let id = l.send_request(t0, req.clone(), target(Kind::Udp)).unwrap();
    drain(&mut l);
    l.handle_inbound(
        t0 + ms(100),
        inbound(response(&req, 180, Some("t1")), Kind::Udp),
    );
    let outs = drain(&mut l);
    assert!(matches!(
        events(&outs)[..],
        [TransactionEvent::Response { .. }]
    ));
    // A ringing call is not timed out by the transaction (Timer C / INVITE
    // expiry belong to the TU).
    assert!(run_until(&mut l, t0, ms(300_000)).is_empty());
    assert_eq!(l.client_state(id), Some(ClientState::Proceeding));
}

fn ack_of(outs: &[Output]) -> Option<Message> {
    transmits(outs).into_iter().find_map(|t| match t {
        Transmit::Request { message, .. } if message.method() == Some(&Method::Ack) => {
            Some(message.clone())
        }
        _ => None,
    })
}

#[test]
fn rfc3261_17_1_1_3_non_2xx_is_acked_by_the_transaction_and_ack_resent() {
    let mut l = layer(6);
    let t0 = Instant::now();
    let b = l.new_branch();
    let req = request("INVITE", &b, Kind::Udp);
    let id = l.send_request(t0, req.clone(), target(Kind::Udp)).unwrap();
    drain(&mut l);
    let busy = response(&req, 486, Some("callee"));
    l.handle_inbound(t0 + ms(50), inbound(busy.clone(), Kind::Udp));
    let outs = drain(&mut l);
    let ack = ack_of(&outs).expect("ACK sent");
    // Same branch, To tag from the response, CSeq number with ACK, Route kept.
    assert_eq!(ack.top_via().unwrap().branch(), Some(b.as_str()));
    assert_eq!(ack.to_tag(), Some("callee"));
    assert_eq!(ack.from_tag(), Some("f1"));
    assert_eq!(ack.cseq(), Some((1, &Method::Ack)));
    assert_eq!(ack.call_id(), req.call_id());
    assert_eq!(ack.request_uri_str(), req.request_uri_str());
    assert!(ack.values_by_name("Route").next().is_some());
    assert!(matches!(
        events(&outs)[..],
        [TransactionEvent::Response { .. }]
    ));
    assert_eq!(l.client_state(id), Some(ClientState::Completed));
    // The ACK is kept; the INVITE itself is let go (nothing is built from
    // it any more), and a CANCEL is refused as in any Completed state.
    assert!(l.request(id).is_none());
    assert!(l.send_cancel(t0 + ms(60), id).is_err());
    // A retransmitted 486 gets the ACK again and is not shown to the TU.
    l.handle_inbound(t0 + ms(600), inbound(busy, Kind::Udp));
    let outs = drain(&mut l);
    assert!(ack_of(&outs).is_some());
    assert!(events(&outs).is_empty());
    // Timer D: 32 s on UDP.
    let outs = run_until(&mut l, t0, ms(40_000));
    assert!(outs.iter().any(|(d, o)| d.as_millis() == 32_050
        && matches!(o, Output::Event(TransactionEvent::Terminated { .. }))));
}

#[test]
fn rfc3261_17_1_1_2_timer_d_is_zero_on_reliable_transports() {
    let mut l = layer(7);
    let t0 = Instant::now();
    let b = l.new_branch();
    let req = request("INVITE", &b, Kind::Tcp);
    l.send_request(t0, req.clone(), target(Kind::Tcp)).unwrap();
    drain(&mut l);
    l.handle_inbound(t0, inbound(response(&req, 603, Some("x")), Kind::Tcp));
    drain(&mut l);
    l.handle_timeout(t0);
    assert!(events(&drain(&mut l))
        .iter()
        .any(|e| matches!(e, TransactionEvent::Terminated { .. })));
    assert_eq!(l.client_count(), 0);
}

#[test]
fn rfc6026_7_2_accepted_passes_every_2xx_to_the_tu_until_timer_m() {
    let mut l = layer(8);
    let t0 = Instant::now();
    let b = l.new_branch();
    let req = request("INVITE", &b, Kind::Udp);
    let id = l.send_request(t0, req.clone(), target(Kind::Udp)).unwrap();
    drain(&mut l);
    assert_eq!(l.request(id).map(|r| r.as_bytes()), Some(req.as_bytes()));
    l.handle_inbound(
        t0 + ms(10),
        inbound(response(&req, 200, Some("a")), Kind::Udp),
    );
    assert_eq!(l.client_state(id), Some(ClientState::Accepted));
    // Accepted needs only the key for Timer M: the INVITE is let go.
    assert!(l.request(id).is_none());
    // The 2xx ACK is the TU's: the transaction sends nothing.
    let outs = drain(&mut l);
    assert!(transmits(&outs).is_empty());
    // Retransmitted 2xx, and a 2xx from another fork, both reach the TU.
    l.handle_inbound(
        t0 + ms(510),
        inbound(response(&req, 200, Some("a")), Kind::Udp),
    );
    l.handle_inbound(
        t0 + ms(520),
        inbound(response(&req, 200, Some("b")), Kind::Udp),
    );
    let tags: Vec<String> = events(&drain(&mut l))
        .iter()
        .filter_map(|e| match e {
            TransactionEvent::Response { response, .. } => response.to_tag().map(str::to_owned),
            _ => None,
        })
        .collect();
    assert_eq!(tags, vec!["a", "b"]);
    // Timer M = 64*T1 from the first 2xx.
    let outs = run_until(&mut l, t0, ms(40_000));
    assert!(outs.iter().any(|(d, o)| d.as_millis() == 32_010
        && matches!(o, Output::Event(TransactionEvent::Terminated { .. }))));
}

#[test]
fn rfc6026_8_4_an_accepted_invite_keeps_its_id_and_key_after_its_slot_is_reused() {
    // A transaction waiting out Timer M leaves its slot (only its key and
    // deadline are kept): the next request may take the slot, and each id
    // still names its own transaction.
    let mut l = layer(11);
    let t0 = Instant::now();
    let b = l.new_branch();
    let invite = request("INVITE", &b, Kind::Udp);
    let id = l
        .send_request(t0, invite.clone(), target(Kind::Udp))
        .unwrap();
    l.handle_inbound(
        t0 + ms(10),
        inbound(response(&invite, 200, Some("a")), Kind::Udp),
    );
    drain(&mut l);
    let b2 = l.new_branch();
    let msg = request("MESSAGE", &b2, Kind::Udp);
    let id2 = l
        .send_request(t0 + ms(20), msg.clone(), target(Kind::Udp))
        .unwrap();
    assert_ne!(id, id2);
    // Same slot (the id's index, before the dot), another generation.
    let slot =
        |t: sip_transaction::TransactionId| t.to_string().split('.').next().map(str::to_owned);
    assert_eq!(slot(id), slot(id2));
    assert_eq!(l.client_count(), 2);
    assert_eq!(l.client_state(id), Some(ClientState::Accepted));
    assert_eq!(l.client_state(id2), Some(ClientState::Trying));
    // §9.1: too late to CANCEL, and said so (not an unknown transaction).
    let refused = l.send_cancel(t0 + ms(30), id).unwrap_err().to_string();
    assert!(refused.contains("Accepted"), "{refused}");
    // Each transaction's responses go to its own id.
    l.handle_inbound(
        t0 + ms(40),
        inbound(response(&msg, 200, Some("m")), Kind::Udp),
    );
    l.handle_inbound(
        t0 + ms(50),
        inbound(response(&invite, 200, Some("a")), Kind::Udp),
    );
    let ids: Vec<_> = events(&drain(&mut l))
        .iter()
        .filter_map(|e| match e {
            TransactionEvent::Response { id, .. } => Some(*id),
            _ => None,
        })
        .collect();
    assert_eq!(ids, vec![id2, id]);
    // Timer K (5 s) ends the MESSAGE, Timer M (32 s) the INVITE.
    let outs = run_until(&mut l, t0, ms(40_000));
    let ends: Vec<(u128, sip_transaction::TransactionId)> = outs
        .iter()
        .filter_map(|(d, o)| match o {
            Output::Event(TransactionEvent::Terminated { id, .. }) => Some((d.as_millis(), *id)),
            _ => None,
        })
        .collect();
    assert_eq!(ends, vec![(5_040, id2), (32_010, id)]);
    assert_eq!((l.client_count(), l.client_state(id)), (0, None));
}

#[test]
fn rfc3261_17_1_2_2_non_invite_final_then_timer_k_t4_on_udp_zero_on_tcp() {
    for (kind, k) in [(Kind::Udp, 5_000u64), (Kind::Tcp, 0)] {
        let mut l = layer(9);
        let t0 = Instant::now();
        let b = l.new_branch();
        let req = request("MESSAGE", &b, kind);
        let id = l.send_request(t0, req.clone(), target(kind)).unwrap();
        drain(&mut l);
        l.handle_inbound(t0 + ms(100), inbound(response(&req, 200, Some("z")), kind));
        // Completed only absorbs retransmissions: the request is let go.
        assert!(l.request(id).is_none());
        let evs = drain(&mut l);
        assert!(matches!(
            events(&evs)[..],
            [TransactionEvent::Response { .. }]
        ));
        // Retransmitted final: absorbed.
        l.handle_inbound(t0 + ms(200), inbound(response(&req, 200, Some("z")), kind));
        assert!(drain(&mut l).is_empty());
        let outs = run_until(&mut l, t0, ms(60_000));
        let end = terminated_at(&outs);
        assert_eq!(end, Some(100 + k), "{kind}");
    }
}

#[test]
fn rfc3261_17_1_4_transport_error_informs_tu_and_ends() {
    let mut l = layer(10);
    let t0 = Instant::now();
    let b = l.new_branch();
    let id = l
        .send_request(t0, request("OPTIONS", &b, Kind::Tcp), target(Kind::Tcp))
        .unwrap();
    drain(&mut l);
    l.handle_transport_error(t0, id);
    let evs = drain(&mut l);
    assert!(matches!(
        events(&evs)[0],
        TransactionEvent::TransportError { .. }
    ));
    assert_eq!(l.client_count(), 0);
    assert_eq!(l.poll_timeout(), None);
}

// ---- server side ----------------------------------------------------------

fn new_request_id(outs: &[Output]) -> sip_transaction::TransactionId {
    events(outs)
        .into_iter()
        .find_map(|e| match e {
            TransactionEvent::Request { id, .. } => Some(*id),
            _ => None,
        })
        .expect("a Request event")
}

fn response_times(outs: &[(std::time::Duration, Output)]) -> Vec<u64> {
    outs.iter()
        .filter(|(_, o)| matches!(o, Output::Transmit(Transmit::Response { .. })))
        .map(|(d, _)| d.as_millis() as u64)
        .collect()
}

#[test]
fn rfc3261_17_2_1_invite_server_sends_100_then_timer_g_until_timer_h() {
    let mut l = layer(11);
    let t0 = Instant::now();
    let req = request("INVITE", "z9hG4bKserver1", Kind::Udp);
    l.handle_inbound(t0, inbound(req.clone(), Kind::Udp));
    let outs = drain(&mut l);
    let id = new_request_id(&outs);
    // §17.2.1: no 100 while the TU may still answer within 200 ms...
    assert!(transmits(&outs).is_empty());
    assert_eq!(l.poll_timeout(), Some(t0 + ms(200)));
    l.handle_timeout(t0 + ms(199));
    assert!(transmits(&drain(&mut l)).is_empty());
    // ...then the transaction sends it itself.
    l.handle_timeout(t0 + ms(200));
    let outs = drain(&mut l);
    let trying = transmits(&outs);
    assert!(
        matches!(trying[..], [Transmit::Response { message, .. }] if message.status() == Some(100))
    );
    l.send_response(t0 + ms(1000), id, response(&req, 486, Some("uas")))
        .unwrap();
    assert_eq!(transmits(&drain(&mut l)).len(), 1);
    let outs = run_until(&mut l, t0, ms(40_000));
    // G: T1 doubling to T2 from 1000 ms: 1500, 2500, 4500, 8500, then every 4 s.
    assert_eq!(
        response_times(&outs),
        vec![1500, 2500, 4500, 8500, 12500, 16500, 20500, 24500, 28500, 32500]
    );
    assert!(outs.iter().any(|(d, o)| d.as_millis() == 33_000
        && matches!(o, Output::Event(TransactionEvent::AckTimeout { .. }))));
    assert_eq!(l.server_count(), 0);
}

#[test]
fn rfc3261_17_2_1_no_100_when_the_tu_answers_within_200_ms_at_once_on_a_retransmission() {
    // The TU answers (180 here) before 200 ms: no 100 ever.
    let mut l = layer(13);
    let t0 = Instant::now();
    let req = request("INVITE", "z9hG4bKserver3", Kind::Udp);
    l.handle_inbound(t0, inbound(req.clone(), Kind::Udp));
    let id = new_request_id(&drain(&mut l));
    l.send_response(t0 + ms(150), id, response(&req, 180, Some("uas")))
        .unwrap();
    assert_eq!(transmits(&drain(&mut l)).len(), 1, "the TU's 180");
    let outs = run_until(&mut l, t0, ms(1_000));
    assert!(response_times(&outs).is_empty(), "and no 100 after it");

    // The INVITE comes again before the TU answered: 100 at once, once.
    let mut l = layer(14);
    let req = request("INVITE", "z9hG4bKserver4", Kind::Udp);
    l.handle_inbound(t0, inbound(req.clone(), Kind::Udp));
    drain(&mut l);
    l.handle_inbound(t0 + ms(100), inbound(req.clone(), Kind::Udp));
    let outs = drain(&mut l);
    let trying = transmits(&outs);
    assert!(
        matches!(trying[..], [Transmit::Response { message, .. }] if message.status() == Some(100))
    );
    // Its timer was stopped; a further retransmission repeats the 100.
    l.handle_timeout(t0 + ms(200));
    assert!(transmits(&drain(&mut l)).is_empty());
    l.handle_inbound(t0 + ms(600), inbound(req, Kind::Udp));
    assert_eq!(transmits(&drain(&mut l)).len(), 1);
}

#[test]
fn rfc3261_17_2_1_ack_confirms_and_timer_i_is_t4_on_udp_zero_on_tcp() {
    for (kind, i) in [(Kind::Udp, 5_000u64), (Kind::Tcp, 0)] {
        let mut l = layer(12);
        let t0 = Instant::now();
        let req = request("INVITE", "z9hG4bKserver2", kind);
        l.handle_inbound(t0, inbound(req.clone(), kind));
        let id = new_request_id(&drain(&mut l));
        let busy = response(&req, 486, Some("uas"));
        l.send_response(t0, id, busy.clone()).unwrap();
        drain(&mut l);
        let ack = ack_for_non_2xx(&req, "uas");
        l.handle_inbound(t0 + ms(200), inbound(ack.clone(), kind));
        assert_eq!(l.server_state(id), Some(ServerState::Confirmed));
        // A retransmitted ACK is absorbed, not shown to the TU.
        l.handle_inbound(t0 + ms(300), inbound(ack, kind));
        assert!(events(&drain(&mut l)).is_empty());
        let outs = run_until(&mut l, t0, ms(40_000));
        assert!(
            response_times(&outs).is_empty(),
            "{kind}: no retransmission after ACK"
        );
        let end = terminated_at(&outs);
        assert_eq!(end, Some(200 + i), "{kind}");
    }
}

#[test]
fn rfc6026_7_1_accepted_absorbs_invite_retransmissions_and_passes_ack_until_timer_l() {
    let mut l = layer(13);
    let t0 = Instant::now();
    let req = request("INVITE", "z9hG4bKserver3", Kind::Udp);
    l.handle_inbound(t0, inbound(req.clone(), Kind::Udp));
    let id = new_request_id(&drain(&mut l));
    l.send_response(t0, id, response(&req, 200, Some("uas")))
        .unwrap();
    drain(&mut l);
    assert_eq!(l.server_state(id), Some(ServerState::Accepted));
    // INVITE retransmission: absorbed (the TU retransmits the 2xx itself).
    l.handle_inbound(t0 + ms(500), inbound(req.clone(), Kind::Udp));
    assert!(drain(&mut l).is_empty());
    // The TU's 2xx retransmission passes through.
    l.send_response(t0 + ms(500), id, response(&req, 200, Some("uas")))
        .unwrap();
    assert_eq!(transmits(&drain(&mut l)).len(), 1);
    // ACK for the 2xx: to the TU.
    let ack = ack_for_non_2xx(&req, "uas");
    l.handle_inbound(t0 + ms(600), inbound(ack, Kind::Udp));
    assert!(matches!(
        events(&drain(&mut l))[..],
        [TransactionEvent::Ack { .. }]
    ));
    // After the ACK the INVITE is let go; a late 2xx from the TU still
    // goes out, and another INVITE retransmission is still absorbed.
    assert!(l.request(id).is_none());
    l.send_response(t0 + ms(700), id, response(&req, 200, Some("uas")))
        .unwrap();
    assert_eq!(transmits(&drain(&mut l)).len(), 1);
    l.handle_inbound(t0 + ms(800), inbound(req.clone(), Kind::Udp));
    assert!(drain(&mut l).is_empty());
    let outs = run_until(&mut l, t0, ms(40_000));
    assert!(outs.iter().any(|(d, o)| d.as_millis() == 32_000
        && matches!(o, Output::Event(TransactionEvent::Terminated { .. }))));
}

#[test]
fn rfc3261_17_2_2_non_invite_server_absorbs_in_trying_resends_in_completed_timer_j() {
    for (kind, j) in [(Kind::Udp, 32_000u64), (Kind::Tcp, 0)] {
        let mut l = layer(14);
        let t0 = Instant::now();
        let req = request("OPTIONS", "z9hG4bKserver4", kind);
        l.handle_inbound(t0, inbound(req.clone(), kind));
        let outs = drain(&mut l);
        assert!(
            transmits(&outs).is_empty(),
            "no automatic 100 for non-INVITE"
        );
        let id = new_request_id(&outs);
        // Trying: a retransmission is absorbed, nothing goes to the TU.
        l.handle_inbound(t0 + ms(500), inbound(req.clone(), kind));
        assert!(drain(&mut l).is_empty());
        assert_eq!(l.request(id).map(|r| r.as_bytes()), Some(req.as_bytes()));
        l.send_response(t0 + ms(700), id, response(&req, 200, Some("uas")))
            .unwrap();
        assert_eq!(transmits(&drain(&mut l)).len(), 1);
        // Completed keeps the final for retransmissions, not the request,
        // and takes no other response.
        assert!(l.request(id).is_none());
        assert!(l
            .send_response(t0 + ms(800), id, response(&req, 500, Some("uas")))
            .is_err());
        assert!(transmits(&drain(&mut l)).is_empty());
        if kind == Kind::Udp {
            // Completed: each retransmission gets the final again.
            l.handle_inbound(t0 + ms(1500), inbound(req.clone(), kind));
            assert_eq!(transmits(&drain(&mut l)).len(), 1);
        }
        let outs = run_until(&mut l, t0, ms(60_000));
        let end = terminated_at(&outs);
        assert_eq!(end, Some(700 + j), "{kind}");
    }
}

#[test]
fn rfc3261_17_2_3_cancel_has_its_own_transaction_and_names_the_invite() {
    let mut l = layer(15);
    let t0 = Instant::now();
    let invite = request("INVITE", "z9hG4bKserver5", Kind::Udp);
    l.handle_inbound(t0, inbound(invite.clone(), Kind::Udp));
    let invite_id = new_request_id(&drain(&mut l));
    let cancel = sip_transaction::cancel_for(&invite).unwrap();
    l.handle_inbound(t0 + ms(10), inbound(cancel, Kind::Udp));
    let outs = drain(&mut l);
    let (cancel_id, cancels) = events(&outs)
        .into_iter()
        .find_map(|e| match e {
            TransactionEvent::Request {
                id,
                cancels,
                request,
                ..
            } if request.method() == Some(&Method::Cancel) => Some((*id, *cancels)),
            _ => None,
        })
        .unwrap();
    assert_ne!(cancel_id, invite_id);
    assert_eq!(cancels, Some(invite_id));
    assert_eq!(l.server_count(), 2);
}

#[test]
fn rfc3261_17_2_3_rfc2543_fallback_matches_retransmission_and_ack() {
    let mut l = layer(16);
    let t0 = Instant::now();
    let invite = request("INVITE", "old2543branch", Kind::Udp);
    l.handle_inbound(t0, inbound(invite.clone(), Kind::Udp));
    let id = new_request_id(&drain(&mut l));
    l.handle_inbound(t0 + ms(500), inbound(invite.clone(), Kind::Udp));
    // Matched: the 100 is re-sent, no new transaction.
    assert_eq!(transmits(&drain(&mut l)).len(), 1);
    assert_eq!(l.server_count(), 1);
    l.send_response(t0 + ms(600), id, response(&invite, 404, Some("nf")))
        .unwrap();
    drain(&mut l);
    let ack = |tag: &str| ack_for_non_2xx(&invite, tag);
    // An ACK with another To tag does not match (it goes to the TU).
    l.handle_inbound(t0 + ms(700), inbound(ack("other"), Kind::Udp));
    assert!(matches!(
        events(&drain(&mut l))[..],
        [TransactionEvent::Ack { .. }]
    ));
    assert_eq!(l.server_state(id), Some(ServerState::Completed));
    l.handle_inbound(t0 + ms(800), inbound(ack("nf"), Kind::Udp));
    assert_eq!(l.server_state(id), Some(ServerState::Confirmed));
}

#[test]
fn rfc3261_9_1_cancel_waits_for_a_provisional_and_is_dropped_by_a_final() {
    // Held, then sent on 180.
    let mut l = layer(17);
    let t0 = Instant::now();
    let b = l.new_branch();
    let req = request("INVITE", &b, Kind::Udp);
    let inv = l.send_request(t0, req.clone(), target(Kind::Udp)).unwrap();
    drain(&mut l);
    let cancel = l.send_cancel(t0 + ms(10), inv).unwrap();
    assert_eq!(l.client_state(cancel), Some(ClientState::Held));
    assert!(
        transmits(&drain(&mut l)).is_empty(),
        "CANCEL must wait for a provisional"
    );
    l.handle_inbound(
        t0 + ms(100),
        inbound(response(&req, 180, Some("r")), Kind::Udp),
    );
    let outs = drain(&mut l);
    let sent: Vec<&Message> = transmits(&outs)
        .into_iter()
        .filter_map(|t| match t {
            Transmit::Request { message, .. } => Some(message),
            _ => None,
        })
        .collect();
    assert_eq!(sent.len(), 1);
    let c = sent[0];
    assert_eq!(c.method(), Some(&Method::Cancel));
    assert_eq!(c.cseq(), Some((1, &Method::Cancel)));
    assert_eq!(c.top_via().unwrap().branch(), Some(b.as_str()));
    assert_eq!(c.request_uri_str(), req.request_uri_str());
    assert_eq!(c.to_tag(), None, "CANCEL's To is the INVITE's");
    assert!(c.values_by_name("Route").next().is_some());
    assert_eq!(l.client_state(cancel), Some(ClientState::Trying));

    // Held, then dropped by a final.
    let mut l = layer(18);
    let b = l.new_branch();
    let req = request("INVITE", &b, Kind::Udp);
    let inv = l.send_request(t0, req.clone(), target(Kind::Udp)).unwrap();
    let cancel = l.send_cancel(t0, inv).unwrap();
    drain(&mut l);
    l.handle_inbound(
        t0 + ms(100),
        inbound(response(&req, 486, Some("r")), Kind::Udp),
    );
    let outs = drain(&mut l);
    assert!(events(&outs)
        .iter()
        .any(|e| matches!(e, TransactionEvent::CancelDropped { id } if *id == cancel)));
    assert!(transmits(&outs).iter().all(
        |t| matches!(t, Transmit::Request { message, .. } if message.method() == Some(&Method::Ack))
    ));
    assert_eq!(l.client_state(cancel), None);
}

#[test]
fn rfc3261_9_1_a_cancelled_invite_without_final_ends_64_t1_after_the_cancel() {
    // §9.1: "If no final response has been received after 64*T1 seconds,
    // the client SHOULD then consider the original transaction cancelled
    // and SHOULD destroy the client transaction handling the original
    // request." A callee that ignores the CANCEL must not keep the caller
    // (and the transaction) forever. Sent in Proceeding, and held then
    // sent on the first provisional.
    for held in [false, true] {
        let mut l = layer(40);
        let t0 = Instant::now();
        let b = l.new_branch();
        let req = request("INVITE", &b, Kind::Udp);
        let inv = l.send_request(t0, req.clone(), target(Kind::Udp)).unwrap();
        drain(&mut l);
        let cancel_at = if held {
            l.send_cancel(t0 + ms(10), inv).unwrap();
            drain(&mut l);
            ms(100)
        } else {
            ms(1_000)
        };
        l.handle_inbound(
            t0 + ms(100),
            inbound(response(&req, 180, Some("r")), Kind::Udp),
        );
        drain(&mut l);
        if !held {
            l.send_cancel(t0 + cancel_at, inv).unwrap();
        }
        let outs = drain(&mut l);
        if !held {
            assert!(transmits(&outs).iter().any(|t| matches!(t,
                Transmit::Request { message, .. } if message.method() == Some(&Method::Cancel))));
        }
        // A provisional after the CANCEL does not restart the wait.
        l.handle_inbound(
            t0 + ms(5_000),
            inbound(response(&req, 183, Some("r")), Kind::Udp),
        );
        drain(&mut l);
        assert_eq!(l.client_state(inv), Some(ClientState::Proceeding));
        let outs = run_until(&mut l, t0, ms(100_000));
        let end = (cancel_at + ms(32_000)).as_millis() as u64;
        assert!(
            outs.iter().any(|(d, o)| d.as_millis() as u64 == end
                && matches!(o, Output::Event(TransactionEvent::Timeout { id, timer: Timer::B }) if *id == inv)),
            "held {held}: the INVITE ends with Timer B 64*T1 after its CANCEL"
        );
        assert_eq!(l.client_state(inv), None, "held {held}: destroyed");
    }
}

/// An INVITE over UDP answered 180 at 50 ms: (layer, start, INVITE, its
/// transaction).
fn ringing_invite(seed: u64) -> (TransactionLayer, Instant, Message, TransactionId) {
    let mut l = layer(seed);
    let t0 = Instant::now();
    let b = l.new_branch();
    let req = request("INVITE", &b, Kind::Udp);
    let inv = l.send_request(t0, req.clone(), target(Kind::Udp)).unwrap();
    l.handle_inbound(
        t0 + ms(50),
        inbound(response(&req, 180, Some("r")), Kind::Udp),
    );
    (l, t0, req, inv)
}

#[test]
fn rfc3261_9_1_a_final_after_the_cancel_ends_the_wait() {
    // The 487 (or any final) that answers a CANCELled INVITE completes it
    // as usual; the 64*T1 bound then never fires.
    let (mut l, t0, req, inv) = ringing_invite(41);
    l.send_cancel(t0 + ms(60), inv).unwrap();
    l.handle_inbound(
        t0 + ms(90),
        inbound(response(&req, 487, Some("r")), Kind::Udp),
    );
    drain(&mut l);
    let outs = run_until(&mut l, t0, ms(100_000));
    assert!(count_timeouts(&outs).iter().all(|(_, t)| *t != Timer::B));
}

#[test]
fn rfc3261_17_1_3_stray_response_goes_to_the_tu() {
    let mut l = layer(19);
    let req = request("INVITE", "z9hG4bKnobodys", Kind::Udp);
    l.handle_inbound(
        Instant::now(),
        inbound(response(&req, 200, Some("x")), Kind::Udp),
    );
    assert!(matches!(
        events(&drain(&mut l))[..],
        [TransactionEvent::StrayResponse { .. }]
    ));
}

#[test]
fn rfc3261_17_1_3_response_method_must_match() {
    // A response with the INVITE's branch but CSeq CANCEL belongs to the
    // CANCEL transaction, not the INVITE.
    let mut l = layer(20);
    let t0 = Instant::now();
    let b = l.new_branch();
    let req = request("INVITE", &b, Kind::Udp);
    let inv = l.send_request(t0, req.clone(), target(Kind::Udp)).unwrap();
    drain(&mut l);
    let cancel_req = sip_transaction::cancel_for(&req).unwrap();
    l.handle_inbound(
        t0,
        inbound(response(&cancel_req, 200, Some("x")), Kind::Udp),
    );
    assert!(matches!(
        events(&drain(&mut l))[..],
        [TransactionEvent::StrayResponse { .. }]
    ));
    assert_eq!(l.client_state(inv), Some(ClientState::Calling));
}

#[test]
fn requests_without_a_cookie_branch_are_refused_for_sending() {
    let mut l = layer(21);
    let err = l
        .send_request(
            Instant::now(),
            request("OPTIONS", "nocookie", Kind::Udp),
            target(Kind::Udp),
        )
        .unwrap_err();
    assert_eq!(err, sip_transaction::TransactionError::MissingBranch);
    // RFC 4475 §3.2.1: a bare cookie is no RFC 3261 branch; case counts.
    for branch in ["z9hG4bK", "Z9HG4BK1", "z9hG4b"] {
        let err = l
            .send_request(
                Instant::now(),
                request("OPTIONS", branch, Kind::Udp),
                target(Kind::Udp),
            )
            .unwrap_err();
        assert_eq!(
            err,
            sip_transaction::TransactionError::MissingBranch,
            "{branch}"
        );
    }
    assert_eq!(l.client_count(), 0);
    let ack = request("ACK", "z9hG4bKack", Kind::Udp);
    assert_eq!(
        l.send_request(Instant::now(), ack, target(Kind::Udp))
            .unwrap_err(),
        sip_transaction::TransactionError::AckNotATransaction
    );
}

#[test]
fn branches_are_reproducible_from_the_seed_and_carry_the_cookie() {
    let (mut a, mut b) = (layer(42), layer(42));
    let (x, y) = (a.new_branch(), b.new_branch());
    assert_eq!(x, y);
    assert!(x.starts_with("z9hG4bK") && x.len() == 7 + 24);
    assert_ne!(a.new_branch(), x);
}

/// §17.1.3: a second request with the branch and method of a live client
/// transaction is refused (same branch, other method is another key), and
/// a slot freed by a terminated transaction is reused under a new id, the
/// old id staying dead.
#[test]
fn rfc3261_17_1_3_duplicate_keys_refused_and_freed_slots_get_new_ids() {
    let mut l = layer(11);
    let t0 = Instant::now();
    let b = l.new_branch();
    let first = l
        .send_request(t0, request("OPTIONS", &b, Kind::Tcp), target(Kind::Tcp))
        .unwrap();
    assert!(matches!(
        l.send_request(t0, request("OPTIONS", &b, Kind::Tcp), target(Kind::Tcp)),
        Err(sip_transaction::TransactionError::Duplicate)
    ));
    let other = l
        .send_request(t0, request("REGISTER", &b, Kind::Tcp), target(Kind::Tcp))
        .unwrap();
    assert_ne!(first, other);
    assert_eq!(l.client_count(), 2);
    // A 200 over TCP: Completed, Timer K = 0, so gone at the next timeout.
    let req = l.request(first).unwrap().clone();
    l.handle_inbound(t0, inbound(response(&req, 200, None), Kind::Tcp));
    l.handle_timeout(t0);
    assert_eq!(l.client_state(first), None);
    assert_eq!(l.client_count(), 1);
    drain(&mut l);
    // The key is free again; the new transaction is not the old id.
    let again = l
        .send_request(t0, request("OPTIONS", &b, Kind::Tcp), target(Kind::Tcp))
        .unwrap();
    assert_ne!(again, first);
    // The freed slot (index and next generation), not a new one.
    assert_eq!(
        (first.to_string(), again.to_string()),
        ("tsx-0.0".into(), "tsx-0.1".into())
    );
    assert_eq!(l.client_state(again), Some(ClientState::Trying));
    assert_eq!(l.client_state(first), None);
    assert_eq!(l.client_count(), 2);
}

/// The Terminated event of a client transaction carries its key
/// (§17.1.3: branch and method, a CANCEL's its own method), though the
/// transaction let go of its request before it ended.
#[test]
fn rfc3261_17_1_3_terminated_carries_the_client_key() {
    let mut l = layer(12);
    let t0 = Instant::now();
    let b = l.new_branch();
    let inv = l
        .send_request(t0, request("INVITE", &b, Kind::Tcp), target(Kind::Tcp))
        .unwrap();
    let req = l.request(inv).unwrap().clone();
    l.handle_inbound(t0, inbound(response(&req, 180, Some("t")), Kind::Tcp));
    let cancel = l.send_cancel(t0, inv).unwrap();
    let cancel_req = l.request(cancel).unwrap().clone();
    drain(&mut l);
    // 200 to the CANCEL (Timer K = 0 over TCP), then a 487 to the INVITE
    // (Timer D = 0 over TCP): both end at the next timeout.
    l.handle_inbound(
        t0,
        inbound(response(&cancel_req, 200, Some("t")), Kind::Tcp),
    );
    l.handle_inbound(t0, inbound(response(&req, 487, Some("t")), Kind::Tcp));
    l.handle_timeout(t0);
    let outs = drain(&mut l);
    let mut ended = Vec::new();
    for e in events(&outs) {
        if let TransactionEvent::Terminated {
            id,
            key: sip_transaction::TransactionKey::Client(k),
        } = e
        {
            ended.push((*id, k.branch.to_string(), k.method.clone()));
        }
    }
    ended.sort_by_key(|(id, ..)| *id);
    assert_eq!(
        ended,
        vec![
            (inv, b.clone(), Method::Invite),
            (cancel, b.clone(), Method::Cancel)
        ]
    );
    assert_eq!(l.client_count(), 0);
    // The keys are free again.
    l.send_request(t0, request("INVITE", &b, Kind::Tcp), target(Kind::Tcp))
        .unwrap();
}

#[test]
fn rfc3261_9_1_a_second_cancel_does_not_move_the_bound() {
    // The first CANCEL's transaction answered and gone (Timer K), a second
    // CANCEL goes out; the INVITE still ends 64*T1 after the first one.
    let (mut l, t0, _, inv) = ringing_invite(42);
    let cancel = l.send_cancel(t0 + ms(1_000), inv).unwrap();
    let outs = drain(&mut l);
    let sent_cancel = transmits(&outs)
        .into_iter()
        .find_map(|t| match t {
            Transmit::Request { message, .. } if message.method() == Some(&Method::Cancel) => {
                Some(message.clone())
            }
            _ => None,
        })
        .expect("the CANCEL");
    l.handle_inbound(
        t0 + ms(1_100),
        inbound(response(&sent_cancel, 200, Some("r")), Kind::Udp),
    );
    drain(&mut l);
    let _ = run_until(&mut l, t0, ms(10_000));
    assert_eq!(l.client_state(cancel), None, "Timer K ended the CANCEL");
    l.send_cancel(t0 + ms(10_000), inv).unwrap();
    drain(&mut l);
    let outs = run_until(&mut l, t0, ms(100_000));
    assert!(outs.iter().any(|(d, o)| d.as_millis() == 33_000
        && matches!(o, Output::Event(TransactionEvent::Timeout { id, timer: Timer::B }) if *id == inv)));
}

#[test]
fn a_reason_with_cr_or_lf_is_refused() {
    let b = "z9hG4bKreason";
    let req = request("INVITE", b, Kind::Udp);
    assert_eq!(
        sip_transaction::cancel_with_reason(&req, Some("SIP;cause=200\r\nX: y")).unwrap_err(),
        sip_transaction::TransactionError::InvalidHeader("Reason")
    );
    let ok = sip_transaction::cancel_with_reason(&req, Some("SIP;cause=200")).unwrap();
    assert_eq!(
        ok.values_by_name("Reason").next(),
        Some(&b"SIP;cause=200"[..])
    );
}
