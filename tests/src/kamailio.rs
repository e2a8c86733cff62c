//! Running Kamailio (Debian packages `kamailio`,
//! `kamailio-presence-modules`) as the registrar, record-routing proxy and
//! presence server of a test, from `tests/kamailio/proxy.cfg`: on a
//! free 127.0.0.1 port (UDP and TCP), with the users of [`USERS`] in a
//! db_text subscriber table. Every wait is bounded; Kamailio (its main
//! process and children) is stopped when the handle drops.

use std::io::Write;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use md5::{Digest, Md5};
use sip_message::headers::Transport;

/// The digest realm Kamailio challenges with.
pub const REALM: &str = "127.0.0.1";

/// The subscribers Kamailio knows: user and password.
pub const USERS: &[(&str, &str)] = &[("alice", "alice-secret"), ("bob", "bob-secret")];

/// The `kamailio` binary: on the PATH, or where Debian installs it
/// (`/usr/sbin`, not on a normal user's PATH); `None` if neither runs.
fn binary() -> Option<&'static PathBuf> {
    static BINARY: OnceLock<Option<PathBuf>> = OnceLock::new();
    BINARY
        .get_or_init(|| {
            ["kamailio", "/usr/sbin/kamailio"]
                .into_iter()
                .map(PathBuf::from)
                .find(|b| {
                    Command::new(b)
                        .arg("-v")
                        .stdout(Stdio::null())
                        .stderr(Stdio::null())
                        .status()
                        .is_ok_and(|s| s.success())
                })
        })
        .as_ref()
}

/// Whether Kamailio module `file` is installed (in Debian's multiarch
/// module directory, or the plain one).
fn module(file: &str) -> bool {
    let multiarch = std::fs::read_dir("/usr/lib")
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path().join("kamailio/modules").join(file));
    std::iter::once(PathBuf::from("/usr/lib/kamailio/modules").join(file))
        .chain(multiarch)
        .any(|p| p.exists())
}

/// Whether Kamailio (with its presence modules and db_text tables) runs
/// here. Without it a test says why on standard error (not captured by
/// the test harness) and skips on a developer machine; with `CI=true`
/// this panics, so CI cannot pass without the peer.
pub fn kamailio_available() -> bool {
    let missing = if binary().is_none() {
        Some("kamailio not installed (apt-get install kamailio, or run scripts/test)")
    } else if !module("presence.so") || !PathBuf::from(DBTEXT_TABLES).join("presentity").exists() {
        Some(
            "kamailio's presence modules not installed (apt-get install kamailio-presence-modules)",
        )
    } else {
        None
    };
    let Some(why) = missing else {
        return true;
    };
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("{why}: required in CI; scripts/test installs it");
    }
    let _ = writeln!(std::io::stderr(), "skipping: {why}");
    false
}

/// Whether Kamailio's TLS module is installed (Debian package
/// `kamailio-tls-modules`), as [`kamailio_available`] says for the rest:
/// a printed reason and `false` on a developer machine, a panic in CI.
pub fn kamailio_tls_available() -> bool {
    if !kamailio_available() {
        return false;
    }
    if module("tls.so") {
        return true;
    }
    let why = "kamailio's TLS module not installed (apt-get install kamailio-tls-modules)";
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("{why}: required in CI; scripts/test installs it");
    }
    let _ = writeln!(std::io::stderr(), "skipping: {why}");
    false
}

/// Where the Debian package keeps its db_text table definitions.
const DBTEXT_TABLES: &str = "/usr/share/kamailio/dbtext/kamailio";

/// The presence server's tables.
const PRESENCE_TABLES: &[&str] = &["presentity", "active_watchers", "watchers", "xcap"];

/// A running Kamailio.
pub struct Kamailio {
    /// The watchdog shell that runs Kamailio in its process group.
    child: Child,
    /// Its standard input: closed (dropped, or this process gone), the
    /// watchdog stops the group.
    watchdog: Option<ChildStdin>,
    dir: PathBuf,
    /// Its UDP and TCP port on 127.0.0.1.
    pub port: u16,
    /// Its TLS port, when started with [`Kamailio::start_tls`].
    pub tls_port: Option<u16>,
}

/// The certificate (PEM) and private key (PEM, PKCS#8) Kamailio presents
/// on TLS.
pub struct TlsIdentity {
    pub cert_pem: String,
    pub key_pem: String,
}

impl Kamailio {
    /// Starts Kamailio on a port free for both UDP and TCP and waits
    /// (bounded) until it listens on both.
    pub async fn start() -> Kamailio {
        Kamailio::start_with(None).await
    }

    /// [`start`](Self::start), listening for TLS too (on another port)
    /// with this identity. Check [`kamailio_tls_available`] first.
    pub async fn start_tls(identity: &TlsIdentity) -> Kamailio {
        Kamailio::start_with(Some(identity)).await
    }

    async fn start_with(tls: Option<&TlsIdentity>) -> Kamailio {
        // One start at a time in this process, from picking the port until
        // Kamailio holds it (as for SIPp: another test's service binding
        // port 0 could otherwise be given the same port).
        static STARTING: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
        let _starting = STARTING.lock().await;
        remove_stale_dirs();
        for _ in 0..5 {
            let port = free_udp_and_tcp_port();
            let tls_port = tls.map(|id| (free_udp_and_tcp_port(), id));
            let mut k = Kamailio::spawn(port, tls_port);
            let mut exited = false;
            for _ in 0..200 {
                if k.child.try_wait().ok().flatten().is_some() {
                    exited = true;
                    break;
                }
                let udp = std::net::UdpSocket::bind(("127.0.0.1", port)).is_err();
                let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port))
                    .await
                    .is_ok();
                let tls = match k.tls_port {
                    Some(p) => tokio::net::TcpStream::connect(("127.0.0.1", p))
                        .await
                        .is_ok(),
                    None => true,
                };
                if udp && tcp && tls {
                    // Still there a moment later (not one about to exit on
                    // an error after another socket held the port).
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    if k.child.try_wait().ok().flatten().is_none() {
                        return k;
                    }
                    exited = true;
                    break;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            if !exited {
                panic!(
                    "kamailio did not listen on {port} within 10 s:\n{}",
                    k.log()
                );
            }
            let _ = writeln!(
                std::io::stderr(),
                "kamailio exited at start on port {port}:\n{}",
                k.log()
            );
        }
        panic!("kamailio did not start");
    }

    fn spawn(port: u16, tls: Option<(u16, &TlsIdentity)>) -> Kamailio {
        let dir =
            std::env::temp_dir().join(format!("sip-tests-kamailio-{}-{port}", std::process::id()));
        let db = dir.join("db");
        std::fs::create_dir_all(&db).expect("a temporary directory");
        // The presence server's tables (empty, with the definitions the
        // installed Kamailio ships) and their versions (its own too).
        let shipped = PathBuf::from(DBTEXT_TABLES);
        let read = |table: &str| {
            std::fs::read_to_string(shipped.join(table))
                .unwrap_or_else(|e| panic!("{}/{table}: {e}", shipped.display()))
        };
        let shipped_versions = read("version");
        let mut versions = String::from("table_name(string) table_version(int) \n");
        for table in std::iter::once("subscriber").chain(PRESENCE_TABLES.iter().copied()) {
            // Rows are `id:table:version`.
            let version = shipped_versions
                .lines()
                .filter_map(|l| l.split_once(':').map(|(_, r)| r))
                .find_map(|r| r.strip_prefix(table).and_then(|v| v.strip_prefix(':')))
                .unwrap_or_else(|| {
                    panic!("no version of table {table} in {DBTEXT_TABLES}/version")
                });
            versions.push_str(&format!("{table}:{version}\n"));
            if table != "subscriber" {
                let header = read(table);
                let header = header.lines().next().unwrap_or("");
                std::fs::write(db.join(table), format!("{header}\n")).expect("db_text table");
            }
        }
        std::fs::write(db.join("version"), versions).expect("db_text version table");
        let mut subscribers = String::from(
            "id(int,auto) username(string) domain(string) password(string) \
             email_address(string,null) ha1(string) ha1b(string) rpid(string,null) \n",
        );
        for (i, (user, password)) in USERS.iter().enumerate() {
            let ha1 = hex_md5(&format!("{user}:{REALM}:{password}"));
            let ha1b = hex_md5(&format!("{user}@{REALM}:{REALM}:{password}"));
            subscribers.push_str(&format!(
                "{}:{user}:{REALM}:{password}::{ha1}:{ha1b}:\n",
                i + 1
            ));
        }
        std::fs::write(db.join("subscriber"), subscribers).expect("db_text subscriber table");
        let template = std::fs::read_to_string(config_path()).expect("tests/kamailio/proxy.cfg");
        let cfg = template
            .replace("@PORT@", &port.to_string())
            .replace("@DB@", &db.display().to_string())
            .replace("@REALM@", REALM)
            .replace("@DIR@", &dir.display().to_string())
            .replace("@TLS_PORT@", &tls.map_or(0, |t| t.0).to_string());
        if let Some((_, id)) = tls {
            let profiles = std::fs::read_to_string(config_path().with_file_name("tls.cfg"))
                .expect("tests/kamailio/tls.cfg");
            std::fs::write(
                dir.join("tls.cfg"),
                profiles.replace("@DIR@", &dir.display().to_string()),
            )
            .expect("tls.cfg");
            std::fs::write(dir.join("cert.pem"), &id.cert_pem).expect("cert.pem");
            std::fs::write(dir.join("key.pem"), &id.key_pem).expect("key.pem");
        }
        let cfg_path = dir.join("kamailio.cfg");
        std::fs::write(&cfg_path, cfg).expect("kamailio.cfg");
        let log = std::fs::File::create(dir.join("kamailio.log")).expect("kamailio.log");
        let binary = binary().expect("kamailio_available() was checked");
        // A watchdog shell in a process group of its own runs Kamailio
        // (foreground, logging to stderr, its own run directory and pid
        // file, small memory pools as several run at once). When its
        // standard input closes, because the handle dropped or this
        // process died however it died, it stops the whole group: SIGTERM
        // (the main process stops its children), then SIGKILL for what is
        // left half a second later. It ignores
        // SIGTERM itself only after Kamailio started (an ignored signal is
        // inherited).
        let script = r#"
            "$0" "$@" &
            trap '' TERM
            read -r _
            kill -TERM 0
            sleep 0.5
            kill -KILL 0
        "#;
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(script)
            .arg(binary)
            .arg("-f")
            .arg(&cfg_path)
            .args(tls.map(|_| ["-A", "WITH_TLS"]).into_iter().flatten())
            .args(["-DD", "-E", "-m", "32", "-M", "4", "-w"])
            .arg(&dir)
            .arg("-P")
            .arg(dir.join("kamailio.pid"))
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(log)
            .process_group(0)
            .spawn()
            .expect("sh starts");
        let watchdog = child.stdin.take();
        Kamailio {
            child,
            watchdog,
            dir,
            port,
            tls_port: tls.map(|t| t.0),
        }
    }

    /// A URI at Kamailio: `sip:user@127.0.0.1:port` (or without user),
    /// with `;transport=tcp` for TCP.
    pub fn uri(&self, user: Option<&str>, kind: Transport) -> String {
        let user = user.map(|u| format!("{u}@")).unwrap_or_default();
        format!(
            "sip:{user}127.0.0.1:{}{}",
            self.port,
            crate::transport_param(kind)
        )
    }

    /// A URI at Kamailio's TLS port: `sip:user@127.0.0.1:port;transport=tls`.
    pub fn tls_uri(&self, user: Option<&str>) -> String {
        let user = user.map(|u| format!("{u}@")).unwrap_or_default();
        format!(
            "sip:{user}127.0.0.1:{};transport=tls",
            self.tls_port.expect("started with start_tls")
        )
    }

    /// What Kamailio logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("kamailio.log")).unwrap_or_default()
    }
}

impl Drop for Kamailio {
    fn drop(&mut self) {
        // The watchdog stops the group (its SIGTERM, half a second, its
        // SIGKILL); after 4 s the shell alone is killed.
        drop(self.watchdog.take());
        for _ in 0..80 {
            if self.child.try_wait().ok().flatten().is_some() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Removes the directories of earlier test processes that are gone (a
/// killed test run leaves its Kamailio directories behind; their
/// Kamailios went with their watchdogs).
fn remove_stale_dirs() {
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name();
        let Some(rest) = name
            .to_str()
            .and_then(|n| n.strip_prefix("sip-tests-kamailio-"))
        else {
            continue;
        };
        let alive = rest
            .split('-')
            .next()
            .is_some_and(|pid| PathBuf::from("/proc").join(pid).exists());
        if !alive {
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
}

/// `tests/kamailio/proxy.cfg`.
fn config_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("kamailio")
        .join("proxy.cfg")
}

fn hex_md5(s: &str) -> String {
    Md5::digest(s.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A port free on 127.0.0.1 for UDP and for TCP at the time of asking,
/// below the kernel's ephemeral range (32768 and up on Linux), so that no
/// socket bound to port 0 by another test can be given it meanwhile.
fn free_udp_and_tcp_port() -> u16 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u32(std::process::id());
    let mut x = h.finish();
    for _ in 0..200 {
        // xorshift over a random start: ports 20000-32767.
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let port = 20000 + (x % 12768) as u16;
        let udp = std::net::UdpSocket::bind(("127.0.0.1", port));
        let tcp = std::net::TcpListener::bind(("127.0.0.1", port));
        if udp.is_ok() && tcp.is_ok() {
            return port;
        }
    }
    panic!("no port free for both UDP and TCP in 20000-32767");
}
