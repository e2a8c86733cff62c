//! sip-uac end to end: two services on loopback.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use sip_message::headers::Transport;
use sip_message::uri::{escape, UriPart};
use sip_message::{HeaderName, Message, Method};
use sip_tests::service;
use sip_uac::DefaultHandler;
use sip_uac::{default_answer, Answer, Handler, RequestOptions, Service};

/// Records every request and answers with the defaults, MESSAGE with 202
/// and REGISTER with 200 echoing the Contact.
#[derive(Clone, Default)]
struct Recorder(Arc<Mutex<Vec<Message>>>);

impl Handler for Recorder {
    fn on_request(&self, r: &Message) -> Answer {
        self.0.lock().unwrap().push(r.clone());
        match r.method() {
            Some(Method::Message) => Answer::code(202),
            Some(Method::Register) => {
                let contact = r
                    .values(HeaderName::Contact)
                    .next()
                    .map(|c| String::from_utf8_lossy(c).into_owned());
                let a = Answer::code(200);
                match contact {
                    Some(c) => a.header("Contact", &c),
                    None => a,
                }
            }
            _ => default_answer(r),
        }
    }
}

async fn pair(kind: Transport, handler: Recorder) -> (Service, Service, String) {
    let any = "127.0.0.1:0".parse().unwrap();
    let (b, a) = match kind {
        Transport::Tcp => (
            Service::builder("bob").tcp(any).udp(any),
            Service::builder("alice").tcp(any).udp(any),
        ),
        _ => (
            Service::builder("bob").udp(any),
            Service::builder("alice").udp(any),
        ),
    };
    let bob = b.handler(handler).start().await.unwrap();
    let alice = a
        .from("\"Alice\" <sip:alice@atlanta.example.com>")
        .start()
        .await
        .unwrap();
    let addr = bob.local_addr(kind).unwrap();
    let uri = match kind {
        Transport::Tcp => format!("sip:bob@{addr};transport=tcp"),
        _ => format!("sip:bob@{addr}"),
    };
    (alice, bob, uri)
}

#[tokio::test]
async fn options_over_udp_and_tcp() {
    for kind in [Transport::Udp, Transport::Tcp] {
        let (alice, bob, uri) = pair(kind, Recorder::default()).await;
        let r = alice.options(&uri, RequestOptions::new()).await.unwrap();
        assert_eq!((r.code(), r.reason()), (200, "OK"), "{kind}");
        assert!(r.header("Allow")[0].contains("INVITE"));
        assert!(r.to_tag().is_some());
        alice.stop().await;
        bob.stop().await;
    }
}

#[tokio::test]
async fn message_reaches_the_handler_with_its_body_and_a_date_when_it_expires() {
    let rec = Recorder::default();
    let (alice, bob, uri) = pair(Transport::Udp, rec.clone()).await;
    let r = alice
        .message(
            &uri,
            RequestOptions::new()
                .body("text/plain", "Hello Bob")
                .expires(60),
        )
        .await
        .unwrap();
    assert_eq!(r.code(), 202);
    let got = rec.0.lock().unwrap()[0].clone();
    assert_eq!(got.body_bytes(), b"Hello Bob");
    assert!(
        got.has(HeaderName::Date),
        "MESSAGE with Expires carries Date (NkSIP)"
    );
    assert_eq!(
        got.values(HeaderName::ContentType).next(),
        Some(&b"text/plain"[..])
    );
    assert!(got.from_tag().is_some());
    alice.stop().await;
    bob.stop().await;
}

#[tokio::test]
async fn register_to_is_from_and_unregister_all_sends_star() {
    let rec = Recorder::default();
    let (alice, bob, uri) = pair(Transport::Udp, rec.clone()).await;
    let r = alice
        .register(
            &uri,
            RequestOptions::new()
                .contact("<sip:alice@192.0.2.1>")
                .expires(3600),
        )
        .await
        .unwrap();
    assert_eq!(r.code(), 200);
    assert_eq!(r.contacts(), vec!["<sip:alice@192.0.2.1>"]);
    let r = alice
        .unregister_all(&uri, RequestOptions::new())
        .await
        .unwrap();
    assert_eq!(r.code(), 200);
    let seen = rec.0.lock().unwrap().clone();
    let reg = &seen[0];
    let to = String::from_utf8_lossy(reg.values(HeaderName::To).next().unwrap()).into_owned();
    assert_eq!(
        to, "\"Alice\" <sip:alice@atlanta.example.com>",
        "REGISTER: To = From"
    );
    assert_eq!(reg.to_tag(), None);
    let all = &seen[1];
    assert_eq!(all.values(HeaderName::Contact).next(), Some(&b"*"[..]));
    assert_eq!(all.values(HeaderName::Expires).next(), Some(&b"0"[..]));
    assert!(all.cseq().unwrap().0 > reg.cseq().unwrap().0, "CSeq grows");
    alice.stop().await;
    bob.stop().await;
}

#[tokio::test]
async fn request_takes_its_method_and_headers_from_the_uri() {
    let rec = Recorder::default();
    let (alice, bob, uri) = pair(Transport::Udp, rec.clone()).await;
    // <sip:host;method=REGISTER?contact=*&expires=10>, escaped as NkSIP asks.
    let with = format!(
        "<{uri};method=REGISTER?{}={}&expires=10>",
        escape("contact", UriPart::Header),
        escape("*", UriPart::Header)
    );
    let r = alice
        .request(None, &with, RequestOptions::new())
        .await
        .unwrap();
    assert_eq!(r.code(), 200);
    let got = rec.0.lock().unwrap()[0].clone();
    assert_eq!(got.method(), Some(&Method::Register));
    assert_eq!(got.values(HeaderName::Contact).next(), Some(&b"*"[..]));
    assert_eq!(got.values(HeaderName::Expires).next(), Some(&b"10"[..]));
    assert!(
        !got.request_uri_str().unwrap().contains("method="),
        "method= is not part of the Request-URI"
    );
    // request() adds nothing method-specific: no Supported/Allow.
    assert!(!got.has(HeaderName::Allow));
    alice.stop().await;
    bob.stop().await;
}

/// An INVITE is an INVITE however it is sent: through `request` (method
/// given, or `method=INVITE` in the URI) it still carries the Contact RFC
/// 3261 §8.1.1.8 requires, its 2xx is ACKed (§13.2.2.4: the UAC MUST) and
/// makes a dialog that BYE ends (NkSIP's core does the same, §7.1).
#[tokio::test]
async fn an_invite_sent_with_request_gets_contact_ack_and_dialog() {
    #[derive(Clone, Default)]
    struct Answers(Arc<Mutex<Vec<Message>>>);
    impl Handler for Answers {
        fn on_request(&self, r: &Message) -> Answer {
            self.0.lock().unwrap().push(r.clone());
            match r.method() {
                Some(Method::Invite) => Answer::code(200),
                _ => default_answer(r),
            }
        }
        fn on_ack(&self, ack: &Message) {
            self.0.lock().unwrap().push(ack.clone());
        }
    }
    let seen = Answers::default();
    let any = "127.0.0.1:0".parse().unwrap();
    let bob = Service::builder("bob")
        .udp(any)
        .handler(seen.clone())
        .start()
        .await
        .unwrap();
    let alice = Service::builder("alice").udp(any).start().await.unwrap();
    let addr = bob.local_addr(Transport::Udp).unwrap();
    for (method, uri) in [
        (Some(Method::Invite), format!("sip:bob@{addr}")),
        (None, format!("<sip:bob@{addr};method=INVITE>")),
    ] {
        seen.0.lock().unwrap().clear();
        let r = alice
            .request(method, &uri, RequestOptions::new())
            .await
            .unwrap();
        assert_eq!(r.code(), 200, "{uri}");
        let dialog = r.dialog().expect("a dialog for the 2xx").clone();
        let invite = seen.0.lock().unwrap()[0].clone();
        assert_eq!(invite.method(), Some(&Method::Invite));
        assert!(
            invite.has(HeaderName::Contact),
            "{uri}: INVITE without Contact"
        );
        for _ in 0..200 {
            if seen
                .0
                .lock()
                .unwrap()
                .iter()
                .any(|m| m.method() == Some(&Method::Ack))
            {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(
            seen.0
                .lock()
                .unwrap()
                .iter()
                .any(|m| m.method() == Some(&Method::Ack)),
            "{uri}: the 2xx was not ACKed"
        );
        sip_tests::hang_up(&alice, &dialog).await;
    }
    alice.stop().await;
    bob.stop().await;
}

#[tokio::test]
async fn unhandled_requests_get_405_and_invites_480_and_bad_uris_are_errors() {
    let (alice, bob, uri) = pair(Transport::Udp, Recorder::default()).await;
    let r = alice
        .request(
            Some(Method::Publish),
            &uri,
            RequestOptions::new().header("Event", "presence"),
        )
        .await
        .unwrap();
    assert_eq!(r.code(), 405);
    assert!(!r.header("Allow").is_empty());
    assert!(matches!(
        alice.options("sip::nope", RequestOptions::new()).await,
        Err(sip_uac::Error::InvalidUri(_))
    ));
    assert!(
        alice
            .request(None, &uri, RequestOptions::new())
            .await
            .is_err(),
        "no method anywhere"
    );
    alice.stop().await;
    bob.stop().await;
}

#[tokio::test(start_paused = true)]
async fn no_answer_gives_408_after_timer_f_never_sooner() {
    // A socket that swallows everything.
    let sink = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let to = format!("sip:nobody@{}", sink.local_addr().unwrap());
    let alice = Service::builder("alice")
        .udp("127.0.0.1:0".parse().unwrap())
        .start()
        .await
        .unwrap();
    let start = tokio::time::Instant::now();
    let r = alice
        .options(&to, RequestOptions::new().call_id("lost-1@alice"))
        .await
        .unwrap();
    assert_eq!((r.code(), r.reason()), (408, "Timer F Timeout"));
    assert!(r.response().is_none());
    // The synthesized reply still says which request it answers.
    assert_eq!(r.call_id(), Some("lost-1@alice"));
    assert!(r.from_tag().is_some());
    assert_eq!(r.to_tag(), None);
    assert!(r.cseq_num().is_some());
    let waited = start.elapsed();
    assert!(
        waited >= Duration::from_secs(32),
        "{waited:?}: the call must not give up before the transaction"
    );
    alice.stop().await;
}

/// Errors are for what failed before sending (NkSIP): a TCP connection
/// that is refused is an error, not a reply, and comes at once.
#[tokio::test]
async fn a_refused_tcp_connection_is_an_error() {
    let alice = service("alice", DefaultHandler).await;
    // A port nobody listens on: bind, note it, close.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let r = tokio::time::timeout(
        Duration::from_secs(10),
        alice.options(
            &format!("sip:127.0.0.1:{port};transport=tcp"),
            RequestOptions::new(),
        ),
    )
    .await
    .expect("a refused connection must not wait for Timer F");
    match r {
        Err(e) => eprintln!("refused: {e}"),
        Ok(reply) => panic!("expected an error, got {} {}", reply.code(), reply.reason()),
    }
    alice.stop().await;
}

/// A tiny event state compositor (RFC 3903 §6).
struct Compositor(Arc<Mutex<u32>>);

impl Handler for Compositor {
    fn on_request(&self, r: &Message) -> Answer {
        if r.method() != Some(&Method::Publish) {
            return default_answer(r);
        }
        let get = |n: &str| {
            r.values_by_name(n)
                .next()
                .map(|v| String::from_utf8_lossy(v).trim().to_owned())
        };
        if get("Event").as_deref() != Some("presence") {
            return Answer::code(489);
        }
        let mut n = self.0.lock().unwrap();
        match get("SIP-If-Match") {
            // §6 step 4: an unknown entity tag is 412.
            Some(tag) if tag != format!("e{}", *n) => Answer::code(412),
            _ => {
                *n += 1;
                Answer::code(200)
                    .header("SIP-ETag", &format!("e{}", *n))
                    .header("Expires", "3600")
            }
        }
    }
}

#[tokio::test]
async fn publish_needs_an_event_and_refreshes_with_the_etag() {
    let any = "127.0.0.1:0".parse().unwrap();
    let esc = Service::builder("esc")
        .udp(any)
        .handler(Compositor(Arc::new(Mutex::new(0))))
        .start()
        .await
        .unwrap();
    let alice = service("alice", DefaultHandler).await;
    let uri = format!("sip:alice@{}", esc.local_addr(Transport::Udp).unwrap());
    assert!(alice.publish(&uri, RequestOptions::new()).await.is_err());
    let first = alice
        .publish(
            &uri,
            RequestOptions::new()
                .event("presence")
                .expires(3600)
                .body("application/pidf+xml", "<presence/>"),
        )
        .await
        .unwrap();
    assert_eq!(first.code(), 200);
    let etag = first.header("SIP-ETag").pop().unwrap();
    assert_eq!(first.sip_etag(), Some(etag.as_str()));
    assert!(first.expires().is_some(), "the 2xx says the time granted");
    let refresh = alice
        .publish(
            &uri,
            RequestOptions::new().event("presence").sip_if_match(&etag),
        )
        .await
        .unwrap();
    assert_eq!(refresh.code(), 200);
    assert_ne!(refresh.header("SIP-ETag"), vec![etag.clone()]);
    // The old tag is stale now.
    let stale = alice
        .publish(
            &uri,
            RequestOptions::new().event("presence").sip_if_match(&etag),
        )
        .await
        .unwrap();
    assert_eq!(stale.code(), 412);
    alice.stop().await;
    esc.stop().await;
}

#[tokio::test]
async fn headers_are_added_inserted_and_replaced() {
    let rec = Recorder::default();
    let (alice, bob, uri) = pair(Transport::Udp, rec.clone()).await;
    let r = alice
        .options(
            &uri,
            RequestOptions::new()
                .header("X-Tag", "second")
                .insert_header("X-Tag", "first")
                // Replaces the service's own Max-Forwards: 70.
                .replace_header("Max-Forwards", "5"),
        )
        .await
        .unwrap();
    assert_eq!(r.code(), 200);
    let got = rec.0.lock().unwrap()[0].clone();
    let tags: Vec<&[u8]> = got.values_by_name("x-tag").collect();
    assert_eq!(tags, vec![&b"first"[..], &b"second"[..]]);
    assert_eq!(got.values(HeaderName::MaxForwards).count(), 1);
    assert_eq!(got.max_forwards(), Some(5));
    alice.stop().await;
    bob.stop().await;
}

/// A header the options give is not added a second time by the defaults:
/// `header("Supported", ..)` on OPTIONS or REGISTER, `header("Allow", ..)`
/// on INVITE, `header("Contact", ..)` on INVITE each stand alone.
#[tokio::test]
async fn a_header_given_in_the_options_is_not_doubled_by_the_defaults() {
    let rec = Recorder::default();
    let (alice, bob, uri) = pair(Transport::Udp, rec.clone()).await;
    alice
        .options(&uri, RequestOptions::new().header("Supported", "path"))
        .await
        .unwrap();
    alice
        .invite(
            &uri,
            RequestOptions::new()
                .header("Allow", "INVITE, ACK, BYE")
                .header("Contact", "<sip:me@192.0.2.7>"),
        )
        .await
        .unwrap();
    let got = rec.0.lock().unwrap().clone();
    let values = |m: &Message, h: HeaderName| {
        m.values(h)
            .map(|v| String::from_utf8_lossy(v).into_owned())
            .collect::<Vec<_>>()
    };
    assert_eq!(values(&got[0], HeaderName::Supported), ["path"]);
    assert_eq!(
        values(&got[0], HeaderName::Allow).len(),
        1,
        "Allow still added"
    );
    assert_eq!(values(&got[1], HeaderName::Allow), ["INVITE, ACK, BYE"]);
    assert_eq!(values(&got[1], HeaderName::Contact), ["<sip:me@192.0.2.7>"]);
    alice.stop().await;
    bob.stop().await;
}

/// RFC 3261 §8.1.2 (loose routing): a request goes to its first Route,
/// however the Route was given. `header` adds after the service's default
/// route set, `insert_header` before it, `replace_header` replaces it all;
/// the Routes in the message are the ones it is sent by.
#[tokio::test]
async fn routes_given_as_headers_decide_where_the_request_goes() {
    let any = "127.0.0.1:0";
    let (default_proxy, other, only) = (
        tokio::net::UdpSocket::bind(any).await.unwrap(),
        tokio::net::UdpSocket::bind(any).await.unwrap(),
        tokio::net::UdpSocket::bind(any).await.unwrap(),
    );
    let lr = |s: &tokio::net::UdpSocket| format!("<sip:{};lr>", s.local_addr().unwrap());
    let alice = Service::builder("alice")
        .udp("127.0.0.1:0".parse().unwrap())
        .route(&lr(&default_proxy))
        .start()
        .await
        .unwrap();
    // The Request-URI's host is never reached: only the Routes count.
    let target = "sip:bob@192.0.2.9";
    async fn first_request(sock: &tokio::net::UdpSocket) -> Message {
        let mut buf = vec![0u8; 65536];
        let (n, _) = tokio::time::timeout(Duration::from_secs(5), sock.recv_from(&mut buf))
            .await
            .expect("the request came here")
            .unwrap();
        Message::parse(bytes::Bytes::copy_from_slice(&buf[..n])).unwrap()
    }
    let routes = |m: &Message| {
        m.list_values(HeaderName::Route)
            .map(|v| String::from_utf8_lossy(v).into_owned())
            .collect::<Vec<_>>()
    };
    let send = |opts: RequestOptions| {
        let alice = alice.clone();
        tokio::spawn(async move { alice.message(target, opts.body("text/plain", "hi")).await })
    };

    let a = send(RequestOptions::new().header("Route", &lr(&other)));
    let m = first_request(&default_proxy).await;
    assert_eq!(routes(&m), [lr(&default_proxy), lr(&other)]);
    a.abort();

    let b = send(RequestOptions::new().insert_header("Route", &lr(&other)));
    let m = first_request(&other).await;
    assert_eq!(routes(&m), [lr(&other), lr(&default_proxy)]);
    b.abort();

    let c = send(RequestOptions::new().replace_header("Route", &lr(&only)));
    let m = first_request(&only).await;
    assert_eq!(routes(&m), [lr(&only)]);
    c.abort();
    alice.stop().await;
}

/// Answers OPTIONS with 503 (an overloaded server).
struct Overloaded;

impl Handler for Overloaded {
    fn on_request(&self, _r: &Message) -> Answer {
        Answer::code(503)
    }
}

/// When every address of a name refuses its connection nothing was sent:
/// the caller gets an error, as for one refused address, not a reply.
#[tokio::test]
async fn every_address_refused_is_an_error() {
    let any = "127.0.0.1:0".parse().unwrap();
    // Ports nobody listens on: bind, note them, close.
    let refused = || {
        std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
    };
    let alice = Service::builder("alice")
        .udp(any)
        .tcp(any)
        .resolver(Arc::new(sip_tests::FixedResolver(vec![
            refused(),
            refused(),
        ])))
        .start()
        .await
        .unwrap();
    let r = tokio::time::timeout(
        Duration::from_secs(10),
        alice.options("sip:pool.example.com;transport=tcp", RequestOptions::new()),
    )
    .await
    .expect("no hang");
    match r {
        Err(e) => eprintln!("refused twice: {e}"),
        Ok(reply) => panic!("expected an error, got {} {}", reply.code(), reply.reason()),
    }
    alice.stop().await;
}

/// RFC 3263 §4.3: when the first address of a name fails (a refused TCP
/// connection, a 503), the request goes to the next one, with a new
/// branch; the caller sees the answer of the one that worked.
#[tokio::test]
async fn rfc3263_4_3_a_failed_address_gives_way_to_the_next() {
    let any = "127.0.0.1:0".parse().unwrap();
    let bob = Service::builder("bob")
        .udp(any)
        .tcp(any)
        .start()
        .await
        .unwrap();
    let busy = Service::builder("busy")
        .tcp(any)
        .handler(Overloaded)
        .start()
        .await
        .unwrap();
    // A port nobody listens on: bind, note it, close.
    let refused = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let pool = vec![
        refused,
        busy.local_addr(Transport::Tcp).unwrap(),
        bob.local_addr(Transport::Tcp).unwrap(),
    ];
    let alice = Service::builder("alice")
        .udp(any)
        .tcp(any)
        .resolver(Arc::new(sip_tests::FixedResolver(pool)))
        .start()
        .await
        .unwrap();
    let r = tokio::time::timeout(
        Duration::from_secs(10),
        alice.options("sip:pool.example.com;transport=tcp", RequestOptions::new()),
    )
    .await
    .expect("no hang")
    .unwrap();
    assert_eq!(r.code(), 200, "{}", r.reason());
    // Only one address, and it fails: its outcome is the reply.
    let lone = Service::builder("lone")
        .udp(any)
        .tcp(any)
        .resolver(Arc::new(sip_tests::FixedResolver(vec![busy
            .local_addr(Transport::Tcp)
            .unwrap()])))
        .start()
        .await
        .unwrap();
    let r = lone
        .options("sip:pool.example.com;transport=tcp", RequestOptions::new())
        .await
        .unwrap();
    assert_eq!(r.code(), 503);
    for s in [alice, lone, busy, bob] {
        s.stop().await;
    }
}

/// RFC 3263 §4.3 failover to an address of the other family: the Contact
/// names the listener of the address the request went to in the end
/// (§8.1.1.8), not the first one's.
#[tokio::test]
async fn rfc3263_4_3_failover_to_another_family_rewrites_the_contact() {
    let recorder = Recorder::default();
    let bob = Service::builder("bob")
        .tcp("127.0.0.1:0".parse().unwrap())
        .handler(recorder.clone())
        .start()
        .await
        .unwrap();
    // A port nobody listens on over IPv6 loopback: bind, note it, close.
    let Ok(refused) = std::net::TcpListener::bind("[::1]:0").and_then(|l| l.local_addr()) else {
        // Straight to stderr (eprintln! is captured by the harness).
        let _ =
            std::io::Write::write_all(&mut std::io::stderr(), b"skipping: no IPv6 loopback here\n");
        return;
    };
    let alice = Service::builder("alice")
        .tcp("[::1]:0".parse().unwrap())
        .tcp("127.0.0.1:0".parse().unwrap())
        .resolver(Arc::new(sip_tests::FixedResolver(vec![
            refused,
            bob.local_addr(Transport::Tcp).unwrap(),
        ])))
        .start()
        .await
        .unwrap();
    let r = tokio::time::timeout(
        Duration::from_secs(10),
        alice.options(
            "sip:dual.example.com;transport=tcp",
            RequestOptions::new().auto_contact(),
        ),
    )
    .await
    .expect("no hang")
    .unwrap();
    assert_eq!(r.code(), 200, "{}", r.reason());
    let got = recorder.0.lock().unwrap()[0].clone();
    let contact =
        String::from_utf8_lossy(got.values(HeaderName::Contact).next().unwrap()).into_owned();
    assert!(contact.contains("127.0.0.1"), "{contact}");
    alice.stop().await;
    bob.stop().await;
}
