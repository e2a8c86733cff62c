//! Helpers shared by the end-to-end tests in `tests/`.

pub mod kamailio;
pub mod sipp;

use sip_message::headers::Transport;
use sip_uac::{Handler, Service};

/// A service named `name` on 127.0.0.1 with UDP and TCP listeners (ports
/// picked by the OS) answering with `handler`.
pub async fn service(name: &str, handler: impl Handler) -> Service {
    let any = "127.0.0.1:0".parse().expect("an address");
    Service::builder(name)
        .udp(any)
        .tcp(any)
        .handler(handler)
        .start()
        .await
        .expect("bind 127.0.0.1")
}

/// The URI parameter that selects `kind`: `;transport=tcp` for TCP, nothing
/// for UDP (the default).
pub fn transport_param(kind: Transport) -> &'static str {
    match kind {
        Transport::Tcp => ";transport=tcp",
        _ => "",
    }
}

/// `name`'s whole header line in the message text `msg` (first
/// occurrence, long names only), or "": for tests that play a raw peer and
/// copy Via, From, To, Call-ID and CSeq into their answers.
pub fn header_line<'a>(msg: &'a str, name: &str) -> &'a str {
    msg.split("\r\n")
        .find(|l| {
            l.split_once(':')
                .is_some_and(|(n, _)| n.trim().eq_ignore_ascii_case(name))
        })
        .unwrap_or("")
}

/// A resolver that gives the same fixed addresses for every name, in
/// order: for tests of RFC 3263 §4.3 failover.
pub struct FixedResolver(pub Vec<std::net::SocketAddr>);

impl sip_transport::Resolver for FixedResolver {
    fn lookup<'a>(
        &'a self,
        _host: &'a str,
        _port: u16,
    ) -> sip_transport::target::BoxFuture<
        'a,
        Result<Vec<std::net::SocketAddr>, sip_transport::TransportError>,
    > {
        Box::pin(async move { Ok(self.0.clone()) })
    }
}

/// Ends call `dialog` of `svc` with BYE and checks the 200.
pub async fn hang_up(svc: &Service, dialog: &sip_uac::DialogId) {
    let r = svc
        .bye(dialog, sip_uac::RequestOptions::new())
        .await
        .expect("BYE sent");
    assert_eq!(r.code(), 200, "BYE: {} {}", r.code(), r.reason());
}

/// Waits until `f` holds, polling every 10 ms, at most 3 s; panics with
/// `what` otherwise (a bounded loop: a test never hangs on it).
pub async fn eventually(what: &str, mut f: impl FnMut() -> bool) {
    for _ in 0..300 {
        if f() {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!("{what} did not happen");
}
