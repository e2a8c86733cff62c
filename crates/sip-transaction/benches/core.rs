//! Throughput and memory of the sans-IO transaction core.
//!
//! `cargo bench -p sip-transaction --bench core` (add `--quick` for a short run)
//!
//! 1. Transactions per second through a client layer and a server layer
//!    wired in memory (no sockets, no parsing in the timed loop: requests and
//!    responses are built before timing). Each transaction: client
//!    send_request, server handle_inbound, server send_response, client
//!    handle_inbound, and both sides reaching Terminated (reliable
//!    transport, so Timers J and K are zero).
//! 2. The same, including building each request (a fresh branch) and its
//!    response with the builder and parser, as a TU would.
//! 3. Bytes of memory per live non-INVITE client transaction over UDP
//!    (waiting for a response), from the process RSS with 200,000 live.

use std::hint::black_box;
use std::time::Instant;

use sip_message::headers::Transport as Kind;
use sip_message::{Message, ResponseBuilder};
use sip_transaction::{
    Output, TimerConfig, TransactionEvent, TransactionLayer, Transmit, Xorshift,
};
use sip_transport::{Inbound, Target};

fn request(branch: &str, n: usize) -> Message {
    Message::parse(format!(
        "OPTIONS sip:bob@192.0.2.4 SIP/2.0\r\nVia: SIP/2.0/TCP 192.0.2.1:5060;branch={branch}\r\n\
         Max-Forwards: 70\r\nFrom: <sip:alice@example.com>;tag=f{n}\r\nTo: <sip:bob@example.com>\r\n\
         Call-ID: bench-{n}\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
    ))
    .unwrap()
}

fn inbound(m: Message) -> Inbound {
    Inbound {
        message: m,
        transport: Kind::Tcp,
        local: "192.0.2.4:5060".parse().unwrap(),
        remote: "192.0.2.1:5060".parse().unwrap(),
        connection: None,
    }
}

fn layers() -> (TransactionLayer, TransactionLayer) {
    (
        TransactionLayer::with_random(TimerConfig::default(), Box::new(Xorshift::seeded(1))),
        TransactionLayer::with_random(TimerConfig::default(), Box::new(Xorshift::seeded(2))),
    )
}

/// Runs one transaction through both layers; returns 1 if it completed.
fn one(
    client: &mut TransactionLayer,
    server: &mut TransactionLayer,
    now: Instant,
    req: Message,
    resp: Option<Message>,
) -> usize {
    let target = Target::new(Kind::Tcp, "192.0.2.4:5060".parse().unwrap());
    client.send_request(now, req, target).unwrap();
    let mut done = 0;
    while let Some(o) = client.poll_output() {
        if let Output::Transmit(Transmit::Request { message, .. }) = o {
            server.handle_inbound(now, inbound(message));
        }
    }
    while let Some(o) = server.poll_output() {
        match o {
            Output::Event(TransactionEvent::Request { id, request, .. }) => {
                let r = match &resp {
                    Some(r) => r.clone(),
                    None => ResponseBuilder::from_request(&request, 200)
                        .with_to_tag("s")
                        .build()
                        .unwrap(),
                };
                server.send_response(now, id, r).unwrap();
            }
            Output::Transmit(Transmit::Response { message, .. }) => {
                client.handle_inbound(now, inbound(message))
            }
            _ => {}
        }
    }
    client.handle_timeout(now);
    server.handle_timeout(now);
    while let Some(o) = client.poll_output() {
        if let Output::Event(TransactionEvent::Response { response, .. }) = o {
            done += usize::from(response.status() == Some(200));
        }
    }
    while server.poll_output().is_some() {}
    done
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
    // `cargo bench` passes `--bench`; `cargo test --all-targets` runs this
    // binary without it, as a smoke test: then the short run is enough.
    let quick = !std::env::args().any(|a| a == "--bench")
        || std::env::args().any(|a| a == "--quick")
        || std::env::var("BENCH_QUICK").is_ok();
    let n = if quick { 50_000 } else { 300_000 };
    let now = Instant::now();

    // 3 (measured first, on a fresh heap). Memory per live non-INVITE client transaction (UDP, no answer).
    let live = if quick { 50_000 } else { 200_000 };
    let mut gen =
        TransactionLayer::with_random(TimerConfig::default(), Box::new(Xorshift::seeded(5)));
    let reqs: Vec<Message> = (0..live).map(|i| request(&gen.new_branch(), i)).collect();
    let mut client =
        TransactionLayer::with_random(TimerConfig::default(), Box::new(Xorshift::seeded(3)));
    let target = Target::new(Kind::Udp, "192.0.2.4:5060".parse().unwrap());
    let before = rss_kib();
    for r in &reqs {
        // The message bytes are shared with `reqs`: not counted.
        client.send_request(now, r.clone(), target.clone()).unwrap();
        while client.poll_output().is_some() {}
    }
    let after = rss_kib();
    black_box(client.poll_timeout());
    match (before, after) {
        (Some(b), Some(a)) => println!(
            "memory: {live} live non-INVITE client transactions: {} KiB RSS growth = {} bytes each (message bytes excluded, shared)",
            a - b,
            (a - b) * 1024 / live as u64
        ),
        _ => println!("memory: /proc/self/status not readable on this system"),
    }
    assert_eq!(client.client_count(), live);
    drop(client);
    drop(reqs);

    // 1. Core only.
    let mut gen =
        TransactionLayer::with_random(TimerConfig::default(), Box::new(Xorshift::seeded(9)));
    let reqs: Vec<Message> = (0..n).map(|i| request(&gen.new_branch(), i)).collect();
    let resps: Vec<Message> = reqs
        .iter()
        .map(|r| {
            ResponseBuilder::from_request(r, 200)
                .with_to_tag("s")
                .build()
                .unwrap()
        })
        .collect();
    let (mut client, mut server) = layers();
    let start = Instant::now();
    let mut ok = 0;
    for (req, resp) in reqs.into_iter().zip(resps) {
        ok += one(&mut client, &mut server, now, req, Some(resp));
    }
    let el = start.elapsed();
    assert_eq!(ok, n, "every transaction completed");
    assert_eq!((client.client_count(), server.server_count()), (0, 0));
    println!(
        "core only: {n} non-INVITE transactions (client+server) in {:.3} s = {:.0} transactions/s, {:.2} us each",
        el.as_secs_f64(),
        n as f64 / el.as_secs_f64(),
        el.as_secs_f64() * 1e6 / n as f64
    );

    // 2. With the TU building messages.
    let m = n / 3;
    let (mut client, mut server) = layers();
    let start = Instant::now();
    let mut ok = 0;
    for i in 0..m {
        let req = request(&client.new_branch(), i);
        ok += one(&mut client, &mut server, now, black_box(req), None);
    }
    let el = start.elapsed();
    assert_eq!(ok, m);
    println!(
        "with message building: {m} transactions in {:.3} s = {:.0} transactions/s",
        el.as_secs_f64(),
        m as f64 / el.as_secs_f64()
    );
}
