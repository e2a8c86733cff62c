//! CSeq (RFC 3261 §20.16) and RAck (RFC 3262 §7.2).

use std::fmt;

use bytes::Bytes;

use super::TypedHeader;
use crate::header_name::HeaderName;
use crate::lex::{self, skip_ws};
use crate::method::Method;

/// `CSeq: 1*DIGIT LWS Method`. The number must fit 32 bits (RFC 4475 §3.1.2.4).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CSeq {
    seq: u32,
    method: Method,
}

impl CSeq {
    /// A CSeq value.
    pub fn new(seq: u32, method: Method) -> CSeq {
        CSeq { seq, method }
    }
    /// The sequence number.
    pub fn seq(&self) -> u32 {
        self.seq
    }
    /// The method.
    pub fn method(&self) -> &Method {
        &self.method
    }
}

/// Parses `1*DIGIT LWS token` and returns the number and method slice.
/// Leading and trailing white space is allowed; the number must fit 32
/// bits (RFC 4475 §3.1.2.4). Index-based: this runs on every message.
pub(crate) fn raw_cseq(v: &[u8]) -> Option<(u32, &[u8])> {
    // The form everyone writes, `<at most nine digits> SP <token>` and
    // nothing more, without the general steps (nine digits fit 32 bits).
    let mut p = 0;
    let mut n = 0u32;
    while let Some(d) = v.get(p).filter(|d| d.is_ascii_digit() && p < 9) {
        n = n * 10 + u32::from(d - b'0');
        p += 1;
    }
    if p > 0 && v.get(p) == Some(&b' ') {
        let m = &v[p + 1..];
        if !m.is_empty() && m.iter().all(|b| lex::is_token(*b)) {
            return Some((n, m));
        }
    }
    slow_cseq(v)
}

/// [`raw_cseq`] in general.
#[inline(never)]
fn slow_cseq(v: &[u8]) -> Option<(u32, &[u8])> {
    let ws = |mut p: usize| {
        while v.get(p).is_some_and(|b| lex::is_ws(*b)) {
            p += 1;
        }
        p
    };
    let start = ws(0);
    let (rest, n) = lex::digits::<u32>(&v[start..]).ok()?;
    let p = v.len() - rest.len();
    let m = ws(p);
    if m == p {
        return None; // 1*DIGIT, then LWS is mandatory
    }
    let mut e = m;
    while v.get(e).is_some_and(|b| lex::is_token(*b)) {
        e += 1;
    }
    if e == m || ws(e) != v.len() {
        return None;
    }
    Some((n, &v[m..e]))
}

pub(crate) fn method_in(src: &Bytes, m: &[u8]) -> Option<Method> {
    match Method::known(m) {
        Some(k) => Some(k),
        None => Some(Method::Other(lex::text(src, m)?)),
    }
}

impl TypedHeader for CSeq {
    const NAME: HeaderName = HeaderName::CSeq;
    fn encode_value(&self, out: &mut Vec<u8>) {
        crate::encode::put_u64(out, u64::from(self.seq));
        out.push(b' ');
        out.extend_from_slice(self.method.as_str().as_bytes());
    }
    fn decode(src: &Bytes, value: &[u8]) -> Option<Self> {
        let (seq, m) = raw_cseq(value)?;
        Some(CSeq {
            seq,
            method: method_in(src, m)?,
        })
    }
}

impl fmt::Display for CSeq {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.seq, f)?;
        f.write_str(" ")?;
        f.write_str(self.method.as_str())
    }
}

/// `RAck: response-num LWS CSeq-num LWS Method` (RFC 3262 §7.2).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RAck {
    /// RSeq of the provisional response being acknowledged.
    pub rseq: u32,
    /// CSeq number of the INVITE.
    pub cseq: u32,
    /// Method of the INVITE's CSeq.
    pub method: Method,
}

impl TypedHeader for RAck {
    const NAME: HeaderName = HeaderName::RAck;
    fn decode(src: &Bytes, value: &[u8]) -> Option<Self> {
        let v = skip_ws(value);
        let (rest, rseq) = lex::digits::<u32>(v).ok()?;
        let after = skip_ws(rest);
        if after.len() == rest.len() {
            return None;
        }
        let (cseq, m) = raw_cseq(after)?;
        Some(RAck {
            rseq,
            cseq,
            method: method_in(src, m)?,
        })
    }
}

impl fmt::Display for RAck {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} {}", self.rseq, self.cseq, self.method)
    }
}

#[cfg(test)]
mod quick_tests {
    use super::{raw_cseq, slow_cseq};

    #[test]
    fn quick_cseq_agrees_with_the_general_steps() {
        for v in [
            "314159 INVITE",
            "1 ACK",
            "0 BYE",
            "123456789 REGISTER",
            "1234567890 REGISTER",
            "4294967295 OPTIONS",
            "4294967296 OPTIONS",
            "99999999999999999999 INVITE",
            "000000001 INVITE",
            "0000000001 INVITE",
            "1  INVITE",
            "1\tINVITE",
            "1 INVITE ",
            " 1 INVITE",
            "1 INV ITE",
            "1 INVITE\r\n ",
            "1\r\n INVITE",
            "1 ",
            "1",
            "",
            " ",
            "1INVITE",
            "1 invite",
            "1 FOO-bar.baz!",
            "1 INVITE;x",
            "1 INV@ITE",
            "-1 INVITE",
            "+1 INVITE",
            "1 \u{e9}",
        ] {
            assert_eq!(raw_cseq(v.as_bytes()), slow_cseq(v.as_bytes()), "{v:?}");
        }
    }
}
