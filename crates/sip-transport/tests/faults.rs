//! Misbehaving peers: each test injects one fault, checks that it is
//! handled with the right counter, and then checks that the transport
//! still serves a well-behaved peer (a request is received and its 200
//! comes back).
//!
//! Every wait is bounded (`WAIT`), so a bug fails a test instead of
//! hanging it. All traffic stays on 127.0.0.1.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use sip_message::framing::{self, Status};
use sip_message::headers::Transport as Kind;
use sip_message::{Message, ParseLimits, ResponseBuilder};
use sip_transport::{
    Inbound, Stats, Target, TlsConfig, Transport, TransportConfig, TransportError,
};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream, UdpSocket};
use tokio::sync::mpsc::error::TryRecvError;
use tokio::sync::mpsc::Receiver;
use tokio::time::{sleep, timeout, Instant};

/// Upper bound for any single wait.
const WAIT: Duration = Duration::from_secs(3);
/// Poll interval of [`wait_stats`] and [`wait_until`].
const POLL: Duration = Duration::from_millis(5);

fn lo() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

async fn within<T>(what: &str, f: impl Future<Output = T>) -> T {
    timeout(WAIT, f)
        .await
        .unwrap_or_else(|_| panic!("timed out after {WAIT:?}: {what}"))
}

/// Waits until the server's counters satisfy `cond`.
async fn wait_stats(t: &Transport, what: &str, cond: impl Fn(&Stats) -> bool) -> Stats {
    let deadline = Instant::now() + WAIT;
    loop {
        let s = t.stats();
        if cond(&s) {
            return s;
        }
        if Instant::now() >= deadline {
            panic!("timed out after {WAIT:?} waiting for {what}; stats: {s:?}");
        }
        sleep(POLL).await;
    }
}

async fn wait_until(what: &str, cond: impl Fn() -> bool) {
    let deadline = Instant::now() + WAIT;
    while !cond() {
        if Instant::now() >= deadline {
            panic!("timed out after {WAIT:?} waiting for {what}");
        }
        sleep(POLL).await;
    }
}

async fn wait_connections(t: &Transport, n: usize) {
    let deadline = Instant::now() + WAIT;
    while t.connection_count() != n {
        if Instant::now() >= deadline {
            panic!(
                "timed out waiting for {n} connection(s); have {}; stats: {:?}",
                t.connection_count(),
                t.stats()
            );
        }
        sleep(POLL).await;
    }
}

/// An OPTIONS request as text, with the given top Via transport and sent-by.
fn options_text(call_id: &str, transport: &str, sent_by: SocketAddr) -> String {
    format!(
        "OPTIONS sip:probe@127.0.0.1 SIP/2.0\r\n\
         Via: SIP/2.0/{transport} {sent_by};branch=z9hG4bK-{call_id}\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:fault@127.0.0.1>;tag=f1\r\n\
         To: <sip:probe@127.0.0.1>\r\n\
         Call-ID: {call_id}\r\n\
         CSeq: 1 OPTIONS\r\n\
         Content-Length: 0\r\n\r\n"
    )
}

/// An OPTIONS request for `Transport::send` (the transport stamps sent-by).
fn options(call_id: &str) -> Message {
    Message::parse(options_text(
        call_id,
        "UDP",
        "192.0.2.1:5060".parse().unwrap(),
    ))
    .unwrap()
}

/// An OPTIONS with `pad_lines` padding headers of ~37 bytes each (a large
/// header section).
fn padded_options(call_id: &str, sent_by: SocketAddr, pad_lines: usize) -> String {
    let base = options_text(call_id, "UDP", sent_by);
    let head_end = base.len() - 2; // before the blank line
    let mut s = base[..head_end].to_string();
    for i in 0..pad_lines {
        s.push_str(&format!("X-Pad-{i}: {}\r\n", "p".repeat(24)));
    }
    s.push_str("\r\n");
    s
}

/// Receives the next inbound message on the server, answers it with 200
/// through `send_response`, and returns it.
async fn answer_next(server: &Transport, rx: &mut Receiver<Inbound>) -> Inbound {
    let got = within("server inbound message", rx.recv())
        .await
        .expect("inbound channel closed");
    assert!(got.message.is_request(), "expected a request: {got:?}");
    let resp = Message::parse(
        ResponseBuilder::from_request(&got.message, 200)
            .with_to_tag("srv")
            .encode(),
    )
    .unwrap();
    within("send_response", server.send_response(&resp, got.connection))
        .await
        .expect("send_response failed");
    got
}

/// Nothing was handed up.
fn assert_nothing_delivered(rx: &mut Receiver<Inbound>) {
    match rx.try_recv() {
        Err(TryRecvError::Empty) => {}
        Ok(m) => panic!("unexpected delivery: {:?}", m.message),
        Err(e) => panic!("inbound channel: {e:?}"),
    }
}

/// A fresh, well-behaved client transport of `kind` sends an OPTIONS to
/// the server; the server receives and answers it; the client gets the 200.
async fn assert_still_serves(
    server: &Transport,
    rx: &mut Receiver<Inbound>,
    kind: Kind,
    tls: Option<TlsConfig>,
) {
    let cfg = match kind {
        Kind::Udp => TransportConfig::default().udp(lo()),
        Kind::Tcp => TransportConfig::default().tcp(lo()),
        Kind::Tls => TransportConfig::default()
            .tls(lo())
            .tls_config(tls.expect("TLS probe needs TLS material")),
        other => panic!("no probe for {other}"),
    };
    let (client, mut client_rx) = Transport::bind(cfg).await.unwrap();
    let to = server.local_addr(kind).expect("server listener");
    let call_id = format!("probe-{kind}");
    within(
        "probe send",
        client.send(&options(&call_id), &Target::new(kind, to)),
    )
    .await
    .expect("probe send failed");
    let got = answer_next(server, rx).await;
    assert_eq!(got.message.call_id(), Some(call_id.as_str()));
    assert_eq!(got.transport, kind);
    let back = within("probe response", client_rx.recv())
        .await
        .expect("client inbound closed");
    assert_eq!(back.message.status(), Some(200));
    assert_eq!(back.message.call_id(), Some(call_id.as_str()));
    client.shutdown().await;
}

/// Reads one framed message (CRLF keep-alives skipped) from a raw stream.
async fn read_message<S: AsyncRead + Unpin>(s: &mut S) -> Message {
    let mut buf = BytesMut::with_capacity(4096);
    let deadline = Instant::now() + WAIT;
    for _ in 0..1024 {
        match framing::check(&buf).expect("server sent an unframable stream") {
            Status::Complete(n) => return Message::parse(buf.split_to(n).freeze()).unwrap(),
            Status::KeepAlive { len, .. } => {
                let _ = buf.split_to(len);
                continue;
            }
            Status::Partial => {}
        }
        let n = tokio::time::timeout_at(deadline, s.read_buf(&mut buf))
            .await
            .expect("timed out reading a message")
            .expect("read error");
        assert!(n > 0, "connection closed before a whole message");
    }
    panic!("no whole message after 1024 reads");
}

/// The server closes the connection: a read returns 0 or an error (a reset,
/// when the server closed with unread input) within `WAIT`. With
/// `allow_data` whatever the server still sends (a TLS alert) is skipped.
async fn expect_closed(s: &mut TcpStream, what: &str, allow_data: bool) {
    let deadline = Instant::now() + WAIT;
    let mut buf = [0u8; 4096];
    for _ in 0..256 {
        match tokio::time::timeout_at(deadline, s.read(&mut buf)).await {
            Err(_) => panic!("{what}: the server did not close the connection within {WAIT:?}"),
            Ok(Ok(0)) | Ok(Err(_)) => return,
            Ok(Ok(n)) => assert!(
                allow_data,
                "{what}: unexpected data {:?}",
                String::from_utf8_lossy(&buf[..n])
            ),
        }
    }
    panic!("{what}: the server keeps sending");
}

/// Deterministic pseudo-random bytes (xorshift64*).
fn noise(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x >> 12;
            x ^= x << 25;
            x ^= x >> 27;
            (x.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 56) as u8
        })
        .collect()
}

async fn tcp_server(cfg: TransportConfig) -> (Transport, Receiver<Inbound>, SocketAddr) {
    let (t, rx) = Transport::bind(cfg.tcp(lo())).await.unwrap();
    let addr = t.local_addr(Kind::Tcp).unwrap();
    (t, rx, addr)
}

async fn connect(addr: SocketAddr) -> TcpStream {
    within("connect", TcpStream::connect(addr))
        .await
        .expect("connect failed")
}

struct TlsMaterial {
    server: Arc<rustls::ServerConfig>,
    trusting: Arc<rustls::ClientConfig>,
    untrusting: Arc<rustls::ClientConfig>,
}

impl TlsMaterial {
    fn new() -> TlsMaterial {
        use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
        let ca = |name: &str| {
            let key = KeyPair::generate().unwrap();
            let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
            p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
            p.distinguished_name.push(DnType::CommonName, name);
            let cert = p.self_signed(&key).unwrap();
            (cert, key)
        };
        let (ca_cert, ca_key) = ca("faults test CA");
        let (other_ca, _) = ca("some other CA");
        let key = KeyPair::generate().unwrap();
        let leaf = CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()])
            .unwrap()
            .signed_by(&key, &ca_cert, &ca_key)
            .unwrap();
        let server = sip_transport::tls::server_config(
            vec![leaf.der().clone(), ca_cert.der().clone()],
            rustls_pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()),
        )
        .unwrap();
        let roots = |c: &rcgen::Certificate| {
            let mut r = rustls::RootCertStore::empty();
            r.add(c.der().clone()).unwrap();
            sip_transport::tls::client_config(r).unwrap()
        };
        TlsMaterial {
            server,
            trusting: roots(&ca_cert),
            untrusting: roots(&other_ca),
        }
    }

    fn good(&self) -> TlsConfig {
        TlsConfig {
            server: Some(self.server.clone()),
            client: Some(self.trusting.clone()),
        }
    }
}

async fn tls_server(
    m: &TlsMaterial,
    cfg: TransportConfig,
) -> (Transport, Receiver<Inbound>, SocketAddr) {
    let (t, rx) = Transport::bind(cfg.tls(lo()).tls_config(m.good()))
        .await
        .unwrap();
    let addr = t.local_addr(Kind::Tls).unwrap();
    (t, rx, addr)
}

// ---------------------------------------------------------------------------
// UDP
// ---------------------------------------------------------------------------

#[tokio::test]
async fn udp_garbage_datagrams_count_parse_errors_and_deliver_nothing() {
    let limits = ParseLimits {
        max_message_size: 8192,
        max_head_size: 1024,
        ..ParseLimits::default()
    };
    let (server, mut rx) =
        Transport::bind(TransportConfig::default().udp(lo()).parse_limits(limits))
            .await
            .unwrap();
    let to = server.local_addr(Kind::Udp).unwrap();
    let peer = UdpSocket::bind(lo()).await.unwrap();
    let me = peer.local_addr().unwrap();

    let whole = options_text("garbage", "UDP", me);
    let mut datagrams: Vec<Vec<u8>> = Vec::new();
    // Random bytes of a few sizes.
    for (i, len) in [1usize, 17, 512, 1400, 8000].into_iter().enumerate() {
        let d = noise(0x5eed + i as u64, len);
        // All CR/LF would be a keep-alive, not garbage.
        assert!(d.iter().any(|b| !matches!(b, b'\r' | b'\n')));
        datagrams.push(d);
    }
    // Random bytes after a plausible start line.
    let mut v = b"INVITE sip:a@b SIP/2.0\r\n".to_vec();
    v.extend(noise(99, 300));
    datagrams.push(v);
    // Half a message: cut inside the header section.
    datagrams.push(whole.as_bytes()[..whole.len() / 2].to_vec());
    // A complete message whose header section is over max_head_size.
    datagrams.push(padded_options("bighead", me, 60).into_bytes());
    // A datagram over max_message_size.
    datagrams.push(padded_options("bigmsg", me, 300).into_bytes());
    // A header line without a colon, bare LF line ends, a bad version.
    datagrams.push(
        whole
            .replace("Max-Forwards: 70", "Max-Forwards 70")
            .into_bytes(),
    );
    datagrams.push(whole.replace("\r\n", "\n").into_bytes());
    datagrams.push(whole.replace("SIP/2.0\r\n", "SIP/2.0x\r\n").into_bytes());

    let n = datagrams.len() as u64;
    for d in &datagrams {
        assert!(d.len() <= 65_000 && !d.is_empty());
        peer.send_to(d, to).await.unwrap();
    }
    let s = wait_stats(&server, "a parse error per datagram", |s| {
        s.parse_errors >= n
    })
    .await;
    assert_eq!(s.parse_errors, n, "{s:?}");
    assert_eq!(s.received, 0);
    assert_eq!(s.keepalives, 0);
    assert_nothing_delivered(&mut rx);

    // The same socket still works for a valid request from another peer.
    assert_still_serves(&server, &mut rx, Kind::Udp, None).await;
    assert_eq!(server.stats().parse_errors, n);
    server.shutdown().await;
}

/// RFC 3261 §18.3: "If the transport packet ends before the end of the
/// message body, this is considered an error. If the message is a
/// response, it MUST be discarded."
#[tokio::test]
async fn rfc3261_18_3_udp_response_shorter_than_content_length_is_discarded() {
    let (server, mut rx) = Transport::bind(TransportConfig::default().udp(lo()))
        .await
        .unwrap();
    let ours = server.local_addr(Kind::Udp).unwrap();
    let peer = UdpSocket::bind(lo()).await.unwrap();
    // The Via is ours, so only the truncation can be the reason to drop it.
    let truncated = format!(
        "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP {ours};branch=z9hG4bK-t1\r\n\
         From: <sip:a@127.0.0.1>;tag=1\r\nTo: <sip:b@127.0.0.1>;tag=2\r\n\
         Call-ID: truncated\r\nCSeq: 1 MESSAGE\r\nContent-Type: text/plain\r\n\
         Content-Length: 100\r\n\r\nonly twenty bytes..."
    );
    peer.send_to(truncated.as_bytes(), ours).await.unwrap();
    // Sent after it, on the same path: once this one is counted, the
    // truncated one has been processed.
    let marker = UdpSocket::bind(lo()).await.unwrap();
    marker.send_to(b"\r\n\r\n", ours).await.unwrap();
    wait_stats(&server, "the marker keep-alive", |s| s.keepalives >= 1).await;
    let s = server.stats();
    assert_nothing_delivered(&mut rx);
    assert_eq!(s.received, 0, "{s:?}");
    assert_eq!(s.parse_errors + s.dropped_responses, 1, "{s:?}");
    assert_still_serves(&server, &mut rx, Kind::Udp, None).await;
    server.shutdown().await;
}

#[tokio::test]
async fn udp_inbound_overflow_is_counted_and_not_reported_as_received() {
    let mut cfg = TransportConfig::default().udp(lo());
    cfg.inbound_queue = 2;
    let (server, mut rx) = Transport::bind(cfg).await.unwrap();
    let to = server.local_addr(Kind::Udp).unwrap();
    let peer = UdpSocket::bind(lo()).await.unwrap();
    let me = peer.local_addr().unwrap();
    for i in 0..6 {
        peer.send_to(options_text(&format!("ovf{i}"), "UDP", me).as_bytes(), to)
            .await
            .unwrap();
    }
    let s = wait_stats(&server, "4 overflows", |s| s.inbound_overflow >= 4).await;
    assert_eq!(s.inbound_overflow, 4, "{s:?}");
    // Only the two queued messages were handed up.
    for i in 0..2 {
        let got = within("queued message", rx.recv()).await.unwrap();
        assert_eq!(got.message.call_id(), Some(format!("ovf{i}").as_str()));
    }
    assert_nothing_delivered(&mut rx);
    assert_eq!(s.received, 2, "received counts dropped messages: {s:?}");
    assert_still_serves(&server, &mut rx, Kind::Udp, None).await;
    server.shutdown().await;
}

// ---------------------------------------------------------------------------
// Oversize and unframable streams
// ---------------------------------------------------------------------------

fn small_limits() -> ParseLimits {
    ParseLimits {
        max_message_size: 4096,
        max_head_size: 1024,
        ..ParseLimits::default()
    }
}

#[tokio::test]
async fn tcp_head_over_max_head_size_closes_the_connection() {
    let (server, mut rx, addr) =
        tcp_server(TransportConfig::default().parse_limits(small_limits())).await;
    let mut raw = connect(addr).await;
    let me = raw.local_addr().unwrap();
    // 60 padding lines (~2 KB) and no blank line yet: the head can only
    // grow past the 1 KB limit.
    let text = padded_options("longhead", me, 60);
    raw.write_all(&text.as_bytes()[..text.len() - 2])
        .await
        .unwrap();
    closed_for_a_framing_error(server, &mut rx, &mut raw, "head over max_head_size").await;
}

#[tokio::test]
async fn tcp_content_length_over_max_message_size_closes_the_connection() {
    let (server, mut rx, addr) =
        tcp_server(TransportConfig::default().parse_limits(small_limits())).await;
    let mut raw = connect(addr).await;
    let me = raw.local_addr().unwrap();
    let text =
        options_text("bigbody", "TCP", me).replace("Content-Length: 0", "Content-Length: 100000");
    // Only the head: the server must not wait for (or buffer) 100 kB.
    raw.write_all(text.as_bytes()).await.unwrap();
    closed_for_a_framing_error(
        server,
        &mut rx,
        &mut raw,
        "Content-Length over max_message_size",
    )
    .await;
}

/// RFC 4475 §3.3.9 / RFC 3261 §18.3: a stream whose Content-Length values
/// disagree cannot be framed; the connection is closed.
#[tokio::test]
async fn rfc4475_conflicting_content_length_on_a_stream_closes_the_connection() {
    let (server, mut rx, addr) = tcp_server(TransportConfig::default()).await;
    let mut raw = connect(addr).await;
    let me = raw.local_addr().unwrap();
    let text = options_text("twolengths", "TCP", me).replace(
        "Content-Length: 0\r\n",
        "Content-Type: text/plain\r\nContent-Length: 5\r\nl: 7\r\n",
    );
    raw.write_all(format!("{text}hello..").as_bytes())
        .await
        .unwrap();
    closed_for_a_framing_error(server, &mut rx, &mut raw, "conflicting Content-Length").await;
}

#[tokio::test]
async fn tcp_framed_but_unparsable_message_is_dropped_and_the_stream_continues() {
    let (server, mut rx, addr) = tcp_server(TransportConfig::default()).await;
    let mut raw = connect(addr).await;
    let me = raw.local_addr().unwrap();
    // Framing only needs the blank line and Content-Length; the parser
    // rejects the start line. The next message on the stream is fine.
    let bad = "HELLO THERE\r\nContent-Length: 3\r\n\r\nabc";
    let good = options_text("after-bad", "TCP", me);
    raw.write_all(format!("{bad}{good}").as_bytes())
        .await
        .unwrap();
    let got = answer_next(&server, &mut rx).await;
    assert_eq!(got.message.call_id(), Some("after-bad"));
    let resp = read_message(&mut raw).await;
    assert_eq!(resp.status(), Some(200));
    let s = server.stats();
    assert_eq!(
        (s.parse_errors, s.received, s.connections_closed),
        (1, 1, 0),
        "{s:?}"
    );
    assert_eq!(server.connection_count(), 1);
    assert_still_serves(&server, &mut rx, Kind::Tcp, None).await;
    server.shutdown().await;
}

// ---------------------------------------------------------------------------
// Stalled, reset and surplus connections
// ---------------------------------------------------------------------------

#[tokio::test]
async fn tcp_stalled_half_message_is_closed_after_idle_timeout() {
    let idle = Duration::from_millis(300);
    let (server, mut rx, addr) = tcp_server(TransportConfig::default().idle_timeout(idle)).await;
    let mut raw = connect(addr).await;
    let me = raw.local_addr().unwrap();
    let text = options_text("stalled", "TCP", me);
    let started = Instant::now();
    raw.write_all(&text.as_bytes()[..text.len() / 2])
        .await
        .unwrap();
    expect_closed(&mut raw, "stalled half message", false).await;
    let elapsed = started.elapsed();
    assert!(
        elapsed >= idle - Duration::from_millis(50),
        "closed after {elapsed:?}, before the idle timeout"
    );
    let s = wait_stats(&server, "idle close", |s| {
        s.idle_closed == 1 && s.connections_closed == 1
    })
    .await;
    assert_eq!((s.parse_errors, s.received), (0, 0), "{s:?}");
    wait_connections(&server, 0).await;
    assert_nothing_delivered(&mut rx);
    assert_still_serves(&server, &mut rx, Kind::Tcp, None).await;
    server.shutdown().await;
}

#[tokio::test]
async fn tcp_reset_mid_message_removes_the_connection() {
    let (server, mut rx, addr) = tcp_server(TransportConfig::default()).await;
    let raw = connect(addr).await;
    let me = raw.local_addr().unwrap();
    wait_connections(&server, 1).await;
    let text = options_text("reset", "TCP", me);
    let mut raw = raw;
    raw.write_all(&text.as_bytes()[..text.len() / 2])
        .await
        .unwrap();
    raw.flush().await.unwrap();
    sleep(Duration::from_millis(20)).await;
    // SO_LINGER 0: close sends a RST instead of a FIN.
    raw.set_zero_linger().unwrap();
    drop(raw);
    wait_connections(&server, 0).await;
    let s = wait_stats(&server, "close counted", |s| s.connections_closed == 1).await;
    assert_eq!(
        (s.connections_opened, s.parse_errors, s.received),
        (1, 0, 0),
        "{s:?}"
    );
    assert_nothing_delivered(&mut rx);
    assert_still_serves(&server, &mut rx, Kind::Tcp, None).await;
    server.shutdown().await;
}

#[tokio::test]
async fn max_connections_rejects_extra_connections_and_keeps_the_first() {
    let (server, mut rx, addr) = tcp_server(TransportConfig::default().max_connections(3)).await;
    let mut first = Vec::new();
    for _ in 0..3 {
        first.push(connect(addr).await);
    }
    wait_connections(&server, 3).await;

    // Over the limit: accepted by the kernel, closed by the server at once.
    for i in 0..2 {
        let mut extra = connect(addr).await;
        expect_closed(&mut extra, &format!("extra connection {i}"), false).await;
    }
    let s = wait_stats(&server, "2 rejections", |s| s.connections_rejected == 2).await;
    assert_eq!(s.connections_opened, 3, "{s:?}");
    assert_eq!(server.connection_count(), 3);

    // The first three still carry requests and responses.
    for (i, raw) in first.iter_mut().enumerate() {
        let me = raw.local_addr().unwrap();
        raw.write_all(options_text(&format!("first{i}"), "TCP", me).as_bytes())
            .await
            .unwrap();
        let got = answer_next(&server, &mut rx).await;
        assert_eq!(got.message.call_id(), Some(format!("first{i}").as_str()));
        let resp = read_message(raw).await;
        assert_eq!(resp.status(), Some(200));
        assert_eq!(resp.call_id(), Some(format!("first{i}").as_str()));
    }

    // Once one closes, a new peer gets its slot.
    drop(first.remove(0));
    wait_connections(&server, 2).await;
    assert_still_serves(&server, &mut rx, Kind::Tcp, None).await;
    assert_eq!(server.stats().connections_rejected, 2);
    server.shutdown().await;
}

#[tokio::test]
async fn tcp_peer_that_stops_reading_is_closed_after_idle_timeout() {
    let mut cfg = TransportConfig::default().idle_timeout(Duration::from_millis(300));
    cfg.send_queue = 4;
    let (server, mut rx, addr) = tcp_server(cfg).await;
    let sock = TcpSocket::new_v4().unwrap();
    sock.set_recv_buffer_size(4096).unwrap();
    let mut raw = within("connect", sock.connect(addr)).await.unwrap();
    let me = raw.local_addr().unwrap();
    raw.write_all(options_text("noread", "TCP", me).as_bytes())
        .await
        .unwrap();
    let got = within("request", rx.recv()).await.unwrap();
    let conn = got.connection.unwrap();
    let mut target = Target::new(Kind::Tcp, got.remote);
    target.connection = Some(conn);

    // Queue 60 kB blobs until the connection task is stuck in a write:
    // the send queue stays full for 200 ms.
    let blob = bytes::Bytes::from(vec![b'x'; 60_000]);
    let mut stuck = 0;
    for _ in 0..2000 {
        match server.send_bytes(blob.clone(), &target).await {
            Ok(_) => stuck = 0,
            Err(TransportError::Backpressure(_)) => {
                stuck += 1;
                if stuck >= 10 {
                    break;
                }
                sleep(Duration::from_millis(20)).await;
            }
            Err(e) => panic!("unexpected send error: {e}"),
        }
        tokio::task::yield_now().await;
    }
    assert!(stuck >= 10, "the send queue never stayed full");
    // The peer has read nothing for well over the idle timeout.
    wait_connections(&server, 0).await;
    drop(raw);
    server.shutdown().await;
}

// ---------------------------------------------------------------------------
// TLS
// ---------------------------------------------------------------------------

#[tokio::test]
async fn tls_garbage_on_the_tls_port_counts_a_handshake_failure() {
    let m = TlsMaterial::new();
    // One slot: the probe only gets through if the failed handshake gave
    // its slot back.
    let (server, mut rx, addr) =
        tls_server(&m, TransportConfig::default().max_connections(1)).await;
    let mut raw = connect(addr).await;
    raw.write_all(b"OPTIONS sip:a@b SIP/2.0\r\n\r\n")
        .await
        .unwrap();
    raw.write_all(&noise(7, 600)).await.unwrap();
    expect_closed(&mut raw, "garbage on the TLS port", true).await;
    let s = wait_stats(&server, "a TLS failure", |s| s.tls_failures == 1).await;
    assert_eq!(
        (s.connections_opened, s.parse_errors, s.received),
        (0, 0, 0),
        "{s:?}"
    );
    assert_eq!(server.connection_count(), 0);
    assert_nothing_delivered(&mut rx);
    assert_still_serves(&server, &mut rx, Kind::Tls, Some(m.good())).await;
    assert_eq!(server.stats().tls_failures, 1);
    server.shutdown().await;
}

#[tokio::test]
async fn tls_client_that_does_not_trust_the_server_fails_then_a_trusting_client_works() {
    let m = TlsMaterial::new();
    let (server, mut rx, addr) =
        tls_server(&m, TransportConfig::default().max_connections(1)).await;
    let (client, _client_rx) =
        Transport::bind(TransportConfig::default().tls(lo()).tls_config(TlsConfig {
            server: Some(m.server.clone()),
            client: Some(m.untrusting.clone()),
        }))
        .await
        .unwrap();
    let err = within(
        "untrusting send",
        client.send(&options("untrusted"), &Target::new(Kind::Tls, addr)),
    )
    .await
    .expect_err("a client with the wrong CA must not connect");
    assert!(matches!(err, TransportError::Tls(_)), "{err:?}");
    assert_eq!(client.stats().tls_failures, 1);
    assert_eq!(client.connection_count(), 0);
    let s = wait_stats(&server, "a server-side TLS failure", |s| {
        s.tls_failures == 1
    })
    .await;
    assert_eq!((s.connections_opened, s.received), (0, 0), "{s:?}");
    client.shutdown().await;
    assert_nothing_delivered(&mut rx);
    assert_still_serves(&server, &mut rx, Kind::Tls, Some(m.good())).await;
    server.shutdown().await;
}

#[tokio::test]
async fn tls_silent_client_handshake_times_out_and_frees_its_slot() {
    let m = TlsMaterial::new();
    let timeout_ = Duration::from_millis(300);
    let (server, mut rx, addr) = tls_server(
        &m,
        TransportConfig::default()
            .max_connections(1)
            .connect_timeout(timeout_),
    )
    .await;
    let mut raw = connect(addr).await;
    let started = Instant::now();
    expect_closed(&mut raw, "silent TLS client", false).await;
    assert!(started.elapsed() >= timeout_ - Duration::from_millis(50));
    wait_stats(&server, "a TLS failure", |s| s.tls_failures == 1).await;
    assert_still_serves(&server, &mut rx, Kind::Tls, Some(m.good())).await;
    server.shutdown().await;
}

// ---------------------------------------------------------------------------
// RFC 5626 §3.5.1 keep-alives
// ---------------------------------------------------------------------------

#[tokio::test]
async fn rfc5626_3_5_1_crlfcrlf_ping_gets_crlf_pong() {
    let (server, mut rx, addr) = tcp_server(TransportConfig::default()).await;
    let mut raw = connect(addr).await;
    raw.write_all(b"\r\n\r\n").await.unwrap();
    let mut pong = [0u8; 2];
    within("pong", raw.read_exact(&mut pong)).await.unwrap();
    assert_eq!(&pong, b"\r\n");
    let s = wait_stats(&server, "a keep-alive", |s| s.keepalives == 1).await;
    assert_eq!((s.parse_errors, s.received, s.sent), (0, 0, 0), "{s:?}");

    // A ping split over two writes is still one ping.
    raw.write_all(b"\r\n").await.unwrap();
    sleep(Duration::from_millis(30)).await;
    raw.write_all(b"\r\n").await.unwrap();
    within("split pong", raw.read_exact(&mut pong))
        .await
        .unwrap();
    assert_eq!(&pong, b"\r\n");

    // Ping and request in one write: pong first, then the response; the
    // stream stays in step.
    let me = raw.local_addr().unwrap();
    raw.write_all(format!("\r\n\r\n{}", options_text("after-ping", "TCP", me)).as_bytes())
        .await
        .unwrap();
    within("third pong", raw.read_exact(&mut pong))
        .await
        .unwrap();
    assert_eq!(&pong, b"\r\n");
    let got = answer_next(&server, &mut rx).await;
    assert_eq!(got.message.call_id(), Some("after-ping"));
    let resp = read_message(&mut raw).await;
    assert_eq!(resp.status(), Some(200));
    assert_eq!(server.stats().keepalives, 3);
    assert_eq!(server.connection_count(), 1);
    assert_still_serves(&server, &mut rx, Kind::Tcp, None).await;
    server.shutdown().await;
}

#[tokio::test]
async fn rfc5626_3_5_1_crlf_pong_gets_no_reply() {
    let (server, mut rx, addr) = tcp_server(TransportConfig::default()).await;
    let mut raw = connect(addr).await;
    let me = raw.local_addr().unwrap();
    raw.write_all(format!("\r\n{}", options_text("after-pong", "TCP", me)).as_bytes())
        .await
        .unwrap();
    let got = answer_next(&server, &mut rx).await;
    assert_eq!(got.message.call_id(), Some("after-pong"));
    // The first bytes back are the response, not a CRLF.
    let mut first = [0u8; 7];
    within("response", raw.read_exact(&mut first))
        .await
        .unwrap();
    assert_eq!(&first, b"SIP/2.0");
    assert_eq!(server.stats().keepalives, 1);
    assert_still_serves(&server, &mut rx, Kind::Tcp, None).await;
    server.shutdown().await;
}

#[tokio::test]
async fn rfc5626_3_5_1_keepalives_keep_an_idle_connection_open() {
    let idle = Duration::from_millis(500);
    let (server, mut rx, addr) = tcp_server(TransportConfig::default().idle_timeout(idle)).await;
    let mut raw = connect(addr).await;
    let mut pong = [0u8; 2];
    // A ping every 100 ms for 600 ms: longer than the idle timeout.
    for _ in 0..6 {
        raw.write_all(b"\r\n\r\n").await.unwrap();
        within("pong", raw.read_exact(&mut pong)).await.unwrap();
        sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(server.connection_count(), 1);
    assert_eq!(server.stats().idle_closed, 0);
    // Then silence: closed.
    expect_closed(&mut raw, "idle after pings", false).await;
    wait_stats(&server, "idle close", |s| s.idle_closed == 1).await;
    assert_still_serves(&server, &mut rx, Kind::Tcp, None).await;
    server.shutdown().await;
}

// ---------------------------------------------------------------------------
// RFC 3261 §18.1.2: responses with a foreign top Via
// ---------------------------------------------------------------------------

fn response_text(call_id: &str, sent_by: SocketAddr) -> String {
    format!(
        "SIP/2.0 200 OK\r\n\
         Via: SIP/2.0/UDP {sent_by};branch=z9hG4bK-{call_id}\r\n\
         From: <sip:a@127.0.0.1>;tag=1\r\nTo: <sip:b@127.0.0.1>;tag=2\r\n\
         Call-ID: {call_id}\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
    )
}

#[tokio::test]
async fn rfc3261_18_1_2_response_with_foreign_sent_by_is_dropped() {
    let (server, mut rx) = Transport::bind(TransportConfig::default().udp(lo()).tcp(lo()))
        .await
        .unwrap();
    let udp = server.local_addr(Kind::Udp).unwrap();
    let tcp = server.local_addr(Kind::Tcp).unwrap();
    let peer = UdpSocket::bind(lo()).await.unwrap();
    let foreign: [SocketAddr; 3] = [
        // Our IP, a port we do not use.
        SocketAddr::new(udp.ip(), if udp.port() == 1 { 2 } else { 1 }),
        // Our port, another host.
        SocketAddr::new("192.0.2.1".parse().unwrap(), udp.port()),
        // The sender's own address.
        peer.local_addr().unwrap(),
    ];
    for (i, f) in foreign.iter().enumerate() {
        peer.send_to(response_text(&format!("foreign{i}"), *f).as_bytes(), udp)
            .await
            .unwrap();
    }
    wait_stats(&server, "3 dropped responses", |s| s.dropped_responses == 3).await;

    // Over TCP too; the connection stays open (the stream is in step).
    let mut raw = connect(tcp).await;
    raw.write_all(response_text("foreign-tcp", foreign[0]).as_bytes())
        .await
        .unwrap();
    wait_stats(&server, "4 dropped responses", |s| s.dropped_responses == 4).await;
    let me = raw.local_addr().unwrap();
    raw.write_all(options_text("after-foreign", "TCP", me).as_bytes())
        .await
        .unwrap();
    let got = answer_next(&server, &mut rx).await;
    assert_eq!(got.message.call_id(), Some("after-foreign"));
    assert_eq!(read_message(&mut raw).await.status(), Some(200));

    // A response carrying our sent-by is handed up.
    peer.send_to(response_text("ours", udp).as_bytes(), udp)
        .await
        .unwrap();
    let ours = within("our response", rx.recv()).await.unwrap();
    assert_eq!(ours.message.call_id(), Some("ours"));
    let s = server.stats();
    assert_eq!(
        (s.dropped_responses, s.parse_errors, s.received),
        (4, 0, 2),
        "{s:?}"
    );
    assert_still_serves(&server, &mut rx, Kind::Udp, None).await;
    server.shutdown().await;
}

/// RFC 3261 §18.1.2: the client transport accepts a response whose sent-by
/// "matches the value it placed into the sent-by in the request". A
/// transport with no TCP listener stamps 0.0.0.0:0 into a TCP request and
/// then drops the response that echoes it.
#[tokio::test]
async fn rfc3261_18_1_2_tcp_client_without_listener_gets_its_responses() {
    let (server, mut rx, addr) = tcp_server(TransportConfig::default()).await;
    // UDP listener only: TCP is outbound-only.
    let (client, mut client_rx) = Transport::bind(TransportConfig::default().udp(lo()))
        .await
        .unwrap();
    within(
        "send",
        client.send(&options("no-listener"), &Target::new(Kind::Tcp, addr)),
    )
    .await
    .unwrap();
    let got = answer_next(&server, &mut rx).await;
    let sent_by = got.message.top_via().unwrap().port();
    let back = timeout(WAIT, client_rx.recv()).await;
    let s = client.stats();
    assert!(
        matches!(back, Ok(Some(ref m)) if m.message.status() == Some(200)),
        "response lost (request Via port {sent_by:?}); client stats {s:?}"
    );
    client.shutdown().await;
    server.shutdown().await;
}

/// A peer that closes cleanly (FIN, nothing pending) is removed and counted.
#[tokio::test]
async fn connection_count_returns_to_zero_after_a_clean_close() {
    let (server, mut rx, addr) = tcp_server(TransportConfig::default()).await;
    let raw = connect(addr).await;
    wait_connections(&server, 1).await;
    drop(raw);
    wait_until("connection gone", || server.connection_count() == 0).await;
    let s = wait_stats(&server, "close counted", |s| s.connections_closed == 1).await;
    assert_eq!(s.connections_opened, 1);
    assert_still_serves(&server, &mut rx, Kind::Tcp, None).await;
    server.shutdown().await;
}

/// `Transport::shutdown` documents: "Inbound senders are dropped with them,
/// so the inbound receiver ends." A layer above that waits on the receiver
/// to learn of the shutdown must not hang.
#[tokio::test]
async fn shutdown_ends_the_inbound_receiver() {
    let (t, mut rx) = Transport::bind(TransportConfig::default().udp(lo()).tcp(lo()))
        .await
        .unwrap();
    t.shutdown().await;
    let end = timeout(WAIT, rx.recv()).await;
    assert!(
        matches!(end, Ok(None)),
        "inbound receiver still open after shutdown"
    );
}

/// After `shutdown()` the layer is stopped: a send must fail
/// (`TransportError::Shutdown` exists for this) rather than open a new
/// connection whose task outlives the shutdown.
#[tokio::test]
async fn send_after_shutdown_fails() {
    let (peer, mut peer_rx, addr) = tcp_server(TransportConfig::default()).await;
    let (t, _rx) = Transport::bind(TransportConfig::default().udp(lo()).tcp(lo()))
        .await
        .unwrap();
    t.shutdown().await;
    let r = within(
        "send after shutdown",
        t.send(&options("after-shutdown"), &Target::new(Kind::Tcp, addr)),
    )
    .await;
    assert!(
        matches!(r, Err(TransportError::Shutdown)),
        "send after shutdown: {r:?}"
    );
    assert_eq!(t.connection_count(), 0);
    sleep(Duration::from_millis(50)).await;
    assert_nothing_delivered(&mut peer_rx);
    peer.shutdown().await;
}

/// The end every unframeable stream shares: the server closes the
/// connection, counts one parse error, delivers nothing, and still serves
/// a new client.
async fn closed_for_a_framing_error(
    server: Transport,
    rx: &mut tokio::sync::mpsc::Receiver<sip_transport::Inbound>,
    raw: &mut TcpStream,
    what: &str,
) {
    expect_closed(raw, what, false).await;
    let s = wait_stats(&server, "parse error and close", |s| {
        s.parse_errors == 1 && s.connections_closed == 1
    })
    .await;
    assert_eq!(s.received, 0);
    wait_connections(&server, 0).await;
    assert_nothing_delivered(rx);
    assert_still_serves(&server, rx, Kind::Tcp, None).await;
    server.shutdown().await;
}
