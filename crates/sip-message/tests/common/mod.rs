//! Shared by the integration tests: where the test data is and how the
//! RFC 5118 messages become wire form.
#![allow(dead_code)]

use std::path::PathBuf;

/// The crate directory.
pub fn crate_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Bare LF to CRLF; a missing blank line after the headers is added (two
/// RFC 5118 members lack it, see testdata/corpus/README.md). The data files
/// stay as archived.
pub fn lf_to_crlf(raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len() + 64);
    for &b in raw {
        if b == b'\n' {
            out.push(b'\r');
        }
        out.push(b);
    }
    if !out.windows(4).any(|w| w == b"\r\n\r\n") {
        if !out.ends_with(b"\r\n") {
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// A corpus message in wire form (`rfc4475/x.dat` as is, `rfc5118/x`
/// converted).
pub fn corpus_message(path: &str) -> Vec<u8> {
    let p = crate_dir().join("testdata/corpus").join(path);
    let raw = std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    if path.starts_with("rfc5118/") {
        lf_to_crlf(&raw)
    } else {
        raw
    }
}

/// Every corpus and bench message in wire form, with its path, sorted so
/// that runs repeat.
pub fn wire_messages() -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    for (dir, convert) in [
        ("testdata/corpus/rfc4475", false),
        ("testdata/corpus/rfc5118", true),
        ("testdata/bench", false),
    ] {
        let mut files: Vec<PathBuf> = std::fs::read_dir(crate_dir().join(dir))
            .unwrap_or_else(|e| panic!("{dir}: {e}"))
            .map(|e| e.expect("dir entry").path())
            .collect();
        files.sort();
        for f in files {
            let raw = std::fs::read(&f).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
            out.push((f, if convert { lf_to_crlf(&raw) } else { raw }));
        }
    }
    out
}

/// Everything a reader of a message sees, as text.
pub fn view(m: &sip_message::Message) -> String {
    let mut s = format!(
        "{:?} {:?} {:?} {:?}\n",
        m.method(),
        m.request_uri_str(),
        m.status(),
        m.version()
    );
    for h in m.headers() {
        s += &format!("{:?} {} = {}\n", h.name, h.raw_name_str(), h.value_str());
    }
    if let Some(v) = m.top_via() {
        s += &format!(
            "via {:?} {} {} {:?} {:?} {:?} {:?} {:?} [{}]\n",
            v.transport(),
            v.transport_name(),
            v.host(),
            v.port(),
            v.branch(),
            v.received(),
            v.rport(),
            v.maddr(),
            v.params()
        );
    }
    s += &format!(
        "{} {:?} {:?} {:?} {:?} {:?} {:?} {}\n",
        m.via_count(),
        m.call_id(),
        m.from_tag(),
        m.to_tag(),
        m.cseq(),
        m.content_length(),
        m.max_forwards(),
        m.content_length_conflict()
    );
    s += &String::from_utf8_lossy(m.body_bytes());
    s
}
