//! The caller's early dialogs (RFC 3261 §12.1.2, §13.2.2.4): a provisional
//! response with a To tag to our INVITE makes an early dialog, which the
//! provisional's reply names; a request can be sent in it (UPDATE, RFC
//! 3311 §5.1; INFO; the caller's BYE, §15); the 2xx confirms it, and a
//! non-2xx final, a CANCEL or a timeout ends it. Between two services on
//! loopback, over UDP and TCP.

use std::sync::{Arc, Mutex};

use sip_message::headers::Transport;
use sip_message::{Message, Method};
use sip_tests::{eventually, hang_up, service, transport_param};
use sip_uac::{
    default_in_dialog_answer, Answer, DefaultHandler, DialogId, DialogState, Handler, InviteState,
    Reply, RequestId, RequestOptions, Service,
};

const SDP: &str = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n";
const SDP2: &str = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 4002 RTP/AVP 0\r\n";

/// Rings every INVITE and leaves the answer to the test; answers an UPDATE
/// with an offer with an SDP answer (RFC 3311 §5.2), and records the
/// method and CSeq of every request it gets in a dialog.
#[derive(Clone, Default)]
struct Callee {
    ringing: Arc<Mutex<Vec<RequestId>>>,
    in_dialog: Arc<Mutex<Vec<(Method, u32)>>>,
}

impl Handler for Callee {
    fn on_request(&self, r: &Message) -> Answer {
        if let Some(id) = RequestId::of(r) {
            self.ringing.lock().unwrap().push(id);
        }
        Answer::code(180)
    }
    fn on_in_dialog_request(&self, r: &Message) -> Answer {
        if let (Some(m), Some((seq, _))) = (r.method(), r.cseq()) {
            self.in_dialog.lock().unwrap().push((m.clone(), seq));
        }
        match r.method() {
            Some(Method::Update) if !r.body().is_empty() => {
                Answer::code(200).body("application/sdp", SDP2)
            }
            _ => default_in_dialog_answer(r),
        }
    }
}

/// Bob (ringing every INVITE) and Alice, and Bob's URI over `kind`.
async fn caller_and_callee(kind: Transport) -> (Service, Service, Callee, String) {
    let callee = Callee::default();
    let bob = service("bob", callee.clone()).await;
    let alice = service("alice", DefaultHandler).await;
    let uri = format!(
        "sip:bob@{}{}",
        bob.local_addr(kind).unwrap(),
        transport_param(kind)
    );
    (alice, bob, callee, uri)
}

/// The provisional replies Alice's callback saw.
type Seen = Arc<Mutex<Vec<Reply>>>;

/// Alice's INVITE with an SDP offer to `uri`, not awaited, once Bob rings:
/// the handle, the provisionals seen and Bob's id of the ringing INVITE.
async fn ringing(
    alice: &Service,
    callee: &Callee,
    uri: &str,
) -> (sip_uac::PendingInvite, Seen, RequestId) {
    let seen: Seen = Arc::default();
    let s = seen.clone();
    let call = alice
        .invite_async(
            uri,
            RequestOptions::new()
                .body("application/sdp", SDP)
                .on_provisional(move |r| s.lock().unwrap().push(r.clone())),
        )
        .await
        .unwrap();
    eventually("the INVITE rings", || !seen.lock().unwrap().is_empty()).await;
    let id = callee.ringing.lock().unwrap()[0].clone();
    (call, seen, id)
}

/// The early dialog the first provisional named.
fn early_dialog(seen: &Seen) -> DialogId {
    seen.lock().unwrap()[0]
        .dialog()
        .cloned()
        .expect("RFC 3261 §12.1.2: a 180 with a To tag makes an early dialog")
}

#[tokio::test]
async fn rfc3261_12_1_2_a_180_with_a_to_tag_makes_an_early_dialog_that_the_2xx_confirms() {
    for kind in [Transport::Udp, Transport::Tcp] {
        let (alice, bob, callee, uri) = caller_and_callee(kind).await;
        let (mut call, seen, id) = ringing(&alice, &callee, &uri).await;
        let early = early_dialog(&seen);
        let r180 = seen.lock().unwrap()[0].clone();
        // Call-ID, our From tag, the callee's To tag (§12.1.2).
        assert_eq!(Some(early.call_id()), r180.call_id(), "{kind}");
        assert_eq!(Some(early.local_tag()), r180.from_tag(), "{kind}");
        assert_eq!(Some(early.remote_tag()), r180.to_tag(), "{kind}");
        let info = alice.dialog(&early).expect("the early dialog is kept");
        assert_eq!(info.state, DialogState::Early, "{kind}");
        assert_eq!(
            info.invite_state,
            Some(InviteState::ProceedingUac),
            "{kind}"
        );
        // §12.1.2: the remote target is the provisional's Contact.
        assert_eq!(
            Some(info.remote_target.as_str()),
            r180.contacts()
                .first()
                .map(|c| c.trim_start_matches('<').split('>').next().unwrap()),
            "{kind}"
        );
        // §14.1: no re-INVITE while the first INVITE is in progress.
        assert!(matches!(
            alice.reinvite(&early, RequestOptions::new()).await,
            Err(sip_uac::Error::UnknownDialog)
        ));
        // A second provisional of the same callee names the same dialog.
        bob.answer(&id, Answer::code(183)).await.unwrap();
        eventually("the 183", || seen.lock().unwrap().len() == 2).await;
        assert_eq!(seen.lock().unwrap()[1].dialog(), Some(&early), "{kind}");
        bob.answer(&id, Answer::code(200).body("application/sdp", SDP))
            .await
            .unwrap();
        let r = call.reply().await;
        assert_eq!(r.code(), 200, "{kind}");
        // §13.2.2.4: the 2xx confirms the early dialog of its To tag.
        assert_eq!(r.dialog(), Some(&early), "{kind}");
        let info = alice.dialog(&early).unwrap();
        assert_eq!(info.state, DialogState::Confirmed, "{kind}");
        assert_eq!(alice.dialog_count(), 1, "{kind}");
        hang_up(&alice, &early).await;
        assert_eq!(alice.dialog_count(), 0, "{kind}");
        alice.stop().await;
        bob.stop().await;
    }
}

#[tokio::test]
async fn rfc3261_12_1_an_invite_ended_without_2xx_leaves_no_early_dialog() {
    for kind in [Transport::Udp, Transport::Tcp] {
        // §12.1: a non-2xx final ends the early dialog; §9.1: so does a
        // CANCEL (its 487).
        for cancelled in [false, true] {
            let (alice, bob, callee, uri) = caller_and_callee(kind).await;
            let (mut call, seen, id) = ringing(&alice, &callee, &uri).await;
            let early = early_dialog(&seen);
            let expected = if cancelled {
                alice.cancel(&call).await.unwrap();
                487
            } else {
                bob.answer(&id, Answer::code(486)).await.unwrap();
                486
            };
            assert_eq!(call.reply().await.code(), expected, "{kind}");
            assert!(alice.dialog(&early).is_none(), "{kind} {expected}");
            assert_eq!(alice.dialog_count(), 0, "{kind} {expected}");
            alice.stop().await;
            bob.stop().await;
        }
    }
}

#[tokio::test]
async fn rfc3311_5_1_update_and_info_in_the_early_dialog_then_the_call() {
    for kind in [Transport::Udp, Transport::Tcp] {
        let (alice, bob, callee, uri) = caller_and_callee(kind).await;
        let (mut call, seen, id) = ringing(&alice, &callee, &uri).await;
        let early = early_dialog(&seen);
        let invite_seq = seen.lock().unwrap()[0].cseq_num().unwrap();
        // RFC 3311 §5.1: an UPDATE without an offer (the INVITE's offer
        // is not answered yet, so no new one may be made) before the answer.
        let r = alice.update(&early, RequestOptions::new()).await.unwrap();
        assert_eq!(r.code(), 200, "{kind}");
        // RFC 6086 §4.2: INFO may be sent in an early dialog.
        let r = alice.info(&early, RequestOptions::new()).await.unwrap();
        assert_eq!(r.code(), 200, "{kind}");
        let info = alice.dialog(&early).unwrap();
        assert_eq!(info.state, DialogState::Early, "{kind}");
        assert_eq!(info.local_sdp.as_deref(), Some(SDP.as_bytes()), "{kind}");
        bob.answer(&id, Answer::code(200).body("application/sdp", SDP2))
            .await
            .unwrap();
        let r = call.reply().await;
        assert_eq!(r.code(), 200, "{kind}");
        assert_eq!(r.dialog(), Some(&early), "{kind}");
        let info = alice.dialog(&early).unwrap();
        assert_eq!(info.remote_sdp.as_deref(), Some(SDP2.as_bytes()), "{kind}");
        // §12.2.1.1: every request of the dialog, early or not, takes the
        // next CSeq; the callee saw them in order (it answers 500 to a
        // lower one, §12.2.2), and the BYE after them is accepted.
        hang_up(&alice, &early).await;
        let got = callee.in_dialog.lock().unwrap().clone();
        assert_eq!(
            got,
            vec![
                (Method::Update, invite_seq + 1),
                (Method::Info, invite_seq + 2),
                (Method::Bye, invite_seq + 3)
            ],
            "{kind}"
        );
        assert_eq!(alice.dialog_count(), 0, "{kind}");
        alice.stop().await;
        bob.stop().await;
    }
}

const SDP3: &str = "v=0\r\no=- 1 3 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 4004 RTP/AVP 0\r\n";
const SDP4: &str = "v=0\r\no=- 1 4 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 4006 RTP/AVP 0\r\n";

/// Rings with a reliable 183 that answers the INVITE's offer (RFC 3262
/// §5), and leaves the rest to the test; answers an UPDATE's offer with
/// SDP3; records every request it gets in a dialog, PRACKs included.
#[derive(Clone, Default)]
struct ReliableCallee(Callee);

impl Handler for ReliableCallee {
    fn on_request(&self, r: &Message) -> Answer {
        if let Some(id) = RequestId::of(r) {
            self.0.ringing.lock().unwrap().push(id);
        }
        Answer::code(183)
            .header("Require", "100rel")
            .body("application/sdp", SDP2)
    }
    fn on_in_dialog_request(&self, r: &Message) -> Answer {
        if let (Some(m), Some((seq, _))) = (r.method(), r.cseq()) {
            self.0.in_dialog.lock().unwrap().push((m.clone(), seq));
        }
        match r.method() {
            Some(Method::Update) if !r.body().is_empty() => {
                Answer::code(200).body("application/sdp", SDP3)
            }
            _ => default_in_dialog_answer(r),
        }
    }
}

#[tokio::test]
async fn rfc3311_5_1_an_update_offer_after_a_reliable_answer_and_prack_cseqs_after_it() {
    for kind in [Transport::Udp, Transport::Tcp] {
        let any = "127.0.0.1:0".parse().unwrap();
        let callee = ReliableCallee::default();
        let bob = Service::builder("bob")
            .udp(any)
            .tcp(any)
            .handler(callee.clone())
            .extension(sip_100rel::Rel100::new())
            .start()
            .await
            .unwrap();
        let alice = Service::builder("alice")
            .udp(any)
            .tcp(any)
            .extension(sip_100rel::Rel100::new())
            .start()
            .await
            .unwrap();
        let uri = format!(
            "sip:bob@{}{}",
            bob.local_addr(kind).unwrap(),
            transport_param(kind)
        );
        let (mut call, seen, id) = ringing(&alice, &callee.0, &uri).await;
        let early = early_dialog(&seen);
        let invite_seq = seen.lock().unwrap()[0].cseq_num().unwrap();
        // The 183's PRACK (RFC 3262 §7.2) took the dialog's next CSeq.
        eventually("the PRACK", || {
            !callee.0.in_dialog.lock().unwrap().is_empty()
        })
        .await;
        // The offer/answer of the INVITE is complete (the reliable 183):
        // an UPDATE may carry a new offer (RFC 3311 §5.1).
        let r = alice
            .update(&early, RequestOptions::new().body("application/sdp", SDP4))
            .await
            .unwrap();
        assert_eq!(r.code(), 200, "{kind}");
        let info = alice.dialog(&early).unwrap();
        assert_eq!(info.local_sdp.as_deref(), Some(SDP4.as_bytes()), "{kind}");
        assert_eq!(info.remote_sdp.as_deref(), Some(SDP3.as_bytes()), "{kind}");
        // Another reliable provisional: its PRACK comes after the UPDATE.
        bob.answer(&id, Answer::code(180).header("Require", "100rel"))
            .await
            .unwrap();
        eventually("the second PRACK", || {
            callee.0.in_dialog.lock().unwrap().len() == 3
        })
        .await;
        // The 2xx repeats the 183's answer (RFC 3261 §13.2.1: after the
        // first answer, a description in a response to the INVITE is
        // ignored).
        bob.answer(&id, Answer::code(200).body("application/sdp", SDP2))
            .await
            .unwrap();
        let r = call.reply().await;
        assert_eq!(r.code(), 200, "{kind}");
        // The session is the UPDATE's on both sides, not the INVITE's first
        // exchange.
        let info = alice.dialog(&early).unwrap();
        assert_eq!(info.local_sdp.as_deref(), Some(SDP4.as_bytes()), "{kind}");
        assert_eq!(info.remote_sdp.as_deref(), Some(SDP3.as_bytes()), "{kind}");
        let bobs = DialogId::new(early.call_id(), early.remote_tag(), early.local_tag());
        eventually("bob's call confirmed", || {
            bob.dialog(&bobs)
                .is_some_and(|i| i.invite_state == Some(InviteState::Confirmed))
        })
        .await;
        let theirs = bob.dialog(&bobs).unwrap();
        assert_eq!(theirs.local_sdp.as_deref(), Some(SDP3.as_bytes()), "{kind}");
        assert_eq!(
            theirs.remote_sdp.as_deref(),
            Some(SDP4.as_bytes()),
            "{kind}"
        );
        hang_up(&alice, &early).await;
        // §12.2.1.1 across the plugin and the service: PRACK, UPDATE,
        // PRACK, BYE, each with the next CSeq.
        let got = callee.0.in_dialog.lock().unwrap().clone();
        assert_eq!(
            got,
            vec![
                (Method::Prack, invite_seq + 1),
                (Method::Update, invite_seq + 2),
                (Method::Prack, invite_seq + 3),
                (Method::Bye, invite_seq + 4)
            ],
            "{kind}"
        );
        alice.stop().await;
        bob.stop().await;
    }
}

#[tokio::test]
async fn rfc3261_15_the_caller_may_end_an_early_dialog_with_bye() {
    let (alice, bob, callee, uri) = caller_and_callee(Transport::Udp).await;
    let (mut call, seen, _) = ringing(&alice, &callee, &uri).await;
    let early = early_dialog(&seen);
    hang_up(&alice, &early).await;
    // §15.1.2: the callee ends the INVITE with 487.
    assert_eq!(call.reply().await.code(), 487);
    assert!(alice.dialog(&early).is_none());
    eventually("bob's early dialog ends", || bob.dialog_count() == 0).await;
    assert_eq!(alice.dialog_count(), 0);
    alice.stop().await;
    bob.stop().await;
}

#[tokio::test]
async fn an_invite_future_dropped_while_ringing_leaves_no_early_dialog() {
    let (alice, bob, callee, uri) = caller_and_callee(Transport::Udp).await;
    let rang = Arc::new(Mutex::new(None));
    let r2 = rang.clone();
    let opts =
        RequestOptions::new().on_provisional(move |r| *r2.lock().unwrap() = r.dialog().cloned());
    let mut invite = Box::pin(alice.invite(&uri, opts));
    // Polled until it rings, then dropped (a caller's own timeout).
    let ringing = async {
        eventually("the INVITE rings", || rang.lock().unwrap().is_some()).await;
    };
    tokio::select! {
        _ = &mut invite => panic!("the INVITE was answered"),
        () = ringing => {}
    }
    let early = rang.lock().unwrap().clone().unwrap();
    assert_eq!(
        alice.dialog(&early).map(|i| i.state),
        Some(DialogState::Early)
    );
    drop(invite);
    assert!(alice.dialog(&early).is_none());
    assert_eq!(alice.dialog_count(), 0);
    assert_eq!(callee.ringing.lock().unwrap().len(), 1);
    alice.stop().await;
    bob.stop().await;
}

#[tokio::test]
async fn rfc3262_a_prack_after_the_callers_info_in_an_unreliable_early_dialog_takes_a_higher_cseq()
{
    let any = "127.0.0.1:0".parse().unwrap();
    // An unreliable 180 first (the plain callee), then a reliable 183.
    let callee = Callee::default();
    let start = |name: &str, h: Option<Callee>| {
        let mut b = Service::builder(name)
            .udp(any)
            .extension(sip_100rel::Rel100::new());
        if let Some(h) = h {
            b = b.handler(h);
        }
        b.start()
    };
    let bob = start("bob", Some(callee.clone())).await.unwrap();
    let alice = start("alice", None).await.unwrap();
    let uri = format!("sip:bob@{}", bob.local_addr(Transport::Udp).unwrap());
    let (mut call, seen, id) = ringing(&alice, &callee, &uri).await;
    let early = early_dialog(&seen);
    let invite_seq = seen.lock().unwrap()[0].cseq_num().unwrap();
    let r = alice.info(&early, RequestOptions::new()).await.unwrap();
    assert_eq!(r.code(), 200);
    bob.answer(&id, Answer::code(183).header("Require", "100rel"))
        .await
        .unwrap();
    eventually("the PRACK", || callee.in_dialog.lock().unwrap().len() == 2).await;
    bob.answer(&id, Answer::code(200).body("application/sdp", SDP2))
        .await
        .unwrap();
    assert_eq!(call.reply().await.code(), 200);
    hang_up(&alice, &early).await;
    assert_eq!(
        callee.in_dialog.lock().unwrap().clone(),
        vec![
            (Method::Info, invite_seq + 1),
            (Method::Prack, invite_seq + 2),
            (Method::Bye, invite_seq + 3)
        ]
    );
    alice.stop().await;
    bob.stop().await;
}
