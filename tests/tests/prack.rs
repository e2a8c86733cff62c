//! RFC 3262 end to end: two services with the 100rel plugin (reliable 180
//! and 183, an offer in the 183 answered in its PRACK, then 200/ACK/BYE),
//! and a service without it (420 to `Require: 100rel`).

use std::sync::{Arc, Mutex};

use bytes::Bytes;
use sip_100rel::{PrackAnswer, Rel100};
use sip_message::headers::{RAck, RSeq, Transport};
use sip_message::{HeaderName, Message, Method};
use sip_tests::transport_param;
use sip_uac::{default_in_dialog_answer, Answer, Handler, RequestOptions, Service};

const OFFER: &str = "v=0\r\no=bob 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n";
/// Provisional codes and RSeqs seen by the caller.
type Seen = Arc<Mutex<Vec<(u16, Option<u32>)>>>;

const ANSWER: &str = "v=0\r\no=alice 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 5000 RTP/AVP 0\r\n";

/// Rings reliably twice (the 183 with an offer, the INVITE having none),
/// then answers 200; records what it receives.
#[derive(Clone, Default)]
struct Callee(Arc<Mutex<Vec<Message>>>);

impl Handler for Callee {
    fn on_request(&self, r: &Message) -> Answer {
        self.0.lock().unwrap().push(r.clone());
        Answer::code(200)
            .with_provisional(Answer::code(180).header("Require", "100rel"))
            .with_provisional(
                Answer::code(183)
                    .header("Require", "100rel")
                    .body("application/sdp", OFFER),
            )
    }
    fn on_in_dialog_request(&self, r: &Message) -> Answer {
        self.0.lock().unwrap().push(r.clone());
        default_in_dialog_answer(r)
    }
}

async fn pair(kind: Transport, callee_plugin: bool) -> (Service, Service, Callee, String) {
    let any = "127.0.0.1:0".parse().unwrap();
    let callee = Callee::default();
    let mut b = Service::builder("bob")
        .udp(any)
        .tcp(any)
        .handler(callee.clone());
    if callee_plugin {
        b = b.extension(Rel100::new());
    }
    let bob = b.start().await.unwrap();
    let alice = Service::builder("alice")
        .udp(any)
        .tcp(any)
        .extension(Rel100::new())
        .start()
        .await
        .unwrap();
    let uri = format!(
        "sip:bob@{}{}",
        bob.local_addr(kind).unwrap(),
        transport_param(kind)
    );
    (alice, bob, callee, uri)
}

fn received(c: &Callee, m: Method) -> Vec<Message> {
    c.0.lock()
        .unwrap()
        .iter()
        .filter(|r| r.method() == Some(&m))
        .cloned()
        .collect()
}

#[tokio::test]
async fn reliable_180_and_183_are_pracked_with_the_answer_then_200_ack_bye() {
    for kind in [Transport::Udp, Transport::Tcp] {
        let (alice, bob, callee, uri) = pair(kind, true).await;
        let seen: Seen = Arc::default();
        let seen2 = seen.clone();
        let opts = RequestOptions::new()
            .on_provisional(move |r| {
                let rseq = r.response().and_then(|m| m.get::<RSeq>().ok()).map(|x| x.0);
                seen2.lock().unwrap().push((r.code(), rseq));
            })
            .extension(PrackAnswer::new(|resp| {
                assert_eq!(resp.body_bytes(), OFFER.as_bytes());
                Some((
                    "application/sdp".into(),
                    Bytes::from_static(ANSWER.as_bytes()),
                ))
            }));
        let r = alice.invite(&uri, opts).await.unwrap();
        assert_eq!(r.code(), 200, "{kind}");
        let dialog = r.dialog().cloned().unwrap();

        // The caller saw each reliable provisional once, RSeq consecutive.
        let seen = seen.lock().unwrap().clone();
        assert_eq!(seen.len(), 2, "{kind}: {seen:?}");
        assert_eq!((seen[0].0, seen[1].0), (180, 183));
        let r1 = seen[0].1.expect("RSeq on the 180");
        assert_eq!(seen[1].1, Some(r1 + 1));

        // The INVITE offered 100rel and allowed PRACK.
        let invite = received(&callee, Method::Invite).remove(0);
        assert!(invite.values(HeaderName::Supported).any(|v| v == b"100rel"));
        assert!(invite
            .values(HeaderName::Allow)
            .any(|v| String::from_utf8_lossy(v).contains("PRACK")));
        let invite_seq = invite.cseq().unwrap().0;

        // Both PRACKs reached the callee's handler, in order, the second
        // with the answer.
        let pracks = received(&callee, Method::Prack);
        assert_eq!(pracks.len(), 2, "{kind}");
        let racks: Vec<RAck> = pracks.iter().map(|p| p.get::<RAck>().unwrap()).collect();
        assert_eq!(
            racks,
            vec![
                RAck {
                    rseq: r1,
                    cseq: invite_seq,
                    method: Method::Invite
                },
                RAck {
                    rseq: r1 + 1,
                    cseq: invite_seq,
                    method: Method::Invite
                },
            ]
        );
        assert!(pracks[0].body_bytes().is_empty());
        assert_eq!(pracks[1].body_bytes(), ANSWER.as_bytes());
        let prack_seqs: Vec<u32> = pracks.iter().map(|p| p.cseq().unwrap().0).collect();
        assert_eq!(prack_seqs, vec![invite_seq + 1, invite_seq + 2]);

        // The dialog knows the exchange and numbers after the PRACKs.
        let info = alice.dialog(&dialog).unwrap();
        assert_eq!(info.remote_sdp.as_deref(), Some(OFFER.as_bytes()));
        assert_eq!(info.local_sdp.as_deref(), Some(ANSWER.as_bytes()));
        assert_eq!(info.local_seq, invite_seq + 2);

        // The callee's dialog knows it too (reported by its plugin).
        let theirs =
            sip_dialog::DialogId::new(dialog.call_id(), dialog.remote_tag(), dialog.local_tag());
        let mut known = None;
        for _ in 0..200 {
            known = bob.dialog(&theirs).filter(|i| i.remote_sdp.is_some());
            if known.is_some() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        let known = known.expect("the callee's dialog with the PRACK's answer");
        // §12.1.1: the 2xx confirmed the callee's dialog.
        assert_eq!(known.state, sip_uac::DialogState::Confirmed);
        assert_eq!(known.local_sdp.as_deref(), Some(OFFER.as_bytes()));
        assert_eq!(known.remote_sdp.as_deref(), Some(ANSWER.as_bytes()));

        let bye = alice.bye(&dialog, RequestOptions::new()).await.unwrap();
        assert_eq!(bye.code(), 200, "{kind}");
        let byes = received(&callee, Method::Bye);
        assert_eq!(byes[0].cseq().unwrap().0, invite_seq + 3);
        alice.stop().await;
        bob.stop().await;
    }
}

#[tokio::test]
async fn require_100rel_to_a_service_without_the_plugin_gets_420() {
    for kind in [Transport::Udp, Transport::Tcp] {
        let (alice, bob, callee, uri) = pair(kind, false).await;
        let r = alice
            .invite(&uri, RequestOptions::new().header("Require", "100rel"))
            .await
            .unwrap();
        assert_eq!(r.code(), 420, "{kind}");
        assert_eq!(r.header("unsupported"), vec!["100rel".to_owned()]);
        // The handler never saw it.
        assert!(received(&callee, Method::Invite).is_empty());
        // Merely supporting it is fine: the callee rings unreliably
        // (no RSeq, no Require) and answers.
        let seen: Arc<Mutex<Vec<Option<u32>>>> = Arc::default();
        let seen2 = seen.clone();
        let r = alice
            .invite(
                &uri,
                RequestOptions::new().on_provisional(move |r| {
                    let rseq = r.response().and_then(|m| m.get::<RSeq>().ok()).map(|x| x.0);
                    seen2.lock().unwrap().push(rseq);
                }),
            )
            .await
            .unwrap();
        assert_eq!(r.code(), 200, "{kind}");
        assert_eq!(*seen.lock().unwrap(), vec![None, None]);
        assert!(received(&callee, Method::Prack).is_empty());
        let d = r.dialog().cloned().unwrap();
        assert_eq!(
            alice.bye(&d, RequestOptions::new()).await.unwrap().code(),
            200
        );
        // Without the plugin, PRACK is not allowed.
        let allow = r.header("allow");
        assert!(allow.iter().all(|a| !a.contains("PRACK")), "{allow:?}");
        alice.stop().await;
        bob.stop().await;
    }
}
