//! Parses one message file in a loop (for profilers).
//! `cargo run --release -p sip-message --example parse_loop -- FILE [N]`
fn main() {
    let mut args = std::env::args().skip(1);
    let path = args.next().expect("file");
    let n: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(100_000);
    let input = bytes::Bytes::from(std::fs::read(path).expect("read"));
    let mut acc = 0usize;
    for _ in 0..n {
        if let Ok(m) = sip_message::Message::parse(std::hint::black_box(&input).clone()) {
            acc += m.top_via().and_then(|v| v.branch).map_or(0, str::len)
                + m.call_id().map_or(0, str::len)
                + m.from_tag().map_or(0, str::len)
                + m.to_tag().map_or(0, str::len)
                + m.cseq().map_or(0, |(n, _)| n as usize);
        }
    }
    println!("{acc}");
}
