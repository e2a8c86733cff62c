//! Calls between two services: INVITE with SDP, the automatic ACK, INFO,
//! BYE, a busy callee, the default answer.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use sip_message::headers::Transport;
use sip_message::{Message, Method};
use sip_tests::{eventually, service, transport_param};
use sip_uac::DefaultHandler;
use sip_uac::{default_answer, default_in_dialog_answer, Answer, Handler, RequestOptions, Service};

const SDP: &str = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n";

#[derive(Clone, Default)]
struct Callee(Arc<Mutex<Vec<Message>>>);

impl Handler for Callee {
    fn on_request(&self, r: &Message) -> Answer {
        self.0.lock().unwrap().push(r.clone());
        let user = r
            .request_uri()
            .and_then(Result::ok)
            .and_then(|u| u.as_sip().and_then(|s| s.user().map(str::to_owned)));
        match (r.method(), user.as_deref()) {
            (Some(Method::Invite), Some("busy")) => Answer::code(486),
            (Some(Method::Invite), _) => Answer::code(200).body("application/sdp", SDP),
            _ => default_answer(r),
        }
    }
    fn on_in_dialog_request(&self, r: &Message) -> Answer {
        self.0.lock().unwrap().push(r.clone());
        Answer::code(200)
    }
}

async fn services(kind: Transport) -> (Service, Service, Callee, std::net::SocketAddr) {
    let any = "127.0.0.1:0".parse().unwrap();
    let callee = Callee::default();
    let (b, a) = match kind {
        Transport::Tcp => (
            Service::builder("bob").udp(any).tcp(any),
            Service::builder("alice").udp(any).tcp(any),
        ),
        _ => (
            Service::builder("bob").udp(any),
            Service::builder("alice").udp(any),
        ),
    };
    let bob = b.handler(callee.clone()).start().await.unwrap();
    let alice = a.start().await.unwrap();
    let addr = bob.local_addr(kind).unwrap();
    (alice, bob, callee, addr)
}

#[tokio::test]
async fn invite_ack_info_bye_over_udp_and_tcp() {
    for kind in [Transport::Udp, Transport::Tcp] {
        let (alice, bob, callee, addr) = services(kind).await;
        let t = transport_param(kind);
        let uri = format!("sip:bob@{addr}{t}");
        let r = alice
            .invite(&uri, RequestOptions::new().body("application/sdp", SDP))
            .await
            .unwrap();
        assert_eq!(r.code(), 200, "{kind}");
        assert_eq!(r.body(), SDP.as_bytes());
        let dialog = r.dialog().cloned().expect("a 2xx to INVITE gives a dialog");
        assert_eq!(alice.dialog_count(), 1);
        // The callee made its dialog; our automatic ACK reaches it.
        eventually("callee dialog", || bob.dialog_count() == 1).await;
        let invite = callee.0.lock().unwrap()[0].clone();
        assert!(
            invite.has(sip_message::HeaderName::Contact),
            "INVITE always has a Contact"
        );
        // INFO and BYE inside the dialog.
        let info = alice
            .info(
                &dialog,
                RequestOptions::new()
                    .body("application/dtmf-relay", "Signal=5\r\nDuration=160\r\n"),
            )
            .await
            .unwrap();
        assert_eq!(info.code(), 200);
        let bye = alice.bye(&dialog, RequestOptions::new()).await.unwrap();
        assert_eq!(bye.code(), 200);
        assert_eq!(alice.dialog_count(), 0);
        eventually("callee dialog gone", || bob.dialog_count() == 0).await;
        let seen: Vec<Method> = callee
            .0
            .lock()
            .unwrap()
            .iter()
            .filter_map(|m| m.method().cloned())
            .collect();
        assert_eq!(
            seen,
            vec![Method::Invite, Method::Info, Method::Bye],
            "{kind}"
        );
        // The dialog is gone: a second BYE is refused before sending.
        assert!(matches!(
            alice.bye(&dialog, RequestOptions::new()).await,
            Err(sip_uac::Error::UnknownDialog)
        ));
        alice.stop().await;
        bob.stop().await;
    }
}

#[tokio::test]
async fn a_busy_callee_gives_486_and_no_dialog_and_the_default_is_480() {
    let (alice, bob, _callee, addr) = services(Transport::Udp).await;
    let r = alice
        .invite(&format!("sip:busy@{addr}"), RequestOptions::new())
        .await
        .unwrap();
    assert_eq!(r.code(), 486);
    assert!(r.dialog().is_none());
    assert_eq!(alice.dialog_count(), 0);
    // A service with the default handler has nobody to ring.
    let carol = Service::builder("carol")
        .udp("127.0.0.1:0".parse().unwrap())
        .start()
        .await
        .unwrap();
    let c = carol.local_addr(Transport::Udp).unwrap();
    assert_eq!(
        alice
            .invite(&format!("sip:carol@{c}"), RequestOptions::new())
            .await
            .unwrap()
            .code(),
        480
    );
    alice.stop().await;
    bob.stop().await;
    carol.stop().await;
}

#[tokio::test(start_paused = true)]
async fn rfc3261_13_3_1_4_without_an_ack_the_callee_ends_the_call_with_bye_after_64_t1() {
    let (alice, bob, callee, addr) = services(Transport::Udp).await;
    let r = alice
        .invite(
            &format!("sip:bob@{addr}"),
            RequestOptions::new().auto_ack(false),
        )
        .await
        .unwrap();
    assert_eq!(r.code(), 200);
    assert_eq!(alice.dialog_count(), 1);
    let start = tokio::time::Instant::now();
    // The callee retransmits its 2xx, then gives up and sends BYE, which
    // ends the caller's dialog.
    for _ in 0..200 {
        if alice.dialog_count() == 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
    assert_eq!(alice.dialog_count(), 0, "the BYE arrived");
    let waited = start.elapsed();
    assert!(
        waited >= std::time::Duration::from_secs(31),
        "not before 64*T1: {waited:?}"
    );
    let invites = callee
        .0
        .lock()
        .unwrap()
        .iter()
        .filter(|m| m.method() == Some(&Method::Invite))
        .count();
    assert_eq!(invites, 1);
    // The callee forgets the call it ended (no dialog kept after its BYE).
    assert_eq!(bob.dialog_count(), 0, "the callee keeps nothing");
    alice.stop().await;
    bob.stop().await;
}

/// Rings for user "slow" (a provisional only), answers others as Callee.
#[derive(Clone, Default)]
struct SlowCallee;

impl Handler for SlowCallee {
    fn on_request(&self, r: &Message) -> Answer {
        match r.method() {
            Some(Method::Invite) => Answer::code(180),
            _ => default_answer(r),
        }
    }
}

#[tokio::test]
async fn async_invite_cancelled_while_ringing_gets_487() {
    for kind in [Transport::Udp, Transport::Tcp] {
        let bob = service("bob", SlowCallee).await;
        let alice = service("alice", DefaultHandler).await;
        let addr = bob.local_addr(kind).unwrap();
        let t = transport_param(kind);
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let mut pending = alice
            .invite_async(
                &format!("sip:slow@{addr}{t}"),
                RequestOptions::new().on_provisional(move |r| {
                    let _ = tx.send(r.code());
                }),
            )
            .await
            .unwrap();
        // The callback reports the 180 while the INVITE is still pending.
        let first = tokio::time::timeout(std::time::Duration::from_secs(5), rx.recv()).await;
        assert_eq!(first.ok().flatten(), Some(180), "{kind}");
        alice.cancel(&pending).await.unwrap();
        let reply = tokio::time::timeout(std::time::Duration::from_secs(5), pending.reply())
            .await
            .unwrap();
        assert_eq!(reply.code(), 487, "{kind}");
        assert!(reply.dialog().is_none());
        // An async call's callback gets the final reply too, last.
        assert_eq!(rx.recv().await, Some(487), "{kind}");
        alice.stop().await;
        bob.stop().await;
    }
}

/// nksip-uac.md §7.2: a CANCEL that comes after the final response does
/// nothing (NkSIP crashed the call there); the reply says what happened.
#[tokio::test]
async fn a_cancel_after_the_final_response_is_ignored() {
    let (alice, bob, _callee, addr) = services(Transport::Udp).await;
    let mut pending = alice
        .invite_async(&format!("sip:bob@{addr}"), RequestOptions::new())
        .await
        .unwrap();
    eventually("the call is up", || alice.dialog_count() == 1).await;
    alice
        .cancel(&pending)
        .await
        .expect("too late is not an error");
    alice.cancel(&pending).await.expect("nor is twice");
    let reply = tokio::time::timeout(Duration::from_secs(5), pending.reply())
        .await
        .unwrap();
    assert_eq!(reply.code(), 200);
    let dialog = reply.dialog().unwrap().clone();
    sip_tests::hang_up(&alice, &dialog).await;
    alice.stop().await;
    bob.stop().await;
}

/// RFC 3261 §13.3.1: an INVITE that expires while ringing gets 487 from the
/// callee, which also keeps the callee from holding it forever.
#[tokio::test]
async fn rfc3261_13_3_1_a_ringing_invite_that_expires_gets_487() {
    let bob = service("bob", SlowCallee).await;
    let alice = service("alice", DefaultHandler).await;
    let addr = bob.local_addr(Transport::Udp).unwrap();
    let started = std::time::Instant::now();
    // Both ends act on the Expires: the caller CANCELs when it runs out
    // (NkSIP's `expires`), and the callee ends the ringing INVITE with 487
    // itself (§13.3.1); the reply is 487 either way.
    let mut pending = alice
        .invite_async(
            &format!("sip:slow@{addr}"),
            RequestOptions::new().expires(1),
        )
        .await
        .unwrap();
    let reply = pending.reply().await;
    assert_eq!(reply.code(), 487);
    assert!(reply.dialog().is_none());
    // Not a timing assertion on speed: only that the expiry, not Timer B
    // (32 s), ended it.
    assert!(started.elapsed() < std::time::Duration::from_secs(20));
    alice.stop().await;
    bob.stop().await;
}

/// Answers INVITEs 200 and keeps every in-dialog default.
struct Answering;

impl Handler for Answering {
    fn on_request(&self, r: &Message) -> Answer {
        match r.method() {
            Some(Method::Invite) => Answer::code(200).body("application/sdp", SDP),
            _ => default_answer(r),
        }
    }
}

#[tokio::test]
async fn default_in_dialog_answers_are_200_for_info_and_bye() {
    let bob = service("bob", Answering).await;
    let alice = service("alice", DefaultHandler).await;
    let addr = bob.local_addr(Transport::Udp).unwrap();
    let reply = alice
        .invite(&format!("sip:bob@{addr}"), RequestOptions::new())
        .await
        .unwrap();
    assert_eq!(reply.code(), 200);
    let dialog = reply.dialog().unwrap().clone();
    let info = alice.info(&dialog, RequestOptions::new()).await.unwrap();
    assert_eq!(info.code(), 200);
    let bye = alice.bye(&dialog, RequestOptions::new()).await.unwrap();
    assert_eq!(bye.code(), 200);
    // The dialog is gone after the BYE: a second BYE is refused locally or
    // answered 481 by the callee, never 200.
    let again = alice.bye(&dialog, RequestOptions::new()).await;
    assert!(
        again.map_or(true, |r| r.code() == 481),
        "a second BYE must not succeed"
    );
    alice.stop().await;
    bob.stop().await;
}

/// Records the ACKs and UPDATEs the callee gets.
#[derive(Clone, Default)]
struct LateOffer(Arc<Mutex<Vec<Message>>>);

impl Handler for LateOffer {
    fn on_request(&self, r: &Message) -> Answer {
        match r.method() {
            // An INVITE without SDP: the offer goes in the 2xx (RFC 3264).
            Some(Method::Invite) => Answer::code(200).body("application/sdp", SDP),
            _ => default_answer(r),
        }
    }
    fn on_in_dialog_request(&self, r: &Message) -> Answer {
        self.0.lock().unwrap().push(r.clone());
        default_in_dialog_answer(r)
    }
    fn on_ack(&self, ack: &Message) {
        self.0.lock().unwrap().push(ack.clone());
    }
}

/// RFC 3261 §13.2.2.4 with `auto_ack(false)`: the caller sends the ACK
/// itself, carrying the SDP answer to the offer in the 2xx; then UPDATE
/// (RFC 3311) works in the dialog.
#[tokio::test]
async fn manual_ack_carries_the_answer_to_a_late_offer_and_update_works() {
    for kind in [Transport::Udp, Transport::Tcp] {
        let seen = LateOffer::default();
        let bob = service("bob", seen.clone()).await;
        let alice = service("alice", DefaultHandler).await;
        let addr = bob.local_addr(kind).unwrap();
        let t = transport_param(kind);
        let reply = alice
            .invite(
                &format!("sip:bob@{addr}{t}"),
                RequestOptions::new().auto_ack(false),
            )
            .await
            .unwrap();
        assert_eq!(reply.code(), 200);
        let d = reply.dialog().unwrap().clone();
        let answer = "v=0\r\no=alice 2 2 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 5004 RTP/AVP 0\r\n";
        alice
            .ack(&d, RequestOptions::new().body("application/sdp", answer))
            .await
            .unwrap();
        let up = alice.update(&d, RequestOptions::new()).await.unwrap();
        assert_eq!(up.code(), 200, "{kind}");
        let got = seen.0.lock().unwrap().clone();
        let ack = got
            .iter()
            .find(|m| m.method() == Some(&Method::Ack))
            .expect("the callee got the ACK");
        assert_eq!(ack.body_bytes(), answer.as_bytes());
        assert!(got.iter().any(|m| m.method() == Some(&Method::Update)));
        // Unknown dialogs are errors, not sends.
        let bye = alice.bye(&d, RequestOptions::new()).await.unwrap();
        assert_eq!(bye.code(), 200);
        assert!(alice.ack(&d, RequestOptions::new()).await.is_err());
        alice.stop().await;
        bob.stop().await;
    }
}

/// Dialog look-up by handle (NkSIP's dialog `get_meta`): the caller's view
/// of a confirmed call, and nothing once it ended.
#[tokio::test]
async fn dialog_lookup_shows_role_state_target_and_ends_with_the_call() {
    let bob = service("bob", Answering).await;
    let alice = service("alice", DefaultHandler).await;
    let addr = bob.local_addr(Transport::Udp).unwrap();
    let r = alice
        .invite(&format!("sip:bob@{addr}"), RequestOptions::new())
        .await
        .unwrap();
    let id = r.dialog().unwrap().clone();
    let info = alice.dialog(&id).expect("a confirmed dialog");
    assert_eq!(info.role, sip_uac::Role::Uac);
    assert_eq!(info.state, sip_uac::DialogState::Confirmed);
    assert_eq!(info.invite_state, Some(sip_uac::InviteState::Confirmed));
    // §12.1.2: the remote target is bob's Contact.
    assert!(
        info.remote_target.contains(&addr.to_string()),
        "{}",
        info.remote_target
    );
    assert!(info.route_set.is_empty());
    assert_eq!(Some(info.local_seq), r.cseq_num());
    let seq = info.local_seq;
    alice.info(&id, RequestOptions::new()).await.unwrap();
    assert_eq!(alice.dialog(&id).unwrap().local_seq, seq + 1);
    alice.bye(&id, RequestOptions::new()).await.unwrap();
    assert!(alice.dialog(&id).is_none());
    alice.stop().await;
    bob.stop().await;
}

/// Rings, and leaves the answer to later.
#[derive(Clone, Default)]
struct Later(Arc<Mutex<Vec<sip_uac::RequestId>>>);

impl Handler for Later {
    fn on_request(&self, r: &Message) -> Answer {
        if let Some(id) = sip_uac::RequestId::of(r) {
            self.0.lock().unwrap().push(id);
        }
        Answer::code(180)
    }
}

#[tokio::test]
async fn a_ringing_invite_is_answered_later_with_the_same_to_tag() {
    for kind in [Transport::Udp, Transport::Tcp] {
        let any = "127.0.0.1:0".parse().unwrap();
        let later = Later::default();
        let bob = Service::builder("bob")
            .udp(any)
            .tcp(any)
            .handler(later.clone())
            .start()
            .await
            .unwrap();
        let alice = sip_tests::service("alice", DefaultHandler).await;
        let uri = format!(
            "sip:bob@{}{}",
            bob.local_addr(kind).unwrap(),
            transport_param(kind)
        );
        let tags = Arc::new(Mutex::new(Vec::new()));
        let t2 = tags.clone();
        let call = {
            let alice = alice.clone();
            tokio::spawn(async move {
                alice
                    .invite(
                        &uri,
                        RequestOptions::new().on_provisional(move |r| {
                            t2.lock()
                                .unwrap()
                                .push((r.code(), r.to_tag().map(str::to_owned)))
                        }),
                    )
                    .await
            })
        };
        eventually("the INVITE rings", || !tags.lock().unwrap().is_empty()).await;
        let id = later.0.lock().unwrap()[0].clone();
        // Still ringing: another provisional, then the answer.
        bob.answer(&id, Answer::code(183)).await.unwrap();
        bob.answer(&id, Answer::code(200).body("application/sdp", SDP))
            .await
            .unwrap();
        let r = call.await.unwrap().unwrap();
        assert_eq!(r.code(), 200, "{kind}");
        // §12.1.1: one To tag from the first provisional to the 2xx.
        let seen = tags.lock().unwrap().clone();
        assert_eq!(seen.iter().map(|s| s.0).collect::<Vec<_>>(), vec![180, 183]);
        assert!(seen.iter().all(|s| s.1.as_deref() == r.to_tag()));
        // Answered: no second answer.
        assert!(matches!(
            bob.answer(&id, Answer::code(486)).await,
            Err(sip_uac::Error::UnknownRequest)
        ));
        let d = r.dialog().cloned().unwrap();
        eventually("callee dialog confirmed", || {
            bob.dialog(&sip_uac::DialogId::new(
                d.call_id(),
                d.remote_tag(),
                d.local_tag(),
            ))
            .is_some_and(|i| i.state == sip_uac::DialogState::Confirmed)
        })
        .await;
        assert_eq!(
            alice.bye(&d, RequestOptions::new()).await.unwrap().code(),
            200
        );
        alice.stop().await;
        bob.stop().await;
    }
}

/// Answers every INVITE, re-INVITEs included, with 200.
struct AnswersAll;

impl Handler for AnswersAll {
    fn on_request(&self, _r: &Message) -> Answer {
        Answer::code(200).body("application/sdp", SDP)
    }
    fn on_in_dialog_request(&self, r: &Message) -> Answer {
        match r.method() {
            Some(Method::Invite) => Answer::code(200).body("application/sdp", SDP),
            _ => default_in_dialog_answer(r),
        }
    }
}

/// RFC 3261 §14.2 and §13.3.1.4: a 2xx to a re-INVITE carries Contact and
/// is retransmitted until its ACK, like the first one.
#[tokio::test]
async fn rfc3261_14_2_a_2xx_to_a_reinvite_is_retransmitted_until_acked() {
    let any = "127.0.0.1:0".parse().unwrap();
    let bob = Service::builder("bob")
        .udp(any)
        .handler(AnswersAll)
        .start()
        .await
        .unwrap();
    let bob_addr = bob.local_addr(Transport::Udp).unwrap();
    let peer = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let me = peer.local_addr().unwrap();
    let mut buf = vec![0u8; 65535];
    let request = |method: &str, cseq: u32, branch: &str, to_tag: &str| {
        let to = if to_tag.is_empty() {
            format!("<sip:bob@{bob_addr}>")
        } else {
            format!("<sip:bob@{bob_addr}>;tag={to_tag}")
        };
        format!(
            "{method} sip:bob@{bob_addr} SIP/2.0\r\nVia: SIP/2.0/UDP {me};branch={branch}\r\nMax-Forwards: 70\r\n\
             From: <sip:peer@{me}>;tag=p1\r\nTo: {to}\r\nCall-ID: reinv-1\r\nCSeq: {cseq} {method}\r\n\
             Contact: <sip:peer@{me}>\r\nContent-Length: 0\r\n\r\n"
        )
    };
    // Receives until a 200 for `method` arrives (bounded).
    async fn ok_for(peer: &tokio::net::UdpSocket, buf: &mut [u8], cseq: u32) -> Option<Message> {
        for _ in 0..20 {
            let (n, _) = tokio::time::timeout(Duration::from_secs(2), peer.recv_from(buf))
                .await
                .ok()?
                .ok()?;
            let m = Message::parse(bytes::Bytes::copy_from_slice(&buf[..n])).ok()?;
            if m.status() == Some(200)
                && m.cseq()
                    .is_some_and(|(n, x)| n == cseq && x.as_str() == "INVITE")
            {
                return Some(m);
            }
        }
        None
    }
    peer.send_to(request("INVITE", 1, "z9hG4bKri1", "").as_bytes(), bob_addr)
        .await
        .unwrap();
    let ok = ok_for(&peer, &mut buf, 1).await.expect("200 to the INVITE");
    let tag = ok.to_tag().unwrap().to_owned();
    peer.send_to(request("ACK", 1, "z9hG4bKri2", &tag).as_bytes(), bob_addr)
        .await
        .unwrap();
    // The re-INVITE, left without ACK for a while.
    peer.send_to(
        request("INVITE", 2, "z9hG4bKri3", &tag).as_bytes(),
        bob_addr,
    )
    .await
    .unwrap();
    let first = ok_for(&peer, &mut buf, 2)
        .await
        .expect("200 to the re-INVITE");
    assert!(
        first.has(sip_message::HeaderName::Contact),
        "target refresh"
    );
    ok_for(&peer, &mut buf, 2)
        .await
        .expect("a retransmitted 2xx");
    peer.send_to(request("ACK", 2, "z9hG4bKri4", &tag).as_bytes(), bob_addr)
        .await
        .unwrap();
    // Once ACKed, the retransmissions stop (within T1 after the last one).
    tokio::time::sleep(Duration::from_millis(600)).await;
    let mut late = 0;
    while let Ok(Ok((n, _))) =
        tokio::time::timeout(Duration::from_millis(1200), peer.recv_from(&mut buf)).await
    {
        if buf[..n].starts_with(b"SIP/2.0 200") {
            late += 1;
        }
        if late > 3 {
            break;
        }
    }
    assert_eq!(late, 0, "2xx still retransmitted after the ACK");
    bob.stop().await;
}

/// Answers calls, and 481 to INFO as if it had lost the dialog.
struct Forgetful;

impl Handler for Forgetful {
    fn on_request(&self, _r: &Message) -> Answer {
        Answer::code(200).body("application/sdp", SDP)
    }
    fn on_in_dialog_request(&self, r: &Message) -> Answer {
        match r.method() {
            Some(Method::Info) => Answer::code(481),
            _ => default_in_dialog_answer(r),
        }
    }
}

/// RFC 5057 §5.1 (and RFC 3261 §12.2.1.2): a 481 to a request in the
/// dialog ends its usage, here the only one, so the dialog is gone.
#[tokio::test]
async fn rfc5057_a_481_to_info_ends_the_call() {
    let any = "127.0.0.1:0".parse().unwrap();
    let bob = Service::builder("bob")
        .udp(any)
        .handler(Forgetful)
        .start()
        .await
        .unwrap();
    let alice = sip_tests::service("alice", DefaultHandler).await;
    let uri = format!("sip:bob@{}", bob.local_addr(Transport::Udp).unwrap());
    let r = alice.invite(&uri, RequestOptions::new()).await.unwrap();
    let d = r.dialog().cloned().unwrap();
    assert_eq!(alice.dialog_count(), 1);
    let info = alice.info(&d, RequestOptions::new()).await.unwrap();
    assert_eq!(info.code(), 481);
    assert_eq!(alice.dialog_count(), 0);
    assert!(alice.dialog(&d).is_none());
    alice.stop().await;
    bob.stop().await;
}

/// RFC 3261 §8.1.1.8: the Contact names the listener of the transport in
/// use. Between two TCP-only services, each side's Contact says
/// `;transport=tcp`, so the in-dialog BYE goes over TCP (a plain
/// `sip:` Contact would send it over UDP, where neither listens).
#[tokio::test]
async fn tcp_only_services_put_their_tcp_listener_in_contact_and_the_bye_arrives() {
    let any = "127.0.0.1:0".parse().unwrap();
    let callee = Callee::default();
    let bob = Service::builder("bob")
        .tcp(any)
        .handler(callee.clone())
        .start()
        .await
        .unwrap();
    let alice = Service::builder("alice").tcp(any).start().await.unwrap();
    let addr = bob.local_addr(Transport::Tcp).unwrap();
    let r = alice
        .invite(
            &format!("sip:bob@{addr};transport=tcp"),
            RequestOptions::new(),
        )
        .await
        .unwrap();
    assert_eq!(r.code(), 200);
    let invite = callee.0.lock().unwrap()[0].clone();
    let contact = String::from_utf8_lossy(
        invite
            .values(sip_message::HeaderName::Contact)
            .next()
            .unwrap(),
    )
    .into_owned();
    let alice_tcp = alice.local_addr(Transport::Tcp).unwrap();
    assert_eq!(contact, format!("<sip:alice@{alice_tcp};transport=tcp>"));
    let id = r.dialog().unwrap().clone();
    let info = alice.dialog(&id).unwrap();
    assert_eq!(info.local_target.as_deref(), Some(contact.as_str()));
    assert!(
        info.remote_target.contains("transport=tcp"),
        "bob's 2xx Contact: {}",
        info.remote_target
    );
    let bye = alice.bye(&id, RequestOptions::new()).await.unwrap();
    assert_eq!(bye.code(), 200);
    eventually("bob's dialog ends", || bob.dialog_count() == 0).await;
    alice.stop().await;
    bob.stop().await;
}

/// Answers re-INVITEs with 200 and an SDP answer, from a new Contact
/// (a target refresh), and records what comes in the dialog.
#[derive(Clone, Default)]
struct Holds(Arc<Mutex<Vec<Message>>>);

const HELD: &str = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\na=sendonly\r\n";

impl Handler for Holds {
    fn on_request(&self, r: &Message) -> Answer {
        match r.method() {
            Some(Method::Invite) => Answer::code(200).body("application/sdp", SDP),
            _ => default_answer(r),
        }
    }
    fn on_in_dialog_request(&self, r: &Message) -> Answer {
        self.0.lock().unwrap().push(r.clone());
        match r.method() {
            // The same listener under another user: a new remote target
            // that still reaches bob.
            Some(Method::Invite) => {
                let moved =
                    r.request_uri_str()
                        .unwrap_or("")
                        .replacen("sip:bob@", "sip:bob-moved@", 1);
                Answer::code(200)
                    .header("Contact", &format!("<{moved}>"))
                    .body("application/sdp", SDP)
            }
            _ => default_in_dialog_answer(r),
        }
    }
    fn on_ack(&self, ack: &Message) {
        self.0.lock().unwrap().push(ack.clone());
    }
}

/// RFC 3261 §14.1: a re-INVITE in a confirmed call (here a hold: a new
/// offer with a=sendonly). It takes the dialog's next CSeq and carries our
/// Contact; its 2xx is ACKed with the re-INVITE's CSeq (§13.2.2.4) and
/// refreshes the remote target (§12.2.1.2); the session holds the new
/// offer and answer. A second re-INVITE while one is pending is refused.
#[tokio::test]
async fn rfc3261_14_1_a_reinvite_puts_the_call_on_hold() {
    let seen = Holds::default();
    let bob = service("bob", seen.clone()).await;
    let alice = service("alice", DefaultHandler).await;
    let addr = bob.local_addr(Transport::Udp).unwrap();
    let r = alice
        .invite(
            &format!("sip:bob@{addr}"),
            RequestOptions::new().body("application/sdp", SDP),
        )
        .await
        .unwrap();
    let id = r.dialog().unwrap().clone();
    let hold = alice
        .reinvite(&id, RequestOptions::new().body("application/sdp", HELD))
        .await
        .unwrap();
    assert_eq!(hold.code(), 200);
    assert_eq!(hold.dialog(), Some(&id));
    let reinvite = seen
        .0
        .lock()
        .unwrap()
        .iter()
        .find(|m| m.method() == Some(&Method::Invite))
        .cloned()
        .expect("the re-INVITE reached bob");
    let (seq, _) = reinvite.cseq().unwrap();
    assert!(seq > r.cseq_num().unwrap(), "the dialog's next CSeq");
    // The ACK names the re-INVITE's CSeq (§13.2.2.4).
    eventually("the ACK of the re-INVITE", || {
        seen.0
            .lock()
            .unwrap()
            .iter()
            .any(|m| m.method() == Some(&Method::Ack) && m.cseq().is_some_and(|(n, _)| n == seq))
    })
    .await;
    assert!(reinvite.has(sip_message::HeaderName::Contact));
    assert_eq!(reinvite.body_bytes(), HELD.as_bytes());
    let info = alice.dialog(&id).unwrap();
    assert!(
        info.remote_target.contains("bob-moved"),
        "{}",
        info.remote_target
    );
    assert_eq!(info.local_sdp.as_deref(), Some(HELD.as_bytes()));
    // A re-INVITE whose caller gave up (its future dropped) leaves the
    // call free for the next one.
    let _ = tokio::time::timeout(
        Duration::from_nanos(1),
        alice.reinvite(&id, RequestOptions::new().body("application/sdp", SDP)),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(
        alice
            .reinvite(&id, RequestOptions::new().body("application/sdp", SDP))
            .await
            .unwrap()
            .code(),
        200
    );
    // §14.1: not while another re-INVITE of ours is in progress.
    let (first, second) = tokio::join!(
        alice.reinvite(&id, RequestOptions::new().body("application/sdp", SDP)),
        alice.reinvite(&id, RequestOptions::new().body("application/sdp", SDP)),
    );
    assert!(first.is_ok());
    assert!(matches!(second, Err(sip_uac::Error::InvalidOption(_))));
    alice.stop().await;
    bob.stop().await;
}

/// NkSIP's `request(Handle, Opts)`: any request in a dialog, here MESSAGE
/// and OPTIONS in a call (§12.2.1.1: the dialog's Call-ID, tags and next
/// CSeq); the methods with functions of their own are refused.
#[tokio::test]
async fn any_request_in_a_dialog_with_request_in_dialog() {
    let (alice, bob, callee, addr) = services(Transport::Udp).await;
    let r = alice
        .invite(&format!("sip:bob@{addr}"), RequestOptions::new())
        .await
        .unwrap();
    let id = r.dialog().unwrap().clone();
    let m = alice
        .request_in_dialog(
            Method::Message,
            &id,
            RequestOptions::new().body("text/plain", "hi"),
        )
        .await
        .unwrap();
    assert_eq!(m.code(), 200);
    let o = alice
        .request_in_dialog(Method::Options, &id, RequestOptions::new())
        .await
        .unwrap();
    assert_eq!(o.code(), 200);
    let got = callee.0.lock().unwrap().clone();
    let message = got
        .iter()
        .find(|m| m.method() == Some(&Method::Message))
        .unwrap();
    let options = got
        .iter()
        .find(|m| m.method() == Some(&Method::Options))
        .unwrap();
    assert_eq!(message.call_id(), r.call_id());
    assert_eq!(message.to_tag(), r.to_tag());
    assert_eq!(message.body_bytes(), b"hi");
    assert!(options.cseq().unwrap().0 > message.cseq().unwrap().0);
    assert!(matches!(
        alice
            .request_in_dialog(Method::Bye, &id, RequestOptions::new())
            .await,
        Err(sip_uac::Error::InvalidOption(_))
    ));
    assert_eq!(
        alice.bye(&id, RequestOptions::new()).await.unwrap().code(),
        200
    );
    alice.stop().await;
    bob.stop().await;
}

/// RFC 3326: a CANCEL may say why (NkSIP's `reason`), e.g. a call answered
/// elsewhere; the raw callee sees the Reason and answers 487.
#[tokio::test]
async fn rfc3326_a_cancel_carries_its_reason() {
    let peer = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let me = peer.local_addr().unwrap();
    let alice = service("alice", DefaultHandler).await;
    let mut pending = alice
        .invite_async(&format!("sip:ringer@{me}"), RequestOptions::new())
        .await
        .unwrap();
    async fn next(peer: &tokio::net::UdpSocket) -> (String, std::net::SocketAddr) {
        let mut buf = vec![0u8; 65536];
        let (n, from) = tokio::time::timeout(Duration::from_secs(5), peer.recv_from(&mut buf))
            .await
            .expect("a request")
            .unwrap();
        (String::from_utf8_lossy(&buf[..n]).into_owned(), from)
    }
    let answer = |req: &str, code: &str| {
        let h = |name: &str| sip_tests::header_line(req, name).to_owned();
        format!(
            "SIP/2.0 {code}\r\n{}\r\n{}\r\n{};tag=r1\r\n{}\r\n{}\r\nContent-Length: 0\r\n\r\n",
            h("Via"),
            h("From"),
            h("To"),
            h("Call-ID"),
            h("CSeq")
        )
    };
    let (invite, from) = next(&peer).await;
    assert!(invite.starts_with("INVITE "));
    peer.send_to(answer(&invite, "180 Ringing").as_bytes(), from)
        .await
        .unwrap();
    // Wait for the 180 to be known before cancelling (no held CANCEL).
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(matches!(
        alice
            .cancel_with_reason(&pending, "SIP;cause=200\r\nX: injected")
            .await,
        Err(sip_uac::Error::InvalidOption(_))
    ));
    let reason = "SIP;cause=200;text=\"Call completed elsewhere\"";
    alice.cancel_with_reason(&pending, reason).await.unwrap();
    let (cancel, from) = next(&peer).await;
    assert!(cancel.starts_with("CANCEL "), "{cancel}");
    assert_eq!(
        sip_tests::header_line(&cancel, "Reason"),
        format!("Reason: {reason}")
    );
    peer.send_to(answer(&cancel, "200 OK").as_bytes(), from)
        .await
        .unwrap();
    peer.send_to(answer(&invite, "487 Request Terminated").as_bytes(), from)
        .await
        .unwrap();
    let reply = tokio::time::timeout(Duration::from_secs(5), pending.reply())
        .await
        .unwrap();
    assert_eq!(reply.code(), 487);
    alice.stop().await;
}

/// The async handle is borrowed while waiting: a caller waits with a
/// deadline, CANCELs the same INVITE and then gets its 487; asking again
/// gives the same reply.
#[tokio::test]
async fn an_async_invite_is_awaited_with_a_deadline_then_cancelled() {
    let bob = service("bob", SlowCallee).await;
    let alice = service("alice", DefaultHandler).await;
    let addr = bob.local_addr(Transport::Udp).unwrap();
    let mut call = alice
        .invite_async(&format!("sip:slow@{addr}"), RequestOptions::new())
        .await
        .unwrap();
    let reply = tokio::select! {
        r = call.reply() => r,
        _ = tokio::time::sleep(Duration::from_millis(300)) => {
            alice.cancel(&call).await.unwrap();
            tokio::time::timeout(Duration::from_secs(5), call.reply()).await.unwrap()
        }
    };
    assert_eq!(reply.code(), 487);
    assert_eq!(call.reply().await.code(), 487, "the same reply again");
    alice.stop().await;
    bob.stop().await;
}
