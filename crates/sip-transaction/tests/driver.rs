//! The tokio driver over real loopback sockets.

use std::time::Duration;

use sip_message::headers::Transport as Kind;
use sip_message::{Message, ResponseBuilder};
use sip_transaction::driver::{self, ClientTransaction};
use sip_transaction::{Timer, TimerConfig, TransactionEvent, TransactionLayer};
use sip_transport::{Target, Transport, TransportConfig};

fn options(branch: &str, to: std::net::SocketAddr) -> Message {
    Message::parse(format!(
        "OPTIONS sip:{to} SIP/2.0\r\nVia: SIP/2.0/UDP placeholder.invalid;branch={branch}\r\nMax-Forwards: 70\r\n\
         From: <sip:a@example.com>;tag=1\r\nTo: <sip:{to}>\r\nCall-ID: drv-{branch}\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
    ))
    .unwrap()
}

async fn udp() -> (
    Transport,
    tokio::sync::mpsc::Receiver<sip_transport::Inbound>,
) {
    Transport::bind(TransportConfig::default().udp("127.0.0.1:0".parse().unwrap()))
        .await
        .unwrap()
}

async fn next(ct: &mut ClientTransaction) -> TransactionEvent {
    tokio::time::timeout(Duration::from_secs(60), ct.events.recv())
        .await
        .expect("timed out")
        .expect("ended")
}

#[tokio::test]
async fn options_through_two_drivers_over_udp() {
    let (a, a_in) = udp().await;
    let (b, b_in) = udp().await;
    let b_addr = b.local_addr(Kind::Udp).unwrap();
    let (client, _client_events, _t1) = driver::spawn(
        TransactionLayer::new(TimerConfig::default()),
        a.clone(),
        a_in,
    );
    let (server, mut server_events, _t2) = driver::spawn(
        TransactionLayer::new(TimerConfig::default()),
        b.clone(),
        b_in,
    );
    tokio::spawn(async move {
        while let Some(e) = server_events.recv().await {
            if let TransactionEvent::Request { id, request, .. } = e {
                let ok = ResponseBuilder::from_request(&request, 200)
                    .with_to_tag("srv")
                    .build()
                    .unwrap();
                server.send_response(id, ok).await.unwrap();
            }
        }
    });
    let branch = client.new_branch().await;
    let mut ct = client
        .send_request(options(&branch, b_addr), Target::new(Kind::Udp, b_addr))
        .await
        .unwrap();
    match next(&mut ct).await {
        TransactionEvent::Response { response, .. } => {
            assert_eq!(response.status(), Some(200));
            assert_eq!(response.to_tag(), Some("srv"));
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test(start_paused = true)]
async fn timer_f_fires_on_virtual_time_when_nobody_answers() {
    let (a, a_in) = udp().await;
    // A socket that receives and never answers.
    let (silent, _silent_in) = udp().await;
    let to = silent.local_addr(Kind::Udp).unwrap();
    let (client, _ev, _t) = driver::spawn(TransactionLayer::new(TimerConfig::default()), a, a_in);
    let started = tokio::time::Instant::now();
    let wall = std::time::Instant::now();
    let branch = client.new_branch().await;
    let mut ct = client
        .send_request(options(&branch, to), Target::new(Kind::Udp, to))
        .await
        .unwrap();
    match next(&mut ct).await {
        TransactionEvent::Timeout { timer, .. } => assert_eq!(timer, Timer::F),
        other => panic!("{other:?}"),
    }
    let virtual_elapsed = started.elapsed();
    assert!(
        virtual_elapsed >= Duration::from_secs(32),
        "{virtual_elapsed:?}"
    );
    assert!(
        virtual_elapsed < Duration::from_secs(33),
        "{virtual_elapsed:?}"
    );
    assert!(
        wall.elapsed() < Duration::from_secs(10),
        "virtual time, not real time"
    );
    // The stream ends once the transaction is gone.
    assert!(matches!(
        next(&mut ct).await,
        TransactionEvent::Terminated { .. }
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn responses_on_one_tcp_connection_keep_their_order() {
    let any: std::net::SocketAddr = "127.0.0.1:0".parse().unwrap();
    let (a, a_in) = Transport::bind(TransportConfig::default().udp(any).tcp(any))
        .await
        .unwrap();
    let (b, b_in) = Transport::bind(TransportConfig::default().udp(any).tcp(any))
        .await
        .unwrap();
    let b_addr = b.local_addr(Kind::Tcp).unwrap();
    let (client, _ce, _t1) = driver::spawn(TransactionLayer::new(TimerConfig::default()), a, a_in);
    let (server, mut se, _t2) =
        driver::spawn(TransactionLayer::new(TimerConfig::default()), b, b_in);
    tokio::spawn(async move {
        while let Some(e) = se.recv().await {
            if let TransactionEvent::Request { id, request, .. } = e {
                // Back to back: 180 then 200 must arrive in this order.
                for code in [180, 200] {
                    let r = ResponseBuilder::from_request(&request, code)
                        .with_to_tag("s")
                        .build()
                        .unwrap();
                    server.send_response(id, r).await.unwrap();
                }
            }
        }
    });
    for i in 0..20 {
        let branch = client.new_branch().await;
        let invite = Message::parse(format!(
            "INVITE sip:{b_addr};transport=tcp SIP/2.0\r\nVia: SIP/2.0/TCP placeholder.invalid;branch={branch}\r\n\
             Max-Forwards: 70\r\nFrom: <sip:a@example.com>;tag={i}\r\nTo: <sip:{b_addr}>\r\nCall-ID: order-{i}\r\n\
             CSeq: 1 INVITE\r\nContact: <sip:a@127.0.0.1>\r\nContent-Length: 0\r\n\r\n"
        ))
        .unwrap();
        let target = Target {
            explicit_transport: true,
            ..Target::new(Kind::Tcp, b_addr)
        };
        let mut ct = client.send_request(invite, target).await.unwrap();
        let mut codes = Vec::new();
        while codes.last() != Some(&200) {
            match next(&mut ct).await {
                TransactionEvent::Response { response, .. } => {
                    codes.push(response.status().unwrap())
                }
                other => panic!("{other:?}"),
            }
        }
        codes.retain(|c| *c != 100);
        assert_eq!(codes, vec![180, 200], "call {i}");
    }
}

/// A TU that falls a whole queue behind gets no deadlock: the driver
/// answers the overflow 503 (RFC 3261 §21.5.4) and keeps serving commands.
#[tokio::test]
async fn an_overloaded_tu_gets_503s_not_a_deadlock() {
    let (b, b_in) = udp().await;
    let b_addr = b.local_addr(Kind::Udp).unwrap();
    // Nobody reads the server's events.
    let (server, _server_events, _t) = driver::spawn(
        TransactionLayer::new(TimerConfig::default()),
        b.clone(),
        b_in,
    );
    let peer = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let peer_addr = peer.local_addr().unwrap();
    let mut got_503 = 0;
    let mut buf = vec![0u8; 65535];
    // More requests than the TU queue holds (4096), in bounded batches.
    for batch in 0..60 {
        for i in 0..100 {
            let m = format!(
                "OPTIONS sip:{b_addr} SIP/2.0\r\nVia: SIP/2.0/UDP {peer_addr};branch=z9hG4bKov{batch}x{i}\r\nMax-Forwards: 70\r\n\
                 From: <sip:a@example.com>;tag=1\r\nTo: <sip:{b_addr}>\r\nCall-ID: ov-{batch}-{i}\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
            );
            peer.send_to(m.as_bytes(), b_addr).await.unwrap();
        }
        // Drain what came back so far.
        while let Ok(Ok((n, _))) =
            tokio::time::timeout(Duration::from_millis(5), peer.recv_from(&mut buf)).await
        {
            if buf[..n].starts_with(b"SIP/2.0 503") {
                got_503 += 1;
            }
        }
    }
    for _ in 0..200 {
        match tokio::time::timeout(Duration::from_millis(20), peer.recv_from(&mut buf)).await {
            Ok(Ok((n, _))) if buf[..n].starts_with(b"SIP/2.0 503") => got_503 += 1,
            Ok(_) => {}
            Err(_) => break,
        }
    }
    assert!(got_503 > 0, "no 503 for the overflow");
    // The driver still answers commands.
    let branch = tokio::time::timeout(Duration::from_secs(5), server.new_branch())
        .await
        .expect("the driver is stuck");
    assert!(branch.starts_with("z9hG4bK"));
}
