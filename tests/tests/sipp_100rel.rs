//! RFC 3262 against SIPp, over UDP and TCP, with the scenarios in
//! `tests/sipp/`: SIPp as the UAS sending a reliable 183 with an offer (our
//! UAC PRACKs it with the answer and completes the call), and SIPp as the
//! UAC requiring 100rel of our UAS (it PRACKs our reliable 180).
//!
//! Without `sipp` on PATH these tests print why and skip on a developer
//! machine; with `CI=true` they fail.

use std::sync::{Arc, Mutex};

use bytes::Bytes;
use sip_100rel::{PrackAnswer, Rel100};
use sip_message::headers::{RSeq, Transport};
use sip_message::{Message, Method};
use sip_tests::sipp::{free_port, sipp_available, Sipp};
use sip_tests::transport_param;
use sip_uac::{default_in_dialog_answer, Answer, Handler, RequestOptions, Service};

/// Provisional codes and RSeqs seen by the caller.
type Seen = Arc<Mutex<Vec<(u16, Option<u32>)>>>;

const ANSWER: &str = "v=0\r\no=alice 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 5000 RTP/AVP 0\r\n";

async fn with_plugin(name: &str, handler: impl Handler) -> Service {
    let any = "127.0.0.1:0".parse().unwrap();
    Service::builder(name)
        .udp(any)
        .tcp(any)
        .handler(handler)
        .extension(Rel100::new())
        .start()
        .await
        .unwrap()
}

async fn our_uac_prack_sipp_reliable_183(kind: Transport) {
    if !sipp_available() {
        return;
    }
    let (sipp, port) = Sipp::uas("uas_100rel.xml", kind).await;
    let alice = with_plugin("alice", sip_uac::DefaultHandler).await;
    let seen: Seen = Arc::default();
    let s2 = seen.clone();
    let opts = RequestOptions::new()
        .on_provisional(move |r| {
            let rseq = r.response().and_then(|m| m.get::<RSeq>().ok()).map(|x| x.0);
            s2.lock().unwrap().push((r.code(), rseq));
        })
        .extension(PrackAnswer::new(|_| {
            Some((
                "application/sdp".into(),
                Bytes::from_static(ANSWER.as_bytes()),
            ))
        }));
    let uri = format!("sip:sipp@127.0.0.1:{port}{}", transport_param(kind));
    let reply = alice
        .invite(&uri, opts)
        .await
        .unwrap_or_else(|e| panic!("{kind}: {e}; sipp errors: {}", sipp.errors()));
    assert_eq!(reply.code(), 200, "{kind}: {}", sipp.errors());
    // The 183 was shown once, however often SIPp retransmitted it.
    assert_eq!(*seen.lock().unwrap(), vec![(183, Some(1))]);
    let dialog = reply.dialog().cloned().unwrap();
    let info = alice.dialog(&dialog).unwrap();
    assert_eq!(info.local_sdp.as_deref(), Some(ANSWER.as_bytes()));
    assert!(info.remote_sdp.is_some_and(|s| s.starts_with(b"v=0")));
    let bye = alice.bye(&dialog, RequestOptions::new()).await.unwrap();
    assert_eq!(bye.code(), 200, "{kind}: {}", sipp.errors());
    let errs = sipp.errors();
    assert_eq!(sipp.finish().await, 0, "{kind}: sipp errors: {errs}");
    alice.stop().await;
}

/// Rings, then answers; records PRACKs. It does not mark its 180
/// reliable: SIPp requires 100rel, so the plugin sends it reliably anyway.
#[derive(Clone, Default)]
struct Callee(Arc<Mutex<Vec<Message>>>);

impl Handler for Callee {
    fn on_request(&self, _r: &Message) -> Answer {
        Answer::code(200).with_provisional(Answer::code(180))
    }
    fn on_in_dialog_request(&self, r: &Message) -> Answer {
        self.0.lock().unwrap().push(r.clone());
        default_in_dialog_answer(r)
    }
}

async fn sipp_uac_requiring_100rel_against_our_uas(kind: Transport) {
    if !sipp_available() {
        return;
    }
    let callee = Callee::default();
    let bob = with_plugin("bob", callee.clone()).await;
    let remote = bob.local_addr(kind).unwrap();
    let sipp = Sipp::uac("uac_100rel.xml", kind, free_port(kind), remote, "bob");
    let (code, errs) = sipp.finish_with_errors().await;
    let seen: Vec<Method> = callee
        .0
        .lock()
        .unwrap()
        .iter()
        .filter_map(|m| m.method().cloned())
        .collect();
    assert_eq!(code, 0, "{kind}: sipp errors: {errs}");
    assert_eq!(seen, vec![Method::Prack, Method::Bye], "{kind}");
    bob.stop().await;
}

#[tokio::test]
async fn sipp_reliable_183_is_pracked_udp() {
    our_uac_prack_sipp_reliable_183(Transport::Udp).await;
}

#[tokio::test]
async fn sipp_reliable_183_is_pracked_tcp() {
    our_uac_prack_sipp_reliable_183(Transport::Tcp).await;
}

#[tokio::test]
async fn sipp_uac_requiring_100rel_udp() {
    sipp_uac_requiring_100rel_against_our_uas(Transport::Udp).await;
}

#[tokio::test]
async fn sipp_uac_requiring_100rel_tcp() {
    sipp_uac_requiring_100rel_against_our_uas(Transport::Tcp).await;
}
