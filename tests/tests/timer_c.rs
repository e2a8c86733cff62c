//! Timer C (RFC 3261 §16.6 step 11, §16.7 step 2; NkSIP's `sip_timer_c`):
//! an INVITE that rings without a final response is CANCELled when Timer C
//! runs out, and its caller gets 408 "Timer C Timeout". Every provisional
//! restarts the timer. A callee that also ignores the CANCEL cannot hold
//! the caller: the INVITE ends 64*T1 after its CANCEL (§9.1). All on
//! virtual time, against a raw UDP callee on loopback.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sip_tests::header_line as header;
use sip_uac::{RequestOptions, Service};
use tokio::net::UdpSocket;

/// A response `code` of the raw callee at `me` to `request`.
fn response_to(request: &str, code: &str, me: SocketAddr) -> String {
    format!(
        "SIP/2.0 {code}\r\n{}\r\n{}\r\n{};tag=ringer\r\n{}\r\n{}\r\nContact: <sip:ringer@{me}>\r\nContent-Length: 0\r\n\r\n",
        header(request, "Via"),
        header(request, "From"),
        header(request, "To"),
        header(request, "Call-ID"),
        header(request, "CSeq"),
    )
}

/// How the raw callee behaves.
#[derive(Clone, Copy)]
struct Ringer {
    /// Further 180s after the first, this far apart.
    rings: u32,
    every: Duration,
    /// Whether the INVITE gets its 487 when the CANCEL comes,
    answers_cancel: bool,
    /// and how long after the CANCEL's 200.
    answer_delay: Duration,
}

impl Ringer {
    /// One 180, then the answer to a CANCEL as said.
    fn once(answers_cancel: bool, answer_delay: Duration) -> Ringer {
        Ringer {
            rings: 0,
            every: Duration::ZERO,
            answers_cancel,
            answer_delay,
        }
    }
}

/// What the raw callee saw: when the CANCEL came (virtual time since the
/// INVITE).
type Seen = Arc<Mutex<Option<Duration>>>;

/// Runs the raw callee: 180 to the INVITE, `rings` more 180s, 200 to a
/// CANCEL and, if `answers_cancel`, 487 to the INVITE. Bounded in messages.
fn ringer(peer: UdpSocket, how: Ringer) -> Seen {
    let seen: Seen = Arc::default();
    let saw = seen.clone();
    tokio::spawn(async move {
        let me = peer.local_addr().unwrap();
        let mut buf = vec![0u8; 65536];
        let mut invite: Option<(String, SocketAddr, tokio::time::Instant)> = None;
        for _ in 0..50 {
            let Ok((n, from)) = peer.recv_from(&mut buf).await else {
                return;
            };
            let m = String::from_utf8_lossy(&buf[..n]).into_owned();
            if m.starts_with("INVITE ") && invite.is_none() {
                let ring = response_to(&m, "180 Ringing", me);
                peer.send_to(ring.as_bytes(), from).await.unwrap();
                invite = Some((m, from, tokio::time::Instant::now()));
                // Nothing else is expected while it rings.
                for _ in 0..how.rings {
                    tokio::time::sleep(how.every).await;
                    peer.send_to(ring.as_bytes(), from).await.unwrap();
                }
            } else if m.starts_with("CANCEL ") {
                let (inv, to, at) = invite.clone().expect("CANCEL after INVITE");
                *saw.lock().unwrap() = Some(at.elapsed());
                peer.send_to(response_to(&m, "200 OK", me).as_bytes(), from)
                    .await
                    .unwrap();
                if how.answers_cancel {
                    tokio::time::sleep(how.answer_delay).await;
                    let terminated = response_to(&inv, "487 Request Terminated", me);
                    peer.send_to(terminated.as_bytes(), to).await.unwrap();
                }
            }
            // ACKs and retransmissions need nothing more.
        }
    });
    seen
}

/// A raw callee behaving as `how` on a loopback port: its URI and what it
/// saw.
async fn ringing_callee(how: Ringer) -> (String, Seen) {
    let peer = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let uri = format!("sip:ringer@{}", peer.local_addr().unwrap());
    (uri, ringer(peer, how))
}

/// An async INVITE from `alice` to `uri`, once its 180 came.
async fn ringing_call(alice: &Service, uri: &str) -> sip_uac::PendingInvite {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let call = alice
        .invite_async(
            uri,
            RequestOptions::new().on_provisional(move |r| {
                let _ = tx.send(r.code());
            }),
        )
        .await
        .unwrap();
    assert_eq!(rx.recv().await, Some(180));
    call
}

async fn caller(timer_c: Option<Duration>) -> Service {
    let b = Service::builder("alice").udp("127.0.0.1:0".parse().unwrap());
    match timer_c {
        Some(d) => b.timer_c(d),
        None => b,
    }
    .start()
    .await
    .unwrap()
}

#[tokio::test(start_paused = true)]
async fn timer_c_restarts_on_each_provisional_then_cancels_with_408() {
    // Rings at 0, 6 and 12 s; Timer C of 10 s runs out at 22 s.
    let (uri, seen) = ringing_callee(Ringer {
        rings: 2,
        every: Duration::from_secs(6),
        answers_cancel: true,
        answer_delay: Duration::ZERO,
    })
    .await;
    let alice = caller(Some(Duration::from_secs(10))).await;
    let provisionals = Arc::new(Mutex::new(0));
    let count = provisionals.clone();
    let start = tokio::time::Instant::now();
    let r = alice
        .invite(
            &uri,
            RequestOptions::new().on_provisional(move |_| *count.lock().unwrap() += 1),
        )
        .await
        .unwrap();
    assert_eq!((r.code(), r.reason()), (408, "Timer C Timeout"));
    assert!(r.dialog().is_none());
    assert_eq!(*provisionals.lock().unwrap(), 3);
    let cancel_at = seen.lock().unwrap().expect("the INVITE was CANCELled");
    assert!(
        cancel_at >= Duration::from_secs(22) && cancel_at < Duration::from_secs(23),
        "Timer C restarted by the last 180 (12 s) runs out at 22 s: {cancel_at:?}"
    );
    assert!(
        start.elapsed() < Duration::from_secs(30),
        "the 487 ended it"
    );
    alice.stop().await;
}

#[tokio::test(start_paused = true)]
async fn default_timer_c_is_three_minutes_and_a_callee_ignoring_cancel_cannot_hold_the_caller() {
    let (uri, seen) = ringing_callee(Ringer::once(false, Duration::ZERO)).await;
    let alice = caller(None).await;
    let start = tokio::time::Instant::now();
    let r = alice.invite(&uri, RequestOptions::new()).await.unwrap();
    assert_eq!((r.code(), r.reason()), (408, "Timer C Timeout"));
    let cancel_at = seen.lock().unwrap().expect("the INVITE was CANCELled");
    assert!(
        cancel_at >= sip_uac::DEFAULT_TIMER_C && cancel_at < Duration::from_secs(181),
        "{cancel_at:?}"
    );
    // §9.1: no final after the CANCEL: the INVITE ends 64*T1 later.
    let waited = start.elapsed();
    assert!(
        waited >= Duration::from_secs(180 + 32) && waited < Duration::from_secs(180 + 40),
        "{waited:?}"
    );
    alice.stop().await;
}

#[tokio::test(start_paused = true)]
async fn an_invite_cancelled_by_its_expires_gets_the_callees_487() {
    // The INVITE's own Expires CANCELs first (5 s < Timer C): the reply is
    // the callee's 487, not a Timer C timeout.
    let (uri, seen) = ringing_callee(Ringer::once(true, Duration::ZERO)).await;
    let alice = caller(None).await;
    let r = alice
        .invite(&uri, RequestOptions::new().expires(5))
        .await
        .unwrap();
    assert_eq!(r.code(), 487);
    let cancel_at = seen.lock().unwrap().expect("the INVITE was CANCELled");
    assert!(cancel_at >= Duration::from_secs(5) && cancel_at < Duration::from_secs(6));
    alice.stop().await;
}

/// RFC 3263 §4.3 failover is for failures, not for a call the user
/// cancelled: the INVITE to the first address is CANCELled, the callee
/// ignores it, and when §9.1's bound ends the INVITE no new one goes to
/// the next address of the name.
#[tokio::test(start_paused = true)]
async fn no_failover_to_the_next_address_after_a_cancel() {
    let (uri, seen) = ringing_callee(Ringer::once(false, Duration::ZERO)).await;
    let first: SocketAddr = uri.trim_start_matches("sip:ringer@").parse().unwrap();
    let other = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let alice = Service::builder("alice")
        .udp("127.0.0.1:0".parse().unwrap())
        .resolver(Arc::new(sip_tests::FixedResolver(vec![
            first,
            other.local_addr().unwrap(),
        ])))
        .start()
        .await
        .unwrap();
    let mut call = ringing_call(&alice, "sip:ringer@pool.example.com").await;
    alice.cancel(&call).await.unwrap();
    let r = call.reply().await;
    assert_eq!((r.code(), r.reason()), (408, "Timer B Timeout"));
    assert!(seen.lock().unwrap().is_some(), "the CANCEL went out");
    let mut buf = [0u8; 2048];
    assert!(
        tokio::time::timeout(Duration::from_secs(1), other.recv_from(&mut buf))
            .await
            .is_err(),
        "nothing reached the next address"
    );
    alice.stop().await;
}

/// Timer C bounds a re-INVITE too, and its 408 (made of the callee's 487
/// to our CANCEL) ends only that transaction: the call goes on (RFC 5057:
/// 487 is transaction-only).
#[tokio::test(start_paused = true)]
async fn a_reinvite_that_only_rings_is_cancelled_by_timer_c_and_the_call_goes_on() {
    let peer = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let me = peer.local_addr().unwrap();
    let alice = caller(Some(Duration::from_secs(10))).await;
    // The raw callee: 200 to the INVITE, 100 only to the re-INVITE, then
    // 200 to the CANCEL and 487 to the re-INVITE.
    let callee = tokio::spawn(async move {
        let mut buf = vec![0u8; 65536];
        let mut reinvite: Option<(String, SocketAddr)> = None;
        for _ in 0..20 {
            let Ok((n, from)) = peer.recv_from(&mut buf).await else {
                return;
            };
            let m = String::from_utf8_lossy(&buf[..n]).into_owned();
            if m.starts_with("INVITE ") && !m.contains(";tag=ringer") {
                let ok = response_to(&m, "200 OK", me);
                peer.send_to(ok.as_bytes(), from).await.unwrap();
            } else if m.starts_with("INVITE ") {
                let trying = response_to(&m, "100 Trying", me);
                peer.send_to(trying.as_bytes(), from).await.unwrap();
                reinvite = Some((m, from));
            } else if m.starts_with("CANCEL ") {
                let ok = response_to(&m, "200 OK", me);
                peer.send_to(ok.as_bytes(), from).await.unwrap();
                if let Some((inv, to)) = &reinvite {
                    let t = response_to(inv, "487 Request Terminated", me);
                    peer.send_to(t.as_bytes(), to).await.unwrap();
                }
            }
        }
    });
    let r = alice
        .invite(&format!("sip:ringer@{me}"), RequestOptions::new())
        .await
        .unwrap();
    assert_eq!(r.code(), 200);
    let id = r.dialog().unwrap().clone();
    let start = tokio::time::Instant::now();
    let re = alice
        .reinvite(
            &id,
            RequestOptions::new().body("application/sdp", "v=0\r\n"),
        )
        .await
        .unwrap();
    assert_eq!((re.code(), re.reason()), (408, "Timer C Timeout"));
    assert!(start.elapsed() >= Duration::from_secs(10));
    let info = alice.dialog(&id).expect("the call is still up");
    assert_eq!(info.invite_state, Some(sip_uac::InviteState::Confirmed));
    callee.abort();
    alice.stop().await;
}

/// The user's CANCEL comes first: when Timer C's deadline passes while the
/// callee is slow to send its 487, no second CANCEL goes out and the reply
/// is the callee's 487, not a Timer C timeout.
#[tokio::test(start_paused = true)]
async fn after_the_users_cancel_timer_c_stays_quiet() {
    let (uri, seen) = ringing_callee(Ringer::once(true, Duration::from_secs(20))).await;
    let alice = caller(Some(Duration::from_secs(10))).await;
    let mut call = ringing_call(&alice, &uri).await;
    tokio::time::sleep(Duration::from_secs(5)).await;
    alice.cancel(&call).await.unwrap();
    let r = call.reply().await;
    assert_eq!(r.code(), 487, "{}", r.reason());
    assert!(seen.lock().unwrap().is_some());
    alice.stop().await;
}
