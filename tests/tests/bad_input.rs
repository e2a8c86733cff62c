//! A hostile or broken callee: responses to INVITE with a wrong Call-ID, a
//! 2xx without To tag, a 2xx with a garbage Contact, a 2xx without Contact.
//! The caller must never panic or wait forever: it gets the response or a
//! clear error, and its service keeps serving other requests.

use std::time::Duration;

use sip_message::headers::Transport;
use sip_uac::{RequestOptions, Service};
use tokio::net::UdpSocket;

use sip_tests::header_line as header;

/// A raw UDP "callee" that answers each INVITE with `make(request)` and
/// ignores everything else (ACKs, BYEs), for a bounded number of packets.
async fn raw_callee(
    make: fn(&str) -> String,
) -> (std::net::SocketAddr, tokio::task::JoinHandle<()>) {
    let sock = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = sock.local_addr().unwrap();
    let task = tokio::spawn(async move {
        let mut buf = vec![0u8; 65536];
        for _ in 0..50 {
            let Ok(Ok((n, from))) =
                tokio::time::timeout(Duration::from_secs(10), sock.recv_from(&mut buf)).await
            else {
                return;
            };
            let req = String::from_utf8_lossy(&buf[..n]).into_owned();
            if req.starts_with("INVITE ") {
                let _ = sock.send_to(make(&req).as_bytes(), from).await;
            }
        }
    });
    (addr, task)
}

fn response(
    req: &str,
    to_tag: Option<&str>,
    call_id: Option<&str>,
    contact: Option<&str>,
) -> String {
    let to = match to_tag {
        Some(t) => format!("{};tag={t}", header(req, "To")),
        None => header(req, "To").to_owned(),
    };
    let cid = match call_id {
        Some(c) => format!("Call-ID: {c}"),
        None => header(req, "Call-ID").to_owned(),
    };
    let contact = contact
        .map(|c| format!("Contact: {c}\r\n"))
        .unwrap_or_default();
    format!(
        "SIP/2.0 200 OK\r\n{}\r\n{}\r\n{to}\r\n{cid}\r\n{}\r\n{contact}Content-Length: 0\r\n\r\n",
        header(req, "Via"),
        header(req, "From"),
        header(req, "CSeq"),
    )
}

async fn check(make: fn(&str) -> String, what: &str) {
    let alice = Service::builder("alice")
        .udp("127.0.0.1:0".parse().unwrap())
        .start()
        .await
        .unwrap();
    let (addr, task) = raw_callee(make).await;
    // Timer B (64*T1 = 32 s) bounds the wait; the outer timeout only keeps
    // a broken build from hanging the suite.
    let r = tokio::time::timeout(
        Duration::from_secs(60),
        alice.invite(&format!("sip:bob@{addr}"), RequestOptions::new()),
    )
    .await
    .unwrap_or_else(|_| panic!("{what}: the caller waited forever"));
    match &r {
        Ok(reply) => eprintln!("{what}: reply {} dialog {:?}", reply.code(), reply.dialog()),
        Err(e) => eprintln!("{what}: error {e}"),
    }
    // The service still serves: OPTIONS to a well-behaved peer.
    let bob = Service::builder("bob")
        .udp("127.0.0.1:0".parse().unwrap())
        .start()
        .await
        .unwrap();
    let b = bob.local_addr(Transport::Udp).unwrap();
    let o = alice
        .options(&format!("sip:{b}"), RequestOptions::new())
        .await
        .unwrap();
    assert_eq!(o.code(), 200, "{what}: the service stopped serving");
    task.abort();
    alice.stop().await;
    bob.stop().await;
    // What each case must give, beyond not hanging:
    (CHECKS.iter().find(|(w, _)| *w == what).unwrap().1)(&r);
}

type Verdict = fn(&Result<sip_uac::Reply, sip_uac::Error>);

const CHECKS: &[(&str, Verdict)] = &[
    // §17.1.3 matching is by branch and method, so the response reaches the
    // transaction; but it is not the INVITE's (§8.2.6.2: the UAS copies the
    // Call-ID), so the caller gets it without a dialog, never a hang.
    ("wrong Call-ID", |r| {
        if let Ok(r) = r {
            assert!(r.dialog().is_none(), "no dialog from another call's 2xx");
        }
    }),
    // A 2xx without To tag cannot make a dialog (§12.1.2 needs the remote tag).
    ("2xx without To tag", |r| {
        if let Ok(r) = r {
            assert!(r.dialog().is_none(), "no dialog without a To tag");
        }
    }),
    ("2xx with a garbage Contact", |r| {
        if let Ok(r) = r {
            assert!(
                r.dialog().is_none(),
                "no dialog without a usable remote target"
            );
        }
    }),
    // §12.1.2: the remote target comes from the Contact; without one there
    // is no dialog to use.
    ("2xx without Contact", |r| {
        if let Ok(r) = r {
            assert!(r.dialog().is_none(), "no dialog without a remote target");
        }
    }),
];

#[tokio::test]
async fn a_2xx_with_the_wrong_call_id_neither_panics_nor_hangs() {
    check(
        |req| {
            response(
                req,
                Some("t1"),
                Some("not-the-call"),
                Some("<sip:bob@127.0.0.1>"),
            )
        },
        "wrong Call-ID",
    )
    .await;
}

#[tokio::test]
async fn a_2xx_without_to_tag_gives_no_dialog() {
    check(
        |req| response(req, None, None, Some("<sip:bob@127.0.0.1>")),
        "2xx without To tag",
    )
    .await;
}

#[tokio::test]
async fn a_2xx_with_a_garbage_contact_gives_no_dialog() {
    check(
        |req| response(req, Some("t3"), None, Some("<<garbage @@ ;;>")),
        "2xx with a garbage Contact",
    )
    .await;
}

#[tokio::test]
async fn a_2xx_without_contact_gives_no_dialog() {
    check(
        |req| response(req, Some("t4"), None, None),
        "2xx without Contact",
    )
    .await;
}

/// Sends `text` to `to` from a raw socket and returns the status code of
/// the first response (bounded wait).
async fn status_of(sock: &UdpSocket, to: std::net::SocketAddr, text: &str) -> Option<u16> {
    sock.send_to(text.as_bytes(), to).await.ok()?;
    let mut buf = vec![0u8; 65536];
    for _ in 0..10 {
        let (n, _) = tokio::time::timeout(Duration::from_secs(5), sock.recv_from(&mut buf))
            .await
            .ok()?
            .ok()?;
        let m = sip_message::Message::parse(bytes::Bytes::copy_from_slice(&buf[..n])).ok()?;
        if let Some(code) = m.status().filter(|c| *c >= 200) {
            return Some(code);
        }
    }
    None
}

/// Hostile requests for the event and 100rel machinery get the right error
/// response, and the service keeps serving.
#[tokio::test]
async fn stray_notify_prack_and_requires_get_error_responses() {
    let any = "127.0.0.1:0".parse().unwrap();
    let with = Service::builder("with")
        .udp(any)
        .extension(sip_100rel::Rel100::new())
        .start()
        .await
        .unwrap();
    let without = Service::builder("without").udp(any).start().await.unwrap();
    let sock = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let me = sock.local_addr().unwrap();
    let req = |method: &str, n: u32, extra: &str, to_tag: bool| {
        let tag = if to_tag { ";tag=nosuch" } else { "" };
        format!(
            "{method} sip:x@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP {me};branch=z9hG4bKbad{method}{n}\r\nMax-Forwards: 70\r\n\
             From: <sip:evil@{me}>;tag=e{n}\r\nTo: <sip:x@127.0.0.1>{tag}\r\nCall-ID: bad-{n}\r\nCSeq: {n} {method}\r\n\
             Contact: <sip:evil@{me}>\r\n{extra}Content-Length: 0\r\n\r\n"
        )
    };
    let w = with.local_addr(Transport::Udp).unwrap();
    let wo = without.local_addr(Transport::Udp).unwrap();
    let cases = [
        // NOTIFY for no subscription (RFC 6665 §4.1.3): 481.
        (
            w,
            req(
                "NOTIFY",
                1,
                "Event: presence\r\nSubscription-State: active\r\n",
                true,
            ),
            481,
        ),
        // PRACK matching nothing (RFC 3262 §3): 481; with a bad RAck: 400.
        (w, req("PRACK", 2, "RAck: 1 1 INVITE\r\n", true), 481),
        (w, req("PRACK", 3, "RAck: one two\r\n", true), 400),
        // Without the plugin PRACK is not allowed at all: 405.
        (wo, req("PRACK", 4, "RAck: 1 1 INVITE\r\n", true), 405),
        // Require of an unknown extension: 420 (RFC 3261 §8.2.2.3).
        (wo, req("INVITE", 5, "Require: 100rel, foo\r\n", false), 420),
        (w, req("OPTIONS", 6, "Require: foo\r\n", false), 420),
        // SUBSCRIBE to a package nobody serves: 489.
        (w, req("SUBSCRIBE", 7, "Event: presence\r\n", false), 489),
    ];
    for (to, text, want) in cases {
        let got = status_of(&sock, to, &text).await;
        assert_eq!(got, Some(want), "{}", text.lines().next().unwrap_or(""));
    }
    // Both still serve.
    let alice = Service::builder("alice").udp(any).start().await.unwrap();
    for s in [w, wo] {
        let r = alice
            .options(&format!("sip:{s}"), RequestOptions::new())
            .await
            .unwrap();
        assert_eq!(r.code(), 200);
    }
    assert_eq!(with.dialog_count() + without.dialog_count(), 0);
}
