//! sip-uac against SIPp (Debian package `sip-tester`) as the UAS, over UDP
//! and TCP, with the scenarios in `tests/sipp/`: a basic call
//! (INVITE/180/200/ACK, then BYE/200), a busy call (486 and its ACK) and a
//! CANCEL while ringing (200 to the CANCEL, 487 and its ACK), and a
//! registrar's 401 challenge whose answer SIPp verifies. SIPp's exit
//! code says whether our side behaved as its scenario scripts; our side
//! checks the replies.
//!
//! Without `sipp` on PATH these tests print why and skip on a developer
//! machine; with `CI=true` they fail.

use std::time::Duration;

use sip_message::headers::Transport;
use sip_tests::sipp::{sipp_available, Sipp};
use sip_tests::{service, transport_param};
use sip_uac::DefaultHandler;
use sip_uac::{RequestOptions, Service};

async fn caller() -> Service {
    service("alice", DefaultHandler).await
}

fn uri(user: &str, kind: Transport, port: u16) -> String {
    let t = transport_param(kind);
    format!("sip:{user}@127.0.0.1:{port}{t}")
}

async fn basic_call(kind: Transport) {
    if !sipp_available() {
        return;
    }
    let (sipp, port) = Sipp::uas("uas_call.xml", kind).await;
    let alice = caller().await;
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let s2 = seen.clone();
    let reply = alice
        .invite(
            &uri("sipp", kind, port),
            RequestOptions::new().on_provisional(move |r| s2.lock().unwrap().push(r.code())),
        )
        .await
        .unwrap();
    assert_eq!(reply.code(), 200, "{}", sipp.errors());
    assert!(reply.body().starts_with(b"v=0"));
    // The callback saw the 180 before the call returned its 200.
    assert_eq!(*seen.lock().unwrap(), vec![180]);
    let dialog = reply
        .dialog()
        .expect("a 2xx to INVITE has a dialog")
        .clone();
    let bye = alice.bye(&dialog, RequestOptions::new()).await.unwrap();
    assert_eq!(bye.code(), 200, "{}", sipp.errors());
    let errs = sipp.errors();
    assert_eq!(sipp.finish().await, 0, "sipp errors: {errs}");
    alice.stop().await;
}

async fn busy_call(kind: Transport) {
    if !sipp_available() {
        return;
    }
    let (sipp, port) = Sipp::uas("uas_busy.xml", kind).await;
    let alice = caller().await;
    let reply = alice
        .invite(&uri("sipp", kind, port), RequestOptions::new())
        .await
        .unwrap();
    assert_eq!(reply.code(), 486);
    assert!(reply.dialog().is_none());
    let errs = sipp.errors();
    assert_eq!(sipp.finish().await, 0, "sipp errors: {errs}");
    alice.stop().await;
}

async fn cancelled_call(kind: Transport) {
    if !sipp_available() {
        return;
    }
    let (sipp, port) = Sipp::uas("uas_cancel.xml", kind).await;
    let alice = caller().await;
    let mut pending = alice
        .invite_async(&uri("sipp", kind, port), RequestOptions::new())
        .await
        .unwrap();
    // §9.1: the CANCEL waits for a provisional if none came yet.
    alice.cancel(&pending).await.unwrap();
    let reply = tokio::time::timeout(Duration::from_secs(20), pending.reply())
        .await
        .expect("the INVITE ends");
    assert_eq!(reply.code(), 487, "{}", sipp.errors());
    let errs = sipp.errors();
    assert_eq!(sipp.finish().await, 0, "sipp errors: {errs}");
    alice.stop().await;
}

async fn challenged_register(kind: Transport, password: &str) -> u16 {
    if !sipp_available() {
        return 0;
    }
    let (sipp, port) = Sipp::uas("uas_auth.xml", kind).await;
    let alice = caller().await;
    let t = transport_param(kind);
    let reply = alice
        .register(
            &format!("sip:127.0.0.1:{port}{t}"),
            RequestOptions::new().auth("alice", password),
        )
        .await
        .unwrap();
    let errs = sipp.errors();
    assert_eq!(sipp.finish().await, 0, "sipp errors: {errs}");
    alice.stop().await;
    reply.code()
}

/// SIPp verifies our digest response itself (its `verifyauth` action).
#[tokio::test]
async fn sipp_registrar_401_challenge_is_answered_with_credentials_sipp_accepts() {
    for kind in [Transport::Udp, Transport::Tcp] {
        let code = challenged_register(kind, "secret").await;
        assert!(
            code == 200 || (code == 0 && !sipp_available()),
            "{kind}: {code}"
        );
    }
}

/// And refuses a wrong one: the check above can fail.
#[tokio::test]
async fn sipp_registrar_refuses_a_wrong_password() {
    let code = challenged_register(Transport::Udp, "not-the-password").await;
    assert!(code == 403 || (code == 0 && !sipp_available()), "{code}");
}

/// INVITE `expires`: with no final response by then, we CANCEL it
/// ourselves (SIPp ignores Expires, so the CANCEL can only be ours).
async fn expired_invite(kind: Transport) {
    if !sipp_available() {
        return;
    }
    let (sipp, port) = Sipp::uas("uas_cancel.xml", kind).await;
    let alice = caller().await;
    let reply = tokio::time::timeout(
        Duration::from_secs(20),
        alice.invite(&uri("sipp", kind, port), RequestOptions::new().expires(1)),
    )
    .await
    .expect("the INVITE ends")
    .unwrap();
    assert_eq!(reply.code(), 487, "{}", sipp.errors());
    let errs = sipp.errors();
    assert_eq!(sipp.finish().await, 0, "sipp errors: {errs}");
    alice.stop().await;
}

#[tokio::test]
async fn sipp_uas_invite_expires_and_we_cancel_it_udp() {
    expired_invite(Transport::Udp).await
}
#[tokio::test]
async fn sipp_uas_invite_expires_and_we_cancel_it_tcp() {
    expired_invite(Transport::Tcp).await
}

#[tokio::test]
async fn sipp_uas_basic_call_udp() {
    basic_call(Transport::Udp).await
}
#[tokio::test]
async fn sipp_uas_basic_call_tcp() {
    basic_call(Transport::Tcp).await
}
#[tokio::test]
async fn sipp_uas_busy_call_udp() {
    busy_call(Transport::Udp).await
}
#[tokio::test]
async fn sipp_uas_busy_call_tcp() {
    busy_call(Transport::Tcp).await
}
#[tokio::test]
async fn sipp_uas_cancelled_call_udp() {
    cancelled_call(Transport::Udp).await
}
#[tokio::test]
async fn sipp_uas_cancelled_call_tcp() {
    cancelled_call(Transport::Tcp).await
}
