//! Loopback exchanges over each transport (127.0.0.1 and ::1).

use std::net::SocketAddr;
use std::time::Duration;

use sip_message::headers::{Rport, Transport as Kind};
use sip_message::{Message, ResponseBuilder};
use sip_transport::{Inbound, Target, Transport, TransportConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc::Receiver;

const WAIT: Duration = Duration::from_secs(5);

fn request(call_id: &str, body_len: usize) -> Message {
    let body = "x".repeat(body_len);
    Message::parse(format!(
        "MESSAGE sip:bob@example.com SIP/2.0\r\n\
         Via: SIP/2.0/UDP placeholder.invalid;branch=z9hG4bK{call_id};rport\r\n\
         Max-Forwards: 70\r\nFrom: <sip:alice@example.com>;tag=a1\r\nTo: <sip:bob@example.com>\r\n\
         Call-ID: {call_id}\r\nCSeq: 1 MESSAGE\r\nContent-Type: text/plain\r\n\
         Content-Length: {body_len}\r\n\r\n{body}"
    ))
    .unwrap()
}

async fn recv(rx: &mut Receiver<Inbound>) -> Inbound {
    tokio::time::timeout(WAIT, rx.recv())
        .await
        .expect("timed out")
        .expect("channel closed")
}

async fn pair(
    cfg: impl Fn() -> TransportConfig,
) -> (
    (Transport, Receiver<Inbound>),
    (Transport, Receiver<Inbound>),
) {
    (
        Transport::bind(cfg()).await.unwrap(),
        Transport::bind(cfg()).await.unwrap(),
    )
}

/// A sends a request to B; B sees it with received/rport; B answers with
/// send_response; A gets the response.
async fn exchange(kind: Kind, cfg: impl Fn() -> TransportConfig) {
    let ((a, mut a_rx), (b, mut b_rx)) = pair(cfg).await;
    let b_addr = b.local_addr(kind).unwrap();
    let sent = a
        .send(&request("x1", 10), &Target::new(kind, b_addr))
        .await
        .unwrap();
    assert_eq!(sent.transport, kind);
    let got = recv(&mut b_rx).await;
    assert_eq!(got.transport, kind);
    assert_eq!(got.message.call_id(), Some("x1"));
    assert_eq!(got.message.body_bytes(), b"xxxxxxxxxx");
    let via = got.message.top_via().unwrap();
    // §18.1.1: sent-by is the sender's listener; RFC 3581: rport filled in.
    assert_eq!(via.transport(), kind);
    assert_eq!(via.rport(), Some(Rport::Port(got.remote.port())));
    assert_eq!(via.received(), Some(got.remote.ip().to_string().as_str()));
    if kind.is_reliable() {
        assert!(got.connection.is_some());
    }
    let resp = ResponseBuilder::from_request(&got.message, 200)
        .with_to_tag("b1")
        .build()
        .unwrap();
    b.send_response(&resp, got.connection).await.unwrap();
    let back = recv(&mut a_rx).await;
    assert_eq!(back.message.status(), Some(200));
    assert_eq!(back.message.to_tag(), Some("b1"));
    if kind.is_reliable() {
        // The response came back on the connection A opened.
        assert_eq!(back.connection, sent.connection);
        assert_eq!(a.connection_count(), 1);
        assert_eq!(b.connection_count(), 1);
    }
    assert_eq!(a.stats().sent, 1);
    assert_eq!(b.stats().received, 1);
    a.shutdown().await;
    b.shutdown().await;
}

fn v4(kind: Kind) -> TransportConfig {
    let any: SocketAddr = "127.0.0.1:0".parse().unwrap();
    match kind {
        Kind::Udp => TransportConfig::default().udp(any),
        _ => TransportConfig::default().tcp(any).udp(any),
    }
}

fn v6(kind: Kind) -> TransportConfig {
    let any: SocketAddr = "[::1]:0".parse().unwrap();
    match kind {
        Kind::Udp => TransportConfig::default().udp(any),
        _ => TransportConfig::default().tcp(any).udp(any),
    }
}

#[tokio::test]
async fn udp_ipv4_request_and_response() {
    exchange(Kind::Udp, || v4(Kind::Udp)).await;
}

#[tokio::test]
async fn udp_ipv6_request_and_response() {
    exchange(Kind::Udp, || v6(Kind::Udp)).await;
}

#[tokio::test]
async fn tcp_ipv4_response_on_the_same_connection() {
    exchange(Kind::Tcp, || v4(Kind::Tcp)).await;
}

#[tokio::test]
async fn tcp_ipv6_response_on_the_same_connection() {
    exchange(Kind::Tcp, || v6(Kind::Tcp)).await;
}

fn tls_material() -> (sip_transport::TlsConfig, sip_transport::TlsConfig) {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let key = KeyPair::generate().unwrap();
    let params =
        CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()]).unwrap();
    let cert = params.signed_by(&key, &ca, &ca_key).unwrap();
    let server = sip_transport::tls::server_config(
        vec![cert.der().clone()],
        rustls_pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()),
    )
    .unwrap();
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca.der().clone()).unwrap();
    let client = sip_transport::tls::client_config(roots).unwrap();
    let tls = sip_transport::TlsConfig {
        server: Some(server),
        client: Some(client),
    };
    (tls.clone(), tls)
}

#[tokio::test]
async fn tls_with_a_test_ca_request_and_response() {
    let (tls, _) = tls_material();
    let any: SocketAddr = "127.0.0.1:0".parse().unwrap();
    exchange(Kind::Tls, move || {
        TransportConfig::default()
            .tls(any)
            .udp(any)
            .tls_config(tls.clone())
    })
    .await;
}

async fn raw_tcp(to: SocketAddr) -> tokio::net::TcpStream {
    tokio::time::timeout(WAIT, tokio::net::TcpStream::connect(to))
        .await
        .unwrap()
        .unwrap()
}

#[tokio::test]
async fn rfc3261_18_3_message_split_across_two_writes() {
    let (b, mut rx) = Transport::bind(v4(Kind::Tcp)).await.unwrap();
    let mut s = raw_tcp(b.local_addr(Kind::Tcp).unwrap()).await;
    let bytes = request("split", 20).as_bytes().clone();
    let (one, two) = bytes.split_at(bytes.len() / 2);
    s.write_all(one).await.unwrap();
    s.flush().await.unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(
        rx.try_recv().is_err(),
        "half a message must not be delivered"
    );
    s.write_all(two).await.unwrap();
    let got = recv(&mut rx).await;
    assert_eq!(got.message.call_id(), Some("split"));
    assert_eq!(got.message.body_bytes().len(), 20);
}

#[tokio::test]
async fn rfc3261_18_3_two_messages_in_one_write() {
    let (b, mut rx) = Transport::bind(v4(Kind::Tcp)).await.unwrap();
    let mut s = raw_tcp(b.local_addr(Kind::Tcp).unwrap()).await;
    let mut both = request("first", 3).as_bytes().to_vec();
    both.extend_from_slice(request("second", 4).as_bytes());
    s.write_all(&both).await.unwrap();
    assert_eq!(recv(&mut rx).await.message.call_id(), Some("first"));
    assert_eq!(recv(&mut rx).await.message.call_id(), Some("second"));
}

#[tokio::test]
async fn sixty_kilobyte_message_over_tcp() {
    let ((a, _a_rx), (b, mut b_rx)) = pair(|| v4(Kind::Tcp)).await;
    let big = request("big", 60 * 1024);
    let target = Target {
        explicit_transport: true,
        ..Target::new(Kind::Tcp, b.local_addr(Kind::Tcp).unwrap())
    };
    a.send(&big, &target).await.unwrap();
    let got = recv(&mut b_rx).await;
    assert_eq!(got.message.body_bytes().len(), 60 * 1024);
    assert_eq!(got.transport, Kind::Tcp);
}

#[tokio::test]
async fn rfc3261_18_1_1_large_udp_request_goes_over_tcp() {
    let ((a, _a_rx), (b, mut b_rx)) = pair(|| v4(Kind::Tcp)).await;
    // Same port number on both transports is not guaranteed with port 0:
    // send to B's TCP port, asking for UDP, as a URI without transport= would.
    let to = b.local_addr(Kind::Tcp).unwrap();
    let sent = a
        .send(&request("large", 2000), &Target::new(Kind::Udp, to))
        .await
        .unwrap();
    assert_eq!(sent.transport, Kind::Tcp);
    let got = recv(&mut b_rx).await;
    assert_eq!(got.transport, Kind::Tcp);
    // "the value in the top Via MUST be changed"
    assert_eq!(got.message.top_via().unwrap().transport(), Kind::Tcp);
    // A small one stays on UDP.
    let to_udp = b.local_addr(Kind::Udp).unwrap();
    let sent = a
        .send(&request("small", 10), &Target::new(Kind::Udp, to_udp))
        .await
        .unwrap();
    assert_eq!(sent.transport, Kind::Udp);
    assert_eq!(recv(&mut b_rx).await.transport, Kind::Udp);
}

#[tokio::test]
async fn requests_to_the_same_address_reuse_the_connection() {
    let ((a, _a_rx), (b, mut b_rx)) = pair(|| v4(Kind::Tcp)).await;
    let to = Target::new(Kind::Tcp, b.local_addr(Kind::Tcp).unwrap());
    let first = a.send(&request("r1", 1), &to).await.unwrap();
    let second = a.send(&request("r2", 1), &to).await.unwrap();
    assert_eq!(first.connection, second.connection);
    recv(&mut b_rx).await;
    recv(&mut b_rx).await;
    assert_eq!(a.connection_count(), 1);
}

#[tokio::test]
async fn keepalive_crlf_ping_gets_pong() {
    let (b, _rx) = Transport::bind(v4(Kind::Tcp)).await.unwrap();
    let mut s = raw_tcp(b.local_addr(Kind::Tcp).unwrap()).await;
    s.write_all(b"\r\n\r\n").await.unwrap();
    let mut pong = [0u8; 2];
    tokio::time::timeout(WAIT, s.read_exact(&mut pong))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&pong, b"\r\n");
}

/// `try_send` and `try_send_response` do what `send` and `send_response`
/// do over UDP (§18.1.1 sent-by, RFC 3581 rport), and leave to them what
/// would need waiting: a stream transport, a large request that may move
/// to TCP (§18.1.1).
#[tokio::test]
async fn udp_try_send_matches_send_and_defers_what_needs_waiting() {
    for cfg in [v4, v6] {
        let ((a, mut a_rx), (b, mut b_rx)) = pair(|| cfg(Kind::Tcp)).await;
        let b_udp = b.local_addr(Kind::Udp).unwrap();
        let sent = a
            .try_send(&request("t1", 10), &Target::new(Kind::Udp, b_udp))
            .expect("a datagram goes out at once")
            .unwrap();
        assert_eq!(
            (sent.transport, sent.local),
            (Kind::Udp, a.local_addr(Kind::Udp).unwrap())
        );
        let got = recv(&mut b_rx).await;
        assert_eq!(got.message.call_id(), Some("t1"));
        let via = got.message.top_via().unwrap();
        assert_eq!(via.transport(), Kind::Udp);
        assert_eq!(via.port(), Some(sent.local.port()));
        assert_eq!(via.rport(), Some(Rport::Port(got.remote.port())));
        assert_eq!(got.message.body_bytes(), b"xxxxxxxxxx");
        let resp = ResponseBuilder::from_request(&got.message, 200)
            .with_to_tag("b1")
            .build()
            .unwrap();
        b.try_send_response(&resp, None)
            .expect("a datagram goes out at once")
            .unwrap();
        let back = recv(&mut a_rx).await;
        assert_eq!(
            (back.message.status(), back.message.to_tag()),
            (Some(200), Some("b1"))
        );

        // Not for these: nothing sent, `send` decides.
        let b_tcp = b.local_addr(Kind::Tcp).unwrap();
        assert!(a
            .try_send(&request("t2", 10), &Target::new(Kind::Tcp, b_tcp))
            .is_none());
        assert!(a
            .try_send(&request("t3", 2000), &Target::new(Kind::Udp, b_udp))
            .is_none());
        assert!(
            tokio::time::timeout(Duration::from_millis(100), b_rx.recv())
                .await
                .is_err(),
            "nothing was sent"
        );
    }
}

/// A request without Via, or any after shutdown, is refused by `try_send`
/// as by `send`.
#[tokio::test]
async fn udp_try_send_refuses_a_request_without_via() {
    let ((a, _), (b, _)) = pair(|| v4(Kind::Udp)).await;
    let no_via = Message::parse(
        "OPTIONS sip:b@example.com SIP/2.0\r\nFrom: <sip:a@example.com>;tag=1\r\n\
         To: <sip:b@example.com>\r\nCall-ID: n1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n",
    )
    .unwrap();
    let to = Target::new(Kind::Udp, b.local_addr(Kind::Udp).unwrap());
    assert!(matches!(
        a.try_send(&no_via, &to),
        Some(Err(sip_transport::TransportError::BadMessage(_)))
    ));
    assert!(matches!(
        a.send(&no_via, &to).await,
        Err(sip_transport::TransportError::BadMessage(_))
    ));
    // After shutdown, as `send`: refused.
    a.shutdown().await;
    assert!(matches!(
        a.try_send(&request("s1", 1), &to),
        Some(Err(sip_transport::TransportError::Shutdown))
    ));
}
