//! RFC 3263 through real DNS messages: `DnsResolver` asks a small DNS
//! server of the test's own on 127.0.0.1 (answers built with
//! hickory-proto) for NAPTR, SRV and A records, and `target::resolve`
//! turns a SIP URI into targets in the order RFC 3263 gives.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};
use std::str::FromStr;

use hickory_proto::op::{Message, MessageType, ResponseCode};
use hickory_proto::rr::rdata::{A, AAAA, NAPTR, SRV};
use hickory_proto::rr::{Name, RData, Record, RecordType};
use sip_message::headers::Transport as Kind;
use sip_message::uri::Uri;
use sip_transport::dns::DnsResolver;
use sip_transport::target::resolve;
use tokio::net::UdpSocket;

/// Records by (name, type).
type Zone = HashMap<(String, RecordType), Vec<RData>>;

fn name(s: &str) -> Name {
    Name::from_str(&format!("{s}.")).unwrap()
}

/// RFC 3263 §4.1's example: NAPTR for SIPS/TCP, SIP/TCP and SIP/UDP; the
/// UDP SRV has two servers of one priority and a backup.
fn zone() -> Zone {
    let mut z = Zone::new();
    let naptr = |order, pref, service: &str, replacement: &str| {
        RData::NAPTR(NAPTR::new(
            order,
            pref,
            b"s".to_vec().into_boxed_slice(),
            service.as_bytes().to_vec().into_boxed_slice(),
            Vec::new().into_boxed_slice(),
            name(replacement),
        ))
    };
    z.insert(
        ("example.test".into(), RecordType::NAPTR),
        // Not in order in the answer: the client sorts (§4.1).
        vec![
            naptr(100, 50, "SIP+D2U", "_sip._udp.example.test"),
            naptr(50, 50, "SIPS+D2T", "_sips._tcp.example.test"),
            naptr(90, 50, "SIP+D2T", "_sip._tcp.example.test"),
        ],
    );
    let srv = |p, w, port, target: &str| RData::SRV(SRV::new(p, w, port, name(target)));
    z.insert(
        ("_sips._tcp.example.test".into(), RecordType::SRV),
        vec![srv(0, 0, 5061, "tls.example.test")],
    );
    z.insert(
        ("_sip._tcp.example.test".into(), RecordType::SRV),
        vec![srv(0, 0, 5060, "tcp.example.test")],
    );
    z.insert(
        ("_sip._udp.example.test".into(), RecordType::SRV),
        vec![
            srv(20, 0, 5070, "backup.example.test"),
            srv(10, 0, 5062, "udp.example.test"),
        ],
    );
    // A dual-stack server: both families, for failover between them.
    z.insert(
        ("udp.example.test".into(), RecordType::AAAA),
        vec![RData::AAAA(AAAA("2001:db8::3".parse().unwrap()))],
    );
    for (host, last) in [
        ("tls.example.test", 1),
        ("tcp.example.test", 2),
        ("udp.example.test", 3),
        ("backup.example.test", 4),
        ("plain.test", 5),
        ("example.test", 9),
    ] {
        z.insert(
            (host.into(), RecordType::A),
            vec![RData::A(A(Ipv4Addr::new(192, 0, 2, last)))],
        );
    }
    z
}

/// Answers queries from `zone` on a loopback UDP port, until the test
/// ends (bounded: at most 200 queries).
async fn dns_server(zone: Zone) -> u16 {
    let sock = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let port = sock.local_addr().unwrap().port();
    tokio::spawn(async move {
        let mut buf = vec![0u8; 4096];
        for _ in 0..200 {
            let Ok((n, from)) = sock.recv_from(&mut buf).await else {
                return;
            };
            let Ok(q) = Message::from_vec(&buf[..n]) else {
                continue;
            };
            let mut r = Message::new();
            r.set_id(q.id())
                .set_message_type(MessageType::Response)
                .set_op_code(q.op_code())
                .set_recursion_desired(q.recursion_desired())
                .set_recursion_available(true)
                .set_authoritative(true);
            let mut found = false;
            for query in q.queries() {
                r.add_query(query.clone());
                let mut key = query.name().to_utf8();
                key.pop();
                if let Some(records) = zone.get(&(key, query.query_type())) {
                    found = true;
                    for rd in records {
                        r.add_answer(Record::from_rdata(query.name().clone(), 60, rd.clone()));
                    }
                }
            }
            // A name with records of other types: NOERROR without answers
            // (NODATA); an unknown name: NXDOMAIN.
            let known = q.queries().iter().any(|query| {
                let mut n = query.name().to_utf8();
                n.pop();
                zone.keys().any(|(k, _)| *k == n)
            });
            if !found && !known {
                r.set_response_code(ResponseCode::NXDomain);
            }
            let _ = sock.send_to(&r.to_vec().unwrap(), from).await;
        }
    });
    port
}

async fn targets(uri: &str, dns: &DnsResolver) -> Vec<(Kind, String)> {
    let uri: Uri = uri.parse().unwrap();
    resolve(&uri, dns)
        .await
        .unwrap()
        .iter()
        .map(|t| (t.transport, t.addr.to_string()))
        .collect()
}

#[tokio::test]
async fn rfc3263_naptr_srv_and_a_records_over_real_dns_messages() {
    let port = dns_server(zone()).await;
    let dns = DnsResolver::with_name_servers(&[IpAddr::V4(Ipv4Addr::LOCALHOST)], port);
    // §4.1: NAPTR order; §4.2: SRV port; RFC 2782: priority 10 before 20.
    assert_eq!(
        targets("sip:alice@example.test", &dns).await,
        [
            (Kind::Tls, "192.0.2.1:5061".to_owned()),
            (Kind::Tcp, "192.0.2.2:5060".to_owned()),
            (Kind::Udp, "192.0.2.3:5062".to_owned()),
            (Kind::Udp, "[2001:db8::3]:5062".to_owned()),
            (Kind::Udp, "192.0.2.4:5070".to_owned()),
        ]
    );
    // sips: only SIPS+D2T.
    assert_eq!(
        targets("sips:alice@example.test", &dns).await,
        [(Kind::Tls, "192.0.2.1:5061".to_owned())]
    );
    // An explicit transport: its SRV only.
    assert_eq!(
        targets("sip:alice@example.test;transport=tcp", &dns).await,
        [(Kind::Tcp, "192.0.2.2:5060".to_owned())]
    );
    // A port: the name's own A record, no NAPTR nor SRV.
    assert_eq!(
        targets("sip:alice@example.test:5080", &dns).await,
        [(Kind::Udp, "192.0.2.9:5080".to_owned())]
    );
    // sips: with transport=udp still goes over TLS (RFC 3261 §26.2).
    assert_eq!(
        targets("sips:alice@example.test;transport=udp", &dns).await,
        [(Kind::Tls, "192.0.2.1:5061".to_owned())]
    );
    // A name without NAPTR nor SRV: its A record, UDP at 5060.
    assert_eq!(
        targets("sip:bob@plain.test", &dns).await,
        [(Kind::Udp, "192.0.2.5:5060".to_owned())]
    );
}
