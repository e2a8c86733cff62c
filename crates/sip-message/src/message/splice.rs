//! Adding `received` and `rport` to the top Via of a parsed request
//! (RFC 3261 §18.2.1, RFC 3581 §4) by splicing the bytes: the parts of the
//! message after an insertion move by its length, the top Via is located
//! again, and nothing else is parsed a second time.

use bytes::Bytes;
use smallvec::SmallVec;

use super::{Base, HeaderField, Inner, Message, Span, StartLine};
use crate::header_name::HeaderName;
use crate::limits::ParseLimits;

/// Insertions (offset, text), ascending by offset.
struct Edits<'a>(SmallVec<[(usize, &'a [u8]); 2]>);

impl Edits<'_> {
    /// Where byte `pos` of the old message is in the new one (an insertion
    /// at `pos` goes before it).
    fn map(&self, pos: u32) -> u32 {
        let mut p = pos as usize;
        for (at, text) in &self.0 {
            if *at <= pos as usize {
                p += text.len();
            }
        }
        p as u32
    }

    fn span(&self, s: Span) -> Span {
        Span {
            start: self.map(s.start),
            end: self.map(s.end),
        }
    }
}

impl Message {
    /// This request with `;received=<received>` after the last parameter
    /// of its top Via and, when `rport` is given, that port as the value of
    /// the bare `rport` parameter the client put there (RFC 3261 §18.2.1,
    /// RFC 3581 §4: what a server transport adds before handing a request
    /// up). The bytes are spliced and the spans moved: much cheaper than
    /// [`Message::with_top_via`], which decodes and re-parses.
    ///
    /// `None` where the top Via is not that simple: no Via, a `received`
    /// already there, a quoted parameter value, `rport` asked for but no
    /// bare `rport`; [`Message::with_top_via`] handles those.
    ///
    /// ```
    /// use sip_message::Message;
    /// let m = Message::parse(&b"OPTIONS sip:b@example.com SIP/2.0\r\n\
    /// Via: SIP/2.0/UDP host.example.com;branch=z9hG4bK1;rport, SIP/2.0/UDP p.example.com\r\n\
    /// Call-ID: c1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"[..])?;
    /// let m2 = m.with_received("192.0.2.7", Some(5062)).unwrap();
    /// let via = m2.top_via().unwrap();
    /// assert_eq!(via.received(), Some("192.0.2.7"));
    /// assert_eq!(via.branch(), Some("z9hG4bK1"));
    /// assert_eq!(m2.call_id(), Some("c1"));
    /// assert_eq!(m2.via_count(), 2);
    /// assert!(m2.as_bytes().starts_with(
    ///     b"OPTIONS sip:b@example.com SIP/2.0\r\n\
    ///       Via: SIP/2.0/UDP host.example.com;branch=z9hG4bK1;rport=5062;received=192.0.2.7, "));
    /// # Ok::<(), sip_message::ParseError>(())
    /// ```
    pub fn with_received(&self, received: &str, rport: Option<u16>) -> Option<Message> {
        let inner = &self.0;
        let via = inner.base.via.as_ref()?;
        if via.received.is_some() {
            return None;
        }
        let buf: &[u8] = &inner.buf;
        let params = &buf[via.params.start as usize..via.params.end as usize];
        if params.contains(&b'"') {
            return None;
        }
        // The end of the first via-parm, less trailing white space: after
        // its last parameter, or after sent-by when there is none.
        let element = &buf[via.element.start as usize..via.element.end as usize];
        let trimmed = element.len()
            - element
                .iter()
                .rev()
                .take_while(|b| matches!(b, b' ' | b'\t' | b'\r' | b'\n'))
                .count();
        let end = via.element.start as usize + trimmed;
        let mut rport_text = Vec::with_capacity(6);
        let mut received_text = Vec::with_capacity(10 + received.len());
        let mut edits = Edits(SmallVec::new());
        if let Some(port) = rport {
            // The value goes right after the bare `rport` name.
            let at = bare_param_end(params, b"rport")? + via.params.start as usize;
            rport_text.push(b'=');
            crate::encode::put_u64(&mut rport_text, u64::from(port));
            edits.0.push((at, &rport_text[..]));
        }
        received_text.extend_from_slice(b";received=");
        received_text.extend_from_slice(received.as_bytes());
        edits.0.push((end, &received_text[..]));

        let added: usize = edits.0.iter().map(|(_, t)| t.len()).sum();
        let mut out = Vec::with_capacity(buf.len() + added);
        let mut from = 0;
        for (at, text) in &edits.0 {
            out.extend_from_slice(&buf[from..*at]);
            out.extend_from_slice(text);
            from = *at;
        }
        out.extend_from_slice(&buf[from..]);
        let new_buf = Bytes::from(out);

        let start = match &inner.start {
            StartLine::Request { method, uri } => StartLine::Request {
                method: method.clone(),
                uri: edits.span(*uri),
            },
            StartLine::Response { code, reason } => StartLine::Response {
                code: *code,
                reason: edits.span(*reason),
            },
        };
        let headers = inner
            .headers
            .iter()
            .map(|h| HeaderField {
                name: h.name,
                name_len: h.name_len,
                start: edits.map(h.start),
                value: edits.span(h.value),
            })
            .collect();
        // The top Via again, from its (first) line as it now reads.
        let line = inner
            .headers
            .iter()
            .find(|h| h.name == HeaderName::Via)
            .map(|h| edits.span(h.value))?;
        let mut fresh = Base::default();
        let unlimited = ParseLimits {
            max_vias: usize::MAX,
            ..ParseLimits::default()
        };
        super::parse::eager_via(
            &new_buf,
            &mut fresh,
            &new_buf[line.start as usize..line.end as usize],
            line.start as usize,
            &unlimited,
        )
        .ok()?;
        let base = Base {
            via: fresh.via,
            call_id: inner.base.call_id.map(|s| edits.span(s)),
            from_tag: inner.base.from_tag.map(|s| edits.span(s)),
            to_tag: inner.base.to_tag.map(|s| edits.span(s)),
            ..inner.base.clone()
        };
        Some(Message(std::sync::Arc::new(Inner {
            buf: new_buf,
            start,
            version: inner.version,
            headers,
            body: edits.span(inner.body),
            base,
        })))
    }
}

/// The offset in `params` (`;name[=value]...`) just past the name of the
/// first parameter called `name` that has no value; `None` if there is none.
fn bare_param_end(params: &[u8], name: &[u8]) -> Option<usize> {
    let mut pos = 0;
    for piece in params.split(|b| *b == b';') {
        let lead = piece
            .iter()
            .take_while(|b| matches!(b, b' ' | b'\t'))
            .count();
        let body = &piece[lead..];
        let len = body.len()
            - body
                .iter()
                .rev()
                .take_while(|b| matches!(b, b' ' | b'\t'))
                .count();
        if body[..len].eq_ignore_ascii_case(name) {
            return Some(pos + lead + len);
        }
        pos += piece.len() + 1;
    }
    None
}
