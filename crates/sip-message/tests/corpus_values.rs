//! What the parser reads out of the trickiest RFC 4475 / RFC 5118 messages:
//! not just "it parses", but the right values.

mod common;
use common::corpus_message;

use sip_message::headers::{Contact, From, Route, To, Transport, Via};
use sip_message::uri::{unescape, Host, Uri};
use sip_message::{HeaderName, Message, Method};

fn msg(path: &str) -> Message {
    Message::parse(corpus_message(path)).unwrap()
}

#[test]
fn rfc4475_3_1_1_1_wsinv_folding_and_lws() {
    let m = msg("rfc4475/wsinv.dat");
    assert_eq!(m.cseq(), Some((9, &Method::Invite)));
    assert_eq!(m.max_forwards(), Some(68));
    assert_eq!(m.to_tag(), Some("1918181833n"));
    assert_eq!(m.from_tag(), Some("98asjd8"));
    assert_eq!(m.call_id(), Some("wsinv.ndaksdj@192.0.2.1"));
    assert_eq!(m.via_count(), 3);
    let top = m.top_via().unwrap();
    assert_eq!(
        (top.transport(), top.host(), top.branch()),
        (Transport::Udp, "192.0.2.2", Some("390skdjuw"))
    );
    let vias: Vec<Via> = m.get_all::<Via>().collect::<Result<_, _>>().unwrap();
    assert_eq!(vias[1].transport(), Transport::Tcp);
    assert_eq!(vias[1].branch(), Some("z9hG4bK9ikj8"));
    assert_eq!(vias[2].branch(), Some("z9hG4bK30239"));
    let from = m.get::<From>().unwrap();
    assert_eq!(from.display_name().as_deref(), Some(r#"J Rosenberg \""#));
    let c = m.get::<Contact>().unwrap();
    assert_eq!(c.q(), Some(0.33));
    assert_eq!(
        c.addr().unwrap().params().value("newparam"),
        Some("newvalue")
    );
    assert!(c.addr().unwrap().params().contains("secondparam"));
    let r = m.get::<Route>().unwrap();
    assert!(r.uri().as_sip().unwrap().lr());
    assert_eq!(m.values(HeaderName::Subject).next(), Some(&b""[..]));
    assert_eq!(m.body_bytes().len(), 150);
}

#[test]
fn rfc4475_3_1_1_2_intmeth_unusual_tokens() {
    let m = msg("rfc4475/intmeth.dat");
    assert_eq!(
        m.method().unwrap().as_str(),
        "!interesting-Method0123456789_*+`.%indeed'~"
    );
    assert_eq!(m.cseq().unwrap().1, m.method().unwrap());
    assert_eq!(m.top_via().unwrap().branch(), Some("z9hG4bK-.!%66*_+`'~"));
    assert_eq!(m.from_tag(), Some("_token~1'+`*%!-."));
    let to = m.get::<To>().unwrap();
    assert_eq!(
        to.display_name().as_deref(),
        Some("BEL:\x07 NUL:\0 DEL:\x7f")
    );
    let from = m.get::<From>().unwrap();
    assert_eq!(
        from.display_name().as_deref(),
        Some("token1~` token2'+_ token3*%!.-")
    );
    assert_eq!(
        from.params()
            .get("fromParam''~+*_!.-%")
            .unwrap()
            .unquoted()
            .as_deref(),
        Some("работающий")
    );
    assert!(m
        .values_by_name("extensionHeader-!.%*+_`'~")
        .next()
        .is_some());
}

#[test]
fn rfc4475_3_1_1_3_esc01_escapes_kept_and_decodable() {
    let m = msg("rfc4475/esc01.dat");
    let Some(Ok(Uri::Sip(ruri))) = m.request_uri() else {
        panic!()
    };
    assert_eq!(&*unescape(ruri.user().unwrap()), b"sips:user@example.com");
    let to = m.get::<To>().unwrap();
    assert_eq!(
        &*unescape(to.uri().as_sip().unwrap().user().unwrap()),
        b"user"
    );
    let c = m.get::<Contact>().unwrap();
    let uri = c.addr().unwrap().uri().as_sip().unwrap().clone();
    let p: Vec<_> = uri
        .params()
        .iter()
        .map(|p| (p.name().to_owned(), p.value().map(str::to_owned)))
        .collect();
    assert_eq!(p[0], ("%6C%72".to_owned(), None));
    assert_eq!(&*unescape(p[1].1.as_deref().unwrap()), b"value%41");
}

#[test]
fn rfc4475_3_1_1_8_dblreq_extra_octets_ignored() {
    let m = msg("rfc4475/dblreq.dat");
    assert_eq!(m.method(), Some(&Method::Register));
    assert_eq!(m.content_length(), Some(0));
    assert!(m.body_bytes().is_empty());
    assert!(m.as_bytes().ends_with(b"\r\n\r\n"));
}

#[test]
fn rfc4475_3_1_1_9_semiuri_user_with_semicolons() {
    let m = msg("rfc4475/semiuri.dat");
    let Some(Ok(Uri::Sip(u))) = m.request_uri() else {
        panic!()
    };
    assert_eq!(u.user(), Some("user;par=u%40example.net"));
    assert_eq!(u.host(), &Host::Domain("example.com".into()));
}

#[test]
fn rfc4475_3_1_1_10_transports() {
    let m = msg("rfc4475/transports.dat");
    let t: Vec<Transport> = m.get_all::<Via>().map(|v| v.unwrap().transport()).collect();
    assert_eq!(
        t,
        vec![
            Transport::Udp,
            Transport::Sctp,
            Transport::Tls,
            Transport::Other,
            Transport::Tcp
        ]
    );
}

#[test]
fn rfc4475_3_1_1_7_longreq_long_values() {
    let m = msg("rfc4475/longreq.dat");
    assert_eq!(m.via_count(), 34);
    let to = m.get::<To>().unwrap();
    assert!(to
        .display_name()
        .unwrap()
        .starts_with("I have a user name of extremeextreme"));
    let sip = to.uri().as_sip().unwrap();
    assert_eq!(sip.port(), Some(6000));
    assert!(sip.params().len() >= 3);
    let c = m.get::<Contact>().unwrap();
    assert!(
        c.addr()
            .unwrap()
            .uri()
            .as_sip()
            .unwrap()
            .user()
            .unwrap()
            .len()
            > 100
    );
}

#[test]
fn rfc4475_3_3_12_cparam01_contact_params_are_header_params() {
    let m = msg("rfc4475/cparam01.dat");
    let c = m.get::<Contact>().unwrap();
    let a = c.addr().unwrap();
    // addr-spec form: ";unknownparam" belongs to the header, not the URI.
    assert!(a.uri().as_sip().unwrap().params().is_empty());
    assert!(a.params().contains("unknownparam"));
    // name-addr form (§3.3.13): inside the brackets it is a URI parameter.
    let m2 = msg("rfc4475/cparam02.dat");
    let c2 = m2.get::<Contact>().unwrap();
    let a2 = c2.addr().unwrap();
    assert!(a2.uri().as_sip().unwrap().params().contains("unknownparam"));
    assert!(a2.params().is_empty());
}

#[test]
fn rfc4475_3_3_14_regescrt_escaped_route_kept() {
    let m = msg("rfc4475/regescrt.dat");
    let c = m.get::<Contact>().unwrap();
    let u = c.addr().unwrap().uri().as_sip().unwrap().clone();
    assert_eq!(
        u.header_unescaped("Route").as_deref(),
        Some("<sip:sip.example.com>")
    );
}

#[test]
fn rfc5118_4_4_port_unambiguous() {
    let m = msg("rfc5118/port-unambiguous");
    let Some(Ok(Uri::Sip(u))) = m.request_uri() else {
        panic!()
    };
    assert_eq!(u.host(), &Host::Ipv6("2001:db8::10".parse().unwrap()));
    assert_eq!(u.port(), Some(5070));
}
