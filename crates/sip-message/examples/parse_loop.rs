//! Runs the parser or the builder in a loop, for profilers
//! (`valgrind --tool=callgrind`, `perf`, `time`).
//!
//! ```text
//! cargo run --release -p sip-message --example parse_loop -- parse FILE [N]
//! cargo run --release -p sip-message --example parse_loop -- serialize [N]
//! ```

#[path = "../benches/invite_builder.rs"]
mod invite_builder;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let n = |i: usize| {
        args.get(i)
            .and_then(|s| s.parse().ok())
            .unwrap_or(100_000usize)
    };
    let mut acc = 0usize;
    match args.first().map(String::as_str) {
        Some("serialize") => {
            let build = invite_builder::invite_builder();
            for _ in 0..n(1) {
                acc += std::hint::black_box(build()).len();
            }
        }
        Some("parse") => {
            let input = bytes::Bytes::from(std::fs::read(&args[1]).expect("read"));
            for _ in 0..n(2) {
                if let Ok(m) = sip_message::Message::parse(std::hint::black_box(&input).clone()) {
                    acc += m.top_via().and_then(|v| v.branch()).map_or(0, str::len)
                        + m.call_id().map_or(0, str::len)
                        + m.from_tag().map_or(0, str::len)
                        + m.to_tag().map_or(0, str::len)
                        + m.cseq().map_or(0, |(n, _)| n as usize);
                }
            }
        }
        _ => {
            eprintln!("usage: parse_loop parse FILE [N] | serialize [N]");
            std::process::exit(2);
        }
    }
    println!("{acc}");
}
