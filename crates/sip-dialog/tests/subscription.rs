//! Subscriber side of RFC 6665 on explicit instants.

use std::time::{Duration, Instant};

use sip_dialog::{
    DialogId, NotifyError, SubscriptionEvent, SubscriptionId, SubscriptionStatus, Subscriptions,
};
use sip_message::headers::TerminationReason;
use sip_message::Message;

fn notify(from_tag: &str, state: &str, event: &str) -> Message {
    Message::parse(format!(
        "NOTIFY sip:alice@client.atlanta.example.com SIP/2.0\r\nVia: SIP/2.0/UDP pres.example.com;branch=z9hG4bKn{from_tag}{state}\r\n\
         From: <sip:bob@example.com>;tag={from_tag}\r\nTo: <sip:alice@example.com>;tag=sub1\r\nCall-ID: sub-call\r\n\
         CSeq: 1 NOTIFY\r\nEvent: {event}\r\nSubscription-State: {state}\r\nContact: <sip:pres.example.com>\r\nContent-Length: 0\r\n\r\n"
    ))
    .unwrap()
}

fn subs() -> Subscriptions {
    Subscriptions::new(Duration::from_millis(500))
}

fn dialog(remote: &str) -> DialogId {
    DialogId::new("sub-call", "sub1", remote)
}

#[test]
fn rfc6665_4_1_2_4_no_notify_within_64_t1_after_the_2xx_is_a_timeout() {
    let mut s = subs();
    let id = SubscriptionId::new(dialog("n1"), "presence", None);
    s.subscribe_sent(id.clone());
    let t0 = Instant::now();
    s.on_2xx(t0, &id, Some(3600));
    assert_eq!(s.poll_timeout(), Some(t0 + Duration::from_secs(32)));
    s.handle_timeout(t0 + Duration::from_secs(32));
    assert_eq!(
        s.status(&id),
        Some(&SubscriptionStatus::Terminated {
            reason: Some(TerminationReason::Timeout),
            retry_after: None
        })
    );
}

#[test]
fn rfc6665_4_1_2_2_refresh_at_half_time_expiry_at_the_end() {
    let mut s = subs();
    let id = SubscriptionId::new(dialog("n1"), "presence", None);
    s.subscribe_sent(id.clone());
    let t0 = Instant::now();
    s.on_2xx(t0, &id, Some(600));
    s.on_notify(
        t0,
        &id.dialog,
        &notify("n1", "active;expires=600", "presence"),
        &[],
    )
    .unwrap();
    assert_eq!(s.status(&id), Some(&SubscriptionStatus::Active));
    assert_eq!(s.poll_timeout(), Some(t0 + Duration::from_secs(300)));
    s.handle_timeout(t0 + Duration::from_secs(300));
    assert!(s
        .drain()
        .contains(&SubscriptionEvent::RefreshDue { id: id.clone() }));
    // NOTIFY expires shortens it (§4.1.3).
    s.on_notify(
        t0 + Duration::from_secs(301),
        &id.dialog,
        &notify("n1", "active;expires=100", "presence"),
        &[],
    )
    .unwrap();
    assert_eq!(s.poll_timeout(), Some(t0 + Duration::from_secs(351)));
    s.handle_timeout(t0 + Duration::from_secs(401));
    assert!(matches!(
        s.status(&id),
        Some(SubscriptionStatus::Terminated {
            reason: Some(TerminationReason::Timeout),
            ..
        })
    ));
}

#[test]
fn rfc6665_4_1_2_4_notify_before_the_2xx_and_from_two_forks() {
    let mut s = subs();
    // We sent SUBSCRIBE: we know Call-ID and our tag, not the remote tag.
    let expected = SubscriptionId::new(DialogId::new("sub-call", "sub1", ""), "presence", None);
    let t0 = Instant::now();
    let a = s
        .on_notify(
            t0,
            &dialog("forkA"),
            &notify("forkA", "pending", "presence"),
            std::slice::from_ref(&expected),
        )
        .unwrap();
    let b = s
        .on_notify(
            t0,
            &dialog("forkB"),
            &notify("forkB", "active;expires=3600", "presence"),
            std::slice::from_ref(&expected),
        )
        .unwrap();
    assert_ne!(a, b);
    assert_eq!(s.len(), 2);
    assert_eq!(s.status(&a), Some(&SubscriptionStatus::Pending));
    assert_eq!(s.status(&b), Some(&SubscriptionStatus::Active));
    // The 2xx arriving later does not arm the NOTIFY wait for a subscription that has one.
    s.on_2xx(t0, &a, Some(3600));
    assert!(s.poll_timeout().unwrap() > t0 + Duration::from_secs(32));
}

#[test]
fn rfc6665_4_1_3_terminated_with_reason_and_retry_after() {
    let mut s = subs();
    let id = SubscriptionId::new(dialog("n1"), "presence", None);
    s.subscribe_sent(id.clone());
    s.on_notify(
        Instant::now(),
        &id.dialog,
        &notify(
            "n1",
            "terminated;reason=probation;retry-after=30",
            "presence",
        ),
        &[],
    )
    .unwrap();
    assert_eq!(
        s.status(&id),
        Some(&SubscriptionStatus::Terminated {
            reason: Some(TerminationReason::Probation),
            retry_after: Some(30)
        })
    );
    assert_eq!(s.poll_timeout(), None);
}

#[test]
fn notify_errors_name_their_response_codes() {
    let mut s = subs();
    let unknown = s
        .on_notify(
            Instant::now(),
            &dialog("x"),
            &notify("x", "active", "presence"),
            &[],
        )
        .unwrap_err();
    assert_eq!(
        (unknown, unknown.status_code()),
        (NotifyError::Unknown, 481)
    );
    let no_event = Message::parse(
        String::from_utf8_lossy(notify("x", "active", "presence").as_bytes())
            .replace("Event: presence\r\n", ""),
    )
    .unwrap();
    let e = s
        .on_notify(Instant::now(), &dialog("x"), &no_event, &[])
        .unwrap_err();
    assert_eq!(e.status_code(), 489);
}

#[test]
fn rfc3515_2_4_4_refer_implicit_subscription_and_event_id() {
    let mut s = subs();
    let id = SubscriptionId::refer(dialog("n1"), 93809824);
    assert_eq!(
        (id.event.as_str(), id.id.as_deref()),
        ("refer", Some("93809824"))
    );
    s.subscribe_sent(id.clone());
    let got = s
        .on_notify(
            Instant::now(),
            &id.dialog,
            &notify("n1", "active;expires=60", "refer;id=93809824"),
            &[],
        )
        .unwrap();
    assert_eq!(got, id);
    // A NOTIFY for another REFER in the same dialog is a different subscription.
    assert!(s
        .on_notify(
            Instant::now(),
            &id.dialog,
            &notify("n1", "active", "refer;id=1"),
            &[]
        )
        .is_err());
}

#[test]
fn subscription_handles_round_trip() {
    for (ev, i) in [
        ("presence", None),
        ("dialog", Some("a/b")),
        ("refer", Some("17")),
    ] {
        let id = SubscriptionId::new(DialogId::new("c/1", "l", "r%"), ev, i);
        assert_eq!(id.to_string().parse::<SubscriptionId>().unwrap(), id);
    }
}

#[test]
fn rfc3515_2_4_5_sipfrag_bodies_give_the_referred_requests_status() {
    use sip_dialog::sipfrag_status;
    assert_eq!(sipfrag_status(b"SIP/2.0 100 Trying\r\n"), Some(100));
    assert_eq!(sipfrag_status(b"SIP/2.0 200 OK"), Some(200));
    assert_eq!(
        sipfrag_status(b"SIP/2.0 603 Declined\r\nContent-Length: 0\r\n\r\n"),
        Some(603)
    );
    assert_eq!(sipfrag_status(b"INVITE sip:x SIP/2.0\r\n"), None);
    assert_eq!(sipfrag_status(b"SIP/2.0 9999 x"), None);
    assert_eq!(sipfrag_status(b""), None);
}

#[test]
fn rfc6665_4_2_notifier_grants_shortens_and_expires() {
    use sip_dialog::Notifier;
    use sip_message::headers::SubState;
    let mut n = Notifier::new();
    let id = SubscriptionId::new(dialog("watcher"), "presence", None);
    let t0 = Instant::now();
    // Asked for a day, granted at most an hour.
    assert_eq!(n.on_subscribe(t0, id.clone(), 86_400, 3600), 3600);
    let st = n.state_for_notify(t0 + Duration::from_secs(600), &id, true);
    assert_eq!((st.state(), st.expires()), (&SubState::Active, Some(3000)));
    assert_eq!(
        n.state_for_notify(t0, &id, false).state(),
        &SubState::Pending
    );
    assert_eq!(n.poll_timeout(), Some(t0 + Duration::from_secs(3600)));
    assert_eq!(n.expire(t0 + Duration::from_secs(3600)), vec![id.clone()]);
    let end = n.state_for_notify(t0 + Duration::from_secs(3600), &id, true);
    assert_eq!(
        (end.state(), end.reason()),
        (&SubState::Terminated, Some(TerminationReason::Timeout))
    );
    // Expires: 0 ends it at once.
    n.on_subscribe(t0, id.clone(), 600, 3600);
    assert_eq!(n.on_subscribe(t0, id.clone(), 0, 3600), 0);
    assert!(n.is_empty());
}

#[test]
fn rfc6665_4_1_2_4_a_notify_before_the_2xx_creates_the_dialog() {
    use sip_dialog::{Dialog, DialogState, Dialogs, Role};
    let subscribe = Message::parse(
        "SUBSCRIBE sip:bob@example.com SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKs1\r\n\
         From: <sip:alice@example.com>;tag=sub1\r\nTo: <sip:bob@example.com>\r\nCall-ID: sub-call\r\nCSeq: 7 SUBSCRIBE\r\n\
         Event: presence\r\nExpires: 600\r\nContact: <sip:alice@192.0.2.1>\r\nContent-Length: 0\r\n\r\n",
    )
    .unwrap();
    let notify = notify("forkA", "active;expires=600", "presence");
    let d = Dialog::from_notify(&subscribe, &notify).unwrap();
    assert_eq!(d.id(), &DialogId::new("sub-call", "sub1", "forkA"));
    assert_eq!((d.role(), d.state()), (Role::Uac, DialogState::Confirmed));
    assert_eq!(d.remote_target(), "sip:pres.example.com");
    assert_eq!(d.local_seq(), 7);
    // The NOTIFY is then accepted in that dialog, and the subscription made.
    let mut dialogs = Dialogs::new();
    let id = dialogs.insert(d);
    assert_eq!(Dialogs::id_of_request(&notify), Some(id.clone()));
    let mut s = subs();
    let expected = SubscriptionId::new(DialogId::new("sub-call", "sub1", ""), "presence", None);
    let sub = s
        .on_notify(Instant::now(), &id, &notify, &[expected])
        .unwrap();
    assert_eq!(sub.dialog, id);
}

#[test]
fn rfc6665_4_1_2_3_expires_0_waits_for_the_final_notify_not_for_a_timeout() {
    let mut s = subs();
    let id = SubscriptionId::new(dialog("n1"), "presence", None);
    s.subscribe_sent(id.clone());
    let t0 = Instant::now();
    s.on_notify(
        t0,
        &dialog("n1"),
        &notify("n1", "active;expires=60", "presence"),
        &[],
    )
    .unwrap();
    // Unsubscribe: the 2xx says 0; the subscription is not over yet.
    s.on_2xx(t0, &id, Some(0));
    s.handle_timeout(t0 + Duration::from_millis(1));
    assert_eq!(s.status(&id), Some(&SubscriptionStatus::Active));
    // The final NOTIFY ends it.
    s.on_notify(
        t0,
        &dialog("n1"),
        &notify("n1", "terminated;reason=timeout", "presence"),
        &[],
    )
    .unwrap();
    assert!(matches!(
        s.status(&id),
        Some(SubscriptionStatus::Terminated { .. })
    ));
    // Without one, 64*T1 does.
    let id2 = SubscriptionId::new(dialog("n2"), "presence", None);
    s.subscribe_sent(id2.clone());
    s.on_2xx(t0, &id2, Some(0));
    s.handle_timeout(t0 + Duration::from_secs(32));
    assert!(matches!(
        s.status(&id2),
        Some(SubscriptionStatus::Terminated { .. })
    ));
}

#[test]
fn rfc6665_4_2_2_active_without_expires_still_ends_after_the_default() {
    let mut s = subs();
    let id = SubscriptionId::new(dialog("n1"), "presence", None);
    s.subscribe_sent(id.clone());
    let t0 = Instant::now();
    s.on_notify(t0, &dialog("n1"), &notify("n1", "active", "presence"), &[])
        .unwrap();
    assert_eq!(
        s.poll_timeout(),
        Some(t0 + Duration::from_secs(u64::from(sip_dialog::DEFAULT_EXPIRES) / 2))
    );
    s.remove_dialog(&dialog("n1"));
    assert!(s.is_empty());
}
