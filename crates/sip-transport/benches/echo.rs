//! Echo benchmark: OPTIONS requests through the transport layer and 200s
//! back, over loopback, parse included on both sides.
//!
//! A client [`Transport`] sends pipelined OPTIONS (a bounded window of
//! outstanding requests); a server [`Transport`] receives each one (parse,
//! §18.2.1 Via stamping), builds a 200 with `ResponseBuilder::from_request`,
//! parses it and sends it with `send_response` (§18.2.2 routing); the
//! client receives and parses the 200 (§18.1.2 Via check) and counts it.
//!
//! Scenarios: (a) UDP, one client peer; (b) UDP, 32 client peers;
//! (c) TCP, one connection.
//!
//! ```text
//! cargo bench -p sip-transport --bench echo            # full run (< ~30 s)
//! cargo bench -p sip-transport --bench echo -- --quick # short run
//! BENCH_QUICK=1 cargo bench -p sip-transport --bench echo
//! ```
//!
//! Unknown arguments (cargo passes `--bench`) are ignored.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use sip_message::headers::Transport as Kind;
use sip_message::{Message, ResponseBuilder};
use sip_transport::{Inbound, Stats, Target, Transport, TransportConfig};
use tokio::sync::{mpsc, Semaphore};

/// No response for this long: whatever is outstanding is written off as
/// lost (UDP) and the window reopens.
const STALL: Duration = Duration::from_millis(250);
const UDP_BUFFER: usize = 4 << 20;

#[derive(Clone, Copy)]
struct Plan {
    /// Round trips per scenario.
    requests: u64,
    /// Time cap per scenario (sending stops at the cap).
    cap: Duration,
}

fn lo() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

fn config(kind: Kind) -> TransportConfig {
    let c = TransportConfig::default().socket_buffer(UDP_BUFFER);
    match kind {
        Kind::Udp => c.udp(lo()),
        _ => c.tcp(lo()),
    }
}

/// The server: answer every request with a 200. Counts failures in `errors`.
///
/// The task is aborted at the end: the inbound receiver does not end on
/// `shutdown()` while a `Transport` handle (this task's) is alive.
fn spawn_server(
    server: Transport,
    mut rx: mpsc::Receiver<Inbound>,
    errors: Arc<AtomicU64>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        while let Some(inb) = rx.recv().await {
            let bytes = ResponseBuilder::from_request(&inb.message, 200).encode();
            let ok = match Message::parse(bytes) {
                Ok(resp) => server.send_response(&resp, inb.connection).await.is_ok(),
                Err(_) => false,
            };
            if !ok {
                errors.fetch_add(1, Ordering::Relaxed);
            }
        }
    })
}

fn request(peer: usize, seq: u64, kind: Kind, sent_by: SocketAddr) -> Message {
    Message::parse(format!(
        "OPTIONS sip:echo@127.0.0.1 SIP/2.0\r\n\
         Via: SIP/2.0/{kind} {sent_by};branch=z9hG4bK-{peer}-{seq}\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:bench@127.0.0.1>;tag=p{peer}\r\n\
         To: <sip:echo@127.0.0.1>\r\n\
         Call-ID: {peer}-{seq}@bench\r\n\
         CSeq: {cseq} OPTIONS\r\n\
         Accept: application/sdp\r\n\
         Content-Length: 0\r\n\r\n",
        cseq = seq + 1
    ))
    .expect("request template parses")
}

#[derive(Default, Clone, Copy)]
struct PeerResult {
    sent: u64,
    answered: u64,
    send_errors: u64,
}

struct PeerSpec {
    peer: usize,
    kind: Kind,
    target: Target,
    /// Requests to send.
    n: u64,
    /// Most outstanding requests.
    window: usize,
    /// Sending stops here even if `n` is not reached.
    stop_at: Instant,
}

/// One client peer: `n` requests with at most `window` outstanding.
async fn run_peer(
    client: Transport,
    mut rx: mpsc::Receiver<Inbound>,
    spec: PeerSpec,
) -> PeerResult {
    let PeerSpec {
        peer,
        kind,
        target,
        n,
        window,
        stop_at,
    } = spec;
    let sem = Arc::new(Semaphore::new(window));
    let answered = Arc::new(AtomicU64::new(0));
    let receiver = {
        let sem = sem.clone();
        let answered = answered.clone();
        tokio::spawn(async move {
            while let Some(inb) = rx.recv().await {
                if inb.message.status() == Some(200) {
                    answered.fetch_add(1, Ordering::Relaxed);
                }
                sem.add_permits(1);
            }
        })
    };
    let sent_by = client.local_addr(kind).expect("client listener");
    let mut r = PeerResult::default();
    let mut written_off = 0u64;
    let mut loops = 0u64;
    // Bounded: each pass sends one request or waits one STALL.
    while r.sent < n && Instant::now() < stop_at && loops < n * 4 + 1000 {
        loops += 1;
        match tokio::time::timeout(STALL, sem.acquire()).await {
            Ok(p) => p.expect("semaphore open").forget(),
            Err(_) => {
                let outstanding = r
                    .sent
                    .saturating_sub(answered.load(Ordering::Relaxed) + written_off);
                written_off += outstanding;
                sem.add_permits(outstanding.max(1) as usize);
                continue;
            }
        }
        let msg = request(peer, r.sent, kind, sent_by);
        match client.send(&msg, &target).await {
            Ok(_) => r.sent += 1,
            Err(_) => {
                r.send_errors += 1;
                sem.add_permits(1);
            }
        }
    }
    // Drain: until everything is answered or nothing arrives for STALL.
    let mut last = answered.load(Ordering::Relaxed);
    let mut quiet_since = Instant::now();
    while last < r.sent && quiet_since.elapsed() < STALL {
        tokio::time::sleep(Duration::from_millis(1)).await;
        let now = answered.load(Ordering::Relaxed);
        if now != last {
            last = now;
            quiet_since = Instant::now();
        }
    }
    receiver.abort();
    r.answered = answered.load(Ordering::Relaxed);
    client.shutdown().await;
    r
}

struct Report {
    name: &'static str,
    peers: usize,
    window: usize,
    total: PeerResult,
    elapsed: Duration,
    server: Stats,
    server_errors: u64,
}

impl Report {
    fn print(&self) {
        let secs = self.elapsed.as_secs_f64().max(1e-9);
        let rt = self.total.answered as f64 / secs;
        let lost = self.total.sent.saturating_sub(self.total.answered);
        println!(
            "{:<22} peers {:>2}  window {:>3}  sent {:>7}  answered {:>7}  lost {:>5} ({:.3}%)  \
             time {:>6.3} s  {:>8.0} round trips/s  {:>8.0} messages/s",
            self.name,
            self.peers,
            self.window,
            self.total.sent,
            self.total.answered,
            lost,
            100.0 * lost as f64 / self.total.sent.max(1) as f64,
            secs,
            rt,
            2.0 * rt,
        );
        let s = &self.server;
        println!(
            "{:<22} server: received {}  sent {}  parse_errors {}  inbound_overflow {}  \
             send errors {} (server) / {} (clients)",
            "",
            s.received,
            s.sent,
            s.parse_errors,
            s.inbound_overflow,
            self.server_errors,
            self.total.send_errors,
        );
    }
}

async fn scenario(
    name: &'static str,
    kind: Kind,
    peers: usize,
    window: usize,
    plan: Plan,
) -> Report {
    let (server, server_rx) = Transport::bind(config(kind)).await.expect("server bind");
    let to = server.local_addr(kind).expect("server listener");
    let server_errors = Arc::new(AtomicU64::new(0));
    let server_task = spawn_server(server.clone(), server_rx, server_errors.clone());

    let mut clients = Vec::with_capacity(peers);
    for _ in 0..peers {
        clients.push(Transport::bind(config(kind)).await.expect("client bind"));
    }
    let per_peer = plan.requests.div_ceil(peers as u64);
    let started = Instant::now();
    let stop_at = started + plan.cap;
    let tasks: Vec<_> = clients
        .into_iter()
        .enumerate()
        .map(|(i, (client, rx))| {
            let spec = PeerSpec {
                peer: i,
                kind,
                target: Target::new(kind, to),
                n: per_peer,
                window,
                stop_at,
            };
            tokio::spawn(run_peer(client, rx, spec))
        })
        .collect();
    let mut total = PeerResult::default();
    for t in tasks {
        let r = t.await.expect("peer task");
        total.sent += r.sent;
        total.answered += r.answered;
        total.send_errors += r.send_errors;
    }
    let elapsed = started.elapsed();
    let stats = server.stats();
    server_task.abort();
    let _ = server_task.await;
    server.shutdown().await;
    let server_errors = server_errors.load(Ordering::Relaxed);
    Report {
        name,
        peers,
        window,
        total,
        elapsed,
        server: stats,
        server_errors,
    }
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --all-targets` runs this
    // binary without it, as a smoke test: then the short run is enough.
    let quick = !std::env::args().any(|a| a == "--bench")
        || std::env::args().any(|a| a == "--quick")
        || std::env::var("BENCH_QUICK").is_ok_and(|v| v == "1");
    let plan = if quick {
        Plan {
            requests: 20_000,
            cap: Duration::from_secs(2),
        }
    } else {
        Plan {
            requests: 200_000,
            cap: Duration::from_secs(8),
        }
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    println!(
        "sip-transport echo bench ({}): up to {} OPTIONS/200 round trips per scenario, \
         capped at {:?}; a round trip is one request and one response, both parsed",
        if quick { "quick" } else { "full" },
        plan.requests,
        plan.cap,
    );
    let all = Instant::now();
    rt.block_on(async {
        scenario("(a) UDP, 1 peer", Kind::Udp, 1, 256, plan)
            .await
            .print();
        scenario("(b) UDP, 32 peers", Kind::Udp, 32, 16, plan)
            .await
            .print();
        scenario("(c) TCP, 1 connection", Kind::Tcp, 1, 256, plan)
            .await
            .print();
    });
    println!("total {:.1} s", all.elapsed().as_secs_f64());
}
