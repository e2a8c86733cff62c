//! RFC 3261 §12 dialog rules, on call-flow messages in the style of RFC 3665.

use sip_dialog::{Dialog, DialogError, DialogId, DialogState, DialogUpdate, Dialogs};
use sip_message::headers::{NameAddr, Route, Transport};
use sip_message::{Message, Method};

const CALL: &str = "3848276298220188511@atlanta.example.com";

fn invite() -> Message {
    Message::parse(format!(
        "INVITE sip:bob@biloxi.example.com SIP/2.0\r\n\
         Via: SIP/2.0/UDP client.atlanta.example.com:5060;branch=z9hG4bK74bf9\r\n\
         Max-Forwards: 70\r\nFrom: Alice <sip:alice@atlanta.example.com>;tag=9fxced76sl\r\n\
         To: Bob <sip:bob@biloxi.example.com>\r\nCall-ID: {CALL}\r\nCSeq: 1 INVITE\r\n\
         Contact: <sip:alice@client.atlanta.example.com;transport=udp>\r\nContent-Length: 0\r\n\r\n"
    ))
    .unwrap()
}

fn response(code: u16, tag: &str, contact: Option<&str>, rr: &[&str]) -> Message {
    let reason = sip_message::reason_phrase(code);
    let mut s = format!(
        "SIP/2.0 {code} {reason}\r\nVia: SIP/2.0/UDP client.atlanta.example.com:5060;branch=z9hG4bK74bf9\r\n"
    );
    for r in rr {
        s += &format!("Record-Route: {r}\r\n");
    }
    s += &format!(
        "From: Alice <sip:alice@atlanta.example.com>;tag=9fxced76sl\r\nTo: Bob <sip:bob@biloxi.example.com>;tag={tag}\r\n\
         Call-ID: {CALL}\r\nCSeq: 1 INVITE\r\n"
    );
    if let Some(c) = contact {
        s += &format!("Contact: {c}\r\n");
    }
    s += "Content-Length: 0\r\n\r\n";
    Message::parse(s).unwrap()
}

fn routes(m: &Message) -> Vec<String> {
    m.get_all::<Route>()
        .map(|r| r.unwrap().uri().to_string())
        .collect()
}

#[test]
fn rfc3261_12_1_2_forking_gives_one_early_dialog_per_to_tag_and_a_2xx_confirms_one() {
    let inv = invite();
    let mut d = Dialogs::new();
    assert_eq!(
        d.on_response(&inv, &response(100, "x", None, &[])).unwrap(),
        DialogUpdate::None
    );
    let rr = [
        "<sip:ss2.biloxi.example.com;lr>",
        "<sip:ss1.atlanta.example.com;lr>",
    ];
    let a = match d
        .on_response(
            &inv,
            &response(180, "fork-a", Some("<sip:bob@a.biloxi.example.com>"), &rr),
        )
        .unwrap()
    {
        DialogUpdate::Early(id) => id,
        other => panic!("{other:?}"),
    };
    let b = match d
        .on_response(
            &inv,
            &response(183, "fork-b", Some("<sip:bob@b.biloxi.example.com>"), &rr),
        )
        .unwrap()
    {
        DialogUpdate::Early(id) => id,
        other => panic!("{other:?}"),
    };
    assert_ne!(a, b);
    assert_eq!(d.early_of(CALL, "9fxced76sl"), vec![a.clone(), b.clone()]);
    // A repeated 180 of fork A is known.
    assert_eq!(
        d.on_response(
            &inv,
            &response(180, "fork-a", Some("<sip:bob@a.biloxi.example.com>"), &rr)
        )
        .unwrap(),
        DialogUpdate::Known(a.clone())
    );
    // The 2xx of fork A: confirmed, route set and target recomputed from it (§13.2.2.4).
    let ok = response(
        200,
        "fork-a",
        Some("<sip:bob@final.biloxi.example.com>"),
        &["<sip:ss3.biloxi.example.com;lr>"],
    );
    assert_eq!(
        d.on_response(&inv, &ok).unwrap(),
        DialogUpdate::EarlyConfirmed(a.clone())
    );
    let da = d.get(&a).unwrap();
    assert_eq!(da.state(), DialogState::Confirmed);
    assert_eq!(
        da.remote_target().to_string(),
        "sip:bob@final.biloxi.example.com"
    );
    assert_eq!(da.route_set().len(), 1);
    // The INVITE is over: the other fork's early dialog goes.
    assert_eq!(
        d.drop_early_except(CALL, "9fxced76sl", Some(&a)),
        vec![b.clone()]
    );
    assert!(d.get(&b).is_none());
    assert_eq!(d.len(), 1);
}

#[test]
fn rfc3261_12_1_2_route_set_is_record_route_reversed_and_ids_are_local_first() {
    let inv = invite();
    let ok = response(
        200,
        "314159",
        Some("<sip:bob@client.biloxi.example.com>"),
        &[
            "<sip:ss2.biloxi.example.com;lr>",
            "<sip:ss1.atlanta.example.com;lr>",
        ],
    );
    let dlg = Dialog::uac(&inv, &ok).unwrap();
    assert_eq!(dlg.id(), &DialogId::new(CALL, "9fxced76sl", "314159"));
    let rs: Vec<String> = dlg
        .route_set()
        .iter()
        .map(|r| r.uri().to_string())
        .collect();
    assert_eq!(
        rs,
        vec![
            "sip:ss1.atlanta.example.com;lr",
            "sip:ss2.biloxi.example.com;lr"
        ]
    );
    assert_eq!(dlg.local_seq(), 1);
    assert_eq!(dlg.remote_seq(), None);
}

#[test]
fn rfc3261_12_2_1_1_loose_routing_keeps_the_remote_target_as_request_uri() {
    let inv = invite();
    let ok = response(
        200,
        "t",
        Some("<sip:bob@client.biloxi.example.com>"),
        &[
            "<sip:ss2.biloxi.example.com;lr>",
            "<sip:ss1.atlanta.example.com;lr>",
        ],
    );
    let mut dlg = Dialog::uac(&inv, &ok).unwrap();
    let bye = dlg
        .request(Method::Bye, None, "z9hG4bKbye1", Transport::Udp)
        .unwrap()
        .build()
        .unwrap();
    assert_eq!(
        bye.request_uri_str(),
        Some("sip:bob@client.biloxi.example.com")
    );
    assert_eq!(
        routes(&bye),
        vec![
            "sip:ss1.atlanta.example.com;lr",
            "sip:ss2.biloxi.example.com;lr"
        ]
    );
    assert_eq!(bye.cseq(), Some((2, &Method::Bye)));
    assert_eq!(
        (bye.from_tag(), bye.to_tag()),
        (Some("9fxced76sl"), Some("t"))
    );
    assert_eq!(bye.call_id(), Some(CALL));
    assert_eq!(bye.top_via().unwrap().branch(), Some("z9hG4bKbye1"));
}

#[test]
fn rfc3261_12_2_1_1_strict_routing_puts_the_first_route_in_the_request_uri() {
    let inv = invite();
    // The next hop is a strict router (no lr).
    let ok = response(
        200,
        "t",
        Some("<sip:bob@client.biloxi.example.com>"),
        &[
            "<sip:ss2.biloxi.example.com;lr>",
            "<sip:strict.atlanta.example.com;maddr=192.0.2.9>",
        ],
    );
    let mut dlg = Dialog::uac(&inv, &ok).unwrap();
    let bye = dlg
        .request(Method::Bye, None, "z9hG4bKbye2", Transport::Udp)
        .unwrap()
        .build()
        .unwrap();
    assert_eq!(
        bye.request_uri_str(),
        Some("sip:strict.atlanta.example.com;maddr=192.0.2.9")
    );
    assert_eq!(
        routes(&bye),
        vec![
            "sip:ss2.biloxi.example.com;lr",
            "sip:bob@client.biloxi.example.com"
        ]
    );
}

#[test]
fn rfc3261_12_2_1_1_cseq_increments_but_ack_and_cancel_reuse_the_invites() {
    let inv = invite();
    let ok = response(200, "t", Some("<sip:bob@client.biloxi.example.com>"), &[]);
    let mut dlg = Dialog::uac(&inv, &ok).unwrap();
    let ack = dlg
        .request(Method::Ack, Some(1), "z9hG4bKa", Transport::Udp)
        .unwrap()
        .build()
        .unwrap();
    assert_eq!(ack.cseq(), Some((1, &Method::Ack)));
    assert!(routes(&ack).is_empty());
    let info = dlg
        .request(Method::Info, None, "z9hG4bKb", Transport::Udp)
        .unwrap()
        .build()
        .unwrap();
    let reinvite = dlg
        .request(Method::Invite, None, "z9hG4bKc", Transport::Udp)
        .unwrap()
        .build()
        .unwrap();
    assert_eq!(info.cseq().unwrap().0, 2);
    assert_eq!(reinvite.cseq().unwrap().0, 3);
    // A target refresh request carries our Contact.
    assert!(reinvite.has(sip_message::HeaderName::Contact));
    assert!(!info.has(sip_message::HeaderName::Contact));
}

fn in_dialog(method: &str, cseq: u32, contact: Option<&str>, to_tag: &str) -> Message {
    let mut s = format!(
        "{method} sip:alice@client.atlanta.example.com SIP/2.0\r\nVia: SIP/2.0/UDP client.biloxi.example.com;branch=z9hG4bK{cseq}{method}\r\n\
         From: Bob <sip:bob@biloxi.example.com>;tag=314159\r\nTo: Alice <sip:alice@atlanta.example.com>;tag={to_tag}\r\n\
         Call-ID: {CALL}\r\nCSeq: {cseq} {method}\r\n"
    );
    if let Some(c) = contact {
        s += &format!("Contact: {c}\r\n");
    }
    s += "Content-Length: 0\r\n\r\n";
    Message::parse(s).unwrap()
}

#[test]
fn rfc3261_12_2_2_unknown_dialog_is_481_lower_cseq_is_500_target_refresh_updates() {
    let inv = invite();
    let mut d = Dialogs::new();
    d.on_response(
        &inv,
        &response(
            200,
            "314159",
            Some("<sip:bob@client.biloxi.example.com>"),
            &[],
        ),
    )
    .unwrap();
    // Unknown dialog (wrong To tag): 481.
    let e = d
        .receive_request(&in_dialog("INFO", 10, None, "someone-else"))
        .unwrap_err();
    assert_eq!(e.status_code(), Some(481));
    // First request from the peer sets the remote sequence.
    let id = d
        .receive_request(&in_dialog("INFO", 10, None, "9fxced76sl"))
        .unwrap();
    assert_eq!(d.get(&id).unwrap().remote_seq(), Some(10));
    // Lower: 500.
    let e = d
        .receive_request(&in_dialog("INFO", 9, None, "9fxced76sl"))
        .unwrap_err();
    assert_eq!(e, DialogError::CSeqOutOfOrder { got: 9, last: 10 });
    assert_eq!(e.status_code(), Some(500));
    // Target refresh: a re-INVITE with a new Contact moves the remote target.
    d.receive_request(&in_dialog(
        "INVITE",
        11,
        Some("<sip:bob@new.biloxi.example.com>"),
        "9fxced76sl",
    ))
    .unwrap();
    assert_eq!(
        d.get(&id).unwrap().remote_target().to_string(),
        "sip:bob@new.biloxi.example.com"
    );
    // INFO is not a target refresh: its Contact changes nothing.
    d.receive_request(&in_dialog(
        "INFO",
        12,
        Some("<sip:bob@other.example.com>"),
        "9fxced76sl",
    ))
    .unwrap();
    assert_eq!(
        d.get(&id).unwrap().remote_target().to_string(),
        "sip:bob@new.biloxi.example.com"
    );
    // BYE ends the dialog.
    d.receive_request(&in_dialog("BYE", 13, None, "9fxced76sl"))
        .unwrap();
    assert_eq!(d.get(&id).unwrap().state(), DialogState::Terminated);
}

#[test]
fn rfc3261_12_1_1_uas_route_set_in_order_and_local_tag() {
    let req = Message::parse(format!(
        "INVITE sip:bob@client.biloxi.example.com SIP/2.0\r\nVia: SIP/2.0/UDP ss2.biloxi.example.com;branch=z9hG4bK1\r\n\
         Record-Route: <sip:ss2.biloxi.example.com;lr>\r\nRecord-Route: <sip:ss1.atlanta.example.com;lr>\r\n\
         From: Alice <sip:alice@atlanta.example.com>;tag=9fxced76sl\r\nTo: Bob <sip:bob@biloxi.example.com>\r\n\
         Call-ID: {CALL}\r\nCSeq: 1 INVITE\r\nContact: <sip:alice@client.atlanta.example.com>\r\nContent-Length: 0\r\n\r\n"
    ))
    .unwrap();
    let contact = NameAddr::new(
        sip_message::uri::SipUri::parse("sip:bob@client.biloxi.example.com").unwrap(),
    );
    let mut dlg = Dialog::uas(&req, "314159", Some(contact), 100, false).unwrap();
    assert_eq!(dlg.id(), &DialogId::new(CALL, "314159", "9fxced76sl"));
    assert_eq!(dlg.remote_seq(), Some(1));
    let rs: Vec<String> = dlg
        .route_set()
        .iter()
        .map(|r| r.uri().to_string())
        .collect();
    assert_eq!(
        rs,
        vec![
            "sip:ss2.biloxi.example.com;lr",
            "sip:ss1.atlanta.example.com;lr"
        ]
    );
    // The callee's BYE: From is our To with our tag, To is the caller.
    let bye = dlg
        .request(Method::Bye, None, "z9hG4bKuasbye", Transport::Udp)
        .unwrap()
        .build()
        .unwrap();
    assert_eq!(
        (bye.from_tag(), bye.to_tag()),
        (Some("314159"), Some("9fxced76sl"))
    );
    assert_eq!(
        bye.request_uri_str(),
        Some("sip:alice@client.atlanta.example.com")
    );
    assert_eq!(bye.cseq().unwrap().0, 101);
}

#[test]
fn a_2xx_without_contact_is_refused_an_early_dialog_falls_back_to_the_request_uri() {
    let inv = invite();
    assert_eq!(
        Dialog::uac(&inv, &response(200, "t", None, &[])).unwrap_err(),
        DialogError::MissingContact
    );
    let early = Dialog::uac(&inv, &response(180, "t", None, &[])).unwrap();
    assert_eq!(
        early.remote_target().to_string(),
        "sip:bob@biloxi.example.com"
    );
}

#[test]
fn dialog_handles_round_trip_with_awkward_characters() {
    for (c, l, r) in [
        ("a/b@c", "x%y", ""),
        ("simple", "1", "2"),
        ("sp ace;semi", "t/g", "\u{e9}"),
    ] {
        let id = DialogId::new(c, l, r);
        let h = id.to_string();
        assert!(h.starts_with("dlg/"));
        assert_eq!(h.matches('/').count(), 3, "{h}");
        assert_eq!(h.parse::<DialogId>().unwrap(), id);
    }
    assert!("nope".parse::<DialogId>().is_err());
    assert!("dlg/a/b".parse::<DialogId>().is_err());
}

#[test]
fn dialog_events_start_confirm_target_update_and_stop() {
    use sip_dialog::{DialogEvent, DialogStop};
    let inv = invite();
    let mut d = Dialogs::new();
    let early = response(180, "314159", Some("<sip:bob@ringing.example.com>"), &[]);
    let DialogUpdate::Early(id) = d.on_response(&inv, &early).unwrap() else {
        panic!()
    };
    d.on_response(
        &inv,
        &response(200, "314159", Some("<sip:bob@answered.example.com>"), &[]),
    )
    .unwrap();
    d.receive_request(&in_dialog(
        "INVITE",
        5,
        Some("<sip:bob@moved.example.com>"),
        "9fxced76sl",
    ))
    .unwrap();
    d.receive_request(&in_dialog("BYE", 6, None, "9fxced76sl"))
        .unwrap();
    // Still there for the TU to read, Terminated.
    assert_eq!(d.get(&id).unwrap().state(), DialogState::Terminated);
    d.remove(&id);
    assert_eq!(
        d.drain_events(),
        vec![
            DialogEvent::Start {
                id: id.clone(),
                state: DialogState::Early
            },
            DialogEvent::Confirmed { id: id.clone() },
            DialogEvent::TargetUpdate {
                id: id.clone(),
                target: "sip:bob@answered.example.com".into()
            },
            DialogEvent::TargetUpdate {
                id: id.clone(),
                target: "sip:bob@moved.example.com".into()
            },
            DialogEvent::Stop {
                id: id.clone(),
                reason: DialogStop::Bye
            },
        ]
    );
}

#[test]
fn rfc5057_usages_share_a_dialog_which_ends_with_the_last() {
    use sip_dialog::{DialogEvent, DialogStop, Usage};
    let inv = invite();
    let mut d = Dialogs::new();
    let DialogUpdate::Confirmed(id) = d
        .on_response(
            &inv,
            &response(200, "u", Some("<sip:bob@x.example.com>"), &[]),
        )
        .unwrap()
    else {
        panic!()
    };
    let sub = Usage::Subscription {
        event: "refer".into(),
        id: Some("7".into()),
    };
    d.add_usage(&id, Usage::Invite);
    d.add_usage(&id, sub.clone());
    assert_eq!(d.usages(&id).len(), 2);
    assert!(!d.end_usage(&id, &Usage::Invite));
    assert!(
        d.get(&id).is_some(),
        "the REFER subscription keeps the dialog"
    );
    assert!(d.end_usage(&id, &sub));
    assert!(d.get(&id).is_none());
    assert!(d.drain_events().contains(&DialogEvent::Stop {
        id,
        reason: DialogStop::LastUsageEnded
    }));
}

#[test]
fn early_dialogs_live_until_the_invites_own_deadline() {
    use sip_dialog::{DialogEvent, DialogStop};
    use std::time::{Duration, Instant};
    let inv = invite();
    let mut d = Dialogs::new();
    let DialogUpdate::Early(id) = d
        .on_response(
            &inv,
            &response(180, "ring", Some("<sip:bob@r.example.com>"), &[]),
        )
        .unwrap()
    else {
        panic!()
    };
    let t0 = Instant::now();
    // A caller ringing for three minutes (Timer C) keeps its early dialog.
    d.set_early_deadline(&id, t0 + Duration::from_secs(180));
    d.handle_timeout(t0 + Duration::from_secs(32));
    assert!(d.get(&id).is_some(), "not killed at 32 s");
    assert_eq!(d.poll_timeout(), Some(t0 + Duration::from_secs(180)));
    d.handle_timeout(t0 + Duration::from_secs(180));
    assert!(d.get(&id).is_none());
    assert!(d.drain_events().contains(&DialogEvent::Stop {
        id: id.clone(),
        reason: DialogStop::EarlyEnded
    }));
    // A confirmed dialog is not touched by an early deadline.
    let DialogUpdate::Early(id2) = d
        .on_response(
            &inv,
            &response(180, "ring2", Some("<sip:bob@r.example.com>"), &[]),
        )
        .unwrap()
    else {
        panic!()
    };
    d.set_early_deadline(&id2, t0 + Duration::from_secs(10));
    d.on_response(
        &inv,
        &response(200, "ring2", Some("<sip:bob@r.example.com>"), &[]),
    )
    .unwrap();
    d.handle_timeout(t0 + Duration::from_secs(60));
    assert!(d.get(&id2).is_some());
}

#[test]
fn rfc3261_12_2_1_2_and_rfc5057_481_ends_the_usage_not_the_shared_dialog() {
    use sip_dialog::{ResponseEffect, Usage};
    let inv = invite();
    let mut d = Dialogs::new();
    let DialogUpdate::Confirmed(id) = d
        .on_response(
            &inv,
            &response(200, "u5", Some("<sip:bob@x.example.com>"), &[]),
        )
        .unwrap()
    else {
        panic!()
    };
    let sub = Usage::Subscription {
        event: "dialog".into(),
        id: None,
    };
    d.add_usage(&id, Usage::Invite);
    d.add_usage(&id, sub.clone());
    // A 486 to a re-INVITE fails that transaction only.
    assert_eq!(
        d.on_in_dialog_response(&id, &Usage::Invite, 486),
        ResponseEffect::TransactionOnly
    );
    assert_eq!(d.usages(&id).len(), 2);
    // A 481 to a re-SUBSCRIBE ends the subscription; the call goes on.
    assert_eq!(
        d.on_in_dialog_response(&id, &sub, 481),
        ResponseEffect::UsageEnded
    );
    assert_eq!(d.usages(&id), &[Usage::Invite]);
    assert!(d.get(&id).is_some());
    // A 408 to the INVITE usage's request ends the last usage and the dialog.
    assert_eq!(
        d.on_in_dialog_response(&id, &Usage::Invite, 408),
        ResponseEffect::UsageEnded
    );
    assert!(d.get(&id).is_none());
}

#[test]
fn rfc5057_5_1_misrouted_request_codes_end_the_whole_dialog() {
    use sip_dialog::{DialogEvent, DialogStop, ResponseEffect, Usage};
    for code in [404u16, 410, 416, 482, 484, 485, 502, 604] {
        assert_eq!(
            ResponseEffect::of(code),
            ResponseEffect::DialogEnded,
            "{code}"
        );
    }
    for code in [400u16, 401, 403, 486, 487, 488, 491, 500, 503, 603] {
        assert_eq!(
            ResponseEffect::of(code),
            ResponseEffect::TransactionOnly,
            "{code}"
        );
    }
    let inv = invite();
    let mut d = Dialogs::new();
    let DialogUpdate::Confirmed(id) = d
        .on_response(
            &inv,
            &response(200, "m1", Some("<sip:bob@x.example.com>"), &[]),
        )
        .unwrap()
    else {
        panic!()
    };
    d.add_usage(&id, Usage::Invite);
    d.add_usage(
        &id,
        Usage::Subscription {
            event: "refer".into(),
            id: Some("1".into()),
        },
    );
    assert_eq!(
        d.on_in_dialog_response(&id, &Usage::Invite, 404),
        ResponseEffect::DialogEnded
    );
    assert!(d.get(&id).is_none(), "every usage goes with it");
    assert!(d.drain_events().contains(&DialogEvent::Stop {
        id,
        reason: DialogStop::Failed(404)
    }));
}

/// §8.2.6.2: a UAS copies Call-ID and From into its responses. A 2xx whose
/// Call-ID or From tag differs is not the INVITE's and makes no dialog.
#[test]
fn rfc3261_8_2_6_2_a_response_with_another_call_id_or_from_tag_makes_no_dialog() {
    let inv = invite();
    let ok = response(200, "b1", Some("<sip:bob@192.0.2.4>"), &[]);
    let text = String::from_utf8(ok.as_bytes().to_vec()).unwrap();
    let other_call = Message::parse(text.replace(CALL, "someone-else@example.com")).unwrap();
    let other_from = Message::parse(text.replace("tag=9fxced76sl", "tag=forged")).unwrap();
    let mut d = Dialogs::new();
    assert_eq!(
        d.on_response(&inv, &other_call),
        Err(DialogError::ResponseMismatch("Call-ID"))
    );
    assert_eq!(
        d.on_response(&inv, &other_from),
        Err(DialogError::ResponseMismatch("From tag"))
    );
    assert_eq!(d.len(), 0);
    assert!(matches!(
        d.on_response(&inv, &ok),
        Ok(DialogUpdate::Confirmed(_))
    ));
}

/// The From, To and Contact a dialog copies into its requests come from
/// the messages as written when plain, and are decoded otherwise (a folded
/// To, a Contact with a quoted `>` in its display name): either way the
/// dialog's view is the same as the typed headers' (§12.1.2).
#[test]
fn rfc3261_12_1_2_uac_dialog_state_from_plain_and_awkward_headers() {
    let inv = invite();
    // Plain values.
    let ok = response(
        200,
        "314159",
        Some("<sip:bob@192.0.2.4;transport=udp>"),
        &[],
    );
    let d = Dialog::uac(&inv, &ok).unwrap();
    assert_eq!(d.remote_target(), "sip:bob@192.0.2.4;transport=udp");
    assert_eq!(
        d.remote_target_uri().unwrap().to_string(),
        "sip:bob@192.0.2.4;transport=udp"
    );
    assert_eq!(d.local().unwrap().tag(), Some("9fxced76sl"));
    assert_eq!(d.remote().unwrap().tag(), Some("314159"));
    assert_eq!(d.remote().unwrap().display_name().as_deref(), Some("Bob"));
    assert!(!d.secure());

    // A quoted display name holding '>' and ';tag=', and an addr-spec
    // Contact with a header parameter (not part of the URI).
    let ok = response(
        200,
        "t2",
        Some("\"x>y;tag=no\" <sip:bob@192.0.2.5:5070>;expires=60"),
        &[],
    );
    let d = Dialog::uac(&inv, &ok).unwrap();
    assert_eq!(d.remote_target(), "sip:bob@192.0.2.5:5070");
    let ok = response(200, "t3", Some("sip:bob@192.0.2.6;expires=60"), &[]);
    let d = Dialog::uac(&inv, &ok).unwrap();
    assert_eq!(d.remote_target(), "sip:bob@192.0.2.6");

    // A folded To: decoded, so the text the dialog keeps is one line.
    let folded = Message::parse(format!(
        "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP client.atlanta.example.com:5060;branch=z9hG4bK74bf9\r\n\
         From: Alice <sip:alice@atlanta.example.com>;tag=9fxced76sl\r\n\
         To: Bob\r\n <sip:bob@biloxi.example.com>;tag=f1\r\n\
         Call-ID: {CALL}\r\nCSeq: 1 INVITE\r\nContact: <sip:bob@192.0.2.4>\r\nContent-Length: 0\r\n\r\n"
    ))
    .unwrap();
    let mut d = Dialog::uac(&inv, &folded).unwrap();
    let bye = d
        .request(Method::Bye, None, "z9hG4bKbye1", Transport::Udp)
        .unwrap()
        .build()
        .unwrap();
    let to = bye.values(sip_message::HeaderName::To).next().unwrap();
    assert!(!to.contains(&b'\n'), "{}", String::from_utf8_lossy(to));
    assert_eq!(bye.to_tag(), Some("f1"));
    assert_eq!(
        d.remote().unwrap().uri().to_string(),
        "sip:bob@biloxi.example.com"
    );

    // Two Contact values in one line: the typed Contact (the first) decides.
    let two = response(
        200,
        "t4",
        Some("<sip:bob@192.0.2.7>, <sip:bob@192.0.2.8>"),
        &[],
    );
    assert_eq!(
        Dialog::uac(&inv, &two).unwrap().remote_target(),
        "sip:bob@192.0.2.7"
    );
    // A garbage Contact on a 2xx is refused as before.
    let bad = response(200, "t5", Some("<sip:>"), &[]);
    assert!(Dialog::uac(&inv, &bad).is_err());
}

/// The UAS side (§12.1.1): our To is the request's plus our tag, the
/// remote target the request's Contact, whether the headers are plain
/// (copied as written) or awkward (a folded To, a quoted display name).
#[test]
fn rfc3261_12_1_1_uas_dialog_state_from_plain_and_awkward_headers() {
    let req = |to: &str, contact: &str| {
        Message::parse(format!(
            "INVITE sip:bob@biloxi.example.com SIP/2.0\r\n\
             Via: SIP/2.0/UDP client.atlanta.example.com:5060;branch=z9hG4bK74bf9\r\n\
             Max-Forwards: 70\r\nFrom: \"A;tag=x\" <sip:alice@atlanta.example.com>;tag=9fxced76sl\r\n\
             To: {to}\r\nCall-ID: {CALL}\r\nCSeq: 7 INVITE\r\n\
             Contact: {contact}\r\nContent-Length: 0\r\n\r\n"
        ))
        .unwrap()
    };
    for (to, contact, target) in [
        (
            "Bob <sip:bob@biloxi.example.com>",
            "<sip:alice@192.0.2.1>",
            "sip:alice@192.0.2.1",
        ),
        (
            "\"B>b\" <sip:bob@biloxi.example.com>;x=1",
            "sip:alice@192.0.2.2;expires=30",
            "sip:alice@192.0.2.2",
        ),
        (
            "Bob\r\n <sip:bob@biloxi.example.com>",
            "<sip:alice@192.0.2.3>",
            "sip:alice@192.0.2.3",
        ),
    ] {
        let mut d = Dialog::uas(&req(to, contact), "ours1", None, 100, false).unwrap();
        assert_eq!(d.remote_target(), target, "{to}");
        assert_eq!(d.local().unwrap().tag(), Some("ours1"), "{to}");
        assert_eq!(d.remote().unwrap().tag(), Some("9fxced76sl"), "{to}");
        assert_eq!(d.id().local_tag(), "ours1");
        let bye = d
            .request(Method::Bye, None, "z9hG4bKb1", Transport::Udp)
            .unwrap()
            .build()
            .unwrap();
        assert_eq!(bye.from_tag(), Some("ours1"), "{to}");
        assert_eq!(bye.to_tag(), Some("9fxced76sl"), "{to}");
        let from = bye.values(sip_message::HeaderName::From).next().unwrap();
        assert!(!from.contains(&b'\n'), "{to}");
    }
}

#[test]
fn the_remote_target_is_a_copy_not_a_view_of_the_response() {
    // A dialog outlives the 2xx: its target must not keep the received
    // buffer (for a stream, the read buffer) alive.
    let inv = invite();
    let ok = response(200, "t1", Some("<sip:bob@192.0.2.4;transport=udp>"), &[]);
    let d = Dialog::uac(&inv, &ok).unwrap();
    let buf = ok.as_bytes().as_ptr_range();
    let target = d.remote_target().as_bytes().as_ptr_range();
    assert_eq!(d.remote_target(), "sip:bob@192.0.2.4;transport=udp");
    assert!(target.end <= buf.start || target.start >= buf.end);
    let uri = d.remote_target_uri().unwrap();
    assert_eq!(uri.as_str(), d.remote_target());
}

#[test]
fn rfc3261_12_2_1_2_a_2xx_to_our_target_refresh_replaces_the_remote_target() {
    let inv = invite();
    let mut dlg = Dialog::uac(&inv, &response(200, "t", Some("<sip:bob@192.0.2.4>"), &[])).unwrap();
    // A non-2xx, or a 2xx to a request that is no target refresh, keeps it.
    dlg.on_response(
        &Method::Invite,
        &response(488, "t", Some("<sip:bob@192.0.2.5>"), &[]),
    );
    dlg.on_response(
        &Method::Info,
        &response(200, "t", Some("<sip:bob@192.0.2.6>"), &[]),
    );
    assert_eq!(dlg.remote_target(), "sip:bob@192.0.2.4");
    // A 2xx to a re-INVITE or UPDATE takes the new Contact; one without
    // Contact keeps the target.
    dlg.on_response(
        &Method::Invite,
        &response(200, "t", Some("<sip:bob@192.0.2.7>"), &[]),
    );
    assert_eq!(dlg.remote_target(), "sip:bob@192.0.2.7");
    dlg.on_response(&Method::Update, &response(200, "t", None, &[]));
    assert_eq!(dlg.remote_target(), "sip:bob@192.0.2.7");
}
