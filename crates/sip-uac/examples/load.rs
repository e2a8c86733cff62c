//! Load: OPTIONS transactions per second and calls per second
//! (INVITE/200/ACK/BYE) between two Services on UDP loopback, then, with
//! `--sipp`, our UAC against SIPp's built-in UAS next to SIPp's own UAC
//! against the same UAS, so the CPU per call is compared in one run.
//! Bounded in time and count; it prints rates, failures, setup latency
//! percentiles and CPU time per transaction or call.
//!
//! `cargo run --release -p sip-uac --example load -- [--seconds 5] [--concurrency 200] [--max 1000000] [--sipp | --only-sipp] [--threads N | --split] [--rounds N] [--t1-ms 500] [--target URI] [--rate N] [--nap-us N]`
//!
//! CPU time comes from /proc/self/stat (Linux; clock ticks, 10 ms
//! resolution). In the loopback phases both services share this process, so
//! the CPU per call counts both sides; against SIPp it is our UAC alone.

use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use sip_message::headers::Transport;
use sip_message::{Message, Method};
use sip_transport::TransportConfig;
use sip_uac::{default_answer, Answer, Handler, RequestOptions, Service};

const SDP: &str = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 49170 RTP/AVP 0\r\n";
const BUFFER: usize = 4 << 20;

struct Answering;

impl Handler for Answering {
    fn on_request(&self, r: &Message) -> Answer {
        match r.method() {
            Some(Method::Invite) => Answer::code(200).body("application/sdp", SDP),
            _ => default_answer(r),
        }
    }
}

struct Args {
    seconds: u64,
    concurrency: usize,
    max: u64,
    sipp: bool,
    /// `--only-sipp`: skip the loopback phases (for profiling our UAC alone).
    only_sipp: bool,
    /// `--threads N`: tokio worker threads (0: the default multi-thread
    /// runtime, one worker per core; 1: a current-thread runtime).
    threads: usize,
    /// `--split`: the called service runs on a thread of its own with a
    /// current-thread runtime, the caller on the main one (thread per
    /// service, as a load generator on two cores would be deployed).
    split: bool,
    /// `--rounds N`: against SIPp, N rounds of our UAC then SIPp's, with
    /// totals at the end (the host's speed drifts less within a round).
    rounds: u64,
    /// `--t1-ms N`: T1 in milliseconds (500 by default). Timer M, which
    /// keeps every answered INVITE for 64*T1, shrinks with it: a way to
    /// see what the calls that sit in Timer M cost the ones in progress.
    t1_ms: u64,
    /// `--target URI`: calls from our UAC to a UAS already running there
    /// (another SIP stack, a proxy, a SIPp), `--rounds` times, and
    /// nothing else.
    target: Option<String>,
    /// `--rate N`: start N calls or transactions per second, the k-th at
    /// k/N s (as SIPp's `-r`; one that falls behind catches up in a
    /// burst), still at most `--concurrency` at once; without it every
    /// task starts its next one at once.
    rate: Option<u64>,
    /// `--nap-us N` (with `--threads 1`, not `--split`): the runtime's thread sleeps N µs
    /// between rounds of work instead of waiting for the next datagram, so
    /// that one wakeup serves every message that came meanwhile (SIPp's UAC
    /// works in ticks of its timer resolution, 10 ms by default, the same
    /// way). At 10,000 calls/s, 1000 µs took the CPU per call from 33 to
    /// 25 µs and the setup time p50 from 0.2 to 1.3 ms.
    nap_us: Option<u64>,
}

fn args() -> Args {
    let mut a = Args {
        seconds: 5,
        concurrency: 200,
        max: 1_000_000,
        sipp: false,
        only_sipp: false,
        threads: 0,
        split: false,
        rounds: 1,
        t1_ms: 500,
        target: None,
        rate: None,
        nap_us: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(k) = it.next() {
        let mut num = || it.next().and_then(|v| v.parse::<u64>().ok());
        match k.as_str() {
            "--seconds" => a.seconds = num().unwrap_or(a.seconds).clamp(1, 600),
            "--concurrency" => a.concurrency = num().unwrap_or(200).clamp(1, 10_000) as usize,
            "--max" => a.max = num().unwrap_or(a.max).max(1),
            "--sipp" => a.sipp = true,
            "--threads" => a.threads = num().unwrap_or(0).min(64) as usize,
            "--rounds" => a.rounds = num().unwrap_or(1).clamp(1, 20),
            "--t1-ms" => a.t1_ms = num().unwrap_or(500).clamp(10, 10_000),
            "--target" => a.target = it.next(),
            "--rate" => a.rate = num().filter(|r| *r > 0),
            "--nap-us" => a.nap_us = num().filter(|n| *n > 0).map(|n| n.min(100_000)),
            "--split" => {
                a.split = true;
                a.threads = 1;
            }
            "--only-sipp" => {
                a.sipp = true;
                a.only_sipp = true;
            }
            // `cargo bench`-style flags are ignored.
            _ => {}
        }
    }
    a
}

/// CPU time split into user and kernel (system) time, and the minor page
/// faults taken (a share of the kernel time: a heap that grows faults).
#[derive(Clone, Copy, Default)]
struct Cpu {
    user: Duration,
    kernel: Duration,
    faults: u64,
}

impl Cpu {
    fn plus(self, other: Cpu) -> Cpu {
        Cpu {
            user: self.user + other.user,
            kernel: self.kernel + other.kernel,
            faults: self.faults + other.faults,
        }
    }

    fn since(self, earlier: Cpu) -> Cpu {
        Cpu {
            user: self.user.saturating_sub(earlier.user),
            kernel: self.kernel.saturating_sub(earlier.kernel),
            faults: self.faults.saturating_sub(earlier.faults),
        }
    }

    /// "CPU T us/unit (user U, kernel K, F faults)" for `n` units.
    fn per(self, n: u64, unit: &str) -> String {
        let us = |d: Duration| d.as_secs_f64() * 1e6 / n.max(1) as f64;
        format!(
            "CPU {:.1} us/{unit} (user {:.1}, kernel {:.1}, {:.2} faults)",
            us(self.user + self.kernel),
            us(self.user),
            us(self.kernel),
            self.faults as f64 / n.max(1) as f64
        )
    }
}

/// (CPU of this process, of its waited-for children), from
/// /proc/self/stat; zero where unavailable.
fn cpu() -> (Cpu, Cpu) {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which is in parentheses).
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<u64> = rest
        .split_whitespace()
        .map(|x| x.parse().unwrap_or(0))
        .collect();
    let tick = |i: usize| Duration::from_millis(f.get(i).copied().unwrap_or(0) * 10);
    let count = |i: usize| f.get(i).copied().unwrap_or(0);
    // minflt and cminflt are fields 10 and 11, utime, stime, cutime and
    // cstime fields 14-17 (proc(5)): indices 7, 8 and 11-14 here.
    (
        Cpu {
            user: tick(11),
            kernel: tick(12),
            faults: count(7),
        },
        Cpu {
            user: tick(13),
            kernel: tick(14),
            faults: count(8),
        },
    )
}

struct Outcome {
    done: u64,
    failed: u64,
    elapsed: Duration,
    latencies_us: Vec<u64>,
    cpu: Cpu,
}

impl Outcome {
    fn print(&self, what: &str, unit: &str) {
        let mut l = self.latencies_us.clone();
        l.sort_unstable();
        let pct = |p: f64| {
            l.get(((l.len() as f64 * p) as usize).min(l.len().saturating_sub(1)))
                .copied()
                .unwrap_or(0)
        };
        let rate = self.done as f64 / self.elapsed.as_secs_f64();
        println!(
            "{what:<34} {rate:>9.0} {unit}/s  {} ok  {} failed  p50 {} us  p99 {} us  {}",
            self.done,
            self.failed,
            pct(0.50),
            pct(0.99),
            self.cpu.per(self.done, unit)
        );
    }
}

/// Runs `one` from `concurrency` tasks until time or count runs out; `one`
/// returns the latency to record, or `None` for a failure.
async fn drive<F, Fut>(a: &Args, one: F) -> Outcome
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = Option<Duration>> + Send,
{
    let one = Arc::new(one);
    let started = Instant::now();
    let cpu0 = cpu().0;
    let deadline = started + Duration::from_secs(a.seconds);
    let issued = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for _ in 0..a.concurrency {
        let (one, issued, failed, max) = (one.clone(), issued.clone(), failed.clone(), a.max);
        let rate = a.rate;
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            loop {
                let k = issued.fetch_add(1, Ordering::Relaxed);
                if k >= max {
                    break;
                }
                if let Some(r) = rate {
                    let due = started + Duration::from_secs_f64(k as f64 / r as f64);
                    if due >= deadline {
                        break;
                    }
                    tokio::time::sleep_until(due.into()).await;
                }
                if Instant::now() >= deadline {
                    break;
                }
                match one().await {
                    Some(l) => lat.push(l.as_micros() as u64),
                    None => {
                        failed.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
            lat
        }));
    }
    let mut latencies_us = Vec::new();
    for t in tasks {
        latencies_us.extend(t.await.unwrap_or_default());
    }
    Outcome {
        done: latencies_us.len() as u64,
        failed: failed.load(Ordering::Relaxed),
        elapsed: started.elapsed(),
        latencies_us,
        cpu: cpu().0.since(cpu0),
    }
}

/// One call: INVITE with an SDP offer (as SIPp's UAC sends; the 2xx then
/// carries the answer, so the automatic ACK needs no body, RFC 3264), ACK
/// sent by the stack, then BYE. Latency is the setup time (INVITE to 200);
/// a call fails unless both are 200.
async fn call(alice: &Service, uri: &str) -> Option<Duration> {
    let t = Instant::now();
    let offer = RequestOptions::new().body("application/sdp", SDP);
    let r = alice.invite(uri, offer).await.ok()?;
    let setup = t.elapsed();
    let d = r.dialog()?.clone();
    if r.code() != 200 {
        return None;
    }
    let bye = alice.bye(&d, RequestOptions::new()).await.ok()?;
    (bye.code() == 200).then_some(setup)
}

async fn service(name: &str, h: impl Handler, t1_ms: u64) -> Service {
    let timers = sip_transaction::TimerConfig {
        t1: Duration::from_millis(t1_ms),
        ..Default::default()
    };
    let cfg = TransportConfig::default()
        .socket_buffer(BUFFER)
        .udp("127.0.0.1:0".parse().unwrap());
    Service::builder(name)
        .transport(cfg)
        .handler(h)
        .timers(timers)
        .start()
        .await
        .expect("bind 127.0.0.1")
}

fn main() {
    let a = args();
    let rt = match a.threads {
        0 => tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build(),
        1 => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build(),
        n => tokio::runtime::Builder::new_multi_thread()
            .worker_threads(n)
            .enable_all()
            .build(),
    };
    rt.expect("tokio runtime").block_on(run(a));
}

async fn run(a: Args) {
    println!(
        "load: {} s per phase, concurrency {}, at most {} per phase, UDP loopback, {} MiB socket buffers, {}",
        a.seconds,
        a.concurrency,
        a.max,
        BUFFER >> 20,
        match a.threads {
            0 => "multi-thread runtime".to_owned(),
            1 if a.split => "a current-thread runtime per service, each on its own thread".to_owned(),
            1 => "current-thread runtime".to_owned(),
            n => format!("{n} worker threads"),
        }
    );
    if let (Some(nap), 1, false) = (a.nap_us, a.threads, a.split) {
        // Blocks this (the only) runtime thread for the nap, then yields:
        // tokio polls its reactor without blocking before it polls a task
        // that yielded again, so what arrived during the nap is handled
        // before the next one. A datagram goes through three tasks (the
        // socket's, the transaction driver's, the caller's), each woken by
        // the one before and queued behind this task: yielding four times
        // lets a response reach its caller, and the caller's ACK or BYE
        // leave, within one tick (one yield: 1.03x SIPp's CPU per call at
        // 10,000 calls/s with 0.5 ms naps; four: 1.01x, 0.95x with 1 ms).
        tokio::spawn(async move {
            loop {
                std::thread::sleep(Duration::from_micros(nap));
                for _ in 0..4 {
                    tokio::task::yield_now().await;
                }
            }
        });
    }
    let alice = Arc::new(service("alice", Answering, a.t1_ms).await);
    if let Some(target) = &a.target {
        if let Err(e) = target.parse::<sip_message::Uri>() {
            println!("--target {target}: not a SIP URI ({e})");
            alice.stop().await;
            return;
        }
        let uri: Arc<str> = target.as_str().into();
        for _ in 0..a.rounds {
            let o = calls(&a, alice.clone(), uri.clone()).await;
            o.print("calls, ours to --target (our UAC)", "call");
        }
        alice.stop().await;
        return;
    }
    if a.only_sipp {
        sipp(&a, alice.clone()).await;
        alice.stop().await;
        return;
    }
    let (bob, bob_thread) = if a.split {
        let (bob, t) = callee_thread(a.t1_ms);
        (bob, Some(t))
    } else {
        (service("bob", Answering, a.t1_ms).await, None)
    };
    let addr = bob.local_addr(Transport::Udp).expect("udp");

    let uri: Arc<str> = format!("sip:{addr}").into();
    let (al, u) = (alice.clone(), uri.clone());
    let o = drive(&a, move || {
        let (al, u) = (al.clone(), u.clone());
        async move {
            let t = Instant::now();
            let r = al.options(&u, RequestOptions::new()).await.ok()?;
            (r.code() == 200).then(|| t.elapsed())
        }
    })
    .await;
    o.print("OPTIONS, ours to ours (both sides)", "tx");

    let uri: Arc<str> = format!("sip:bob@{addr}").into();
    let (al, u) = (alice.clone(), uri.clone());
    let o = calls(&a, al, u).await;
    o.print("calls, ours to ours (both sides)", "call");
    // The last BYEs' answers may still be on their way to the callee's
    // bookkeeping: a leak is what is left after a second.
    for _ in 0..100 {
        if alice.dialog_count() + bob.dialog_count() == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    println!(
        "dialogs left after the last call (up to 1 s later): alice {}, bob {}",
        alice.dialog_count(),
        bob.dialog_count()
    );
    match bob_thread {
        Some((stop, thread)) => {
            let _ = stop.send(());
            let _ = tokio::task::spawn_blocking(move || thread.join()).await;
        }
        None => bob.stop().await,
    }

    if a.sipp {
        sipp(&a, alice.clone()).await;
    }
    alice.stop().await;
}

/// The called service on a thread of its own with a current-thread
/// runtime; it stops when the sender is used or dropped.
#[allow(clippy::type_complexity)]
fn callee_thread(
    t1_ms: u64,
) -> (
    Service,
    (
        tokio::sync::oneshot::Sender<()>,
        std::thread::JoinHandle<()>,
    ),
) {
    let (tx, rx) = std::sync::mpsc::channel();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let thread = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("tokio runtime");
        rt.block_on(async move {
            let bob = service("bob", Answering, t1_ms).await;
            let _ = tx.send(bob.clone());
            let _ = stop_rx.await;
            bob.stop().await;
        });
    });
    let bob = rx.recv().expect("callee thread started");
    (bob, (stop_tx, thread))
}

/// Calls from every task; the latency recorded is the setup time.
async fn calls(a: &Args, al: Arc<Service>, u: Arc<str>) -> Outcome {
    drive(a, move || {
        let (al, u) = (al.clone(), u.clone());
        async move { call(&al, &u).await }
    })
    .await
}

async fn sipp(a: &Args, alice: Arc<Service>) {
    let port = std::net::UdpSocket::bind("127.0.0.1:0")
        .and_then(|s| s.local_addr())
        .map(|a| a.port())
        .unwrap_or(15060);
    let buf = BUFFER.to_string();
    let uas = Command::new("sipp")
        .args(["-sn", "uas", "-i", "127.0.0.1", "-p", &port.to_string()])
        .args(["-buff_size", &buf, "-nostdin", "-timeout", "600s"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn();
    let Ok(mut uas) = uas else {
        println!("--sipp: sipp not found (apt-get install sip-tester); skipped");
        return;
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    let uri: Arc<str> = format!("sip:service@127.0.0.1:{port}").into();
    let (mut ours, mut theirs) = ((0u64, Cpu::default()), (0u64, Cpu::default()));
    let per = |(n, c): (u64, Cpu)| (c.user + c.kernel).as_secs_f64() * 1e6 / n.max(1) as f64;
    // Each round's ratio: the host's speed drifts between rounds, so the
    // median of these says more than one pair.
    let mut ratios: Vec<f64> = Vec::new();
    for _ in 0..a.rounds {
        let o = calls(a, alice.clone(), uri.clone()).await;
        o.print("calls, ours to SIPp uas (our UAC)", "call");
        ours = (ours.0 + o.done, ours.1.plus(o.cpu));

        // SIPp's UAC against the same UAS, at the rate we reached, same count.
        let rate = (o.done as f64 / o.elapsed.as_secs_f64()).max(1.0) as u64;
        let count = o.done.max(1);
        let before = cpu().1;
        let started = Instant::now();
        let status = Command::new("sipp")
            .args(["-sn", "uac", &format!("127.0.0.1:{port}")])
            .args(["-i", "127.0.0.1", "-p", "0", "-buff_size", &buf, "-nostdin"])
            .args(["-r", &rate.to_string(), "-m", &count.to_string()])
            .args(["-l", &(a.concurrency * 4).to_string(), "-timeout", "120s"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let elapsed = started.elapsed();
        let sipp_cpu = cpu().1.since(before);
        match status {
            Ok(s) => println!(
                "{:<34} {:>9.0} call/s  {count} calls at -r {rate}  exit {}  {}",
                "calls, SIPp uac to SIPp uas (UAC)",
                count as f64 / elapsed.as_secs_f64(),
                s.code().unwrap_or(-1),
                sipp_cpu.per(count, "call")
            ),
            Err(e) => {
                println!("sipp uac did not run: {e}");
                break;
            }
        }
        theirs = (theirs.0 + count, theirs.1.plus(sipp_cpu));
        ratios.push(per((o.done, o.cpu)) / per((count, sipp_cpu)));
    }
    if a.rounds > 1 && theirs.0 > 0 {
        println!(
            "{:<34} ours {}  SIPp {}  ratio {:.2}",
            format!("UAC CPU over {} rounds", a.rounds),
            ours.1.per(ours.0, "call"),
            theirs.1.per(theirs.0, "call"),
            per(ours) / per(theirs)
        );
        let each: Vec<String> = ratios.iter().map(|r| format!("{r:.2}")).collect();
        ratios.sort_by(f64::total_cmp);
        // Quartiles by linear interpolation between the sorted ratios.
        let at = |q: f64| {
            let x = q * (ratios.len() - 1) as f64;
            let (lo, hi) = (x.floor() as usize, x.ceil() as usize);
            ratios[lo] + (ratios[hi] - ratios[lo]) * (x - lo as f64)
        };
        let below = ratios.iter().filter(|r| **r < 1.0).count();
        println!(
            "{:<34} {}  median {:.2} (quartiles {:.2}-{:.2}, {below} of {} under 1.00)",
            "UAC CPU ratio per round",
            each.join(" "),
            at(0.5),
            at(0.25),
            at(0.75),
            ratios.len()
        );
    }
    let _ = uas.kill();
    let _ = uas.wait();
}
