//! Small edits of a built message (a header added or an option tag
//! dropped), done on its text: the plugin changes messages the TU built,
//! and re-parsing keeps them valid `Message`s.

use bytes::{BufMut, Bytes, BytesMut};
use sip_message::headers::{Require, Supported};
use sip_message::Message;

/// Whether the message's Require lists `tag` (typed, RFC 3261 §20.32).
pub(crate) fn requires(msg: &Message, tag: &str) -> bool {
    msg.get_all::<Require>()
        .filter_map(Result::ok)
        .any(|t| t.as_str().eq_ignore_ascii_case(tag))
}

/// Whether the message's Supported lists `tag` (§20.37).
pub(crate) fn supports(msg: &Message, tag: &str) -> bool {
    msg.get_all::<Supported>()
        .filter_map(Result::ok)
        .any(|t| t.as_str().eq_ignore_ascii_case(tag))
}

/// Where the header section ends (the index of the empty line's CRLF).
fn head_end(raw: &[u8]) -> Option<usize> {
    raw.windows(4).position(|w| w == b"\r\n\r\n").map(|i| i + 2)
}

/// `msg` with `name: value` added after its last header.
pub(crate) fn with_header(msg: &Message, name: &str, value: &str) -> Option<Message> {
    let raw = msg.as_bytes();
    let end = head_end(raw)?;
    let mut out = BytesMut::with_capacity(raw.len() + name.len() + value.len() + 4);
    out.put_slice(&raw[..end]);
    out.put_slice(name.as_bytes());
    out.put_slice(b": ");
    out.put_slice(value.as_bytes());
    out.put_slice(b"\r\n");
    out.put_slice(&raw[end..]);
    Message::parse(out.freeze()).ok()
}

/// `msg` without option tag `tag` in its `name` headers (a header left
/// empty goes).
pub(crate) fn without_tag(msg: &Message, name: &str, tag: &str) -> Option<Message> {
    let raw = msg.as_bytes();
    let end = head_end(raw)?;
    let mut out = BytesMut::with_capacity(raw.len());
    for line in raw[..end].split_inclusive(|&b| b == b'\n') {
        let text = String::from_utf8_lossy(line);
        let Some((n, v)) = text.split_once(':') else {
            out.put_slice(line);
            continue;
        };
        if !n.trim().eq_ignore_ascii_case(name) {
            out.put_slice(line);
            continue;
        }
        let kept: Vec<&str> = v
            .split(',')
            .map(str::trim)
            .filter(|t| !t.is_empty() && !t.eq_ignore_ascii_case(tag))
            .collect();
        if !kept.is_empty() {
            out.put_slice(format!("{}: {}\r\n", n.trim(), kept.join(", ")).as_bytes());
        }
    }
    out.put_slice(&raw[end..]);
    Message::parse(out.freeze()).ok()
}

/// The body with its Content-Type, if the message has one.
pub(crate) fn body_of(msg: &Message) -> Option<Bytes> {
    (!msg.body_bytes().is_empty()).then(|| msg.body())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resp() -> Message {
        Message::parse(Bytes::from_static(
            b"SIP/2.0 180 Ringing\r\nVia: SIP/2.0/UDP h;branch=z9hG4bKx\r\nFrom: <sip:a@h>;tag=1\r\nTo: <sip:b@h>;tag=2\r\nCall-ID: c\r\nCSeq: 1 INVITE\r\nRequire: timer, 100rel\r\nContent-Length: 0\r\n\r\n",
        ))
        .unwrap()
    }

    #[test]
    fn add_and_drop() {
        let m = resp();
        assert!(requires(&m, "100rel"));
        let m2 = with_header(&m, "RSeq", "7").unwrap();
        assert_eq!(m2.get::<sip_message::headers::RSeq>().unwrap().0, 7);
        let m3 = without_tag(&m2, "Require", "100rel").unwrap();
        assert!(!requires(&m3, "100rel"));
        assert!(requires(&m3, "timer"));
        assert_eq!(m3.call_id(), Some("c"));
    }
}
