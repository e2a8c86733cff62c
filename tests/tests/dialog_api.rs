//! The dialog look-ups and bulk actions of a Service (NkSIP's
//! `nksip_dialog:get_all`, `stop` and `bye_all`), between two services on
//! loopback.

use sip_message::headers::Transport;
use sip_message::Message;
use sip_tests::{eventually, service, transport_param};
use sip_uac::{Answer, DefaultHandler, DialogId, Handler, RequestOptions, Service};

/// Answers every INVITE with 200.
struct Answers;

impl Handler for Answers {
    fn on_request(&self, _r: &Message) -> Answer {
        Answer::code(200)
    }
}

async fn two_calls() -> (Service, Service, Vec<DialogId>) {
    let bob = service("bob", Answers).await;
    let alice = service("alice", DefaultHandler).await;
    let mut ids = Vec::new();
    for kind in [Transport::Udp, Transport::Tcp] {
        let uri = format!(
            "sip:bob@{}{}",
            bob.local_addr(kind).unwrap(),
            transport_param(kind)
        );
        let r = alice.invite(&uri, RequestOptions::new()).await.unwrap();
        assert_eq!(r.code(), 200);
        ids.push(r.dialog().cloned().unwrap());
    }
    ids.sort();
    (alice, bob, ids)
}

#[tokio::test]
async fn dialogs_lists_every_dialog_and_bye_all_ends_every_call() {
    let (alice, bob, ids) = two_calls().await;
    assert_eq!(alice.dialogs(), ids);
    eventually("bob's calls confirmed (ACKs in)", || {
        bob.dialogs().len() == 2
            && bob.dialogs().iter().all(|d| {
                bob.dialog(d).and_then(|i| i.invite_state) == Some(sip_uac::InviteState::Confirmed)
            })
    })
    .await;
    let ended = alice.bye_all().await;
    assert_eq!(
        ended.iter().map(|(d, _)| d.clone()).collect::<Vec<_>>(),
        ids
    );
    for (d, r) in &ended {
        assert_eq!(r.as_ref().map(|r| r.code()).ok(), Some(200), "{d:?}");
    }
    assert!(alice.dialogs().is_empty());
    eventually("bob's dialogs end", || bob.dialog_count() == 0).await;
    // Nothing left to end.
    assert!(alice.bye_all().await.is_empty());
    alice.stop().await;
    bob.stop().await;
}

#[tokio::test]
async fn stop_dialog_forgets_without_sending_and_the_peer_then_gets_481() {
    let (alice, bob, ids) = two_calls().await;
    alice.stop_dialog(&ids[0]).unwrap();
    assert_eq!(alice.dialogs(), vec![ids[1].clone()]);
    assert!(matches!(
        alice.stop_dialog(&ids[0]),
        Err(sip_uac::Error::UnknownDialog)
    ));
    // Bob still has the call; his BYE finds no dialog at Alice (§12.2.2).
    let bobs = DialogId::new(ids[0].call_id(), ids[0].remote_tag(), ids[0].local_tag());
    eventually("bob's call confirmed", || {
        bob.dialog(&bobs).and_then(|i| i.invite_state) == Some(sip_uac::InviteState::Confirmed)
    })
    .await;
    let r = bob.bye(&bobs, RequestOptions::new()).await.unwrap();
    assert_eq!(r.code(), 481);
    sip_tests::hang_up(&alice, &ids[1]).await;
    alice.stop().await;
    bob.stop().await;
}
