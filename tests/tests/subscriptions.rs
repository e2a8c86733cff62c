//! SUBSCRIBE/NOTIFY (RFC 6665) and REFER (RFC 3515) between two services,
//! and a NOTIFY that comes before the SUBSCRIBE's 2xx (§4.1.2.4), from a
//! hand-written notifier on a loopback socket.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use sip_message::headers::Transport;
use sip_message::{Message, Method};
use sip_tests::eventually;
use sip_tests::transport_param;
use sip_uac::{
    default_answer, default_in_dialog_answer, Answer, Error, Handler, RequestOptions, Service,
    SubscriptionId, SubscriptionStatus,
};

/// Accepts `presence` subscriptions and REFERs; records what it gets.
#[derive(Clone, Default)]
struct Notifier {
    subs: Arc<Mutex<Vec<SubscriptionId>>>,
    got: Arc<Mutex<Vec<Message>>>,
}

impl Handler for Notifier {
    fn on_request(&self, r: &Message) -> Answer {
        self.got.lock().unwrap().push(r.clone());
        match r.method() {
            Some(Method::Subscribe) => Answer::code(200),
            Some(Method::Invite) => Answer::code(200),
            _ => default_answer(r),
        }
    }
    fn on_in_dialog_request(&self, r: &Message) -> Answer {
        self.got.lock().unwrap().push(r.clone());
        match r.method() {
            Some(Method::Refer) => Answer::code(202),
            // A new subscription in a call (RFC 6665 §4.5.2).
            Some(Method::Subscribe) => Answer::code(200),
            _ => default_in_dialog_answer(r),
        }
    }
    fn on_subscription(&self, id: &SubscriptionId, _r: &Message) {
        self.subs.lock().unwrap().push(id.clone());
    }
}

/// Records the NOTIFYs it gets.
#[derive(Clone, Default)]
struct Watcher(Arc<Mutex<Vec<Message>>>);

impl Watcher {
    /// Whether a NOTIFY came whose Subscription-State starts with `state`.
    fn saw_state(&self, state: &str) -> bool {
        self.0
            .lock()
            .unwrap()
            .iter()
            .any(|m| header(m, "subscription-state").starts_with(state))
    }
}

impl Handler for Watcher {
    fn on_in_dialog_request(&self, r: &Message) -> Answer {
        self.0.lock().unwrap().push(r.clone());
        default_in_dialog_answer(r)
    }
}

async fn pair(kind: Transport) -> (Service, Service, Notifier, Watcher, String) {
    let any = "127.0.0.1:0".parse().unwrap();
    let notifier = Notifier::default();
    let watcher = Watcher::default();
    let bob = Service::builder("bob")
        .udp(any)
        .tcp(any)
        .handler(notifier.clone())
        .start()
        .await
        .unwrap();
    let alice = Service::builder("alice")
        .udp(any)
        .tcp(any)
        .handler(watcher.clone())
        .start()
        .await
        .unwrap();
    let uri = format!(
        "sip:bob@{}{}",
        bob.local_addr(kind).unwrap(),
        transport_param(kind)
    );
    (alice, bob, notifier, watcher, uri)
}

fn header(m: &Message, name: &str) -> String {
    m.values_by_name(name)
        .next()
        .map(|v| String::from_utf8_lossy(v).into_owned())
        .unwrap_or_default()
}

#[tokio::test]
async fn subscribe_notify_active_then_terminated_over_udp_and_tcp() {
    for kind in [Transport::Udp, Transport::Tcp] {
        let (alice, bob, notifier, watcher, uri) = pair(kind).await;
        let r = alice
            .subscribe(&uri, RequestOptions::new().event("presence").expires(600))
            .await
            .unwrap();
        assert_eq!(r.code(), 200, "{kind}");
        // §4.2.1.1: the 2xx says how long was granted.
        assert_eq!(r.header("expires"), vec!["600".to_owned()]);
        let sid = r.subscription().cloned().expect("a subscription id");
        assert_eq!(sid.event, "presence");
        // The SUBSCRIBE carried a Contact (it makes a dialog).
        let sub = notifier.got.lock().unwrap()[0].clone();
        assert!(!header(&sub, "contact").is_empty());
        assert_eq!(alice.subscription(&sid), Some(SubscriptionStatus::Init));

        // The notifier's side: its handler got the id; NOTIFY active.
        let bob_sid = notifier.subs.lock().unwrap()[0].clone();
        // Both sides list it, and its dialog names it as a usage.
        assert_eq!(alice.subscriptions(), vec![sid.clone()], "{kind}");
        assert_eq!(bob.subscriptions(), vec![bob_sid.clone()], "{kind}");
        assert_eq!(
            alice.dialog(&sid.dialog).unwrap().subscriptions,
            vec![sid.clone()],
            "{kind}"
        );
        let n = bob
            .notify(
                &bob_sid,
                RequestOptions::new().body("application/pidf+xml", "<open/>"),
            )
            .await
            .unwrap();
        assert_eq!(n.code(), 200, "{kind}");
        let got = watcher.0.lock().unwrap()[0].clone();
        assert_eq!(header(&got, "event"), "presence");
        let state = header(&got, "subscription-state");
        assert!(state.starts_with("active;expires="), "{state}");
        let left: u32 = state["active;expires=".len()..].parse().unwrap();
        assert!((590..=600).contains(&left), "{left}");
        assert_eq!(got.body_bytes(), b"<open/>");
        assert_eq!(alice.subscription(&sid), Some(SubscriptionStatus::Active));
        // NOTIFY is the notifier's (RFC 6665 §4.2.2): the subscriber's own
        // id is refused before anything is sent, and its subscription
        // stays (nksip-uac.md: `no_transaction`).
        assert!(matches!(
            alice.notify(&sid, RequestOptions::new()).await,
            Err(Error::UnknownSubscription)
        ));
        assert_eq!(alice.subscription(&sid), Some(SubscriptionStatus::Active));

        // A refresh in the dialog.
        let rr = alice
            .subscribe_refresh(&sid, RequestOptions::new().expires(300))
            .await
            .unwrap();
        assert_eq!(rr.code(), 200, "{kind}");
        assert_eq!(rr.header("expires"), vec!["300".to_owned()]);

        // Terminated ends it on both sides, and the dialogs with it.
        let n = bob
            .notify(
                &bob_sid,
                RequestOptions::new().subscription_state("terminated;reason=noresource"),
            )
            .await
            .unwrap();
        assert_eq!(n.code(), 200);
        assert_eq!(alice.subscription(&sid), None);
        assert_eq!(alice.dialog_count(), 0, "{kind}");
        assert_eq!(bob.dialog_count(), 0, "{kind}");
        assert!(alice.subscriptions().is_empty(), "{kind}");
        assert!(bob.subscriptions().is_empty(), "{kind}");
        // A NOTIFY for the ended subscription gets 481.
        assert!(matches!(
            bob.notify(&bob_sid, RequestOptions::new()).await,
            Err(Error::UnknownDialog)
        ));
        alice.stop().await;
        bob.stop().await;
    }
}

#[tokio::test]
async fn subscribe_needs_an_event_and_the_default_handler_refuses_packages() {
    let any = "127.0.0.1:0".parse().unwrap();
    let bob = Service::builder("bob").udp(any).start().await.unwrap();
    let alice = Service::builder("alice").udp(any).start().await.unwrap();
    let uri = format!("sip:bob@{}", bob.local_addr(Transport::Udp).unwrap());
    assert!(matches!(
        alice.subscribe(&uri, RequestOptions::new()).await,
        Err(Error::InvalidOption(_))
    ));
    let r = alice
        .subscribe(&uri, RequestOptions::new().event("presence"))
        .await
        .unwrap();
    // RFC 6665 §4.2.1.1: 489 Bad Event.
    assert_eq!(r.code(), 489);
    assert!(r.subscription().is_none());
    assert_eq!(alice.dialog_count(), 0);
}

#[tokio::test]
async fn refer_in_a_call_reports_with_sipfrag_notifies_and_keeps_the_call() {
    for kind in [Transport::Udp, Transport::Tcp] {
        let (alice, bob, notifier, watcher, uri) = pair(kind).await;
        let call = alice.invite(&uri, RequestOptions::new()).await.unwrap();
        assert_eq!(call.code(), 200);
        let dialog = call.dialog().cloned().unwrap();
        assert!(matches!(
            alice.refer(&dialog, RequestOptions::new()).await,
            Err(Error::InvalidOption(_))
        ));
        let r = alice
            .refer(
                &dialog,
                RequestOptions::new().refer_to("sip:carol@127.0.0.1"),
            )
            .await
            .unwrap();
        assert_eq!(r.code(), 202, "{kind}");
        let sid = r.subscription().cloned().unwrap();
        assert_eq!(sid.event, "refer");
        let refer = notifier
            .got
            .lock()
            .unwrap()
            .iter()
            .find(|m| m.method() == Some(&Method::Refer))
            .cloned()
            .unwrap();
        assert_eq!(header(&refer, "refer-to"), "<sip:carol@127.0.0.1>");
        // RFC 3515 §2.4.4: the implicit subscription's id is the REFER's CSeq.
        assert_eq!(
            sid.id.as_deref(),
            Some(refer.cseq().unwrap().0.to_string().as_str())
        );

        let bob_sid = notifier.subs.lock().unwrap()[0].clone();
        for (frag, state) in [
            ("SIP/2.0 100 Trying\r\n", "active"),
            ("SIP/2.0 200 OK\r\n", "terminated;reason=noresource"),
        ] {
            let n = bob
                .notify(
                    &bob_sid,
                    RequestOptions::new()
                        .body("message/sipfrag;version=2.0", frag)
                        .subscription_state(state),
                )
                .await
                .unwrap();
            assert_eq!(n.code(), 200, "{kind}");
        }
        let notifies: Vec<Message> = watcher
            .0
            .lock()
            .unwrap()
            .iter()
            .filter(|m| m.method() == Some(&Method::Notify))
            .cloned()
            .collect();
        assert_eq!(notifies.len(), 2);
        assert_eq!(
            header(&notifies[0], "event"),
            format!("refer;id={}", refer.cseq().unwrap().0)
        );
        assert_eq!(
            sip_dialog::sipfrag_status(notifies[1].body_bytes()),
            Some(200)
        );
        assert_eq!(alice.subscription(&sid), None);
        // The call outlives its REFER subscription (RFC 5057).
        assert_eq!(alice.dialog_count(), 1, "{kind}");
        let bye = alice.bye(&dialog, RequestOptions::new()).await.unwrap();
        assert_eq!(bye.code(), 200);
        alice.stop().await;
        bob.stop().await;
    }
}

#[tokio::test]
async fn a_granted_subscription_that_runs_out_gets_a_final_notify() {
    let (alice, bob, _notifier, watcher, uri) = pair(Transport::Udp).await;
    let r = alice
        .subscribe(&uri, RequestOptions::new().event("presence").expires(1))
        .await
        .unwrap();
    assert_eq!(r.code(), 200);
    let sid = r.subscription().cloned().unwrap();
    // RFC 6665 §4.2.2: terminated;reason=timeout once the time is up.
    eventually("the final NOTIFY", || {
        watcher.saw_state("terminated;reason=timeout")
    })
    .await;
    eventually("the subscription ended", || {
        alice.subscription(&sid).is_none()
    })
    .await;
    eventually("dialogs gone", || {
        alice.dialog_count() == 0 && bob.dialog_count() == 0
    })
    .await;
}

/// RFC 6665 §4.1.2.4: the NOTIFY may come before the 2xx; it makes the
/// dialog and the subscription.
#[tokio::test]
async fn notify_before_the_2xx_makes_the_subscription() {
    let any = "127.0.0.1:0".parse().unwrap();
    let watcher = Watcher::default();
    let alice = Service::builder("alice")
        .udp(any)
        .handler(watcher.clone())
        .start()
        .await
        .unwrap();
    let peer = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let peer_addr = peer.local_addr().unwrap();
    let alice_addr = alice.local_addr(Transport::Udp).unwrap();
    let notifier = tokio::spawn(async move {
        let mut buf = vec![0u8; 65535];
        let (n, from) = peer.recv_from(&mut buf).await.unwrap();
        let sub = Message::parse(bytes::Bytes::copy_from_slice(&buf[..n])).unwrap();
        assert_eq!(sub.method(), Some(&Method::Subscribe));
        let h = |name: &str| header(&sub, name);
        let notify = format!(
            "NOTIFY sip:alice@{alice_addr} SIP/2.0\r\nVia: SIP/2.0/UDP {peer_addr};branch=z9hG4bKn1\r\n\
             From: {};tag=peer1\r\nTo: {}\r\nCall-ID: {}\r\nCSeq: 1 NOTIFY\r\nContact: <sip:peer@{peer_addr}>\r\n\
             Event: presence\r\nSubscription-State: active;expires=60\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n",
            h("to"),
            h("from"),
            h("call-id")
        );
        peer.send_to(notify.as_bytes(), from).await.unwrap();
        // Its 200.
        let (n, _) = peer.recv_from(&mut buf).await.unwrap();
        let ok = Message::parse(bytes::Bytes::copy_from_slice(&buf[..n])).unwrap();
        assert_eq!(ok.status(), Some(200));
        // Then the SUBSCRIBE's 2xx, same To tag.
        let resp = format!(
            "SIP/2.0 200 OK\r\nVia: {}\r\nFrom: {}\r\nTo: {};tag=peer1\r\nCall-ID: {}\r\nCSeq: {}\r\n\
             Contact: <sip:peer@{peer_addr}>\r\nExpires: 60\r\nContent-Length: 0\r\n\r\n",
            h("via"),
            h("from"),
            h("to"),
            h("call-id"),
            h("cseq")
        );
        peer.send_to(resp.as_bytes(), from).await.unwrap();
    });
    let r = tokio::time::timeout(
        Duration::from_secs(10),
        alice.subscribe(
            &format!("sip:peer@{peer_addr}"),
            RequestOptions::new().event("presence"),
        ),
    )
    .await
    .unwrap()
    .unwrap();
    notifier.await.unwrap();
    assert_eq!(r.code(), 200);
    let sid = r.subscription().cloned().unwrap();
    assert_eq!(sid.dialog.remote_tag(), "peer1");
    // Active already: the NOTIFY came first.
    assert_eq!(alice.subscription(&sid), Some(SubscriptionStatus::Active));
    assert_eq!(watcher.0.lock().unwrap().len(), 1);
    assert_eq!(alice.dialog_count(), 1);
}

#[tokio::test]
async fn unsubscribe_gets_the_final_notify_from_the_service_itself() {
    let (alice, bob, notifier, watcher, uri) = pair(Transport::Udp).await;
    let r = alice
        .subscribe(&uri, RequestOptions::new().event("presence").expires(600))
        .await
        .unwrap();
    let sid = r.subscription().cloned().unwrap();
    assert_eq!(notifier.subs.lock().unwrap().len(), 1);
    // RFC 6665 §4.1.2.3: Expires 0 ends it; the notifier's final NOTIFY
    // (sent by bob's service, not his handler) closes both sides.
    let r = alice
        .subscribe_refresh(&sid, RequestOptions::new().expires(0))
        .await
        .unwrap();
    assert_eq!(r.code(), 200);
    assert_eq!(r.header("expires"), vec!["0".to_owned()]);
    eventually("the final NOTIFY", || watcher.saw_state("terminated")).await;
    eventually("both sides done", || {
        alice.subscription(&sid).is_none() && alice.dialog_count() == 0 && bob.dialog_count() == 0
    })
    .await;
    // The handler heard of the subscription once, not of its end.
    assert_eq!(notifier.subs.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn a_refers_subscription_outlives_the_bye_of_its_call() {
    let (alice, bob, notifier, watcher, uri) = pair(Transport::Udp).await;
    let call = alice.invite(&uri, RequestOptions::new()).await.unwrap();
    let dialog = call.dialog().cloned().unwrap();
    let r = alice
        .refer(
            &dialog,
            RequestOptions::new().refer_to("sip:carol@127.0.0.1"),
        )
        .await
        .unwrap();
    assert_eq!(r.code(), 202);
    let sid = r.subscription().cloned().unwrap();
    // The transferor hangs up at once (RFC 5589's usual flow).
    sip_tests::hang_up(&alice, &dialog).await;
    assert_eq!(
        alice.dialog_count(),
        1,
        "the REFER subscription keeps the dialog"
    );
    eventually("bob keeps it too", || bob.dialog_count() == 1).await;
    let bob_sid = notifier.subs.lock().unwrap()[0].clone();
    let n = bob
        .notify(
            &bob_sid,
            RequestOptions::new()
                .body("message/sipfrag;version=2.0", "SIP/2.0 200 OK\r\n")
                .subscription_state("terminated;reason=noresource"),
        )
        .await
        .unwrap();
    assert_eq!(n.code(), 200);
    assert!(watcher
        .0
        .lock()
        .unwrap()
        .iter()
        .any(|m| m.method() == Some(&Method::Notify)));
    assert_eq!(alice.subscription(&sid), None);
    assert_eq!(alice.dialog_count(), 0);
    assert_eq!(bob.dialog_count(), 0);
}

/// RFC 6665 §4.5.2: a SUBSCRIBE in an existing dialog (a call) makes a
/// subscription that shares it: NOTIFYs reach it, a `terminated` one ends
/// it, and the call goes on.
#[tokio::test]
async fn a_subscription_in_a_call_shares_its_dialog_and_ends_alone() {
    let (alice, bob, notifier, watcher, uri) = pair(Transport::Udp).await;
    let call = alice.invite(&uri, RequestOptions::new()).await.unwrap();
    let dialog = call.dialog().unwrap().clone();
    assert!(matches!(
        alice
            .subscribe_in_dialog(&dialog, RequestOptions::new())
            .await,
        Err(Error::InvalidOption(_))
    ));
    let r = alice
        .subscribe_in_dialog(&dialog, RequestOptions::new().event("dialog").expires(600))
        .await
        .unwrap();
    assert_eq!(r.code(), 200);
    let sid = r.subscription().cloned().expect("a subscription id");
    assert_eq!(sid.dialog, dialog, "the call's dialog");
    assert_eq!(sid.event, "dialog");
    // The same subscription is refreshed, not made twice.
    assert!(matches!(
        alice
            .subscribe_in_dialog(&dialog, RequestOptions::new().event("dialog"))
            .await,
        Err(Error::InvalidOption(_))
    ));
    let bob_sid = notifier.subs.lock().unwrap()[0].clone();
    let n = bob
        .notify(
            &bob_sid,
            RequestOptions::new().body("application/dialog-info+xml", "<dialog-info/>"),
        )
        .await
        .unwrap();
    assert_eq!(n.code(), 200);
    assert!(watcher.saw_state("active"));
    assert_eq!(alice.subscription(&sid), Some(SubscriptionStatus::Active));
    let n = bob
        .notify(
            &bob_sid,
            RequestOptions::new().subscription_state("terminated;reason=noresource"),
        )
        .await
        .unwrap();
    assert_eq!(n.code(), 200);
    assert_eq!(alice.subscription(&sid), None);
    // The call outlives its subscription.
    assert_eq!(
        alice
            .info(&dialog, RequestOptions::new())
            .await
            .unwrap()
            .code(),
        200
    );
    sip_tests::hang_up(&alice, &dialog).await;
    alice.stop().await;
    bob.stop().await;
}
