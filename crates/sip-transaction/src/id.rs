//! Transaction ids and keys (RFC 3261 §17.1.3, §17.2.3).

use std::fmt;
use std::hash::{Hash, Hasher};

use sip_message::{Message, Method};
use smallvec::SmallVec;

/// Bytes kept inline in a [`KeyText`]: a branch of ours is 31 (`z9hG4bK`
/// and 24 hex digits), a UUID-style one (`z9hG4bK` + prefix + 36) fits too,
/// and so does an IPv4 or short-name `host:port` sent-by.
const INLINE: usize = 48;

/// Short text of a transaction key (a Via branch, a sent-by), stored inline
/// up to 48 bytes, so that matching a message to its transaction does not
/// allocate; longer text goes to the heap.
///
/// Equality and hashing are those of the text as a `str`: byte for byte,
/// so case-sensitive, as RFC 3261 §17.1.3 and §17.2.3 compare branches.
#[derive(Default)]
pub struct KeyText(SmallVec<[u8; INLINE]>);

/// One copy of the bytes (`SmallVec`'s own `clone` goes element by
/// element: ~300 instructions for a branch, several times per request).
impl Clone for KeyText {
    fn clone(&self) -> KeyText {
        KeyText(SmallVec::from_slice(&self.0))
    }
}

impl KeyText {
    /// The text.
    pub fn as_str(&self) -> &str {
        // Built only from `&str` (or ASCII): always valid UTF-8.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }

    /// The text's bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True if empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// True if the text is on the heap (longer than the inline capacity).
    pub fn spilled(&self) -> bool {
        self.0.spilled()
    }
}

impl KeyText {
    /// The text of `b`, read as `TopVia::branch` reads a branch: its bytes
    /// when they are ASCII (as every branch of ours is; the cheap test
    /// spares the UTF-8 one), else the UTF-8 text, or empty when the
    /// octets are not UTF-8 (a quoted branch may hold any). So the key is
    /// always text, and the same as the string accessor gave.
    pub(crate) fn of_via_bytes(b: &[u8]) -> KeyText {
        if b.is_ascii() {
            KeyText(SmallVec::from_slice(b))
        } else {
            KeyText::from(std::str::from_utf8(b).unwrap_or_default())
        }
    }
}

impl KeyText {
    /// True if the text is an RFC 3261 branch: the magic cookie
    /// `z9hG4bK` and something after it (a bare cookie is RFC 4475
    /// §3.2.1). For a key read by [`of_via_bytes`](Self::of_via_bytes),
    /// the same answer as `TopVia::has_rfc3261_branch` on that Via.
    pub(crate) fn has_rfc3261_cookie(&self) -> bool {
        self.0.len() > sip_message::headers::MAGIC_COOKIE.len()
            && self
                .0
                .starts_with(sip_message::headers::MAGIC_COOKIE.as_bytes())
    }
}

impl From<&str> for KeyText {
    fn from(s: &str) -> KeyText {
        KeyText(SmallVec::from_slice(s.as_bytes()))
    }
}

impl PartialEq for KeyText {
    fn eq(&self, other: &KeyText) -> bool {
        self.0[..] == other.0[..]
    }
}

impl Eq for KeyText {}

impl PartialEq<str> for KeyText {
    fn eq(&self, other: &str) -> bool {
        self.0[..] == *other.as_bytes()
    }
}

impl PartialEq<&str> for KeyText {
    fn eq(&self, other: &&str) -> bool {
        self.0[..] == *other.as_bytes()
    }
}

impl Hash for KeyText {
    fn hash<H: Hasher>(&self, state: &mut H) {
        // What `str::hash` feeds the hasher (the bytes, then 0xff), so a
        // key hashes as it did when this field was a `String`.
        state.write(&self.0);
        state.write_u8(0xff);
    }
}

impl fmt::Debug for KeyText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for KeyText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A handle to one transaction, stable for its life and never reused for
/// another (index plus generation).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TransactionId {
    pub(crate) index: u32,
    pub(crate) generation: u32,
}

impl fmt::Display for TransactionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "tsx-{}.{}", self.index, self.generation)
    }
}

/// Client transaction key: the branch of the top Via and the CSeq method
/// (§17.1.3). A CANCEL has the INVITE's branch and its own method.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ClientKey {
    /// Branch parameter (compared case-sensitively, §17.1.3).
    pub branch: KeyText,
    /// CSeq method.
    pub method: Method,
}

/// Server transaction key (§17.2.3).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ServerKey {
    /// Branch with the magic cookie, sent-by and method (ACK counts as INVITE).
    Rfc3261 {
        /// Branch parameter (compared case-sensitively, §17.2.3).
        branch: KeyText,
        /// sent-by of the top Via, lower-cased, with the port.
        sent_by: KeyText,
        /// Method, ACK mapped to INVITE.
        method: Method,
    },
    /// RFC 2543 fallback for requests without a magic-cookie branch:
    /// Request-URI, From tag, Call-ID, CSeq number, top Via and method
    /// (ACK mapped to INVITE); the To tag is checked separately.
    Rfc2543 {
        /// Request-URI text.
        request_uri: String,
        /// From tag.
        from_tag: String,
        /// Call-ID.
        call_id: String,
        /// CSeq number.
        cseq: u32,
        /// Top Via as written.
        via: String,
        /// Method, ACK mapped to INVITE.
        method: Method,
    },
}

/// Either kind of key.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum TransactionKey {
    /// A client transaction.
    Client(ClientKey),
    /// A server transaction.
    Server(ServerKey),
}

fn key_method(m: &Method) -> Method {
    if *m == Method::Ack {
        Method::Invite
    } else {
        m.clone()
    }
}

impl ClientKey {
    /// The key of a new client transaction for `req` (§17.1.3: branch and
    /// method), or `None` without Via branch or method.
    pub fn of_request(req: &Message) -> Option<ClientKey> {
        Some(ClientKey {
            branch: KeyText::of_via_bytes(req.top_via()?.branch_bytes()?),
            method: req.method()?.clone(),
        })
    }

    /// The key a response matches (§17.1.3), or `None` without Via/CSeq.
    pub fn of_response(resp: &Message) -> Option<ClientKey> {
        let branch = resp.top_via()?.branch_bytes()?;
        let (_, method) = resp.cseq()?;
        Some(ClientKey {
            branch: KeyText::of_via_bytes(branch),
            method: method.clone(),
        })
    }
}

/// A client key as borrowed parts (the branch bytes and method of a
/// message), to look a response's transaction up without building a
/// [`ClientKey`]. Hashes and compares as the key with that branch text
/// and method does.
pub(crate) trait ClientKeyView {
    fn branch(&self) -> &[u8];
    fn method(&self) -> &Method;
}

impl ClientKeyView for ClientKey {
    fn branch(&self) -> &[u8] {
        self.branch.as_bytes()
    }
    fn method(&self) -> &Method {
        &self.method
    }
}

impl ClientKeyView for (&[u8], &Method) {
    fn branch(&self) -> &[u8] {
        self.0
    }
    fn method(&self) -> &Method {
        self.1
    }
}

impl<'a> std::borrow::Borrow<dyn ClientKeyView + 'a> for ClientKey {
    fn borrow(&self) -> &(dyn ClientKeyView + 'a) {
        self
    }
}

impl Hash for dyn ClientKeyView + '_ {
    fn hash<H: Hasher>(&self, state: &mut H) {
        // What the derived `Hash` of `ClientKey` feeds: the branch as
        // `KeyText` hashes it, then the method.
        state.write(self.branch());
        state.write_u8(0xff);
        self.method().hash(state);
    }
}

impl PartialEq for dyn ClientKeyView + '_ {
    fn eq(&self, other: &Self) -> bool {
        self.branch() == other.branch() && self.method() == other.method()
    }
}

impl Eq for dyn ClientKeyView + '_ {}

impl ClientKey {
    /// The parts of the key a response matches (§17.1.3: top Via branch,
    /// compared byte for byte, and CSeq method), borrowed from it. A
    /// branch that is not UTF-8 is its raw bytes here (where
    /// [`of_response`](Self::of_response) reads it as ""): neither
    /// matches a client key, whose branch always has the cookie and is text.
    pub(crate) fn parts_of_response(resp: &Message) -> Option<(&[u8], &Method)> {
        let branch = resp.top_via()?.branch_bytes()?;
        let (_, method) = resp.cseq()?;
        Some((branch, method))
    }
}

/// Appends `port` in decimal (no `fmt`: one per request).
fn push_port(out: &mut SmallVec<[u8; INLINE]>, port: u16) {
    let (buf, i) = sip_message::encode::decimal_digits(u64::from(port));
    out.extend_from_slice(&buf[i..]);
}

impl ServerKey {
    /// The same key for another method: a CANCEL's key with INVITE finds
    /// the INVITE it cancels (§9.2).
    pub fn with_method(&self, m: Method) -> ServerKey {
        let mut k = self.clone();
        match &mut k {
            ServerKey::Rfc3261 { method, .. } | ServerKey::Rfc2543 { method, .. } => *method = m,
        }
        k
    }

    /// The key a request matches (§17.2.3).
    pub fn of_request(req: &Message) -> Option<ServerKey> {
        let via = req.top_via()?;
        let method = key_method(req.method()?);
        match via.branch() {
            Some(b) if via.has_rfc3261_branch() => {
                let port = via.port().unwrap_or(via.transport().default_port());
                // "host:port", the host lower-cased (no `fmt`: one per request).
                let host = via.host();
                let mut sent_by = SmallVec::<[u8; INLINE]>::new();
                sent_by.extend(host.bytes().map(|c| c.to_ascii_lowercase()));
                sent_by.push(b':');
                push_port(&mut sent_by, port);
                Some(ServerKey::Rfc3261 {
                    branch: b.into(),
                    sent_by: KeyText(sent_by),
                    method,
                })
            }
            _ => Some(ServerKey::Rfc2543 {
                request_uri: req.request_uri_str()?.to_owned(),
                from_tag: req.from_tag().unwrap_or_default().to_owned(),
                call_id: req.call_id()?.to_owned(),
                cseq: req.cseq()?.0,
                via: format!("{}:{:?}{}", via.host(), via.port(), via.params()),
                method,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::hash::BuildHasher;

    fn hash_of<T: Hash + ?Sized>(s: &std::collections::hash_map::RandomState, t: &T) -> u64 {
        s.hash_one(t)
    }

    #[test]
    fn key_text_is_inline_for_ordinary_branches_and_spills_beyond() {
        let ours = "z9hG4bK0123456789abcdef01234567";
        assert_eq!(ours.len(), 31);
        assert!(!KeyText::from(ours).spilled());
        let uuid = "z9hG4bKPj1b4e28ba-2fa1-11d2-883f-0016d3cca427";
        assert!(!KeyText::from(uuid).spilled());
        let long = "z9hG4bK".to_owned() + &"x".repeat(60);
        let k = KeyText::from(long.as_str());
        assert!(k.spilled());
        assert_eq!(k.as_str(), long);
        assert_eq!(k.len(), long.len());
        assert_eq!(k.to_string(), long);
        assert_eq!(format!("{k:?}"), format!("{long:?}"));
        assert!(KeyText::default().is_empty());
        // A clone is the same text, inline or spilled as the original.
        for t in [ours, uuid, long.as_str(), ""] {
            let a = KeyText::from(t);
            let b = a.clone();
            assert_eq!((b.as_str(), b.spilled()), (t, a.spilled()));
            assert_eq!(a, b);
        }
    }

    #[test]
    fn key_text_compares_and_hashes_as_the_string_did() {
        let s = std::collections::hash_map::RandomState::new();
        let long = "z9hG4bK".to_owned() + &"y".repeat(90);
        for t in [
            "",
            "z9hG4bK1",
            "z9hG4bK0123456789abcdef01234567",
            long.as_str(),
        ] {
            let k = KeyText::from(t);
            assert_eq!(k, KeyText::from(t));
            assert_eq!(k, *t);
            assert_eq!(hash_of(&s, &k), hash_of(&s, t), "{t}");
            assert_eq!(hash_of(&s, &k), hash_of(&s, &t.to_owned()), "{t}");
        }
        // §17.1.3: branches are compared case-sensitively.
        assert_ne!(KeyText::from("z9hG4bKabc"), KeyText::from("z9hG4bKABC"));
        assert_ne!(KeyText::from("z9hG4bKabc"), KeyText::from("z9hG4bKab"));
        assert_ne!(
            KeyText::from(long.as_str()),
            KeyText::from(&long[..long.len() - 1])
        );
        // Inline and spilled storage of the same text are one key.
        let mut spilled = KeyText(SmallVec::with_capacity(INLINE + 1));
        spilled.0.extend_from_slice(b"z9hG4bK1");
        assert!(spilled.spilled());
        assert_eq!(spilled, KeyText::from("z9hG4bK1"));
        assert_eq!(
            hash_of(&s, &spilled),
            hash_of(&s, &KeyText::from("z9hG4bK1"))
        );
    }

    /// A key read from the Via's bytes is the key the text accessor gave,
    /// on ASCII, UTF-8 and non-UTF-8 branches alike (§17.1.3: the branch
    /// is compared as it is, case-sensitively).
    #[test]
    fn rfc3261_17_1_3_key_from_bytes_is_the_key_from_text() {
        let branches: [&[u8]; 11] = [
            b"z9hG4bK0123456789abcdef01234567",
            b"z9hG4bKAbC1",
            b"z9hG4bK",
            b"z9hG4bK1",
            b"Z9HG4BK776",
            b"z9hG4b",
            b"z9hG4bK\xff",
            b"776asdhds",
            b"\"z9hG4bKq\"",
            b"\"z9hG4bK\xc3\xa9\"",
            b"\"z9hG4bK\xff\xfe\"",
        ];
        let mut checked = 0;
        for b in branches {
            for start in [&b"INVITE sip:b@h SIP/2.0"[..], b"SIP/2.0 200 OK"] {
                let mut m = start.to_vec();
                m.extend_from_slice(b"\r\nVia: SIP/2.0/UDP h;branch=");
                m.extend_from_slice(b);
                m.extend_from_slice(b"\r\nCall-ID: c\r\nCSeq: 1 INVITE\r\n\r\n");
                let Ok(msg) = Message::parse(m) else { continue };
                let text = msg.top_via().and_then(|v| v.branch()).unwrap();
                let key = if msg.is_request() {
                    ClientKey::of_request(&msg)
                } else {
                    ClientKey::of_response(&msg)
                };
                let key = key.unwrap();
                assert_eq!(key.branch, *text, "{:?}", String::from_utf8_lossy(b));
                assert_eq!(key.branch.as_bytes(), text.as_bytes());
                assert_eq!(key.method, Method::Invite);
                let via = msg.top_via().unwrap();
                assert_eq!(key.branch.has_rfc3261_cookie(), via.has_rfc3261_branch());
                checked += 1;
            }
        }
        assert!(checked >= 16, "{checked}");
    }

    /// A response's borrowed parts hash and compare as the key built
    /// from it, and find the same entry of a map.
    #[test]
    fn rfc3261_17_1_3_borrowed_parts_are_the_key() {
        let s = std::collections::hash_map::RandomState::new();
        let fast = sip_message::hash::FastState::default();
        let long = format!("z9hG4bK{}", "q".repeat(80));
        let mut map: sip_message::hash::FastMap<ClientKey, u32> = Default::default();
        for (i, branch) in ["z9hG4bK1", "z9hG4bKAbC", long.as_str()].iter().enumerate() {
            for method in ["INVITE", "BYE", "CANCEL", "FOO"] {
                let resp = msg(&format!(
                    "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP h;branch={branch}\r\n\
                     Call-ID: c\r\nCSeq: 1 {method}\r\nContent-Length: 0\r\n\r\n"
                ));
                let key = ClientKey::of_response(&resp).unwrap();
                let parts = ClientKey::parts_of_response(&resp).unwrap();
                let view: &dyn ClientKeyView = &parts;
                let borrowed: &dyn ClientKeyView = &key;
                assert!(view == borrowed);
                assert_eq!(hash_of(&s, view), hash_of(&s, &key));
                assert_eq!(fast.hash_one(view), fast.hash_one(&key));
                map.insert(key, i as u32);
                assert_eq!(map.get(view), Some(&(i as u32)));
            }
        }
        // Case counts (§17.1.3), and so does the method.
        let other = msg("SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP h;branch=z9hG4bKabc\r\n\
             Call-ID: c\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n");
        let parts = ClientKey::parts_of_response(&other).unwrap();
        assert_eq!(map.get(&parts as &dyn ClientKeyView), None);
        let bare = msg("SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\n\
             Call-ID: c\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n");
        let parts = ClientKey::parts_of_response(&bare).unwrap();
        assert_eq!(map.get(&parts as &dyn ClientKeyView), None);
    }

    fn msg(s: &str) -> Message {
        Message::parse(s.to_owned()).unwrap()
    }

    #[test]
    fn rfc3261_17_1_3_response_matches_the_request_key() {
        let req = msg(
            "INVITE sip:b@192.0.2.2 SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKAbC1\r\n\
             Call-ID: c\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n",
        );
        let ok = msg(
            "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKAbC1\r\n\
             Call-ID: c\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n",
        );
        let other_case = msg(
            "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKabc1\r\n\
             Call-ID: c\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n",
        );
        let k = ClientKey::of_request(&req).unwrap();
        assert_eq!(k.branch, "z9hG4bKAbC1");
        assert_eq!(ClientKey::of_response(&ok), Some(k.clone()));
        assert_ne!(ClientKey::of_response(&other_case), Some(k));
    }

    #[test]
    fn rfc3261_17_2_3_sent_by_is_lower_cased_with_the_port() {
        let req = msg(
            "INVITE sip:b@192.0.2.2 SIP/2.0\r\nVia: SIP/2.0/UDP PC33.Atlanta.COM;branch=z9hG4bKx\r\n\
             Call-ID: c\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n",
        );
        match ServerKey::of_request(&req).unwrap() {
            ServerKey::Rfc3261 {
                branch, sent_by, ..
            } => {
                assert_eq!(branch, "z9hG4bKx");
                assert_eq!(sent_by, "pc33.atlanta.com:5060");
            }
            k => panic!("{k:?}"),
        }
        let req = msg(
            "INVITE sip:b@192.0.2.2 SIP/2.0\r\nVia: SIP/2.0/TLS [2001:DB8::1]:65535;branch=z9hG4bKx\r\n\
             Call-ID: c\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n",
        );
        match ServerKey::of_request(&req).unwrap() {
            ServerKey::Rfc3261 { sent_by, .. } => assert_eq!(sent_by, "[2001:db8::1]:65535"),
            k => panic!("{k:?}"),
        }
    }
}
