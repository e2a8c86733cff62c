//! The main demo: two Services on 127.0.0.1, "alice" calling "bob", each a
//! full stack (transport, transactions, dialogs). Over UDP and then TCP,
//! alice sends OPTIONS, REGISTER (challenged with 401, answered with digest
//! credentials), MESSAGE, a busy INVITE, an answered INVITE that rings
//! first (the ACK goes out by itself) followed by INFO, hold and resume
//! re-INVITEs, a REFER (reported by NOTIFYs) and BYE, an INVITE that rings
//! (with an INFO in its early dialog) until she CANCELs it, and a presence
//! SUBSCRIBE that bob NOTIFYs, then ends.
//!
//! `cargo run -p sip-uac --example tour`
//!
//! Bob's behaviour is picked by the Request-URI user: `busy` gets 486,
//! `slow` rings until cancelled, anyone else is answered with SDP.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use md5::{Digest, Md5};
use sip_message::headers::Authorization;
use sip_message::headers::Transport;
use sip_message::{Message, Method};
use sip_uac::{
    default_answer, default_in_dialog_answer, Answer, Handler, Reply, RequestOptions, Service,
    SubscriptionId,
};

const SDP: &str = "v=0\r\no=bob 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 49170 RTP/AVP 0\r\n";

/// Bob: a tiny callee, registrar and presence server.
#[derive(Clone, Default)]
struct Bob {
    /// Subscriptions bob granted (SUBSCRIBE, REFER), for his NOTIFYs.
    subscriptions: Arc<Mutex<Vec<SubscriptionId>>>,
}

impl Handler for Bob {
    fn on_request(&self, r: &Message) -> Answer {
        let user = r
            .request_uri()
            .and_then(Result::ok)
            .and_then(|u| u.as_sip().and_then(|s| s.user().map(str::to_owned)));
        match (r.method(), user.as_deref()) {
            (Some(Method::Invite), Some("busy")) => Answer::code(486),
            (Some(Method::Invite), Some("slow")) => Answer::code(180),
            (Some(Method::Invite), _) => Answer::code(200)
                .body("application/sdp", SDP)
                .with_provisional(Answer::code(180)),
            (Some(Method::Subscribe), _) => Answer::code(200),
            (Some(Method::Message), _) => {
                println!(
                    "    bob got MESSAGE: {:?}",
                    String::from_utf8_lossy(r.body_bytes())
                );
                Answer::code(200)
            }
            // A registrar with digest authentication (RFC 3261 §22.4):
            // 401 until the credentials check out.
            (Some(Method::Register), _) => match r.get::<Authorization>() {
                Ok(a) if digest_ok(&a, "REGISTER") => Answer::code(200),
                _ => Answer::code(401).header(
                    "WWW-Authenticate",
                    "Digest realm=\"tour\", nonce=\"5f2b1c\", qop=\"auth\"",
                ),
            },
            _ => default_answer(r),
        }
    }

    fn on_in_dialog_request(&self, r: &Message) -> Answer {
        match r.method() {
            // Bob accepts transfers; he reports on them with NOTIFYs.
            Some(Method::Refer) => Answer::code(202),
            // A re-INVITE (hold, resume): bob answers the new offer.
            Some(Method::Invite) if !r.body_bytes().is_empty() => {
                let held = String::from_utf8_lossy(r.body_bytes()).contains("a=sendonly");
                let sdp = if held {
                    format!("{SDP}a=recvonly\r\n")
                } else {
                    SDP.to_owned()
                };
                Answer::code(200).body("application/sdp", sdp)
            }
            _ => default_in_dialog_answer(r),
        }
    }

    fn on_subscription(&self, id: &SubscriptionId, _request: &Message) {
        if let Ok(mut s) = self.subscriptions.lock() {
            s.push(id.clone());
        }
    }
}

/// Alice prints the NOTIFYs she gets.
struct Alice;

impl Handler for Alice {
    fn on_in_dialog_request(&self, r: &Message) -> Answer {
        if r.method() == Some(&Method::Notify) {
            let state = r
                .values_by_name("subscription-state")
                .next()
                .map(String::from_utf8_lossy)
                .unwrap_or_default();
            println!(
                "    alice got NOTIFY ({state}): {:?}",
                String::from_utf8_lossy(r.body_bytes()).trim_end()
            );
        }
        default_in_dialog_answer(r)
    }
}

/// The newest subscription bob granted.
fn granted(bob: &Bob) -> Option<SubscriptionId> {
    bob.subscriptions.lock().ok()?.last().cloned()
}

/// Bob's check of alice's digest (RFC 7616 §3.4.1, MD5, qop=auth); the
/// password is "secret".
fn digest_ok(a: &Authorization, method: &str) -> bool {
    let p = |name: &str| a.param(name).map(|v| v.into_owned());
    let h = |s: String| format!("{:x}", Md5::digest(s.as_bytes()));
    let (Some(user), Some(uri), Some(nc), Some(cnonce), Some(resp)) =
        (p("username"), p("uri"), p("nc"), p("cnonce"), p("response"))
    else {
        return false;
    };
    let ha1 = h(format!("{user}:tour:secret"));
    let ha2 = h(format!("{method}:{uri}"));
    resp == h(format!("{ha1}:5f2b1c:{nc}:{cnonce}:auth:{ha2}"))
}

/// Prints a reply; counts it as a surprise when its code is not `expected`
/// (the demo then exits with an error, so `scripts/test` notices).
fn show(what: &str, t: Instant, r: &Reply, expected: u16, surprises: &mut u32) {
    let mark = if r.code() == expected {
        ""
    } else {
        *surprises += 1;
        "   <-- unexpected"
    };
    println!(
        "  {what:<28} -> {} {} ({} us){}{mark}",
        r.code(),
        r.reason(),
        t.elapsed().as_micros(),
        r.dialog()
            .map(|d| format!(" dialog {d}"))
            .unwrap_or_default()
    );
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let any = "127.0.0.1:0".parse()?;
    let bob_handler = Bob::default();
    let bob = Service::builder("bob")
        .udp(any)
        .tcp(any)
        .handler(bob_handler.clone())
        .start()
        .await?;
    let alice = Service::builder("alice")
        .udp(any)
        .tcp(any)
        .from("\"Alice\" <sip:alice@127.0.0.1>")
        .handler(Alice)
        .start()
        .await?;

    let mut surprises = 0;
    for kind in [Transport::Udp, Transport::Tcp] {
        let addr = bob.local_addr(kind).ok_or("bob has no listener")?;
        let t = if kind == Transport::Tcp {
            ";transport=tcp"
        } else {
            ""
        };
        println!("{kind} to bob at {addr}");

        let at = Instant::now();
        let r = alice
            .options(&format!("sip:{addr}{t}"), RequestOptions::new())
            .await?;
        show("OPTIONS", at, &r, 200, &mut surprises);

        let at = Instant::now();
        let r = alice
            .register(
                &format!("sip:{addr}{t}"),
                RequestOptions::new().expires(600).auth("alice", "secret"),
            )
            .await?;
        show("REGISTER (401, then digest)", at, &r, 200, &mut surprises);

        let at = Instant::now();
        let r = alice
            .message(
                &format!("sip:bob@{addr}{t}"),
                RequestOptions::new().body("text/plain", "hello from alice"),
            )
            .await?;
        show("MESSAGE", at, &r, 200, &mut surprises);

        let at = Instant::now();
        let r = alice
            .invite(&format!("sip:busy@{addr}{t}"), RequestOptions::new())
            .await?;
        show("INVITE busy", at, &r, 486, &mut surprises);

        let at = Instant::now();
        let r = alice
            .invite(
                &format!("sip:bob@{addr}{t}"),
                RequestOptions::new()
                    .body("application/sdp", SDP.replace("bob", "alice"))
                    .on_provisional(|p| println!("    ringing: {} {}", p.code(), p.reason())),
            )
            .await?;
        show("INVITE (ACK sent by itself)", at, &r, 200, &mut surprises);
        if let Some(dialog) = r.dialog().cloned() {
            let at = Instant::now();
            let r = alice.info(&dialog, RequestOptions::new()).await?;
            show("  INFO", at, &r, 200, &mut surprises);
            // Hold and resume: re-INVITEs with a new offer (RFC 3261 §14,
            // RFC 3264 §8.4), each ACKed by the stack.
            let alice_sdp = SDP.replace("bob", "alice");
            for (what, sdp) in [
                ("  re-INVITE (hold)", format!("{alice_sdp}a=sendonly\r\n")),
                ("  re-INVITE (resume)", alice_sdp.clone()),
            ] {
                let at = Instant::now();
                let r = alice
                    .reinvite(&dialog, RequestOptions::new().body("application/sdp", sdp))
                    .await?;
                show(what, at, &r, 200, &mut surprises);
            }
            let at = Instant::now();
            let r = alice
                .refer(
                    &dialog,
                    RequestOptions::new().refer_to(&format!("sip:carol@{addr}")),
                )
                .await?;
            show("  REFER to carol", at, &r, 202, &mut surprises);
            if let Some(id) = granted(&bob_handler) {
                // RFC 3515 §2.4.5: how the referral went, as a sipfrag.
                let at = Instant::now();
                let n = bob
                    .notify(
                        &id,
                        RequestOptions::new()
                            .body("message/sipfrag;version=2.0", "SIP/2.0 200 OK\r\n")
                            .subscription_state("terminated;reason=noresource"),
                    )
                    .await?;
                show("  bob's NOTIFY (sipfrag 200)", at, &n, 200, &mut surprises);
            }
            let at = Instant::now();
            let r = alice.bye(&dialog, RequestOptions::new()).await?;
            show("  BYE", at, &r, 200, &mut surprises);
        }

        let at = Instant::now();
        // The 180's reply names the early dialog it made (RFC 3261 §12.1.2).
        let (early_tx, mut early_rx) = tokio::sync::mpsc::unbounded_channel();
        let mut pending = alice
            .invite_async(
                &format!("sip:slow@{addr}{t}"),
                RequestOptions::new().on_provisional(move |p| {
                    let _ = early_tx.send(p.dialog().cloned());
                }),
            )
            .await?;
        let early = tokio::time::timeout(std::time::Duration::from_secs(5), early_rx.recv())
            .await
            .ok()
            .flatten()
            .flatten();
        if let Some(early) = early {
            // A request in the early dialog, before any answer (RFC 6086
            // §4.2 allows INFO there; RFC 3311 UPDATE too).
            let at = Instant::now();
            let r = alice.info(&early, RequestOptions::new()).await?;
            show("  INFO in the early dialog", at, &r, 200, &mut surprises);
        } else {
            println!("  no early dialog: the 180 did not come");
            surprises += 1;
        }
        alice.cancel(&pending).await?;
        let r = pending.reply().await;
        show("INVITE ringing, CANCELled", at, &r, 487, &mut surprises);

        let at = Instant::now();
        let r = alice
            .subscribe(
                &format!("sip:bob@{addr}{t}"),
                RequestOptions::new().event("presence").expires(300),
            )
            .await?;
        show("SUBSCRIBE presence", at, &r, 200, &mut surprises);
        if let Some(id) = granted(&bob_handler) {
            for state in ["active", "terminated;reason=noresource"] {
                let at = Instant::now();
                let n = bob
                    .notify(
                        &id,
                        RequestOptions::new()
                            .body("application/pidf+xml", "<presence>open</presence>")
                            .subscription_state(state),
                    )
                    .await?;
                show(
                    &format!("  bob's NOTIFY {state}"),
                    at,
                    &n,
                    200,
                    &mut surprises,
                );
            }
        }
    }

    println!(
        "dialogs left: alice {}, bob {}",
        alice.dialog_count(),
        bob.dialog_count()
    );
    alice.stop().await;
    bob.stop().await;
    if surprises > 0 {
        return Err(format!("{surprises} unexpected replies").into());
    }
    Ok(())
}
