//! Parses a SIP message and shows what the stack sees in it.
//!
//! ```text
//! cargo run -p sip-message --example inspect                 # a built-in INVITE
//! cargo run -p sip-message --example inspect -- msg.sip      # a file (CRLF line ends)
//! cargo run -p sip-message --example inspect -- --lf msg.txt # convert bare LF first
//! ```

use sip_message::validate::{validate_request, validate_response, Policy};
use sip_message::{Message, ResponseBuilder};

const DEFAULT: &[u8] = b"INVITE sip:bob@biloxi.example.com SIP/2.0\r\n\
Via: SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bK776asdhds;rport\r\n\
Max-Forwards: 70\r\n\
To: Bob <sip:bob@biloxi.example.com>\r\n\
From: \"Alice Liddell\" <sip:alice@atlanta.example.com>;tag=1928301774\r\n\
Call-ID: a84b4c76e66710@pc33.atlanta.example.com\r\n\
CSeq: 314159 INVITE\r\n\
Contact: <sip:alice@pc33.atlanta.example.com>\r\n\
Supported: 100rel, timer\r\n\
Content-Type: application/sdp\r\n\
Content-Length: 4\r\n\r\nv=0\n";

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let lf = args.iter().any(|a| a == "--lf");
    let data = match args.iter().find(|a| !a.starts_with("--")) {
        Some(path) => match std::fs::read(path) {
            Ok(d) => d,
            Err(e) => {
                eprintln!("cannot read {path}: {e}");
                std::process::exit(2);
            }
        },
        None => DEFAULT.to_vec(),
    };
    let data = if lf {
        data.iter()
            .flat_map(|b| {
                if *b == b'\n' {
                    vec![b'\r', b'\n']
                } else {
                    vec![*b]
                }
            })
            .collect()
    } else {
        data
    };

    let msg = match Message::parse(data) {
        Ok(m) => m,
        Err(e) => {
            println!("rejected: {e}");
            std::process::exit(1);
        }
    };
    match (msg.method(), msg.status()) {
        (Some(m), _) => println!("request  {m} {}", msg.request_uri_str().unwrap_or("?")),
        (_, Some(c)) => println!("response {c} {}", msg.reason_phrase().unwrap_or_default()),
        _ => {}
    }
    if let Some(v) = msg.top_via() {
        println!(
            "top Via  {} {}:{} branch={} rport={:?}",
            v.transport(),
            v.host(),
            v.port().map_or("-".into(), |p| p.to_string()),
            v.branch().unwrap_or("-"),
            v.rport()
        );
    }
    println!("Call-ID  {}", msg.call_id().unwrap_or("-"));
    if let Some((n, m)) = msg.cseq() {
        println!("CSeq     {n} {m}");
    }
    println!(
        "tags     from={} to={}",
        msg.from_tag().unwrap_or("-"),
        msg.to_tag().unwrap_or("-")
    );
    println!("headers:");
    for h in msg.headers() {
        println!("  {:<20} {}", h.raw_name_str(), h.value_str());
    }
    println!("body     {} bytes", msg.body_bytes().len());
    match msg.check_syntax() {
        Ok(()) => println!("syntax   every known header decodes"),
        Err(e) => println!("syntax   {e}"),
    }
    let problems = if msg.is_request() {
        validate_request(&msg, &Policy::default())
    } else {
        validate_response(&msg)
    };
    for p in &problems {
        match p.status_code() {
            Some(code) => println!("problem  {p:?} -> answer {code}"),
            None => println!("problem  {p:?} -> drop"),
        }
    }
    if msg.is_request() {
        let code = problems.iter().find_map(|p| p.status_code()).unwrap_or(200);
        let reply = ResponseBuilder::from_request(&msg, code)
            .with_to_tag("inspect1")
            .encode();
        println!(
            "--- a UAS would answer:\n{}",
            String::from_utf8_lossy(&reply)
        );
    }
}
