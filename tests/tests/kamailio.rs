//! Interop with Kamailio (tests/kamailio/proxy.cfg) as registrar and
//! record-routing proxy with digest authentication, over UDP and TCP:
//! REGISTER answered after its 401 and unregistered; a call from one of our
//! services to another through the proxy (407 answered, Record-Route kept
//! as the route set, ACK, INFO and BYE through the proxy, RFC 3261 §16.6,
//! §12.2.1.1); MESSAGE through it; a CANCEL through it giving 487; and
//! presence with Kamailio's presence server (PUBLISH, SUBSCRIBE, NOTIFY:
//! RFC 3903, RFC 6665, RFC 3856); a call over TLS through it.
//! Without Kamailio these tests skip with a printed reason, and fail in CI.

use std::sync::{Arc, Mutex};

use sip_message::headers::Transport;
use sip_message::{HeaderName, Message, Method};
use sip_tests::kamailio::{
    kamailio_available, kamailio_tls_available, Kamailio, TlsIdentity, USERS,
};
use sip_tests::{eventually, hang_up};
use sip_uac::{
    default_answer, default_in_dialog_answer, Answer, Handler, RequestId, RequestOptions, Service,
};

/// Bob's side: answers INVITEs (or leaves them ringing when `ring`),
/// records what reaches him.
#[derive(Clone, Default)]
struct Bob {
    ring: bool,
    got: Arc<Mutex<Vec<Message>>>,
    ringing: Arc<Mutex<Vec<RequestId>>>,
}

impl Handler for Bob {
    fn on_request(&self, r: &Message) -> Answer {
        self.got.lock().unwrap().push(r.clone());
        match r.method() {
            Some(Method::Invite) if self.ring => {
                if let Some(id) = RequestId::of(r) {
                    self.ringing.lock().unwrap().push(id);
                }
                Answer::code(180)
            }
            Some(Method::Invite) => Answer::code(200),
            Some(Method::Message) => Answer::code(200),
            _ => default_answer(r),
        }
    }
    fn on_in_dialog_request(&self, r: &Message) -> Answer {
        self.got.lock().unwrap().push(r.clone());
        default_in_dialog_answer(r)
    }
}

impl Bob {
    fn got(&self, m: Method) -> Vec<Message> {
        self.got
            .lock()
            .unwrap()
            .iter()
            .filter(|r| r.method() == Some(&m))
            .cloned()
            .collect()
    }
}

/// A service for subscriber `user` of Kamailio `k`: its From is the
/// user's address of record there, with the user's password.
async fn user(k: &Kamailio, user: &str, handler: impl Handler) -> Service {
    let password = USERS.iter().find(|(u, _)| *u == user).unwrap().1;
    let any = "127.0.0.1:0".parse().unwrap();
    Service::builder(user)
        .udp(any)
        .tcp(any)
        .from(&format!("sip:{user}@127.0.0.1:{}", k.port))
        .credentials(user, password)
        .handler(handler)
        .start()
        .await
        .expect("bind 127.0.0.1")
}

/// REGISTERs `svc` at Kamailio over `kind`; checks the 200.
async fn register(k: &Kamailio, svc: &Service, kind: Transport) {
    let r = svc
        .register(
            &k.uri(None, kind),
            RequestOptions::new().auto_contact().expires(300),
        )
        .await
        .unwrap();
    assert_eq!(
        r.code(),
        200,
        "REGISTER: {} {}\n{}",
        r.code(),
        r.reason(),
        k.log()
    );
}

/// Alice (answering with `alice_h`) and Bob (with `bob_h`), Bob
/// registered at Kamailio over `kind`.
async fn caller_and_callee(
    k: &Kamailio,
    kind: Transport,
    alice_h: &Bob,
    bob_h: &Bob,
) -> (Service, Service) {
    let bob = user(k, "bob", bob_h.clone()).await;
    register(k, &bob, kind).await;
    let alice = user(k, "alice", alice_h.clone()).await;
    (alice, bob)
}

/// Removes `svc`'s bindings at Kamailio over `kind`: Kamailio forks to
/// every binding of an address of record, so a stopped service's binding
/// left behind would get the next test's requests too.
async fn unregister(k: &Kamailio, svc: &Service, kind: Transport) {
    let r = svc
        .unregister_all(&k.uri(None, kind), RequestOptions::new())
        .await
        .unwrap();
    assert_eq!(r.code(), 200, "unREGISTER: {}", r.reason());
}

#[tokio::test]
async fn register_is_challenged_answered_and_unregistered() {
    if !kamailio_available() {
        return;
    }
    let k = Kamailio::start().await;
    for kind in [Transport::Udp, Transport::Tcp] {
        let alice = user(&k, "alice", Bob::default()).await;
        // The challenge, unanswered: Kamailio asks for qop=auth (RFC 2617
        // §3.2.1), so the answer below carries a cnonce and nonce count.
        let r = alice
            .register(&k.uri(None, kind), RequestOptions::new().max_auth_tries(0))
            .await
            .unwrap();
        assert_eq!(r.code(), 401, "{kind}");
        let challenge = r.header("WWW-Authenticate").join(", ");
        assert!(challenge.contains("qop=\"auth\""), "{kind}: {challenge}");
        // §22.2 / RFC 2617: 401, then the REGISTER again with credentials.
        register(&k, &alice, kind).await;
        // §10.2.3: a REGISTER without Contact asks for the bindings.
        let r = alice
            .register(&k.uri(None, kind), RequestOptions::new())
            .await
            .unwrap();
        assert_eq!(r.code(), 200, "{kind}: {}", r.reason());
        // §10.3: the 200 lists the bindings of the address of record: ours.
        let ours = alice.local_addr(kind).unwrap();
        assert!(
            r.contacts().iter().any(|c| c.contains(&ours.to_string())),
            "{kind}: {:?} does not list {ours}",
            r.contacts()
        );
        // §10.2.2: Expires 0 removes them all.
        let r = alice
            .unregister_all(&k.uri(None, kind), RequestOptions::new())
            .await
            .unwrap();
        assert_eq!(r.code(), 200, "{kind}: {}", r.reason());
        assert!(r.contacts().is_empty(), "{kind}: {:?}", r.contacts());
        alice.stop().await;
    }
}

#[tokio::test]
async fn a_wrong_password_ends_in_kamailios_401_without_a_loop() {
    if !kamailio_available() {
        return;
    }
    let k = Kamailio::start().await;
    let any = "127.0.0.1:0".parse().unwrap();
    let alice = Service::builder("alice")
        .udp(any)
        .from(&format!("sip:alice@127.0.0.1:{}", k.port))
        .credentials("alice", "not-the-password")
        .start()
        .await
        .unwrap();
    let r = alice
        .register(&k.uri(None, Transport::Udp), RequestOptions::new().cseq(1))
        .await
        .unwrap();
    assert_eq!(r.code(), 401, "{}", r.reason());
    // One answer to the challenge (CSeq 2), refused: no second try with
    // the same password (RFC 3261 §22.2).
    assert_eq!(r.cseq_num(), Some(2));
    alice.stop().await;
}

#[tokio::test]
async fn a_call_through_kamailio_follows_its_record_route() {
    if !kamailio_available() {
        return;
    }
    let k = Kamailio::start().await;
    for kind in [Transport::Udp, Transport::Tcp] {
        let bob_h = Bob::default();
        let alice_h = Bob::default();
        let (alice, bob) = caller_and_callee(&k, kind, &alice_h, &bob_h).await;
        // The INVITE is challenged (407) and sent again with credentials;
        // Kamailio finds bob's binding and record-routes the call.
        let r = alice
            .invite(&k.uri(Some("bob"), kind), RequestOptions::new())
            .await
            .unwrap();
        assert_eq!(
            r.code(),
            200,
            "{kind}: {} {}\n{}",
            r.code(),
            r.reason(),
            k.log()
        );
        let call = r.dialog().cloned().unwrap();
        // §12.1.2: the route set is the Record-Route, reversed: Kamailio.
        let info = alice.dialog(&call).unwrap();
        assert_eq!(
            info.route_set.len(),
            1,
            "{kind}: {:?}\nthe 200: {}\nbob got: {}",
            info.route_set,
            String::from_utf8_lossy(r.response().unwrap().as_bytes()),
            bob_h
                .got(Method::Invite)
                .first()
                .map(|m| String::from_utf8_lossy(m.as_bytes()).into_owned())
                .unwrap_or_default()
        );
        assert!(
            info.route_set[0].contains(&format!("127.0.0.1:{}", k.port)),
            "{kind}: {:?}",
            info.route_set
        );
        // §12.2.1.1: in-dialog requests go through the proxy (a Route
        // header for it, the remote target in the Request-URI).
        let r = alice.info(&call, RequestOptions::new()).await.unwrap();
        assert_eq!(r.code(), 200, "{kind}");
        let got = bob_h.got(Method::Info);
        assert_eq!(got.len(), 1, "{kind}");
        assert_eq!(got[0].values(HeaderName::Via).count(), 2, "{kind}: proxied");
        eventually("bob's ACK", || {
            bob.dialogs().iter().any(|d| {
                bob.dialog(d).and_then(|i| i.invite_state) == Some(sip_uac::InviteState::Confirmed)
            })
        })
        .await;
        // The callee's route set is the Record-Route in order (§12.1.1):
        // its requests go through the proxy too.
        let bobs = bob.dialogs()[0].clone();
        let theirs = bob.dialog(&bobs).unwrap();
        assert_eq!(theirs.route_set, info.route_set, "{kind}");
        let r = bob.info(&bobs, RequestOptions::new()).await.unwrap();
        assert_eq!(r.code(), 200, "{kind}: {}", r.reason());
        let got = alice_h.got(Method::Info);
        assert_eq!(got.len(), 1, "{kind}");
        assert_eq!(got[0].values(HeaderName::Via).count(), 2, "{kind}: proxied");
        hang_up(&alice, &call).await;
        assert_eq!(bob_h.got(Method::Bye).len(), 1, "{kind}");
        eventually("bob's side ends", || bob.dialog_count() == 0).await;
        assert_eq!(alice.dialog_count(), 0, "{kind}");
        unregister(&k, &bob, kind).await;
        alice.stop().await;
        bob.stop().await;
    }
}

#[tokio::test]
async fn message_through_kamailio_reaches_the_registered_user() {
    if !kamailio_available() {
        return;
    }
    let k = Kamailio::start().await;
    let bob_h = Bob::default();
    let (alice, bob) = caller_and_callee(&k, Transport::Udp, &Bob::default(), &bob_h).await;
    let r = alice
        .message(
            &k.uri(Some("bob"), Transport::Udp),
            RequestOptions::new().body("text/plain", "hello through kamailio"),
        )
        .await
        .unwrap();
    assert_eq!(r.code(), 200, "{}\n{}", r.reason(), k.log());
    let got = bob_h.got(Method::Message);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].body_bytes(), b"hello through kamailio");
    // Nobody registered as carol: Kamailio's 404.
    let r = alice
        .message(
            &format!("sip:carol@127.0.0.1:{}", k.port),
            RequestOptions::new().body("text/plain", "anyone?"),
        )
        .await
        .unwrap();
    assert_eq!(r.code(), 404);
    alice.stop().await;
    bob.stop().await;
}

#[tokio::test]
async fn a_cancel_through_kamailio_gives_487() {
    if !kamailio_available() {
        return;
    }
    let k = Kamailio::start().await;
    for kind in [Transport::Udp, Transport::Tcp] {
        let bob_h = Bob {
            ring: true,
            ..Bob::default()
        };
        let (alice, bob) = caller_and_callee(&k, kind, &Bob::default(), &bob_h).await;
        let (tx, mut rang) = tokio::sync::mpsc::unbounded_channel();
        let mut call = alice
            .invite_async(
                &k.uri(Some("bob"), kind),
                RequestOptions::new().on_provisional(move |r| {
                    let _ = tx.send(r.code());
                }),
            )
            .await
            .unwrap();
        let ring = tokio::time::timeout(std::time::Duration::from_secs(5), rang.recv()).await;
        assert_eq!(ring.ok().flatten(), Some(180), "{kind}\n{}", k.log());
        alice.cancel(&call).await.unwrap();
        // §9.1 through a proxy: it answers our CANCEL and CANCELs bob,
        // whose 487 comes back.
        let r = call.reply().await;
        assert_eq!(r.code(), 487, "{kind}: {}", r.reason());
        eventually("bob's early dialog ends", || bob.dialog_count() == 0).await;
        assert_eq!(alice.dialog_count(), 0, "{kind}");
        unregister(&k, &bob, kind).await;
        alice.stop().await;
        bob.stop().await;
    }
}

/// A PIDF document (RFC 3863) saying `note` for `entity`.
fn pidf(entity: &str, note: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
         <presence xmlns=\"urn:ietf:params:xml:ns:pidf\" entity=\"{entity}\">\n\
         <tuple id=\"t1\"><status><basic>open</basic></status><note>{note}</note></tuple>\n\
         </presence>\n"
    )
}

/// The bodies of the NOTIFYs `h` got, in order.
fn notified(h: &Bob) -> Vec<(String, String)> {
    h.got(Method::Notify)
        .iter()
        .map(|n| {
            let state = n
                .values_by_name("Subscription-State")
                .next()
                .map(|v| String::from_utf8_lossy(v).into_owned())
                .unwrap_or_default();
            (state, String::from_utf8_lossy(n.body_bytes()).into_owned())
        })
        .collect()
}

#[tokio::test]
async fn presence_publish_subscribe_notify_with_kamailios_presence_server() {
    if !kamailio_available() {
        return;
    }
    let k = Kamailio::start().await;
    let alice = user(&k, "alice", Bob::default()).await;
    let watcher = Bob::default();
    let bob = user(&k, "bob", watcher.clone()).await;
    let alice_aor = format!("sip:alice@127.0.0.1:{}", k.port);

    // RFC 3903 §4: an initial PUBLISH (after the 407) gets a SIP-ETag and
    // the granted Expires.
    let publish = |expires: u32, etag: Option<&str>, note: Option<&str>| {
        let mut o = RequestOptions::new().event("presence").expires(expires);
        if let Some(etag) = etag {
            o = o.sip_if_match(etag);
        }
        if let Some(note) = note {
            o = o.body("application/pidf+xml", pidf(&alice_aor, note));
        }
        let alice = alice.clone();
        let aor = alice_aor.clone();
        async move { alice.publish(&aor, o).await.unwrap() }
    };
    let r = publish(600, None, Some("in a meeting")).await;
    assert_eq!(r.code(), 200, "{} {}\n{}", r.code(), r.reason(), k.log());
    let etag = r
        .sip_etag()
        .expect("RFC 3903 §11.3.1: a SIP-ETag")
        .to_owned();
    assert!(
        r.expires().is_some_and(|e| e > 0 && e <= 600),
        "{:?}",
        r.expires()
    );

    // RFC 6665 §4.1.2: bob subscribes; the server's NOTIFY carries alice's
    // state.
    let r = bob
        .subscribe(
            &alice_aor,
            RequestOptions::new().event("presence").expires(300),
        )
        .await
        .unwrap();
    assert!(
        (200..300).contains(&r.code()),
        "{} {}\n{}",
        r.code(),
        r.reason(),
        k.log()
    );
    let sub = r.subscription().cloned().expect("a subscription id");
    eventually("the first NOTIFY", || {
        notified(&watcher)
            .iter()
            .any(|(s, b)| s.starts_with("active") && b.contains("in a meeting"))
    })
    .await;
    assert_eq!(
        bob.subscription(&sub),
        Some(sip_uac::SubscriptionStatus::Active)
    );

    // RFC 3903 §4.4: a modification names the entity tag; the watcher is
    // told.
    let r = publish(600, Some(&etag), Some("free")).await;
    assert_eq!(r.code(), 200, "{}", r.reason());
    let etag = r.sip_etag().expect("a new SIP-ETag").to_owned();
    eventually("the NOTIFY of the change", || {
        notified(&watcher).iter().any(|(_, b)| b.contains("free"))
    })
    .await;

    // RFC 6665 §4.1.2.3: unsubscribing ends with a NOTIFY saying
    // terminated.
    let r = bob
        .subscribe_refresh(&sub, RequestOptions::new().expires(0))
        .await
        .unwrap();
    assert!(
        (200..300).contains(&r.code()),
        "{} {}",
        r.code(),
        r.reason()
    );
    eventually("the final NOTIFY", || {
        notified(&watcher)
            .iter()
            .any(|(s, _)| s.starts_with("terminated"))
    })
    .await;
    eventually("the subscription ends", || bob.subscription(&sub).is_none()).await;

    // RFC 3903 §4.6: removal is Expires 0 with the entity tag.
    let r = publish(0, Some(&etag), None).await;
    assert_eq!(r.code(), 200, "{}", r.reason());
    // A modification of the removed publication: 412 (§6 step 4).
    let r = publish(600, Some(&etag), Some("gone")).await;
    assert_eq!(r.code(), 412, "{}", r.reason());
    alice.stop().await;
    bob.stop().await;
}

/// A throwaway CA, a certificate for 127.0.0.1 it signed (PEM, for
/// Kamailio) and the TLS configuration of our services: that certificate
/// as server, the CA as the only root as client.
fn tls_material() -> (TlsIdentity, sip_transport::TlsConfig) {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let key = KeyPair::generate().unwrap();
    let cert = CertificateParams::new(vec!["127.0.0.1".to_owned()])
        .unwrap()
        .signed_by(&key, &ca, &ca_key)
        .unwrap();
    let server = sip_transport::tls::server_config(
        vec![cert.der().clone()],
        rustls_pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()),
    )
    .unwrap();
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca.der().clone()).unwrap();
    let client = sip_transport::tls::client_config(roots).unwrap();
    (
        TlsIdentity {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        },
        sip_transport::TlsConfig {
            server: Some(server),
            client: Some(client),
        },
    )
}

/// A TLS-only service for subscriber `user` of Kamailio `k`.
async fn tls_user(
    k: &Kamailio,
    user: &str,
    tls: &sip_transport::TlsConfig,
    handler: impl Handler,
) -> Service {
    let password = USERS.iter().find(|(u, _)| *u == user).unwrap().1;
    Service::builder(user)
        .transport(
            sip_transport::TransportConfig::default()
                .tls("127.0.0.1:0".parse().unwrap())
                .tls_config(tls.clone()),
        )
        .from(&format!("sip:{user}@127.0.0.1:{}", k.port))
        .credentials(user, password)
        .handler(handler)
        .start()
        .await
        .expect("bind 127.0.0.1")
}

#[tokio::test]
async fn a_call_over_tls_through_kamailio() {
    if !kamailio_tls_available() {
        return;
    }
    let (identity, tls) = tls_material();
    let k = Kamailio::start_tls(&identity).await;
    let bob_h = Bob::default();
    let bob = tls_user(&k, "bob", &tls, bob_h.clone()).await;
    // RFC 3261 §26.3.1 / §18: REGISTER over TLS binds bob's TLS Contact.
    let r = bob
        .register(
            &k.tls_uri(None),
            RequestOptions::new().auto_contact().expires(300),
        )
        .await
        .unwrap();
    assert_eq!(r.code(), 200, "{} {}\n{}", r.code(), r.reason(), k.log());
    assert!(
        r.contacts().iter().any(|c| c.contains("transport=tls")),
        "{:?}",
        r.contacts()
    );
    let alice = tls_user(&k, "alice", &tls, Bob::default()).await;
    let r = alice
        .invite(&k.tls_uri(Some("bob")), RequestOptions::new())
        .await
        .unwrap();
    assert_eq!(r.code(), 200, "{} {}\n{}", r.code(), r.reason(), k.log());
    let call = r.dialog().cloned().unwrap();
    let info = alice.dialog(&call).unwrap();
    assert!(
        info.route_set[0].contains(&format!("127.0.0.1:{}", k.tls_port.unwrap())),
        "{:?}",
        info.route_set
    );
    // Kamailio reached bob over TLS (its own connection to bob's listener).
    let invite = &bob_h.got(Method::Invite)[0];
    assert!(
        invite
            .values(HeaderName::Via)
            .next()
            .is_some_and(|v| String::from_utf8_lossy(v).contains("TLS")),
        "{}",
        String::from_utf8_lossy(invite.as_bytes())
    );
    let r = alice.info(&call, RequestOptions::new()).await.unwrap();
    assert_eq!(r.code(), 200);
    hang_up(&alice, &call).await;
    eventually("bob's side ends", || bob.dialog_count() == 0).await;
    let r = bob
        .unregister_all(&k.tls_uri(None), RequestOptions::new())
        .await
        .unwrap();
    assert_eq!(r.code(), 200);
    alice.stop().await;
    bob.stop().await;
}
