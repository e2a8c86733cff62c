//! A hostile or broken callee: responses to INVITE with a wrong Call-ID, a
//! 2xx without To tag, a 2xx with a garbage Contact, a 2xx without Contact.
//! The caller must never panic or wait forever: it gets the response or a
//! clear error, and its service keeps serving other requests.

use std::time::Duration;

use sip_message::headers::Transport;
use sip_uac::{RequestOptions, Service};
use tokio::net::UdpSocket;

/// Copies `name`'s header line from `req` (first occurrence).
fn header<'a>(req: &'a str, name: &str) -> &'a str {
    req.split("\r\n")
        .find(|l| {
            l.split_once(':')
                .is_some_and(|(n, _)| n.trim().eq_ignore_ascii_case(name))
        })
        .unwrap_or("")
}

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
