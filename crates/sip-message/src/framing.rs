//! Stream framing for TCP/TLS/WS-less streams (RFC 3261 §18.3): a cheap
//! check over a receive buffer that says whether a whole message is there.
//!
//! Run [`check`] on the bytes received so far; on `Complete(n)` split off
//! `n` bytes and hand them to [`Message::parse`](crate::Message::parse).
//! The check bounds its own work: it never looks further than the head
//! size limit for the end of the headers.
//!
//! ```
//! use sip_message::framing::{check, Status};
//! let buf = b"OPTIONS sip:a@b SIP/2.0\r\nl: 3\r\n\r\nabcINVITE";
//! assert_eq!(check(buf), Ok(Status::Complete(buf.len() - 6)));
//! assert_eq!(check(&buf[..20]), Ok(Status::Partial));
//! assert_eq!(check(b"\r\n\r\n"), Ok(Status::KeepAlive { len: 4, ping: true }));
//! ```

use memchr::memmem;

use crate::error::{ParseError, ParseErrorKind as K};
use crate::lex;
use crate::limits::ParseLimits;

/// What the buffer holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// More bytes are needed.
    Partial,
    /// A whole message of this many bytes is at the start of the buffer.
    Complete(usize),
    /// Keep-alive line breaks at the start of the buffer (RFC 5626 §3.5.1):
    /// a CRLFCRLF `ping` to answer with a CRLF pong, or a lone CRLF `pong`.
    KeepAlive {
        /// Bytes to discard.
        len: usize,
        /// True for a ping (CRLFCRLF), false for a pong (CRLF).
        ping: bool,
    },
}

/// [`check_with`] and the default limits.
pub fn check(buf: &[u8]) -> Result<Status, ParseError> {
    check_with(buf, &ParseLimits::default())
}

/// Checks `buf` for a complete message.
///
/// Errors mean the stream cannot be framed any more (the connection should
/// be closed): a head over the size limit, a bad or conflicting
/// Content-Length (RFC 4475 §3.1.2.3, §3.3.9), or a message over the size
/// limit. A missing Content-Length counts as zero: RFC 3261 §18.3 requires
/// it on streams, and zero is the only reading that keeps the stream in step
/// for a bodiless message.
pub fn check_with(buf: &[u8], limits: &ParseLimits) -> Result<Status, ParseError> {
    if buf.starts_with(b"\r\n\r\n") {
        return Ok(Status::KeepAlive { len: 4, ping: true });
    }
    if buf.starts_with(b"\r\n") {
        return Ok(if buf.len() > 2 && buf[2] != b'\r' {
            Status::KeepAlive {
                len: 2,
                ping: false,
            }
        } else {
            Status::Partial
        });
    }
    if buf == b"\r" {
        return Ok(Status::Partial);
    }
    // The header section, blank line included, may be max_head_size bytes.
    let window = &buf[..buf.len().min(limits.max_head_size)];
    let Some(head_end) = memmem::find(window, b"\r\n\r\n") else {
        if buf.len() >= limits.max_head_size {
            return Err(ParseError::new(K::TooLarge, limits.max_head_size));
        }
        return Ok(Status::Partial);
    };
    let head = &buf[..head_end + 2];
    let mut length: Option<u32> = None;
    let mut pos = 0;
    while pos < head.len() {
        let end = memmem::find(&head[pos..], b"\r\n").map_or(head.len(), |p| pos + p);
        let line = &head[pos..end];
        // A line starting with SP/HT continues the previous header (§7.3.1).
        let continuation = matches!(line.first(), Some(b' ' | b'\t'));
        if let Some(colon) = memchr::memchr(b':', line).filter(|_| !continuation) {
            let name = lex::trim(&line[..colon]);
            if name.eq_ignore_ascii_case(b"content-length") || name.eq_ignore_ascii_case(b"l") {
                // The value runs on over any continuation lines.
                let mut vend = end;
                while matches!(head.get(vend + 2), Some(b' ' | b'\t')) {
                    vend = memmem::find(&head[vend + 2..], b"\r\n")
                        .map_or(head.len(), |p| vend + 2 + p);
                }
                let n = lex::number::<u32>(&head[pos + colon + 1..vend])
                    .ok_or(ParseError::new(K::ContentLength, pos))?;
                if length.is_some_and(|m| m != n) {
                    return Err(ParseError::new(K::ConflictingContentLength, pos));
                }
                length = Some(n);
            }
        }
        pos = end + 2;
    }
    let total = head_end + 4 + length.unwrap_or(0) as usize;
    if total > limits.max_message_size {
        return Err(ParseError::new(K::TooLarge, head_end));
    }
    Ok(if buf.len() >= total {
        Status::Complete(total)
    } else {
        Status::Partial
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const MSG: &[u8] = b"MESSAGE sip:a@b SIP/2.0\r\nContent-Length:\r\n 5\r\n\r\nhello";

    #[test]
    fn every_prefix_is_partial_then_complete() {
        for n in 0..MSG.len() {
            let s = check(&MSG[..n]).unwrap();
            assert!(
                matches!(s, Status::Partial | Status::KeepAlive { .. }) || n == 0,
                "{n}: {s:?}"
            );
            assert_ne!(s, Status::Complete(MSG.len()));
        }
        assert_eq!(check(MSG), Ok(Status::Complete(MSG.len())));
    }

    #[test]
    fn rfc4475_framing_errors() {
        assert_eq!(
            check(b"OPTIONS sip:a@b SIP/2.0\r\nContent-Length: -999\r\n\r\n").map_err(|e| e.kind),
            Err(K::ContentLength)
        );
        assert_eq!(
            check(b"OPTIONS sip:a@b SIP/2.0\r\nContent-Length: 13\r\nl: 5\r\n\r\n")
                .map_err(|e| e.kind),
            Err(K::ConflictingContentLength)
        );
    }

    #[test]
    fn oversize_is_rejected() {
        let limits = ParseLimits {
            max_head_size: 64,
            max_message_size: 100,
            ..ParseLimits::default()
        };
        assert_eq!(
            check_with(&[b'a'; 80], &limits).map_err(|e| e.kind),
            Err(K::TooLarge)
        );
        let big = b"MESSAGE sip:a@b SIP/2.0\r\nl: 500\r\n\r\n";
        assert_eq!(
            check_with(big, &limits).map_err(|e| e.kind),
            Err(K::TooLarge)
        );
    }

    #[test]
    fn rfc5626_keepalives() {
        assert_eq!(
            check(b"\r\n\r\nINVITE"),
            Ok(Status::KeepAlive { len: 4, ping: true })
        );
        assert_eq!(
            check(b"\r\nINVITE"),
            Ok(Status::KeepAlive {
                len: 2,
                ping: false
            })
        );
        assert_eq!(check(b"\r\n"), Ok(Status::Partial));
    }
}
