//! A client layer and a server layer over a simulated link that loses,
//! duplicates, delays and reorders messages, on virtual time.

mod common;

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use common::*;
use sip_message::headers::Transport as Kind;
use sip_message::{HeaderName, Message, Method, RequestBuilder};
use sip_transaction::{Output, RandomSource, TransactionEvent, TransactionId, Transmit, Xorshift};

struct Link {
    rng: Xorshift,
    loss: f64,
    dup: f64,
    /// (deliver at, sequence) -> message
    queue: BTreeMap<(Instant, u64), Message>,
    seq: u64,
}

impl Link {
    fn unit(&mut self) -> f64 {
        (self.rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
    fn send(&mut self, now: Instant, m: Message) {
        let copies = if self.unit() < self.dup { 2 } else { 1 };
        for _ in 0..copies {
            if self.unit() < self.loss {
                continue;
            }
            // 5..55 ms: later messages often overtake earlier ones.
            let delay = Duration::from_millis(5 + self.rng.next_u64() % 50);
            self.seq += 1;
            self.queue.insert((now + delay, self.seq), m.clone());
        }
    }
    fn next(&self) -> Option<Instant> {
        self.queue.keys().next().map(|(t, _)| *t)
    }
    fn due(&mut self, now: Instant) -> Vec<Message> {
        let mut out = Vec::new();
        while let Some((&(t, s), _)) = self.queue.iter().next() {
            if t > now {
                break;
            }
            out.push(self.queue.remove(&(t, s)).unwrap());
        }
        out
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind3 {
    Options,
    InviteBusy,
    InviteOk,
}

/// 2xx retransmission state of the server TU (RFC 3261 §13.3.1.4).
struct Pending2xx {
    id: TransactionId,
    response: Message,
    next: Instant,
    interval: Duration,
    give_up: Instant,
}

fn ack_for_2xx(invite: &Message, ok: &Message, branch: &str) -> Message {
    RequestBuilder::new(Method::Ack, &invite.request_uri().unwrap().unwrap())
        .raw_header(
            "Via",
            &format!("SIP/2.0/UDP 192.0.2.1:5060;branch={branch}"),
        )
        .copy_from(invite, &[HeaderName::From, HeaderName::CallId])
        .copy_from(ok, &[HeaderName::To])
        .raw_header("CSeq", &format!("{} ACK", invite.cseq().unwrap().0))
        .build()
        .unwrap()
}

struct Outcome {
    wrong: Vec<(String, Option<u16>)>,
    timeouts: Vec<(TransactionId, sip_transaction::Timer)>,
    acks_seen: usize,
    clients_left: usize,
    servers_left: usize,
    settled_after: Duration,
}

fn simulate(seed: u64, n: usize, loss: f64) -> Outcome {
    let t0 = Instant::now();
    let mut client = layer(seed);
    let mut server = layer(seed + 1);
    let mut up = Link {
        rng: Xorshift::seeded(seed + 2),
        loss,
        dup: 0.1,
        queue: BTreeMap::new(),
        seq: 0,
    };
    let mut down = Link {
        rng: Xorshift::seeded(seed + 3),
        loss,
        dup: 0.1,
        queue: BTreeMap::new(),
        seq: 0,
    };

    let mut expected: HashMap<TransactionId, (Kind3, Message)> = HashMap::new();
    for i in 0..3 * n {
        let kind = [Kind3::Options, Kind3::InviteBusy, Kind3::InviteOk][i % 3];
        let method = if kind == Kind3::Options {
            "OPTIONS"
        } else {
            "INVITE"
        };
        let b = client.new_branch();
        let mut req = request(method, &b, Kind::Udp);
        // The Call-ID tells the server TU what to answer.
        let tag = match kind {
            Kind3::Options => "opt",
            Kind3::InviteBusy => "busy",
            Kind3::InviteOk => "ok",
        };
        req = Message::parse(
            String::from_utf8_lossy(req.as_bytes())
                .replace(&format!("call-{b}"), &format!("{tag}-{i}")),
        )
        .unwrap();
        let id = client
            .send_request(t0, req.clone(), target(Kind::Udp))
            .unwrap();
        expected.insert(id, (kind, req));
    }

    let mut finals: HashMap<TransactionId, u16> = HashMap::new();
    let mut timeouts = Vec::new();
    let mut acks_seen = 0usize;
    let mut pending: BTreeMap<String, Pending2xx> = BTreeMap::new();
    let mut now = t0;
    let mut steps = 0u64;
    loop {
        steps += 1;
        assert!(steps < 5_000_000, "simulation did not settle");
        // Route everything produced so far.
        loop {
            let mut progressed = false;
            while let Some(o) = client.poll_output() {
                progressed = true;
                match o {
                    Output::Transmit(Transmit::Request { message, .. }) => up.send(now, message),
                    Output::Transmit(Transmit::Response { .. }) => {
                        unreachable!("client sends no responses")
                    }
                    Output::Event(TransactionEvent::Response { id, response }) => {
                        let code = response.status().unwrap();
                        if code >= 200 {
                            finals.entry(id).or_insert(code);
                        }
                        if (200..300).contains(&code) {
                            if let Some((Kind3::InviteOk, invite)) = expected.get(&id) {
                                let ack = ack_for_2xx(invite, &response, &client.new_branch());
                                up.send(now, ack);
                            }
                        }
                    }
                    Output::Event(TransactionEvent::StrayResponse { response }) => {
                        // A 2xx retransmission after Timer M: ACK again.
                        if response.status() == Some(200)
                            && response.cseq().map(|c| c.1) == Some(&Method::Invite)
                        {
                            let (_, invite) = expected
                                .values()
                                .find(|(_, r)| r.call_id() == response.call_id())
                                .unwrap();
                            let ack = ack_for_2xx(invite, &response, &client.new_branch());
                            up.send(now, ack);
                        }
                    }
                    Output::Event(TransactionEvent::Timeout { id, timer }) => {
                        timeouts.push((id, timer))
                    }
                    Output::Event(_) => {}
                }
            }
            while let Some(o) = server.poll_output() {
                progressed = true;
                match o {
                    Output::Transmit(Transmit::Response { message, .. }) => down.send(now, message),
                    Output::Transmit(Transmit::Request { .. }) => {
                        unreachable!("server sends no requests")
                    }
                    Output::Event(TransactionEvent::Request { id, request, .. }) => {
                        let call = request.call_id().unwrap().to_owned();
                        if call.starts_with("opt") {
                            server
                                .send_response(now, id, response(&request, 200, Some("s")))
                                .unwrap();
                        } else if call.starts_with("busy") {
                            server
                                .send_response(now, id, response(&request, 180, Some("s")))
                                .unwrap();
                            server
                                .send_response(now, id, response(&request, 486, Some("s")))
                                .unwrap();
                        } else {
                            let ok = response(&request, 200, Some("s"));
                            server.send_response(now, id, ok.clone()).unwrap();
                            pending.insert(
                                call,
                                Pending2xx {
                                    id,
                                    response: ok,
                                    next: now + ms(500),
                                    interval: ms(500),
                                    give_up: now + ms(32_000),
                                },
                            );
                        }
                    }
                    Output::Event(TransactionEvent::Ack { request, .. }) => {
                        if pending.remove(request.call_id().unwrap()).is_some() {
                            acks_seen += 1;
                        }
                    }
                    Output::Event(_) => {}
                }
            }
            if !progressed {
                break;
            }
        }
        // Next event: either layer's deadline, a delivery, or a TU 2xx retransmission.
        let tu_next = pending.values().map(|p| p.next.min(p.give_up)).min();
        let next = [
            client.poll_timeout(),
            server.poll_timeout(),
            up.next(),
            down.next(),
            tu_next,
        ]
        .into_iter()
        .flatten()
        .min();
        let Some(next) = next else { break };
        now = next;
        for m in up.due(now) {
            server.handle_inbound(now, inbound(m, Kind::Udp));
        }
        for m in down.due(now) {
            client.handle_inbound(now, inbound(m, Kind::Udp));
        }
        client.handle_timeout(now);
        server.handle_timeout(now);
        let mut gone = Vec::new();
        for (call, p) in pending.iter_mut() {
            if now >= p.give_up {
                gone.push(call.clone());
            } else if now >= p.next {
                // The TU retransmits its 2xx through the Accepted server transaction.
                let _ = server.send_response(now, p.id, p.response.clone());
                p.interval = (p.interval * 2).min(ms(4000));
                p.next = now + p.interval;
            }
        }
        for g in gone {
            pending.remove(&g);
        }
    }

    let mut wrong = Vec::new();
    for (id, (kind, req)) in &expected {
        let want = match kind {
            Kind3::Options | Kind3::InviteOk => 200,
            Kind3::InviteBusy => 486,
        };
        if finals.get(id) != Some(&want) {
            wrong.push((req.call_id().unwrap().to_owned(), finals.get(id).copied()));
        }
    }
    Outcome {
        wrong,
        timeouts,
        acks_seen,
        clients_left: client.client_count(),
        servers_left: server.server_count(),
        settled_after: now - t0,
    }
}

/// At 20% loss each way a transaction that runs out of retransmissions is
/// a one-in-millions event: every one must end with its right final and
/// every 2xx be ACKed. (At 30% a few timeouts per 10,000 are expected
/// however correct the stack is, all the more since an INVITE answered at
/// once gets no 100 to stop its Timer B, RFC 3261 §17.2.1: the test below
/// checks that rate.)
#[test]
fn twenty_percent_loss_both_ways_every_transaction_completes() {
    let o = simulate(101, 1000, 0.2);
    assert!(
        o.wrong.is_empty(),
        "{} transactions without the right final: {:?}; timeouts {:?}",
        o.wrong.len(),
        &o.wrong[..o.wrong.len().min(10)],
        o.timeouts
    );
    assert_eq!(o.acks_seen, 1000, "every 2xx was ACKed end to end");
    assert_eq!(o.clients_left, 0);
    assert_eq!(o.servers_left, 0);
    assert!(
        o.settled_after < Duration::from_secs(120),
        "settled at {:?}",
        o.settled_after
    );
}

/// RFC 3261's timers give a non-INVITE request 11 sends within Timer F, and
/// with 30% loss each way one send-and-answer round succeeds about half the
/// time: about 3 in 10,000 transactions time out however correct the stack
/// is (INVITEs about 2 in 10,000). Over several seeds every transaction must
/// end with its right final response or a Timer B/F timeout (never a wrong
/// answer, never stuck), and the timeouts must stay within that rate.
#[test]
fn thirty_percent_loss_only_timeouts_never_wrong_or_stuck_across_seeds() {
    let mut timeouts = 0;
    for seed in [7, 77, 777, 7777, 77777] {
        let o = simulate(seed, 1000, 0.3);
        assert!(
            o.wrong.iter().all(|(_, code)| code.is_none()),
            "seed {seed}: wrong final {:?}",
            o.wrong
        );
        assert_eq!(
            o.wrong.len(),
            o.timeouts.len(),
            "seed {seed}: every miss is a timeout"
        );
        assert!(o
            .timeouts
            .iter()
            .all(|(_, t)| matches!(t, sip_transaction::Timer::B | sip_transaction::Timer::F)));
        assert_eq!(
            (o.clients_left, o.servers_left),
            (0, 0),
            "seed {seed}: leftover transactions"
        );
        assert!(o.settled_after < Duration::from_secs(120));
        timeouts += o.timeouts.len();
    }
    // 15,000 transactions at ~2.5e-4 expect ~4 timeouts; 15 is far beyond
    // chance and would mean retransmission is broken.
    assert!(timeouts <= 15, "{timeouts} timeouts in 15,000 transactions");
}

#[test]
#[ignore = "survey: failure rates over many seeds (run with --ignored --nocapture)"]
fn survey_seeds() {
    for seed in (1000..1020).map(|s| s * 10) {
        let o = simulate(seed, 1000, 0.3);
        println!(
            "seed {seed}: wrong {} timeouts {:?} acks {} left {}/{}",
            o.wrong.len(),
            o.timeouts.len(),
            o.acks_seen,
            o.clients_left,
            o.servers_left
        );
        for w in &o.wrong {
            println!("   {w:?}");
        }
    }
}
