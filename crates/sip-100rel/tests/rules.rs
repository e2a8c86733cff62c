//! RFC 3262 rules, sans-IO: a transaction layer with the plugin, fed
//! messages by hand on virtual time.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use sip_100rel::{PrackAnswer, Rel100};
use sip_dialog::{LocalSeqUsed, SessionExchanged};
use sip_message::headers::{RAck, RSeq, Transport as Kind};
use sip_message::{HeaderName, Message, Method, ResponseBuilder};
use sip_transaction::{
    Output, TimerConfig, TransactionEvent, TransactionId, TransactionLayer, Transmit, Xorshift,
};
use sip_transport::{Inbound, Target};

fn layer() -> TransactionLayer {
    let mut l =
        TransactionLayer::with_random(TimerConfig::default(), Box::new(Xorshift::seeded(7)));
    l.add_extension(Box::new(Rel100::new()));
    l
}

fn addr(port: u16) -> std::net::SocketAddr {
    std::net::SocketAddr::from(([127, 0, 0, 1], port))
}

fn inbound(message: Message) -> Inbound {
    Inbound {
        message,
        transport: Kind::Udp,
        local: addr(5060),
        remote: addr(5062),
        connection: None,
    }
}

fn drain(l: &mut TransactionLayer) -> Vec<Output> {
    std::iter::from_fn(|| l.poll_output()).collect()
}

fn sent(outs: &[Output]) -> Vec<Message> {
    outs.iter()
        .filter_map(|o| match o {
            Output::Transmit(Transmit::Request { message, .. })
            | Output::Transmit(Transmit::Response { message, .. }) => Some(message.clone()),
            _ => None,
        })
        .collect()
}

fn pracks(outs: &[Output]) -> Vec<Message> {
    sent(outs)
        .into_iter()
        .filter(|m| m.method() == Some(&Method::Prack))
        .collect()
}

fn responses_seen(outs: &[Output]) -> Vec<Message> {
    outs.iter()
        .filter_map(|o| match o {
            Output::Event(TransactionEvent::Response { response, .. }) => Some(response.clone()),
            _ => None,
        })
        .collect()
}

/// What the plugin reported to the TU (payloads of type `T`), each checked
/// to belong to client transaction `id` when given.
fn reports<T: Clone + 'static>(outs: &[Output], id: Option<TransactionId>) -> Vec<T> {
    outs.iter()
        .filter_map(|o| match o {
            Output::Event(TransactionEvent::Extension {
                transaction,
                payload,
                ..
            }) => {
                if id.is_some() {
                    assert_eq!(*transaction, id);
                }
                payload.downcast_ref::<T>().cloned()
            }
            _ => None,
        })
        .collect()
}

fn invite(branch: &str, body: Option<&str>) -> Message {
    let (ct, b) = match body {
        Some(b) => ("Content-Type: application/sdp\r\n".to_owned(), b.to_owned()),
        None => (String::new(), String::new()),
    };
    Message::parse(format!(
        "INVITE sip:bob@127.0.0.1:5062 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch={branch}\r\n\
         Max-Forwards: 70\r\nFrom: <sip:alice@127.0.0.1>;tag=a1\r\nTo: <sip:bob@127.0.0.1>\r\n\
         Call-ID: call-{branch}\r\nCSeq: 10 INVITE\r\nContact: <sip:alice@127.0.0.1:5060>\r\n\
         {ct}Content-Length: {}\r\n\r\n{b}",
        b.len()
    ))
    .unwrap()
}

/// A provisional from the UAS side: `Require: 100rel` and RSeq as given.
fn provisional(
    inv: &Message,
    code: u16,
    tag: &str,
    rseq: Option<u32>,
    sdp: Option<&str>,
) -> Message {
    let mut b = ResponseBuilder::from_request(inv, code)
        .with_to_tag(tag)
        .raw_header("Contact", "<sip:bob@127.0.0.1:5062>")
        .raw_header("Require", "100rel");
    if let Some(r) = rseq {
        b = b.raw_header("RSeq", &r.to_string());
    }
    if let Some(s) = sdp {
        b = b.body("application/sdp", Bytes::from(s.to_owned()));
    }
    b.build().unwrap()
}

fn send_invite(
    l: &mut TransactionLayer,
    t0: Instant,
    inv: Message,
    data: Vec<Arc<dyn std::any::Any + Send + Sync>>,
) -> (TransactionId, Message) {
    let id = l
        .send_request_with_data(t0, inv, Target::new(Kind::Udp, addr(5062)), &data)
        .unwrap();
    let outs = drain(l);
    let out = sent(&outs).remove(0);
    (id, out)
}

// ---- UAC (RFC 3262 §4) ------------------------------------------------

/// An INVITE (branch `branch`) with `Require: 100rel`.
fn invite_requiring_100rel(branch: &str) -> Message {
    Message::parse(
        String::from_utf8_lossy(invite(branch, None).as_bytes()).replacen(
            "Max-Forwards: 70\r\n",
            "Max-Forwards: 70\r\nRequire: 100rel\r\n",
            1,
        ),
    )
    .unwrap()
}

#[test]
fn rfc3262_4_invite_offers_100rel_and_allow_lists_prack() {
    let mut l = layer();
    let (_, out) = send_invite(&mut l, Instant::now(), invite("z9hG4bKa", None), vec![]);
    assert!(out
        .values(HeaderName::Supported)
        .any(|v| v.eq_ignore_ascii_case(b"100rel")));
    let caps = l.extensions().next().unwrap().capabilities();
    assert_eq!(caps.allow, vec![Method::Prack]);
    assert_eq!(caps.supported, vec!["100rel"]);
    // A caller who requires it is not given a second tag.
    let req = invite_requiring_100rel("z9hG4bKb");
    let (_, out) = send_invite(&mut l, Instant::now(), req, vec![]);
    assert_eq!(out.values(HeaderName::Supported).count(), 0);
}

#[test]
fn rfc3262_4_reliable_provisional_is_pracked_in_its_early_dialog() {
    let mut l = layer();
    let t0 = Instant::now();
    let (id, inv) = send_invite(&mut l, t0, invite("z9hG4bKc", None), vec![]);
    l.handle_inbound(t0, inbound(provisional(&inv, 180, "b1", Some(42), None)));
    let outs = drain(&mut l);
    let p = pracks(&outs);
    assert_eq!(p.len(), 1);
    let prack = &p[0];
    // §7.2: RAck = RSeq, CSeq number and method of the INVITE.
    assert_eq!(
        prack.get::<RAck>().unwrap(),
        RAck {
            rseq: 42,
            cseq: 10,
            method: Method::Invite
        }
    );
    // In the early dialog: same Call-ID, From tag, the 1xx's To tag, the
    // Contact as Request-URI, the next CSeq.
    assert_eq!(prack.call_id(), inv.call_id());
    assert_eq!(prack.from_tag(), Some("a1"));
    assert_eq!(prack.to_tag(), Some("b1"));
    assert_eq!(prack.request_uri_str(), Some("sip:bob@127.0.0.1:5062"));
    assert_eq!(prack.cseq().unwrap().0, 11);
    assert!(prack.body_bytes().is_empty());
    // The TU sees the 180 and learns the CSeq the PRACK used, first.
    let seen = responses_seen(&outs);
    assert_eq!(seen.len(), 1);
    let used: Vec<LocalSeqUsed> = reports(&outs, Some(id));
    assert_eq!(used.len(), 1);
    assert_eq!(used[0].seq, 11);
    assert_eq!(used[0].dialog.remote_tag(), "b1");
}

#[test]
fn rfc3262_4_retransmission_absorbed_out_of_order_not_acked_missing_rseq_ignored() {
    let mut l = layer();
    let t0 = Instant::now();
    let (_, inv) = send_invite(&mut l, t0, invite("z9hG4bKd", None), vec![]);
    l.handle_inbound(t0, inbound(provisional(&inv, 180, "b1", Some(5), None)));
    assert_eq!(pracks(&drain(&mut l)).len(), 1);
    // Retransmission: no second PRACK, not shown again.
    l.handle_inbound(t0, inbound(provisional(&inv, 180, "b1", Some(5), None)));
    let outs = drain(&mut l);
    assert!(pracks(&outs).is_empty());
    assert!(responses_seen(&outs).is_empty());
    // RSeq 7 skips 6: not acknowledged (and not shown).
    l.handle_inbound(t0, inbound(provisional(&inv, 183, "b1", Some(7), None)));
    let outs = drain(&mut l);
    assert!(pracks(&outs).is_empty());
    assert!(responses_seen(&outs).is_empty());
    // Then 6 and 7 in order are each acknowledged.
    l.handle_inbound(t0, inbound(provisional(&inv, 183, "b1", Some(6), None)));
    l.handle_inbound(t0, inbound(provisional(&inv, 183, "b1", Some(7), None)));
    let p = pracks(&drain(&mut l));
    let racks: Vec<u32> = p.iter().map(|m| m.get::<RAck>().unwrap().rseq).collect();
    assert_eq!(racks, vec![6, 7]);
    // CSeq keeps rising within the dialog: 11, 12, 13.
    let seqs: Vec<u32> = p.iter().map(|m| m.cseq().unwrap().0).collect();
    assert_eq!(seqs, vec![12, 13]);
    // Requires 100rel but has no RSeq: ignored.
    l.handle_inbound(t0, inbound(provisional(&inv, 183, "b1", None, None)));
    let outs = drain(&mut l);
    assert!(pracks(&outs).is_empty());
    assert!(responses_seen(&outs).is_empty());
    // An unreliable 180 is just shown.
    let plain = ResponseBuilder::from_request(&inv, 180)
        .with_to_tag("b1")
        .build()
        .unwrap();
    l.handle_inbound(t0, inbound(plain));
    let outs = drain(&mut l);
    assert!(pracks(&outs).is_empty());
    assert_eq!(responses_seen(&outs).len(), 1);
}

#[test]
fn rfc3262_4_forked_early_dialogs_keep_their_own_rseq() {
    let mut l = layer();
    let t0 = Instant::now();
    let (_, inv) = send_invite(&mut l, t0, invite("z9hG4bKe", None), vec![]);
    l.handle_inbound(
        t0,
        inbound(provisional(&inv, 180, "fork1", Some(100), None)),
    );
    l.handle_inbound(
        t0,
        inbound(provisional(&inv, 180, "fork2", Some(9000), None)),
    );
    l.handle_inbound(
        t0,
        inbound(provisional(&inv, 183, "fork2", Some(9001), None)),
    );
    l.handle_inbound(
        t0,
        inbound(provisional(&inv, 183, "fork1", Some(101), None)),
    );
    // Retransmission on one fork does not disturb the other.
    l.handle_inbound(
        t0,
        inbound(provisional(&inv, 180, "fork1", Some(100), None)),
    );
    let p = pracks(&drain(&mut l));
    let got: Vec<(String, u32, u32)> = p
        .iter()
        .map(|m| {
            (
                m.to_tag().unwrap().to_owned(),
                m.get::<RAck>().unwrap().rseq,
                m.cseq().unwrap().0,
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            ("fork1".into(), 100, 11),
            ("fork2".into(), 9000, 11),
            ("fork2".into(), 9001, 12),
            ("fork1".into(), 101, 12),
        ]
    );
}

#[test]
fn rfc3262_5_offer_in_reliable_provisional_answered_in_prack() {
    let mut l = layer();
    let t0 = Instant::now();
    let answer = PrackAnswer::new(|resp| {
        assert!(resp.body_bytes().starts_with(b"v=0"));
        Some((
            "application/sdp".into(),
            Bytes::from_static(b"v=0\r\no=answer\r\n"),
        ))
    });
    let (id, inv) = send_invite(&mut l, t0, invite("z9hG4bKf", None), vec![Arc::new(answer)]);
    l.handle_inbound(
        t0,
        inbound(provisional(
            &inv,
            183,
            "b1",
            Some(1),
            Some("v=0\r\no=offer\r\n"),
        )),
    );
    let outs = drain(&mut l);
    let p = pracks(&outs);
    assert_eq!(p[0].body_bytes(), b"v=0\r\no=answer\r\n");
    let ex: Vec<SessionExchanged> = reports(&outs, Some(id));
    assert_eq!(ex.len(), 1);
    assert_eq!(ex[0].remote.as_deref(), Some(&b"v=0\r\no=offer\r\n"[..]));
    assert_eq!(ex[0].local.as_deref(), Some(&b"v=0\r\no=answer\r\n"[..]));
    // Without a callback the PRACK has no body.
    let (_, inv2) = send_invite(&mut l, t0, invite("z9hG4bKg", None), vec![]);
    l.handle_inbound(
        t0,
        inbound(provisional(&inv2, 183, "b1", Some(1), Some("v=0\r\n"))),
    );
    assert!(pracks(&drain(&mut l))[0].body_bytes().is_empty());
}

#[test]
fn rfc3262_4_prack_failure_does_not_fail_the_invite_and_state_ends_with_the_final() {
    let mut l = layer();
    let t0 = Instant::now();
    let (id, inv) = send_invite(&mut l, t0, invite("z9hG4bKh", None), vec![]);
    l.handle_inbound(t0, inbound(provisional(&inv, 180, "b1", Some(1), None)));
    let prack = pracks(&drain(&mut l)).remove(0);
    // The PRACK is refused.
    l.handle_inbound(
        t0,
        inbound(ResponseBuilder::from_request(&prack, 481).build().unwrap()),
    );
    let _ = drain(&mut l);
    assert_eq!(
        l.client_state(id),
        Some(sip_transaction::ClientState::Proceeding)
    );
    // The INVITE still gets its own final.
    let ok = ResponseBuilder::from_request(&inv, 486)
        .with_to_tag("b1")
        .build()
        .unwrap();
    l.handle_inbound(t0, inbound(ok));
    let outs = drain(&mut l);
    assert_eq!(responses_seen(&outs)[0].status(), Some(486));
    // A late reliable provisional after the final gets no PRACK.
    l.handle_inbound(t0, inbound(provisional(&inv, 183, "b1", Some(2), None)));
    assert!(pracks(&drain(&mut l)).is_empty());
}

// ---- UAS (RFC 3262 §3) ------------------------------------------------

/// An INVITE arriving with 100rel supported; returns its server transaction.
fn receive_invite(l: &mut TransactionLayer, t0: Instant, inv: &Message) -> TransactionId {
    l.handle_inbound(t0, inbound(inv.clone()));
    drain(l)
        .iter()
        .find_map(|o| match o {
            Output::Event(TransactionEvent::Request { id, .. }) => Some(*id),
            _ => None,
        })
        .unwrap()
}

fn uas_invite(branch: &str, supported: bool) -> Message {
    let m = invite(branch, Some("v=0\r\n"));
    if !supported {
        return m;
    }
    Message::parse(String::from_utf8_lossy(m.as_bytes()).replacen(
        "Max-Forwards: 70\r\n",
        "Max-Forwards: 70\r\nSupported: 100rel\r\n",
        1,
    ))
    .unwrap()
}

/// A provisional the TU marks reliable.
fn marked(inv: &Message, code: u16) -> Message {
    ResponseBuilder::from_request(inv, code)
        .with_to_tag("u1")
        .raw_header("Contact", "<sip:bob@127.0.0.1:5062>")
        .raw_header("Require", "100rel")
        .build()
        .unwrap()
}

fn prack_for(inv: &Message, rack: &str, cseq: u32) -> Message {
    Message::parse(format!(
        "PRACK sip:bob@127.0.0.1:5062 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKp{cseq}{}\r\n\
         Max-Forwards: 70\r\nFrom: <sip:alice@127.0.0.1>;tag=a1\r\nTo: <sip:bob@127.0.0.1>;tag=u1\r\n\
         Call-ID: {}\r\nCSeq: {cseq} PRACK\r\nRAck: {rack}\r\nContent-Length: 0\r\n\r\n",
        rack.replace(' ', ""),
        inv.call_id().unwrap()
    ))
    .unwrap()
}

fn responses_sent(outs: &[Output]) -> Vec<Message> {
    outs.iter()
        .filter_map(|o| match o {
            Output::Transmit(Transmit::Response { message, .. }) => Some(message.clone()),
            _ => None,
        })
        .collect()
}

/// The status codes of the responses the layer has sent since the last drain.
fn codes_sent(l: &mut TransactionLayer) -> Vec<u16> {
    responses_sent(&drain(l))
        .iter()
        .map(|m| m.status().unwrap())
        .collect()
}

#[test]
fn rfc3262_3_reliable_provisionals_one_at_a_time_with_consecutive_rseq() {
    let mut l = layer();
    let t0 = Instant::now();
    let inv = uas_invite("z9hG4bKu1", true);
    let id = receive_invite(&mut l, t0, &inv);
    l.send_response(t0, id, marked(&inv, 180)).unwrap();
    l.send_response(t0, id, marked(&inv, 183)).unwrap();
    // The 2xx waits for both PRACKs.
    l.send_response(
        t0,
        id,
        ResponseBuilder::from_request(&inv, 200)
            .with_to_tag("u1")
            .build()
            .unwrap(),
    )
    .unwrap();
    let outs = responses_sent(&drain(&mut l));
    assert_eq!(outs.len(), 1, "only the first reliable provisional goes");
    let r1 = outs[0].get::<RSeq>().unwrap().0;
    assert!((1..1 << 31).contains(&r1));
    assert_eq!(outs[0].status(), Some(180));
    // The PRACK for it: the TU sees it, and the 183 goes with RSeq + 1.
    l.handle_inbound(t0, inbound(prack_for(&inv, &format!("{r1} 10 INVITE"), 11)));
    let outs = drain(&mut l);
    assert!(outs.iter().any(|o| matches!(o, Output::Event(TransactionEvent::Request { request, .. }) if request.method() == Some(&Method::Prack))));
    let sent = responses_sent(&outs);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].status(), Some(183));
    assert_eq!(sent[0].get::<RSeq>().unwrap().0, r1 + 1);
    // Its PRACK releases the 2xx.
    l.handle_inbound(
        t0,
        inbound(prack_for(&inv, &format!("{} 10 INVITE", r1 + 1), 12)),
    );
    assert_eq!(codes_sent(&mut l), vec![200]);
}

#[test]
fn rfc3262_3_retransmitted_from_t1_doubling_then_500_after_64_t1() {
    let mut l = layer();
    let t0 = Instant::now();
    let inv = uas_invite("z9hG4bKu2", true);
    let id = receive_invite(&mut l, t0, &inv);
    l.send_response(t0, id, marked(&inv, 180)).unwrap();
    let _ = drain(&mut l);
    let mut times = Vec::new();
    let mut finals = Vec::new();
    for _ in 0..100 {
        let Some(at) = l.poll_timeout() else { break };
        if at > t0 + Duration::from_secs(40) {
            break;
        }
        l.handle_timeout(at);
        for m in responses_sent(&drain(&mut l)) {
            match m.status() {
                Some(180) => times.push((at - t0).as_millis() as u64),
                Some(c) => finals.push((c, (at - t0).as_millis() as u64, m)),
                None => {}
            }
        }
    }
    // T1 = 500 ms: 0.5, 1.5, 3.5, 7.5, 15.5 s, then the last step is cut
    // at 64*T1 = 32 s.
    assert_eq!(times, vec![500, 1500, 3500, 7500, 15500, 31500]);
    // The 500 (then only its own Timer G retransmissions).
    assert!(finals.iter().all(|f| f.0 == 500));
    assert_eq!(finals[0].0, 500);
    assert_eq!(finals[0].1, 32000);
    assert_eq!(finals[0].2.to_tag(), Some("u1"));
}

#[test]
fn rfc3262_3_prack_matching_nothing_481_bad_rack_400() {
    let mut l = layer();
    let t0 = Instant::now();
    let inv = uas_invite("z9hG4bKu3", true);
    let id = receive_invite(&mut l, t0, &inv);
    l.send_response(t0, id, marked(&inv, 180)).unwrap();
    let r1 = responses_sent(&drain(&mut l))[0].get::<RSeq>().unwrap().0;
    // Wrong RSeq: 481, not shown to the TU.
    l.handle_inbound(
        t0,
        inbound(prack_for(&inv, &format!("{} 10 INVITE", r1 + 5), 11)),
    );
    let outs = drain(&mut l);
    assert_eq!(responses_sent(&outs)[0].status(), Some(481));
    assert!(!outs
        .iter()
        .any(|o| matches!(o, Output::Event(TransactionEvent::Request { .. }))));
    // Malformed RAck: 400.
    l.handle_inbound(t0, inbound(prack_for(&inv, "x 10 INVITE", 12)));
    assert_eq!(responses_sent(&drain(&mut l))[0].status(), Some(400));
    // Wrong CSeq in RAck: 481.
    l.handle_inbound(t0, inbound(prack_for(&inv, &format!("{r1} 9 INVITE"), 13)));
    assert_eq!(responses_sent(&drain(&mut l))[0].status(), Some(481));
    // The right one goes to the TU, and stops the retransmissions.
    l.handle_inbound(t0, inbound(prack_for(&inv, &format!("{r1} 10 INVITE"), 14)));
    let outs = drain(&mut l);
    assert!(responses_sent(&outs).is_empty());
    assert!(outs
        .iter()
        .any(|o| matches!(o, Output::Event(TransactionEvent::Request { .. }))));
    l.handle_timeout(t0 + Duration::from_secs(5));
    assert!(responses_sent(&drain(&mut l))
        .iter()
        .all(|m| m.status() != Some(180)));
}

#[test]
fn rfc3262_3_no_100rel_in_the_invite_means_unreliable() {
    let mut l = layer();
    let t0 = Instant::now();
    let inv = uas_invite("z9hG4bKu4", false);
    let id = receive_invite(&mut l, t0, &inv);
    l.send_response(t0, id, marked(&inv, 180)).unwrap();
    let sent = responses_sent(&drain(&mut l));
    assert_eq!(sent.len(), 1);
    assert!(!sent[0].has(HeaderName::RSeq));
    assert_eq!(sent[0].values(HeaderName::Require).count(), 0);
    // Nothing is retransmitted.
    l.handle_timeout(t0 + Duration::from_secs(2));
    assert!(responses_sent(&drain(&mut l)).is_empty());
}

#[test]
fn rfc3262_3_non_2xx_final_goes_at_once_and_ends_retransmissions() {
    let mut l = layer();
    let t0 = Instant::now();
    let inv = uas_invite("z9hG4bKu5", true);
    let id = receive_invite(&mut l, t0, &inv);
    l.send_response(t0, id, marked(&inv, 180)).unwrap();
    l.send_response(t0, id, marked(&inv, 183)).unwrap();
    let _ = drain(&mut l);
    l.send_response(
        t0,
        id,
        ResponseBuilder::from_request(&inv, 486)
            .with_to_tag("u1")
            .build()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(codes_sent(&mut l), vec![486]);
    // Only the 486's own retransmissions (Timer G) follow, no 180/183.
    l.handle_timeout(t0 + Duration::from_millis(500));
    assert!(responses_sent(&drain(&mut l))
        .iter()
        .all(|m| m.status() == Some(486)));
}

#[test]
fn rfc6026_2xx_retransmitted_by_the_tu_stays_held_until_the_prack() {
    let mut l = layer();
    let t0 = Instant::now();
    let inv = uas_invite("z9hG4bKu6", true);
    let id = receive_invite(&mut l, t0, &inv);
    let with_answer = ResponseBuilder::from_request(&inv, 183)
        .with_to_tag("u1")
        .raw_header("Require", "100rel")
        .body(
            "application/sdp",
            Bytes::from_static(b"v=0\r\no=answer\r\n"),
        )
        .build()
        .unwrap();
    l.send_response(t0, id, with_answer).unwrap();
    let r1 = responses_sent(&drain(&mut l))[0].get::<RSeq>().unwrap().0;
    let ok = ResponseBuilder::from_request(&inv, 200)
        .with_to_tag("u1")
        .build()
        .unwrap();
    l.send_response(t0, id, ok.clone()).unwrap();
    // The TU retransmits its 2xx (§13.3.1.4) before the PRACK came.
    l.send_response(t0 + Duration::from_millis(500), id, ok.clone())
        .unwrap();
    let sent = responses_sent(&drain(&mut l));
    assert!(
        sent.iter().all(|m| m.status() != Some(200)),
        "2xx overtook the PRACK"
    );
    l.handle_inbound(t0, inbound(prack_for(&inv, &format!("{r1} 10 INVITE"), 11)));
    let outs = drain(&mut l);
    let sent = responses_sent(&outs);
    assert_eq!(sent.iter().filter(|m| m.status() == Some(200)).count(), 1);
    // The exchange (our 183's SDP, the INVITE's offer) is reported.
    assert!(outs.iter().any(|o| matches!(o, Output::Event(TransactionEvent::Extension { payload, .. }) if payload.downcast_ref::<SessionExchanged>().is_some())));
    // Later retransmissions go out (RFC 6026 Accepted).
    l.send_response(t0 + Duration::from_secs(1), id, ok)
        .unwrap();
    assert_eq!(responses_sent(&drain(&mut l)).len(), 1);
}

#[test]
fn rfc3262_4_an_invite_requiring_100rel_gets_every_provisional_reliably() {
    let mut l = layer();
    let t0 = Instant::now();
    let inv = invite_requiring_100rel("z9hG4bKu7");
    let id = receive_invite(&mut l, t0, &inv);
    // Not marked by the TU: reliable all the same.
    let plain = ResponseBuilder::from_request(&inv, 180)
        .with_to_tag("u1")
        .build()
        .unwrap();
    l.send_response(t0, id, plain).unwrap();
    let sent = responses_sent(&drain(&mut l));
    assert!(sent[0].has(HeaderName::RSeq));
    assert!(sent[0].values(HeaderName::Require).any(|v| v == b"100rel"));
    // A 100 Trying never is (§3).
    let inv2 = invite_requiring_100rel("z9hG4bKu8");
    let id2 = receive_invite(&mut l, t0, &inv2);
    let _ = drain(&mut l);
    l.send_response(
        t0,
        id2,
        ResponseBuilder::from_request(&inv2, 100).build().unwrap(),
    )
    .unwrap();
    let sent = responses_sent(&drain(&mut l));
    assert!(sent.iter().all(|m| !m.has(HeaderName::RSeq)));
}

#[test]
fn rfc3262_5_an_answer_in_a_reliable_provisional_is_reported_and_the_prack_is_empty() {
    let mut l = layer();
    let t0 = Instant::now();
    let (_, inv) = send_invite(
        &mut l,
        t0,
        invite("z9hG4bKo1", Some("v=0\r\no=offer\r\n")),
        vec![],
    );
    l.handle_inbound(
        t0,
        inbound(provisional(
            &inv,
            183,
            "b1",
            Some(1),
            Some("v=0\r\no=answer\r\n"),
        )),
    );
    let outs = drain(&mut l);
    assert!(pracks(&outs)[0].body_bytes().is_empty());
    let ex: Vec<SessionExchanged> = reports(&outs, None);
    assert_eq!(ex.len(), 1);
    assert_eq!(ex[0].local.as_deref(), Some(&b"v=0\r\no=offer\r\n"[..]));
    assert_eq!(ex[0].remote.as_deref(), Some(&b"v=0\r\no=answer\r\n"[..]));
}

#[test]
fn rfc3262_3_a_new_prack_for_an_acknowledged_provisional_gets_481() {
    let mut l = layer();
    let t0 = Instant::now();
    let inv = uas_invite("z9hG4bKu9", true);
    let id = receive_invite(&mut l, t0, &inv);
    l.send_response(t0, id, marked(&inv, 180)).unwrap();
    let r1 = responses_sent(&drain(&mut l))[0].get::<RSeq>().unwrap().0;
    let prack = prack_for(&inv, &format!("{r1} 10 INVITE"), 11);
    l.handle_inbound(t0, inbound(prack.clone()));
    let outs = drain(&mut l);
    let (pid, _) = outs
        .iter()
        .find_map(|o| match o {
            Output::Event(TransactionEvent::Request { id, request, .. }) => {
                Some((*id, request.clone()))
            }
            _ => None,
        })
        .unwrap();
    // The TU answers it; a retransmission (same branch) gets that answer again.
    l.send_response(
        t0,
        pid,
        ResponseBuilder::from_request(&prack, 200).build().unwrap(),
    )
    .unwrap();
    let _ = drain(&mut l);
    l.handle_inbound(t0, inbound(prack.clone()));
    assert_eq!(codes_sent(&mut l), vec![200]);
    // Another PRACK (new branch, new CSeq) for the same RSeq: 481.
    let again = Message::parse(
        String::from_utf8_lossy(prack_for(&inv, &format!("{r1} 10 INVITE"), 12).as_bytes())
            .replace("branch=z9hG4bKp12", "branch=z9hG4bKother"),
    )
    .unwrap();
    l.handle_inbound(t0, inbound(again));
    assert_eq!(codes_sent(&mut l), vec![481]);
}

#[test]
fn at_most_sixteen_forks_are_acknowledged() {
    let mut l = layer();
    let t0 = Instant::now();
    let (_, inv) = send_invite(&mut l, t0, invite("z9hG4bKf1", None), vec![]);
    for i in 0..20 {
        l.handle_inbound(
            t0,
            inbound(provisional(&inv, 180, &format!("fork{i}"), Some(1), None)),
        );
    }
    assert_eq!(pracks(&drain(&mut l)).len(), 16);
}
