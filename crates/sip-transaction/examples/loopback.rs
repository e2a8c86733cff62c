//! A demo against an embedded loopback peer: two endpoints on 127.0.0.1,
//! each a transport plus a transaction layer, exchange OPTIONS, MESSAGE, a
//! busy INVITE (the transaction sends the ACK), an answered INVITE (the
//! 2xx reaches the caller, who ACKs it) and a cancelled INVITE, over UDP
//! and then TCP.
//!
//! `cargo run -p sip-transaction --example loopback`
//!
//! The answering side's behaviour is picked by the Request-URI user:
//! `busy` gets 486, `slow` rings until cancelled, anyone else is answered.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use sip_message::headers::Transport as Kind;
use sip_message::{HeaderName, Message, Method, RequestBuilder, ResponseBuilder};
use sip_transaction::driver::{self, ClientTransaction, TransactionHandle};
use sip_transaction::{TimerConfig, TransactionEvent, TransactionId, TransactionLayer};
use sip_transport::{Target, Transport, TransportConfig};

async fn endpoint(
    kind: Kind,
) -> (
    TransactionHandle,
    Transport,
    tokio::sync::mpsc::Receiver<TransactionEvent>,
) {
    let any = "127.0.0.1:0".parse().unwrap();
    let mut cfg = TransportConfig::default().udp(any);
    if kind == Kind::Tcp {
        cfg = cfg.tcp(any);
    }
    let (t, rx) = Transport::bind(cfg).await.expect("bind 127.0.0.1");
    let (h, events, _task) =
        driver::spawn(TransactionLayer::new(TimerConfig::default()), t.clone(), rx);
    (h, t, events)
}

/// The answering side: a tiny transaction user.
async fn answer(h: TransactionHandle, mut events: tokio::sync::mpsc::Receiver<TransactionEvent>) {
    let mut ringing: HashMap<TransactionId, Message> = HashMap::new();
    while let Some(e) = events.recv().await {
        match e {
            TransactionEvent::Request {
                id,
                request,
                cancels,
                ..
            } => {
                let user = request
                    .request_uri()
                    .and_then(Result::ok)
                    .and_then(|u| u.as_sip().and_then(|s| s.user().map(str::to_owned)))
                    .unwrap_or_default();
                let reply = |code| {
                    ResponseBuilder::from_request(&request, code)
                        .with_to_tag("uas-1")
                        .build()
                        .unwrap()
                };
                match request.method() {
                    Some(Method::Invite) if user == "busy" => {
                        let _ = h.send_response(id, reply(486)).await;
                    }
                    Some(Method::Invite) if user == "slow" => {
                        let _ = h.send_response(id, reply(180)).await;
                        ringing.insert(id, request.clone());
                    }
                    Some(Method::Invite) => {
                        let _ = h.send_response(id, reply(180)).await;
                        let _ = h.send_response(id, reply(200)).await;
                    }
                    Some(Method::Cancel) => {
                        // RFC 3261 §9.2: 200 to the CANCEL, 487 to the INVITE.
                        let _ = h.send_response(id, reply(200)).await;
                        if let Some(inv) = cancels.and_then(|i| ringing.remove(&i).map(|r| (i, r)))
                        {
                            let resp = ResponseBuilder::from_request(&inv.1, 487)
                                .with_to_tag("uas-1")
                                .build()
                                .unwrap();
                            let _ = h.send_response(inv.0, resp).await;
                        }
                    }
                    _ => {
                        let _ = h.send_response(id, reply(200)).await;
                    }
                }
            }
            TransactionEvent::Ack { .. } => println!("      uas: ACK for the 2xx received"),
            _ => {}
        }
    }
}

fn request(
    method: &str,
    user: &str,
    branch: &str,
    to: std::net::SocketAddr,
    kind: Kind,
    n: u32,
) -> Message {
    let body = if method == "MESSAGE" {
        "Hello from the loopback demo"
    } else {
        ""
    };
    let ctype = if body.is_empty() {
        String::new()
    } else {
        "Content-Type: text/plain\r\n".into()
    };
    Message::parse(format!(
        "{method} sip:{user}@{to};transport={t} SIP/2.0\r\nVia: SIP/2.0/{kind} placeholder.invalid;branch={branch}\r\n\
         Max-Forwards: 70\r\nFrom: \"Demo\" <sip:demo@127.0.0.1>;tag=uac-{n}\r\nTo: <sip:{user}@{to}>\r\n\
         Call-ID: demo-{n}-{branch}\r\nCSeq: {n} {method}\r\nContact: <sip:demo@127.0.0.1>\r\n{ctype}\
         Content-Length: {}\r\n\r\n{body}",
        body.len(),
        t = kind.as_str().to_ascii_lowercase()
    ))
    .expect("a well-formed request")
}

async fn until_final(ct: &mut ClientTransaction) -> (Vec<u16>, Option<Message>) {
    let mut codes = Vec::new();
    while let Ok(Some(e)) = tokio::time::timeout(Duration::from_secs(40), ct.events.recv()).await {
        match e {
            TransactionEvent::Response { response, .. } => {
                let c = response.status().unwrap_or(0);
                codes.push(c);
                if c >= 200 {
                    return (codes, Some(response));
                }
            }
            TransactionEvent::Timeout { timer, .. } => {
                println!("      timeout: Timer {timer:?}");
                break;
            }
            TransactionEvent::TransportError { .. } => {
                println!("      transport error");
                break;
            }
            _ => {}
        }
    }
    (codes, None)
}

#[tokio::main]
async fn main() {
    for kind in [Kind::Udp, Kind::Tcp] {
        let (uac, uac_transport, _uac_events) = endpoint(kind).await;
        let (uas, uas_transport, uas_events) = endpoint(kind).await;
        tokio::spawn(answer(uas, uas_events));
        let to = uas_transport.local_addr(kind).unwrap();
        let target = Target {
            explicit_transport: true,
            ..Target::new(kind, to)
        };
        println!(
            "== {kind}: caller {} -> callee {to}",
            uac_transport.local_addr(kind).unwrap()
        );

        for (n, (method, user)) in [
            ("OPTIONS", "callee"),
            ("MESSAGE", "callee"),
            ("INVITE", "busy"),
            ("INVITE", "callee"),
        ]
        .into_iter()
        .enumerate()
        {
            let started = Instant::now();
            let req = request(
                method,
                user,
                &uac.new_branch().await,
                to,
                kind,
                n as u32 + 1,
            );
            let mut ct = uac
                .send_request(req.clone(), target.clone())
                .await
                .expect("send");
            let (codes, last) = until_final(&mut ct).await;
            println!(
                "   {method:<8} sip:{user:<7} -> {codes:?} in {:.1} ms",
                started.elapsed().as_secs_f64() * 1e3
            );
            if let (Some(ok), true) = (last, method == "INVITE") {
                if ok.status() == Some(200) {
                    // The ACK for a 2xx is the caller's, not the transaction's (§13.2.2.4).
                    let ack =
                        RequestBuilder::new(Method::Ack, &req.request_uri().unwrap().unwrap())
                            .raw_header(
                                "Via",
                                &format!(
                                    "SIP/2.0/{kind} placeholder.invalid;branch={}",
                                    uac.new_branch().await
                                ),
                            )
                            .raw_header("Max-Forwards", "70")
                            .copy_from(&req, &[HeaderName::From, HeaderName::CallId])
                            .copy_from(&ok, &[HeaderName::To])
                            .raw_header("CSeq", &format!("{} ACK", n + 1))
                            .build()
                            .unwrap();
                    uac_transport.send(&ack, &target).await.expect("send ACK");
                    println!("      uac: ACK sent for the 2xx");
                } else {
                    println!(
                        "      (the INVITE client transaction sent the ACK for the {})",
                        ok.status().unwrap_or(0)
                    );
                }
            }
        }

        // A cancelled INVITE: 180, then CANCEL -> 200, INVITE -> 487.
        let started = Instant::now();
        let invite = request("INVITE", "slow", &uac.new_branch().await, to, kind, 10);
        let mut inv = uac
            .send_request(invite, target.clone())
            .await
            .expect("send");
        while let Some(TransactionEvent::Response { response, .. }) = inv.events.recv().await {
            if response.status() == Some(180) {
                break;
            }
        }
        let mut cancel = uac.send_cancel(inv.id).await.expect("cancel");
        let (cancel_codes, _) = until_final(&mut cancel).await;
        let (invite_codes, _) = until_final(&mut inv).await;
        println!(
            "   INVITE   sip:slow    -> 180, CANCEL -> {cancel_codes:?}, INVITE -> {invite_codes:?} in {:.1} ms",
            started.elapsed().as_secs_f64() * 1e3
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
        uac_transport.shutdown().await;
        uas_transport.shutdown().await;
    }
}
