//! The extension hooks: ordering, consuming, modifying, timers, sending.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Instant;

use common::*;
use sip_message::headers::Transport as Kind;
use sip_message::{Message, Method};
use sip_transaction::{
    priority, Extension, Flow, HookCx, Source, TransactionEvent, TransactionId, Transmit,
};

type Log = Arc<Mutex<Vec<String>>>;

struct Recorder {
    name: &'static str,
    prio: i32,
    log: Log,
    consume_requests: bool,
}

impl Extension for Recorder {
    fn name(&self) -> &'static str {
        self.name
    }
    fn priority(&self) -> i32 {
        self.prio
    }
    fn on_inbound_request(&mut self, _cx: &mut HookCx<'_>, r: &Message, _s: &Source) -> Flow {
        self.log
            .lock()
            .unwrap()
            .push(format!("in:{}:{}", self.name, r.method().unwrap()));
        if self.consume_requests {
            Flow::Consumed
        } else {
            Flow::Continue
        }
    }
    fn on_outbound_request(&mut self, _cx: &mut HookCx<'_>, r: &mut Message) -> Flow {
        self.log.lock().unwrap().push(format!("out:{}", self.name));
        // Modify: add a header to the outgoing request.
        *r = edited(
            r,
            "Max-Forwards: 70\r\n",
            &format!("Max-Forwards: 70\r\nX-{}: 1\r\n", self.name),
        );
        Flow::Continue
    }
}

/// `m` with the first `from` in its text replaced by `to`, parsed again.
fn edited(m: &Message, from: &str, to: &str) -> Message {
    Message::parse(String::from_utf8_lossy(m.as_bytes()).replacen(from, to, 1)).unwrap()
}

#[test]
fn inbound_ascending_outbound_descending_and_consume_stops_the_chain() {
    let log: Log = Arc::default();
    let mut l = layer(1);
    l.add_extension(Box::new(Recorder {
        name: "app",
        prio: priority::APPLICATION,
        log: log.clone(),
        consume_requests: false,
    }));
    l.add_extension(Box::new(Recorder {
        name: "usage",
        prio: priority::DIALOG_USAGE,
        log: log.clone(),
        consume_requests: true,
    }));
    l.add_extension(Box::new(Recorder {
        name: "ua",
        prio: priority::UA,
        log: log.clone(),
        consume_requests: false,
    }));
    let t0 = Instant::now();
    l.handle_inbound(
        t0,
        inbound(request("OPTIONS", "z9hG4bKh1", Kind::Udp), Kind::Udp),
    );
    // "usage" consumed it: "app" never saw it, and no transaction was made.
    assert_eq!(
        *log.lock().unwrap(),
        vec!["in:ua:OPTIONS", "in:usage:OPTIONS"]
    );
    assert!(drain(&mut l).is_empty());
    assert_eq!(l.server_count(), 0);

    log.lock().unwrap().clear();
    let b = l.new_branch();
    l.send_request(t0, request("MESSAGE", &b, Kind::Udp), target(Kind::Udp))
        .unwrap();
    assert_eq!(*log.lock().unwrap(), vec!["out:app", "out:usage", "out:ua"]);
    let outs = drain(&mut l);
    let sent = match transmits(&outs)[0] {
        Transmit::Request { message, .. } => message.clone(),
        _ => panic!(),
    };
    for n in ["X-app", "X-usage", "X-ua"] {
        assert!(
            sent.values_by_name(n).next().is_some(),
            "{n} added by its hook"
        );
    }
}

/// Answers every OPTIONS itself after 1 s using its own timer, and sends
/// a MESSAGE when the timer fires: the shape of what 100rel needs.
struct Delayed {
    pending: Vec<(u64, TransactionId)>,
}

impl Extension for Delayed {
    fn name(&self) -> &'static str {
        "delayed"
    }
    fn on_outbound_response(
        &mut self,
        cx: &mut HookCx<'_>,
        id: TransactionId,
        req: &Message,
        resp: &mut Message,
    ) -> Flow {
        if req.method() == Some(&Method::Options) && resp.status() == Some(200) {
            let token = cx.random();
            self.pending.push((token, id));
            cx.schedule(cx.now() + std::time::Duration::from_secs(1), token);
            return Flow::Consumed;
        }
        Flow::Continue
    }
    fn on_timer(&mut self, cx: &mut HookCx<'_>, token: u64) {
        if let Some(pos) = self.pending.iter().position(|(t, _)| *t == token) {
            let (_, id) = self.pending.remove(pos);
            let req = request("OPTIONS", "z9hG4bKx", Kind::Udp);
            cx.send_response(id, response(&req, 200, Some("late")));
            let b = cx.new_branch();
            cx.send_request(request("MESSAGE", &b, Kind::Udp), target(Kind::Udp));
            cx.emit(Arc::new("done"));
        }
    }
}

#[test]
fn a_hook_can_hold_a_response_schedule_a_timer_send_and_emit() {
    let mut l = layer(2);
    l.add_extension(Box::new(Delayed {
        pending: Vec::new(),
    }));
    let t0 = Instant::now();
    let req = request("OPTIONS", "z9hG4bKh2", Kind::Udp);
    l.handle_inbound(t0, inbound(req.clone(), Kind::Udp));
    let id = match events(&drain(&mut l))[0] {
        TransactionEvent::Request { id, .. } => *id,
        _ => panic!(),
    };
    l.send_response(t0, id, response(&req, 200, Some("now")))
        .unwrap();
    assert!(drain(&mut l).is_empty(), "the hook held the response");
    assert_eq!(l.poll_timeout(), Some(t0 + ms(1000)));
    l.handle_timeout(t0 + ms(1000));
    let outs = drain(&mut l);
    let tx = transmits(&outs);
    assert!(tx.iter().any(
        |t| matches!(t, Transmit::Response { message, .. } if message.to_tag() == Some("late"))
    ));
    assert!(tx.iter().any(|t| matches!(t, Transmit::Request { message, .. } if message.method() == Some(&Method::Message))));
    assert!(events(&outs).iter().any(|e| matches!(
        e,
        TransactionEvent::Extension {
            name: "delayed",
            ..
        }
    )));
    assert_eq!(l.client_count(), 1);
}

/// Stamps every outgoing response it sees (a UA-level extension).
struct Stamper(Log);

impl Extension for Stamper {
    fn name(&self) -> &'static str {
        "stamper"
    }
    fn priority(&self) -> i32 {
        priority::UA
    }
    fn on_outbound_response(
        &mut self,
        _cx: &mut HookCx<'_>,
        _id: TransactionId,
        _req: &Message,
        resp: &mut Message,
    ) -> Flow {
        self.0
            .lock()
            .unwrap()
            .push(resp.to_tag().unwrap_or("").to_owned());
        *resp = edited(resp, "Content-Length:", "X-Stamp: 1\r\nContent-Length:");
        Flow::Continue
    }
}

#[test]
fn a_response_a_hook_releases_goes_through_the_later_hooks() {
    let log: Log = Arc::default();
    let mut l = layer(3);
    l.add_extension(Box::new(Delayed {
        pending: Vec::new(),
    }));
    l.add_extension(Box::new(Stamper(log.clone())));
    let t0 = Instant::now();
    let req = request("OPTIONS", "z9hG4bKh3", Kind::Udp);
    l.handle_inbound(t0, inbound(req.clone(), Kind::Udp));
    let id = match events(&drain(&mut l))[0] {
        TransactionEvent::Request { id, .. } => *id,
        _ => panic!(),
    };
    l.send_response(t0, id, response(&req, 200, Some("now")))
        .unwrap();
    // Held by the application-level hook before the UA-level one saw it.
    assert!(log.lock().unwrap().is_empty());
    l.handle_timeout(t0 + ms(1000));
    let outs = drain(&mut l);
    let released = transmits(&outs)
        .into_iter()
        .find_map(|t| match t {
            Transmit::Response { message, .. } => Some(message.clone()),
            _ => None,
        })
        .expect("released");
    assert_eq!(released.to_tag(), Some("late"));
    assert!(released.values_by_name("x-stamp").next().is_some());
    assert_eq!(*log.lock().unwrap(), vec!["late".to_owned()]);
}
