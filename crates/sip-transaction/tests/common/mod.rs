//! Test harness: messages, and stepping a layer on virtual time.
#![allow(dead_code)]

use std::time::{Duration, Instant};

use sip_message::headers::Transport as Kind;
use sip_message::{Message, ResponseBuilder};
use sip_transaction::{
    Output, TimerConfig, TransactionEvent, TransactionLayer, Transmit, Xorshift,
};
use sip_transport::{Inbound, Target};

pub fn layer(seed: u64) -> TransactionLayer {
    TransactionLayer::with_random(TimerConfig::default(), Box::new(Xorshift::seeded(seed)))
}

pub fn addr(port: u16) -> std::net::SocketAddr {
    std::net::SocketAddr::from(([192, 0, 2, 1], port))
}

pub fn request(method: &str, branch: &str, kind: Kind) -> Message {
    Message::parse(format!(
        "{method} sip:bob@192.0.2.4 SIP/2.0\r\nVia: SIP/2.0/{kind} 192.0.2.1:5060;branch={branch}\r\n\
         Route: <sip:proxy.example.com;lr>\r\nMax-Forwards: 70\r\nFrom: Alice <sip:alice@example.com>;tag=f1\r\n\
         To: Bob <sip:bob@example.com>\r\nCall-ID: call-{branch}\r\nCSeq: 1 {method}\r\nContent-Length: 0\r\n\r\n"
    ))
    .unwrap()
}

pub fn response(req: &Message, code: u16, to_tag: Option<&str>) -> Message {
    let b = ResponseBuilder::from_request(req, code);
    match to_tag {
        Some(t) => b.with_to_tag(t).build().unwrap(),
        None => b.build().unwrap(),
    }
}

/// A received message. The layer decides reliability from the transport
/// kind; connection ids only matter to the driver.
pub fn inbound(message: Message, kind: Kind) -> Inbound {
    Inbound {
        message,
        transport: kind,
        local: addr(5060),
        remote: addr(5062),
        connection: None,
    }
}

pub fn target(kind: Kind) -> Target {
    Target::new(kind, addr(5062))
}

/// Everything queued right now.
pub fn drain(l: &mut TransactionLayer) -> Vec<Output> {
    std::iter::from_fn(|| l.poll_output()).collect()
}

pub fn transmits(outs: &[Output]) -> Vec<&Transmit> {
    outs.iter()
        .filter_map(|o| match o {
            Output::Transmit(t) => Some(t),
            _ => None,
        })
        .collect()
}

pub fn events(outs: &[Output]) -> Vec<&TransactionEvent> {
    outs.iter()
        .filter_map(|o| match o {
            Output::Event(e) => Some(e),
            _ => None,
        })
        .collect()
}

/// Steps through every deadline up to `until`, returning (offset from
/// `start`, output) for everything produced.
pub fn run_until(
    l: &mut TransactionLayer,
    start: Instant,
    until: Duration,
) -> Vec<(Duration, Output)> {
    let mut got = Vec::new();
    for _ in 0..10_000 {
        let Some(at) = l.poll_timeout() else { break };
        if at > start + until {
            break;
        }
        l.handle_timeout(at);
        for o in drain(l) {
            got.push((at - start, o));
        }
    }
    got
}

pub fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

pub fn transmit_times(outs: &[(Duration, Output)]) -> Vec<u64> {
    outs.iter()
        .filter(|(_, o)| matches!(o, Output::Transmit(_)))
        .map(|(d, _)| d.as_millis() as u64)
        .collect()
}

/// The ACK a UAC sends for a non-2xx final with this To tag (§17.1.1.3),
/// built by hand to feed a server transaction.
pub fn ack_for_non_2xx(invite: &Message, to_tag: &str) -> Message {
    use sip_message::{HeaderName, Method, RequestBuilder};
    RequestBuilder::new(Method::Ack, &invite.request_uri().unwrap().unwrap())
        .copy_from(
            invite,
            &[HeaderName::Via, HeaderName::From, HeaderName::CallId],
        )
        .raw_header("To", &format!("Bob <sip:bob@example.com>;tag={to_tag}"))
        .raw_header("CSeq", "1 ACK")
        .build()
        .unwrap()
}

/// When (in ms from the start) the transaction reached Terminated.
pub fn terminated_at(outs: &[(Duration, Output)]) -> Option<u64> {
    outs.iter()
        .find(|(_, o)| matches!(o, Output::Event(TransactionEvent::Terminated { .. })))
        .map(|(d, _)| d.as_millis() as u64)
}
