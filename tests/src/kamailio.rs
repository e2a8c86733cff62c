//! Running Kamailio (Debian packages `kamailio`,
//! `kamailio-presence-modules`) as the registrar, record-routing proxy and
//! presence server of a test, from `tests/kamailio/proxy.cfg`: on a
//! free 127.0.0.1 port (UDP and TCP), with the users of [`USERS`] in a
//! db_text subscriber table. Every wait is bounded; Kamailio (its main
//! process and children) is stopped when the handle drops.

use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use md5::{Digest, Md5};
use sip_message::headers::Transport;

/// The digest realm Kamailio challenges with.
pub const REALM: &str = "127.0.0.1";

/// The subscribers Kamailio knows: user and password.
pub const USERS: &[(&str, &str)] = &[("alice", "alice-secret"), ("bob", "bob-secret")];

/// Whether `kamailio` runs here. Without it a test prints why and skips
/// on a developer machine; with `CI=true` this panics, so CI cannot pass
/// without the peer.
pub fn kamailio_available() -> bool {
    let found = Command::new("kamailio")
        .arg("-v")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok();
    if !found {
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!(
                "kamailio (Debian package kamailio) is required in CI; scripts/test installs it"
            );
        }
        eprintln!(
            "skipping: kamailio not installed (apt-get install kamailio, or run scripts/test)"
        );
    }
    found
}

/// Where the Debian package keeps its db_text table definitions.
const DBTEXT_TABLES: &str = "/usr/share/kamailio/dbtext/kamailio";

/// The presence server's tables and the versions Kamailio 5.6 expects.
const PRESENCE_TABLES: &[(&str, u32)] = &[
    ("presentity", 5),
    ("active_watchers", 12),
    ("watchers", 3),
    ("xcap", 4),
];

/// A running Kamailio.
pub struct Kamailio {
    child: Child,
    dir: PathBuf,
    /// Its UDP and TCP port on 127.0.0.1.
    pub port: u16,
}

impl Kamailio {
    /// Starts Kamailio on a port free for both UDP and TCP and waits
    /// (bounded) until it listens on both.
    pub async fn start() -> Kamailio {
        // One start at a time in this process, from picking the port until
        // Kamailio holds it (as for SIPp: another test's service binding
        // port 0 could otherwise be given the same port).
        static STARTING: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
        let _starting = STARTING.lock().await;
        for _ in 0..5 {
            let port = free_udp_and_tcp_port();
            let mut k = Kamailio::spawn(port);
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
                if udp && tcp {
                    return k;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            if !exited {
                panic!(
                    "kamailio did not listen on {port} within 10 s:\n{}",
                    k.log()
                );
            }
            eprintln!("kamailio exited at start on port {port}:\n{}", k.log());
        }
        panic!("kamailio did not start");
    }

    fn spawn(port: u16) -> Kamailio {
        let dir =
            std::env::temp_dir().join(format!("sip-tests-kamailio-{}-{port}", std::process::id()));
        let db = dir.join("db");
        std::fs::create_dir_all(&db).expect("a temporary directory");
        // The presence server's tables (empty, with the definitions the
        // installed Kamailio ships) and their versions.
        let mut versions = String::from("table_name(string) table_version(int) \nsubscriber:7\n");
        for (table, version) in PRESENCE_TABLES {
            let shipped = PathBuf::from(DBTEXT_TABLES).join(table);
            let header = std::fs::read_to_string(&shipped)
                .unwrap_or_else(|e| panic!("{}: {e}", shipped.display()));
            let header = header.lines().next().unwrap_or("");
            std::fs::write(db.join(table), format!("{header}\n")).expect("db_text table");
            versions.push_str(&format!("{table}:{version}\n"));
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
            .replace("@REALM@", REALM);
        let cfg_path = dir.join("kamailio.cfg");
        std::fs::write(&cfg_path, cfg).expect("kamailio.cfg");
        let log = std::fs::File::create(dir.join("kamailio.log")).expect("kamailio.log");
        let child = Command::new("kamailio")
            .arg("-f")
            .arg(&cfg_path)
            // Foreground, log to stderr, run directory and pid file of
            // its own, small memory pools (several run at once).
            .args(["-DD", "-E", "-m", "32", "-M", "4", "-w"])
            .arg(&dir)
            .arg("-P")
            .arg(dir.join("kamailio.pid"))
            .stdout(Stdio::null())
            .stderr(log)
            // Its own process group: the children go with it.
            .process_group(0)
            .spawn()
            .expect("kamailio starts");
        Kamailio { child, dir, port }
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

    /// What Kamailio logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("kamailio.log")).unwrap_or_default()
    }
}

impl Drop for Kamailio {
    fn drop(&mut self) {
        // SIGTERM to the group: the main process stops its children. Then
        // SIGKILL to whatever is left, after at most 2 s.
        let group = format!("-{}", self.child.id());
        let _ = Command::new("kill")
            .args(["-TERM", "--", &group])
            .stderr(Stdio::null())
            .status();
        for _ in 0..40 {
            if self.child.try_wait().ok().flatten().is_some() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = Command::new("kill")
            .args(["-KILL", "--", &group])
            .stderr(Stdio::null())
            .status();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
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

/// A port free on 127.0.0.1 for UDP and for TCP at the time of asking.
fn free_udp_and_tcp_port() -> u16 {
    for _ in 0..50 {
        let udp = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind 127.0.0.1");
        let port = udp.local_addr().expect("local address").port();
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no port free for both UDP and TCP");
}
