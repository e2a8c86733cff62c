//! Memory per dialog and lookup rate with many live dialogs.
//!
//! `cargo bench -p sip-dialog --bench dialogs` (`--quick` for a short run)
//!
//! 1. Bytes per confirmed dialog with one INVITE usage, without a route set
//!    (the measure excludes stored route sets and descriptions),
//!    from the process RSS with 100,000 dialogs, measured first on a fresh
//!    heap. The dialog-creating messages are shared and not counted.
//! 2. Lookups per second (incoming in-dialog request matched to its dialog,
//!    CSeq checked) with 100,000 live dialogs.

use std::hint::black_box;
use std::time::{Duration, Instant};

use sip_dialog::{DialogId, DialogUpdate, Dialogs, Sessions, SubscriptionId, Subscriptions};
use sip_message::Message;

fn invite(i: usize) -> Message {
    Message::parse(format!(
        "INVITE sip:bob@biloxi.example.com SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK{i}\r\n\
         From: <sip:alice@atlanta.example.com>;tag=f{i}\r\nTo: <sip:bob@biloxi.example.com>\r\nCall-ID: call-{i}\r\n\
         CSeq: 1 INVITE\r\nContact: <sip:alice@192.0.2.1>\r\nContent-Length: 0\r\n\r\n"
    ))
    .unwrap()
}

fn ok(i: usize) -> Message {
    Message::parse(format!(
        "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK{i}\r\n\
         From: <sip:alice@atlanta.example.com>;tag=f{i}\r\nTo: <sip:bob@biloxi.example.com>;tag=t{i}\r\nCall-ID: call-{i}\r\n\
         CSeq: 1 INVITE\r\nContact: <sip:bob@192.0.2.4>\r\nContent-Length: 0\r\n\r\n"
    ))
    .unwrap()
}

fn bye(i: usize, cseq: u32) -> Message {
    Message::parse(format!(
        "INFO sip:alice@192.0.2.1 SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.4;branch=z9hG4bKb{i}-{cseq}\r\n\
         From: <sip:bob@biloxi.example.com>;tag=t{i}\r\nTo: <sip:alice@atlanta.example.com>;tag=f{i}\r\nCall-ID: call-{i}\r\n\
         CSeq: {cseq} INFO\r\nContent-Length: 0\r\n\r\n"
    ))
    .unwrap()
}

fn rss_kib() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    s.lines()
        .find(|l| l.starts_with("VmRSS:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

fn main() {
    let quick =
        !std::env::args().any(|a| a == "--bench") || std::env::args().any(|a| a == "--quick");
    let n = if quick { 20_000 } else { 100_000 };
    let msgs: Vec<(Message, Message)> = (0..n).map(|i| (invite(i), ok(i))).collect();
    let mut dialogs = Dialogs::new();
    let mut sessions = Sessions::new(Duration::from_millis(500), Duration::from_secs(4));
    let before = rss_kib();
    for (i, (inv, resp)) in msgs.iter().enumerate() {
        let DialogUpdate::Confirmed(id) = dialogs.on_response(inv, resp).unwrap() else {
            panic!("dialog {i} not created")
        };
        let d = dialogs.get_mut(&id).unwrap();
        sessions
            .uac_2xx(
                d,
                inv,
                None,
                &format!("z9hG4bKack{i}"),
                "z9hG4bKbye",
                sip_message::headers::Transport::Udp,
                None,
            )
            .unwrap();
        // The INVITE transaction ends (Timer M): the stored ACK goes. The TU
        // takes the events as they come.
        sessions.forget_ack(&id);
        sessions.drain();
        dialogs.drain_events();
    }
    let after = rss_kib();
    match (before, after) {
        (Some(b), Some(a)) => println!(
            "memory: {n} confirmed dialogs with an INVITE usage: {} KiB RSS growth = {} bytes per dialog (steady state after Timer M; no route set or descriptions stored)",
            a - b,
            (a - b) * 1024 / n as u64
        ),
        _ => println!("memory: /proc/self/status not readable"),
    }
    // Subscriptions (subscriber side), each active with expiry deadlines.
    let notify = Message::parse(
        "NOTIFY sip:a@192.0.2.1 SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.4;branch=z9hG4bKn\r\nFrom: <sip:p@x>;tag=p\r\n\
         To: <sip:a@x>;tag=s\r\nCall-ID: x\r\nCSeq: 1 NOTIFY\r\nEvent: presence\r\n\
         Subscription-State: active;expires=3600\r\nContent-Length: 0\r\n\r\n",
    )
    .unwrap();
    let ids: Vec<SubscriptionId> = (0..n)
        .map(|i| {
            SubscriptionId::new(
                DialogId::new(&format!("sub-{i}"), "s", "p"),
                "presence",
                None,
            )
        })
        .collect();
    let mut subs = Subscriptions::new(Duration::from_millis(500));
    let now = Instant::now();
    let before = rss_kib();
    for id in &ids {
        subs.subscribe_sent(id.clone());
        subs.on_2xx(now, id, Some(3600));
        subs.on_notify(now, &id.dialog, &notify, &[]).unwrap();
        subs.drain();
    }
    let after = rss_kib();
    if let (Some(b), Some(a)) = (before, after) {
        println!(
            "memory: {n} active subscriptions: {} KiB RSS growth = {} bytes per subscription (its dialog not included)",
            a - b,
            (a - b) * 1024 / n as u64
        );
    }
    drop(ids);

    let probes: Vec<Message> = (0..n).map(|i| bye(i, 2)).collect();
    let start = Instant::now();
    let rounds = if quick { 2 } else { 10 };
    let mut found = 0usize;
    for r in 0..rounds {
        for p in &probes {
            // Same CSeq each round is in order (not lower); the lookup is what is timed.
            if dialogs.receive_request(black_box(p)).is_ok() {
                found += 1;
            }
        }
        let _ = r;
    }
    let el = start.elapsed();
    assert_eq!(found, n * rounds);
    println!(
        "lookups: {} in-dialog requests matched and checked against {n} live dialogs in {:.3} s = {:.0} lookups/s",
        n * rounds,
        el.as_secs_f64(),
        (n * rounds) as f64 / el.as_secs_f64()
    );
}
