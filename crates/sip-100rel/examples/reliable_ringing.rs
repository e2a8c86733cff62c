//! Reliable provisional responses between two services with the 100rel
//! plugin: bob rings with a reliable 180, then a reliable 183 carrying an
//! SDP offer (alice's INVITE had none); alice's PRACKs go out by themselves,
//! the second with her answer; then 200, ACK and BYE.
//!
//! `cargo run -p sip-100rel --example reliable_ringing`

use bytes::Bytes;
use sip_100rel::{PrackAnswer, Rel100};
use sip_message::headers::{RAck, RSeq, Transport};
use sip_message::{Message, Method};
use sip_uac::{default_in_dialog_answer, Answer, Handler, RequestOptions, Service};

const OFFER: &str = "v=0\r\no=bob 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n";
const ANSWER: &str = "v=0\r\no=alice 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 5000 RTP/AVP 0\r\n";

struct Bob;

impl Handler for Bob {
    fn on_request(&self, _r: &Message) -> Answer {
        // `Require: 100rel` marks a provisional reliable; the plugin adds
        // the RSeq and retransmits it until its PRACK.
        Answer::code(200)
            .with_provisional(Answer::code(180).header("Require", "100rel"))
            .with_provisional(
                Answer::code(183)
                    .header("Require", "100rel")
                    .body("application/sdp", OFFER),
            )
    }
    fn on_in_dialog_request(&self, r: &Message) -> Answer {
        if r.method() == Some(&Method::Prack) {
            let rack = r.get::<RAck>().map(|x| x.to_string()).unwrap_or_default();
            println!(
                "  bob got PRACK (RAck {rack}) with {} bytes of SDP",
                r.body_bytes().len()
            );
        }
        default_in_dialog_answer(r)
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let any = "127.0.0.1:0".parse()?;
    let bob = Service::builder("bob")
        .udp(any)
        .handler(Bob)
        .extension(Rel100::new())
        .start()
        .await?;
    let alice = Service::builder("alice")
        .udp(any)
        .extension(Rel100::new())
        .start()
        .await?;
    let uri = format!(
        "sip:bob@{}",
        bob.local_addr(Transport::Udp).ok_or("no UDP")?
    );
    let opts = RequestOptions::new()
        .on_provisional(|r| {
            let rseq = r.response().and_then(|m| m.get::<RSeq>().ok());
            println!(
                "  alice got {} {} (RSeq {:?})",
                r.code(),
                r.reason(),
                rseq.map(|x| x.0)
            );
        })
        .extension(PrackAnswer::new(|_offer| {
            Some((
                "application/sdp".into(),
                Bytes::from_static(ANSWER.as_bytes()),
            ))
        }));
    let r = alice.invite(&uri, opts).await?;
    println!("INVITE -> {} {}", r.code(), r.reason());
    let dialog = r.dialog().cloned().ok_or("no dialog")?;
    let info = alice.dialog(&dialog).ok_or("dialog gone")?;
    println!(
        "  session: remote SDP {} bytes, local SDP {} bytes, next CSeq {}",
        info.remote_sdp.map_or(0, |s| s.len()),
        info.local_sdp.map_or(0, |s| s.len()),
        info.local_seq + 1
    );
    let bye = alice.bye(&dialog, RequestOptions::new()).await?;
    println!("BYE -> {} {}", bye.code(), bye.reason());
    alice.stop().await;
    bob.stop().await;
    if r.code() != 200 || bye.code() != 200 {
        return Err("unexpected reply".into());
    }
    Ok(())
}
