//! Digest authentication end to end (RFC 3261 §22, RFC 7616): a registrar
//! that challenges with 401 (MD5) and a proxy-like callee that challenges
//! INVITEs with 407 (SHA-256), each checking the credentials itself with
//! the hash crates (not with sip-uac's code).

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use md5::{Digest, Md5};
use sha2::Sha256;
use sip_message::headers::Transport;
use sip_message::{HeaderName, Message, Method};
use sip_tests::{service, transport_param};
use sip_uac::DefaultHandler;
use sip_uac::{default_answer, Answer, Handler, RequestOptions, Service};

const REALM: &str = "test.example";
const PASSWORD: &str = "s3cret";

fn param<'a>(v: &'a str, name: &str) -> Option<&'a str> {
    v.split(',').find_map(|p| {
        let p = p.trim().trim_start_matches("Digest ").trim();
        let (n, val) = p.split_once('=')?;
        (n.trim() == name).then(|| val.trim().trim_matches('"'))
    })
}

/// Checks `value` the way a server does (RFC 7616 §3.4.1, qop=auth).
fn valid(value: &str, method: &str, sha256: bool) -> bool {
    let h = |s: String| {
        if sha256 {
            format!("{:x}", Sha256::digest(s.as_bytes()))
        } else {
            format!("{:x}", Md5::digest(s.as_bytes()))
        }
    };
    let (Some(user), Some(nonce), Some(uri), Some(nc), Some(cnonce), Some(resp)) = (
        param(value, "username"),
        param(value, "nonce"),
        param(value, "uri"),
        param(value, "nc"),
        param(value, "cnonce"),
        param(value, "response"),
    ) else {
        return false;
    };
    let ha1 = h(format!("{user}:{REALM}:{PASSWORD}"));
    let ha2 = h(format!("{method}:{uri}"));
    param(value, "realm") == Some(REALM)
        && param(value, "qop") == Some("auth")
        && resp == h(format!("{ha1}:{nonce}:{nc}:{cnonce}:auth:{ha2}"))
}

#[derive(Default, Clone)]
struct Challenger {
    seen: Arc<AtomicU32>,
    nonce: Arc<AtomicU32>,
    /// (Call-ID, From tag, CSeq) of each request.
    ids: Arc<std::sync::Mutex<Vec<(String, String, u32)>>>,
}

impl Handler for Challenger {
    fn on_request(&self, r: &Message) -> Answer {
        self.seen.fetch_add(1, Ordering::SeqCst);
        self.ids.lock().unwrap().push((
            r.call_id().unwrap_or_default().to_owned(),
            r.from_tag().unwrap_or_default().to_owned(),
            r.cseq().map_or(0, |(n, _)| n),
        ));
        let nonce = format!("n{}", self.nonce.fetch_add(1, Ordering::SeqCst));
        let get = |h| {
            r.values(h)
                .next()
                .map(|v| String::from_utf8_lossy(v).into_owned())
        };
        match r.method() {
            Some(Method::Register) => match get(HeaderName::Authorization) {
                Some(a) if valid(&a, "REGISTER", false) => Answer::code(200),
                _ => Answer::code(401).header(
                    "WWW-Authenticate",
                    &format!("Digest realm=\"{REALM}\", nonce=\"{nonce}\", qop=\"auth\", opaque=\"op\""),
                ),
            },
            Some(Method::Invite) => match get(HeaderName::ProxyAuthorization) {
                Some(a) if valid(&a, "INVITE", true) => Answer::code(200).body(
                    "application/sdp",
                    "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n",
                ),
                _ => Answer::code(407).header(
                    "Proxy-Authenticate",
                    &format!("Digest realm=\"{REALM}\", nonce=\"{nonce}\", qop=\"auth\", algorithm=SHA-256"),
                ),
            },
            _ => default_answer(r),
        }
    }

    /// INFO in a dialog is challenged too (a proxy in the route would).
    fn on_in_dialog_request(&self, r: &Message) -> Answer {
        if r.method() != Some(&Method::Info) {
            return sip_uac::default_in_dialog_answer(r);
        }
        self.ids.lock().unwrap().push((
            r.call_id().unwrap_or_default().to_owned(),
            r.from_tag().unwrap_or_default().to_owned(),
            r.cseq().map_or(0, |(n, _)| n),
        ));
        let auth = r
            .values(HeaderName::Authorization)
            .next()
            .map(|v| String::from_utf8_lossy(v).into_owned());
        match auth {
            Some(a) if valid(&a, "INFO", false) => Answer::code(200),
            _ => Answer::code(401).header(
                "WWW-Authenticate",
                &format!("Digest realm=\"{REALM}\", nonce=\"i1\", qop=\"auth\""),
            ),
        }
    }
}

async fn pair(kind: Transport) -> (Service, Service, Challenger, String) {
    let any = "127.0.0.1:0".parse().unwrap();
    let ch = Challenger::default();
    let server = service("registrar", ch.clone()).await;
    let client = Service::builder("alice")
        .udp(any)
        .tcp(any)
        .from("<sip:alice@test.example>")
        .start()
        .await
        .unwrap();
    let addr = server.local_addr(kind).unwrap();
    let t = transport_param(kind);
    (server, client, ch, format!("{addr}{t}"))
}

#[tokio::test]
async fn rfc3261_22_2_register_401_is_retried_with_md5_credentials() {
    for kind in [Transport::Udp, Transport::Tcp] {
        let (server, client, ch, at) = pair(kind).await;
        let r = client
            .register(
                &format!("sip:{at}"),
                RequestOptions::new().auth("alice", PASSWORD),
            )
            .await
            .unwrap();
        assert_eq!(r.code(), 200, "{kind}");
        assert_eq!(
            ch.seen.load(Ordering::SeqCst),
            2,
            "one challenge, one retry"
        );
        // §22.2/§8.1.3.5: the retry is the same call (Call-ID, From tag)
        // with a higher CSeq; the reply's are the retry's.
        let ids = ch.ids.lock().unwrap().clone();
        assert_eq!((&ids[0].0, &ids[0].1), (&ids[1].0, &ids[1].1));
        assert_eq!(ids[1].2, ids[0].2 + 1);
        assert_eq!(r.cseq_num(), Some(ids[1].2));
        client.stop().await;
        server.stop().await;
    }
}

#[tokio::test]
async fn a_wrong_password_ends_in_the_servers_401_without_a_loop() {
    let (server, client, ch, at) = pair(Transport::Udp).await;
    let r = client
        .register(
            &format!("sip:{at}"),
            RequestOptions::new().auth("alice", "wrong"),
        )
        .await
        .unwrap();
    assert_eq!(r.code(), 401);
    assert_eq!(
        ch.seen.load(Ordering::SeqCst),
        2,
        "tried once with credentials, then stopped"
    );
    // Without credentials the 401 is the reply at once.
    let r = client
        .register(&format!("sip:{at}"), RequestOptions::new())
        .await
        .unwrap();
    assert_eq!(r.code(), 401);
    assert_eq!(ch.seen.load(Ordering::SeqCst), 3);
    // A request's own limit: 0 tries returns the first challenge even
    // with the right password.
    let r = client
        .register(
            &format!("sip:{at}"),
            RequestOptions::new()
                .auth("alice", PASSWORD)
                .max_auth_tries(0),
        )
        .await
        .unwrap();
    assert_eq!(r.code(), 401);
    assert_eq!(ch.seen.load(Ordering::SeqCst), 4);
    client.stop().await;
    server.stop().await;
}

#[tokio::test]
async fn invite_407_is_retried_with_sha256_proxy_credentials_then_the_call_works() {
    for kind in [Transport::Udp, Transport::Tcp] {
        let (server, client, ch, at) = pair(kind).await;
        let r = client
            .invite(
                &format!("sip:bob@{at}"),
                RequestOptions::new()
                    .auth_realm(REALM, PASSWORD)
                    .auth_user("alice"),
            )
            .await
            .unwrap();
        assert_eq!(r.code(), 200, "{kind}");
        assert_eq!(ch.seen.load(Ordering::SeqCst), 2);
        let d = r
            .dialog()
            .expect("dialog after the authenticated 2xx")
            .clone();
        let bye = client.bye(&d, RequestOptions::new()).await.unwrap();
        assert_eq!(bye.code(), 200);
        client.stop().await;
        server.stop().await;
    }
}

#[tokio::test]
async fn service_credentials_apply_and_another_realm_gets_none() {
    let (server, _c, ch, at) = pair(Transport::Udp).await;
    let any = "127.0.0.1:0".parse().unwrap();
    let client = Service::builder("alice")
        .udp(any)
        .credentials("alice", PASSWORD)
        .start()
        .await
        .unwrap();
    let r = client
        .register(&format!("sip:{at}"), RequestOptions::new())
        .await
        .unwrap();
    assert_eq!(r.code(), 200);
    // A password only for another realm is not offered here.
    let other = service("carol", DefaultHandler).await;
    let before = ch.seen.load(Ordering::SeqCst);
    let r = other
        .register(
            &format!("sip:{at}"),
            RequestOptions::new().auth_realm("elsewhere", PASSWORD),
        )
        .await
        .unwrap();
    assert_eq!(r.code(), 401);
    assert_eq!(ch.seen.load(Ordering::SeqCst), before + 1);
    client.stop().await;
    other.stop().await;
    server.stop().await;
}

#[tokio::test]
async fn in_dialog_401_and_async_invite_407_are_answered_with_credentials() {
    for kind in [Transport::Udp, Transport::Tcp] {
        let (server, client, ch, at) = pair(kind).await;
        // invite_async goes through the challenge like invite.
        let mut pending = client
            .invite_async(
                &format!("sip:bob@{at}"),
                RequestOptions::new().auth("alice", PASSWORD),
            )
            .await
            .unwrap();
        let r = pending.reply().await;
        assert_eq!(r.code(), 200, "{kind}");
        assert_eq!(ch.seen.load(Ordering::SeqCst), 2);
        let d = r.dialog().cloned().unwrap();
        // INFO challenged in the dialog: retried with the next CSeq.
        let before = ch.ids.lock().unwrap().len();
        let info = client
            .info(&d, RequestOptions::new().auth("alice", PASSWORD))
            .await
            .unwrap();
        assert_eq!(info.code(), 200, "{kind}");
        let ids = ch.ids.lock().unwrap()[before..].to_vec();
        assert_eq!(ids.len(), 2, "one challenge, one retry");
        assert_eq!(ids[1].2, ids[0].2 + 1);
        // Without credentials the 401 is the reply.
        let info = client.info(&d, RequestOptions::new()).await.unwrap();
        assert_eq!(info.code(), 401);
        let bye = client.bye(&d, RequestOptions::new()).await.unwrap();
        assert_eq!(bye.code(), 200);
        client.stop().await;
        server.stop().await;
    }
}

/// An async INVITE whose retry with credentials cannot be sent (the peer
/// challenged it over TCP, then closed the connection and stopped
/// listening) ends in a synthesized 503 that still names the call: the
/// INVITE's Call-ID, From tag and CSeq, as every synthesized reply does
/// (nksip-uac.md: a transport failure after the first send is a reply).
#[tokio::test]
async fn async_invite_whose_retry_cannot_be_sent_gets_a_503_naming_the_call() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let at = listener.local_addr().unwrap();
    let peer = tokio::spawn(async move {
        let (mut conn, _) = listener.accept().await.unwrap();
        // Stop listening: the retry's new connection is refused.
        drop(listener);
        let mut buf = vec![0u8; 8192];
        let mut got = Vec::new();
        while !got.windows(4).any(|w| w == b"\r\n\r\n") {
            let n = conn.read(&mut buf).await.unwrap();
            assert!(n > 0, "the INVITE never came");
            got.extend_from_slice(&buf[..n]);
        }
        let invite = String::from_utf8_lossy(&got).into_owned();
        let h = |name| sip_tests::header_line(&invite, name).to_owned();
        let challenge = format!(
            "SIP/2.0 401 Unauthorized\r\n{}\r\n{}\r\n{};tag=peer\r\n{}\r\n{}\r\n\
             WWW-Authenticate: Digest realm=\"example.com\", nonce=\"n1\", qop=\"auth\"\r\n\
             Content-Length: 0\r\n\r\n",
            h("Via"),
            h("From"),
            h("To"),
            h("Call-ID"),
            h("CSeq"),
        );
        conn.write_all(challenge.as_bytes()).await.unwrap();
        // Close at once: the ACK of the 401 and the retry find nobody.
        drop(conn);
        invite
    });
    let alice = service("alice", DefaultHandler).await;
    let mut pending = alice
        .invite_async(
            &format!("sip:bob@{at};transport=tcp"),
            RequestOptions::new().auth("alice", PASSWORD),
        )
        .await
        .unwrap();
    let r = tokio::time::timeout(std::time::Duration::from_secs(40), pending.reply())
        .await
        .expect("the reply comes");
    let invite = peer.await.unwrap();
    let value = |name| {
        sip_tests::header_line(&invite, name)
            .split_once(':')
            .map(|(_, v)| v.trim().to_owned())
            .unwrap()
    };
    assert_eq!(r.code(), 503, "{}", r.reason());
    assert_eq!(r.call_id(), Some(value("Call-ID").as_str()));
    let from_tag = value("From").split_once("tag=").unwrap().1.to_owned();
    assert_eq!(r.from_tag(), Some(from_tag.as_str()));
    assert!(r.cseq_num().is_some(), "the CSeq of the request it answers");
    alice.stop().await;
}
