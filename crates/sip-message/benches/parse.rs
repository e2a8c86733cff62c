//! Parser and serializer benchmarks (criterion).
//!
//! `cargo bench -p sip-message --bench parse`
//!
//! For each message in `testdata/bench/`:
//! - `views/<msg>`: `Message::parse` (header views, eager fields).
//! - `match/<msg>`: parse, then read what a transaction/dialog matches on:
//!   top Via branch, CSeq, Call-ID, From and To tags.
//! - `rsip_match/<msg>`: the same reads with `rsip` 0.4 in the same run.
//!
//! And `serialize/invite_sdp`: the same INVITE from a `RequestBuilder`
//! with typed values in hand, encoded to bytes.

use std::hint::black_box;
use std::path::PathBuf;

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, Criterion};

mod invite_builder;
use sip_message::Message;

const MESSAGES: [&str; 5] = [
    "invite_sdp.sip",
    "options.sip",
    "register_200ok.sip",
    "many_via_180.sip",
    "http_get.http",
];

fn load(name: &str) -> Bytes {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("testdata/bench")
        .join(name);
    Bytes::from(std::fs::read(p).expect("bench message"))
}

fn ours_match(input: &Bytes) -> usize {
    let Ok(m) = Message::parse(input.clone()) else {
        return 0;
    };
    let branch = m.top_via().and_then(|v| v.branch()).map_or(0, str::len);
    let cseq = m.cseq().map_or(0, |(n, _)| n as usize);
    let call_id = m.call_id().map_or(0, str::len);
    let from = m.from_tag().map_or(0, str::len);
    let to = m.to_tag().map_or(0, str::len);
    branch + cseq + call_id + from + to
}

fn rsip_match(input: &Bytes) -> usize {
    use rsip::prelude::*;
    let Ok(m) = rsip::SipMessage::try_from(input.clone()) else {
        return 0;
    };
    let branch = m
        .via_header()
        .ok()
        .and_then(|v| v.typed().ok())
        .and_then(|v| v.branch().map(|b| b.to_string().len()))
        .unwrap_or(0);
    let cseq = m
        .cseq_header()
        .ok()
        .and_then(|c| c.typed().ok())
        .map_or(0, |c| c.seq as usize);
    let call_id = m.call_id_header().map_or(0, |c| c.value().len());
    let from = m
        .from_header()
        .ok()
        .and_then(|f| f.tag().ok().flatten())
        .map_or(0, |t| t.value().len());
    let to = m
        .to_header()
        .ok()
        .and_then(|f| f.tag().ok().flatten())
        .map_or(0, |t| t.value().len());
    branch + cseq + call_id + from + to
}

fn parse(c: &mut Criterion) {
    for name in MESSAGES {
        let input = load(name);
        let short = name.split('.').next().unwrap_or(name);
        // The two parsers must agree on what they read (HTTP is rejected by both).
        assert_eq!(ours_match(&input), rsip_match(&input), "{name}");
        c.bench_function(&format!("views/{short}"), |b| {
            b.iter(|| black_box(Message::parse(black_box(&input).clone()).is_ok()))
        });
        c.bench_function(&format!("match/{short}"), |b| {
            b.iter(|| black_box(ours_match(black_box(&input))))
        });
        c.bench_function(&format!("rsip_match/{short}"), |b| {
            b.iter(|| black_box(rsip_match(black_box(&input))))
        });
    }
}

fn serialize(c: &mut Criterion) {
    let build = invite_builder::invite_builder();
    // Same message, byte for byte.
    assert_eq!(
        build(),
        invite_builder::original().as_bytes(),
        "builder output differs from invite_sdp.sip"
    );
    c.bench_function("serialize/invite_sdp", |b| b.iter(|| black_box(build())));
}

criterion_group!(benches, parse, serialize);
criterion_main!(benches);
