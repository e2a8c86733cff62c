//! Running SIPp (Debian package `sip-tester`) as the peer of a test: as
//! the UAS of a scenario, listening, or as its UAC, calling a service.
//! Every wait is bounded; SIPp is killed when the handle drops.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use sip_message::headers::Transport;

/// Whether `sipp` runs here. Without it a test prints why and skips on a
/// developer machine; with `CI=true` this panics, so CI cannot pass
/// without the peer.
pub fn sipp_available() -> bool {
    let found = Command::new("sipp")
        .arg("-v")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok();
    if !found {
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("sipp (Debian package sip-tester) is required in CI; scripts/test installs it");
        }
        // Straight to standard error: the test harness captures eprintln!.
        let _ = writeln!(
            std::io::stderr(),
            "skipping: sipp not installed (apt-get install sip-tester, or run scripts/test)"
        );
    }
    found
}

pub fn free_port(kind: Transport) -> u16 {
    match kind {
        Transport::Udp => std::net::UdpSocket::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port(),
        _ => std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port(),
    }
}

/// SIPp's exit code for "fatal error binding a socket".
const SIPP_BIND_FAILED: i32 = 254;

pub struct Sipp {
    child: Child,
    dir: PathBuf,
}

impl Sipp {
    /// Starts SIPp as the UAS of `scenario` on a free 127.0.0.1 port and
    /// waits (bounded) until it listens; returns it and the port.
    ///
    /// A port found free can be taken by another test before SIPp binds it
    /// (SIPp then exits at once with 254, "cannot bind"): SIPp is started
    /// again on another port, at most five times.
    pub async fn uas(scenario: &str, kind: Transport) -> (Sipp, u16) {
        // One SIPp of this process starts at a time, from picking its port
        // until it holds it: between the two, a service of another test
        // binding port 0 could be given the same port, and a SIPp slow to
        // start (a busy machine) would then fail to bind after the harness
        // had handed its port out.
        static STARTING: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
        let _starting = STARTING.lock().await;
        let mut tries = 0;
        loop {
            tries += 1;
            let port = free_port(kind);
            let mut sipp = Sipp::spawn("uas", scenario, kind, port, &[]);
            // Until SIPp holds the port (up to 15 s on a busy machine): a
            // TCP listener accepts; a UDP port can no longer be bound by
            // us (we set no SO_REUSEADDR).
            let mut exited = None;
            for _ in 0..300 {
                exited = sipp.child.try_wait().ok().flatten();
                let held = match kind {
                    Transport::Udp => std::net::UdpSocket::bind(("127.0.0.1", port)).is_err(),
                    _ => tokio::net::TcpStream::connect(("127.0.0.1", port))
                        .await
                        .is_ok(),
                };
                if exited.is_some() || held {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            match exited.and_then(|s| s.code()) {
                Some(SIPP_BIND_FAILED) if tries < 5 => {
                    eprintln!("sipp could not bind 127.0.0.1:{port}; another port");
                }
                _ => return (sipp, port),
            }
        }
    }

    /// Waits (bounded) for SIPp to finish; returns its exit code.
    pub async fn finish(mut self) -> i32 {
        for _ in 0..300 {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.code().unwrap_or(-1);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let _ = self.child.kill();
        panic!("sipp did not finish; errors: {}", self.errors());
    }

    /// Waits (bounded) for SIPp to finish; returns its exit code and what
    /// it wrote to its error file.
    pub async fn finish_with_errors(self) -> (i32, String) {
        let file = self.dir.join("errors.log");
        let code = self.finish().await;
        (code, std::fs::read_to_string(file).unwrap_or_default())
    }

    /// What SIPp wrote to its error file so far.
    pub fn errors(&self) -> String {
        std::fs::read_to_string(self.dir.join("errors.log")).unwrap_or_default()
    }
}

impl Drop for Sipp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A scenario file kept in `tests/sipp/`.
pub fn scenario_path(scenario: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("sipp")
        .join(scenario)
}

impl Sipp {
    /// Starts SIPp as the UAC of `scenario` from 127.0.0.1:`port`, calling
    /// user `service` at `remote`, once.
    pub fn uac(
        scenario: &str,
        kind: Transport,
        port: u16,
        remote: SocketAddr,
        service: &str,
    ) -> Sipp {
        let args = [remote.to_string(), "-s".to_owned(), service.to_owned()];
        Sipp::spawn("uac", scenario, kind, port, &args)
    }

    /// Runs `sipp` with `scenario` on 127.0.0.1:`port` for one call, at
    /// most 20 s, its errors in a file of its own directory.
    fn spawn(role: &str, scenario: &str, kind: Transport, port: u16, extra: &[String]) -> Sipp {
        let dir = std::env::temp_dir().join(format!(
            "sipp-{role}-{}-{scenario}-{kind}-{port}",
            std::process::id()
        ));
        std::fs::create_dir_all(&dir).expect("a temporary directory");
        let child = Command::new("sipp")
            .args(extra)
            .arg("-sf")
            .arg(scenario_path(scenario))
            .args(["-i", "127.0.0.1", "-p", &port.to_string()])
            .args(["-t", if kind == Transport::Udp { "u1" } else { "t1" }])
            .args([
                "-m",
                "1",
                "-timeout",
                "20s",
                "-timeout_error",
                "-nostdin",
                "-trace_err",
            ])
            .arg("-error_file")
            .arg(dir.join("errors.log"))
            .current_dir(&dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start sipp");
        Sipp { child, dir }
    }
}
