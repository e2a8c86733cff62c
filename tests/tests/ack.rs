//! The ACK for a 2xx (RFC 3261 §13.2.2.4): the UAC core sends it for each
//! 2xx the INVITE client transaction passes up, and the transaction stays
//! in the Accepted state for Timer M to pass up retransmissions (RFC 6026
//! §8.4), also after the caller has had its reply.

use std::net::SocketAddr;
use std::time::Duration;

use sip_uac::{RequestOptions, Service};
use tokio::net::UdpSocket;

use sip_tests::header_line as header;

/// The 200 a raw callee at `me` sends for `invite`.
fn ok_for(invite: &str, me: SocketAddr) -> String {
    format!(
        "SIP/2.0 200 OK\r\n{}\r\n{}\r\n{};tag=callee1\r\n{}\r\n{}\r\nContact: <sip:callee@{me}>\r\nContent-Length: 0\r\n\r\n",
        header(invite, "Via"),
        header(invite, "From"),
        header(invite, "To"),
        header(invite, "Call-ID"),
        header(invite, "CSeq"),
    )
}

/// The next message the raw peer gets, within `wait`.
async fn next(sock: &UdpSocket, wait: Duration) -> Option<(String, SocketAddr)> {
    let mut buf = vec![0u8; 65536];
    let (n, from) = tokio::time::timeout(wait, sock.recv_from(&mut buf))
        .await
        .ok()?
        .ok()?;
    Some((String::from_utf8_lossy(&buf[..n]).into_owned(), from))
}

/// The next ACK within `wait` (other requests are skipped), as its text.
async fn next_ack(sock: &UdpSocket, wait: Duration) -> Option<String> {
    for _ in 0..10 {
        let (m, _) = next(sock, wait).await?;
        if m.starts_with("ACK ") {
            return Some(m);
        }
    }
    None
}

async fn caller() -> Service {
    Service::builder("alice")
        .udp("127.0.0.1:0".parse().unwrap())
        .start()
        .await
        .unwrap()
}

/// Answers the INVITE that arrives on `peer` with a 200; returns the 200
/// and where it went.
async fn answer_invite(peer: &UdpSocket) -> (String, SocketAddr) {
    let me = peer.local_addr().unwrap();
    let (invite, from) = next(peer, Duration::from_secs(5)).await.expect("INVITE");
    assert!(invite.starts_with("INVITE "), "{invite}");
    let ok = ok_for(&invite, me);
    peer.send_to(ok.as_bytes(), from).await.unwrap();
    (ok, from)
}

#[tokio::test]
async fn rfc3261_13_2_2_4_a_retransmitted_2xx_gets_the_ack_again_after_the_caller_has_its_reply() {
    let alice = caller().await;
    let peer = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let uri = format!("sip:bob@{}", peer.local_addr().unwrap());
    let call = tokio::spawn({
        let alice = alice.clone();
        async move { alice.invite(&uri, RequestOptions::new()).await }
    });
    let (ok, alice_addr) = answer_invite(&peer).await;
    let first = next_ack(&peer, Duration::from_secs(5))
        .await
        .expect("the ACK for the 2xx");
    let reply = call.await.unwrap().unwrap();
    assert_eq!(reply.code(), 200);
    assert!(reply.dialog().is_some());
    // The caller has its reply; the 2xx comes again (our ACK "was lost").
    for _ in 0..2 {
        peer.send_to(ok.as_bytes(), alice_addr).await.unwrap();
        let again = next_ack(&peer, Duration::from_secs(5))
            .await
            .expect("an ACK for the retransmitted 2xx");
        assert_eq!(header(&again, "CSeq"), header(&first, "CSeq"));
        assert_eq!(header(&again, "Call-ID"), header(&first, "Call-ID"));
        assert!(header(&again, "To").contains("tag=callee1"), "{again}");
    }
    alice.stop().await;
}

#[tokio::test]
async fn rfc3261_13_2_2_4_without_auto_ack_a_retransmission_is_acked_only_once_the_user_has_acked()
{
    let alice = caller().await;
    let peer = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let uri = format!("sip:bob@{}", peer.local_addr().unwrap());
    let call = tokio::spawn({
        let alice = alice.clone();
        async move {
            alice
                .invite(&uri, RequestOptions::new().auto_ack(false))
                .await
        }
    });
    let (ok, alice_addr) = answer_invite(&peer).await;
    let reply = call.await.unwrap().unwrap();
    assert_eq!(reply.code(), 200);
    let dialog = reply.dialog().expect("a dialog").clone();
    // No ACK from the stack: the user sends it (with an answer, say).
    peer.send_to(ok.as_bytes(), alice_addr).await.unwrap();
    assert!(
        next_ack(&peer, Duration::from_millis(300)).await.is_none(),
        "no ACK before the user's"
    );
    alice.ack(&dialog, RequestOptions::new()).await.unwrap();
    let first = next_ack(&peer, Duration::from_secs(5))
        .await
        .expect("the user's ACK");
    peer.send_to(ok.as_bytes(), alice_addr).await.unwrap();
    let again = next_ack(&peer, Duration::from_secs(5))
        .await
        .expect("the ACK again for the retransmitted 2xx");
    assert_eq!(header(&again, "CSeq"), header(&first, "CSeq"));
    alice.stop().await;
}

#[tokio::test]
async fn rfc3261_13_2_2_4_a_2xx_from_another_fork_is_acked_and_its_dialog_ended_with_bye() {
    let alice = caller().await;
    let peer = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let me = peer.local_addr().unwrap();
    let uri = format!("sip:bob@{me}");
    let call = tokio::spawn({
        let alice = alice.clone();
        async move { alice.invite(&uri, RequestOptions::new()).await }
    });
    let (ok, alice_addr) = answer_invite(&peer).await;
    next_ack(&peer, Duration::from_secs(5))
        .await
        .expect("the ACK for the first 2xx");
    let reply = call.await.unwrap().unwrap();
    assert_eq!(reply.code(), 200);
    // A second fork (another To tag) answers the same INVITE.
    let fork = ok
        .replace("tag=callee1", "tag=callee2")
        .replace(&format!("<sip:callee@{me}>"), &format!("<sip:fork2@{me}>"));
    peer.send_to(fork.as_bytes(), alice_addr).await.unwrap();
    let mut ack = None;
    let mut bye = None;
    for _ in 0..4 {
        let Some((m, from)) = next(&peer, Duration::from_secs(5)).await else {
            break;
        };
        if m.starts_with("ACK ") {
            ack = Some(m);
        } else if m.starts_with("BYE ") {
            // Answer it, as the fork would.
            let resp = format!(
                "SIP/2.0 200 OK\r\n{}\r\n{}\r\n{}\r\n{}\r\n{}\r\nContent-Length: 0\r\n\r\n",
                header(&m, "Via"),
                header(&m, "From"),
                header(&m, "To"),
                header(&m, "Call-ID"),
                header(&m, "CSeq"),
            );
            peer.send_to(resp.as_bytes(), from).await.unwrap();
            bye = Some(m);
        }
        if ack.is_some() && bye.is_some() {
            break;
        }
    }
    let ack = ack.expect("an ACK for the other fork's 2xx");
    assert!(header(&ack, "To").contains("tag=callee2"), "{ack}");
    assert!(ack.starts_with(&format!("ACK sip:fork2@{me}")), "{ack}");
    let bye = bye.expect("a BYE ending the other fork's dialog");
    assert!(header(&bye, "To").contains("tag=callee2"), "{bye}");
    // The caller's own dialog is untouched.
    let d = reply.dialog().unwrap();
    assert_eq!(d.remote_tag(), "callee1");
    assert_eq!(alice.dialog_count(), 1);
    alice.stop().await;
}

/// A response `status` of fork `tag` (its Contact user `user`) at `me` to
/// `request`.
fn fork_response(request: &str, status: &str, tag: &str, user: &str, me: SocketAddr) -> String {
    format!(
        "SIP/2.0 {status}\r\n{}\r\n{}\r\n{};tag={tag}\r\n{}\r\n{}\r\nContact: <sip:{user}@{me}>\r\nContent-Length: 0\r\n\r\n",
        header(request, "Via"),
        header(request, "From"),
        header(request, "To"),
        header(request, "Call-ID"),
        header(request, "CSeq"),
    )
}

#[tokio::test]
async fn rfc3261_12_2_1_1_a_losing_forks_bye_comes_after_what_the_caller_sent_in_its_early_dialog()
{
    let alice = caller().await;
    let peer = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let me = peer.local_addr().unwrap();
    let uri = format!("sip:bob@{me}");
    let (tx, mut early) = tokio::sync::mpsc::unbounded_channel();
    let call = tokio::spawn({
        let alice = alice.clone();
        async move {
            alice
                .invite(
                    &uri,
                    RequestOptions::new().on_provisional(move |r| {
                        let _ = tx.send(r.dialog().cloned());
                    }),
                )
                .await
        }
    });
    let (invite, alice_addr) = next(&peer, Duration::from_secs(5)).await.expect("INVITE");
    assert!(invite.starts_with("INVITE "), "{invite}");
    let invite_seq: u32 = header(&invite, "CSeq")
        .split_whitespace()
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    // Two forks ring (§12.1.2: an early dialog each).
    for (tag, user) in [("callee2", "fork2"), ("callee1", "callee")] {
        let ring = fork_response(&invite, "180 Ringing", tag, user, me);
        peer.send_to(ring.as_bytes(), alice_addr).await.unwrap();
    }
    let mut forks = Vec::new();
    for _ in 0..2 {
        forks.push(
            early
                .recv()
                .await
                .unwrap()
                .expect("an early dialog per fork"),
        );
    }
    let fork2 = forks
        .iter()
        .find(|d| d.remote_tag() == "callee2")
        .unwrap()
        .clone();
    // The caller sends INFO in fork 2's early dialog: CSeq N+1.
    let info = tokio::spawn({
        let alice = alice.clone();
        async move { alice.info(&fork2, RequestOptions::new()).await }
    });
    let (m, from) = next(&peer, Duration::from_secs(5)).await.expect("INFO");
    assert!(m.starts_with("INFO "), "{m}");
    assert_eq!(header(&m, "CSeq"), format!("CSeq: {} INFO", invite_seq + 1));
    let ok = fork_response(&m, "200 OK", "callee2", "fork2", me);
    peer.send_to(ok.as_bytes(), from).await.unwrap();
    assert_eq!(info.await.unwrap().unwrap().code(), 200);
    // Fork 1 answers first: the call is fork 1's.
    let ok1 = fork_response(&invite, "200 OK", "callee1", "callee", me);
    peer.send_to(ok1.as_bytes(), alice_addr).await.unwrap();
    next_ack(&peer, Duration::from_secs(5))
        .await
        .expect("the ACK for fork 1's 2xx");
    let reply = call.await.unwrap().unwrap();
    assert_eq!(reply.dialog().unwrap().remote_tag(), "callee1");
    assert_eq!(alice.dialog_count(), 1);
    // Fork 2 answers late: ACK, then a BYE numbered after the INFO
    // (§12.2.1.1; the fork answers 500 to a lower one, §12.2.2).
    let ok2 = fork_response(&invite, "200 OK", "callee2", "fork2", me);
    peer.send_to(ok2.as_bytes(), alice_addr).await.unwrap();
    let mut bye = None;
    for _ in 0..4 {
        let Some((m, _)) = next(&peer, Duration::from_secs(5)).await else {
            break;
        };
        if m.starts_with("BYE ") {
            bye = Some(m);
            break;
        }
    }
    let bye = bye.expect("a BYE ending fork 2's call");
    assert!(header(&bye, "To").contains("tag=callee2"), "{bye}");
    let bye_seq: u32 = header(&bye, "CSeq")
        .split_whitespace()
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    assert!(bye_seq > invite_seq + 1, "{bye}");
    alice.stop().await;
}
