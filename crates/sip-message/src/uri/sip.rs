//! `sip:` and `sips:` URIs (RFC 3261 §19.1, grammar in §25.1).

use std::fmt;
use std::ops::Range;

use bytes::Bytes;
use bytestring::ByteString;
use smallvec::SmallVec;

use super::escape::{escape, unescape_str, valid_escaped, UriPart};
use super::host::{Host, HostKind};
use crate::error::UriError;
use crate::lex::{self, RawParam};
use crate::params::Params;

/// A `sip:` or `sips:` URI.
///
/// `SIP-URI = "sip:" [ userinfo ] hostport uri-parameters [ headers ]`.
/// The user part may hold `;`, `?` and `/` (`user-unreserved`), so the
/// user is everything before the first `@` (RFC 4475 §3.1.1.9).
#[derive(PartialEq, Eq, Hash)]
pub struct SipUri {
    raw: ByteString,
    secure: bool,
    /// Where the user lies in `raw` (a range, not a second handle on the
    /// text: parsing and cloning take no reference count for it).
    user: Option<Range<usize>>,
    /// Where the password lies in `raw`.
    password: Option<Range<usize>>,
    host: Host,
    port: Option<u16>,
    params: Params,
    headers: Vec<(ByteString, ByteString)>,
}

/// The parts as text, as when they were held as text.
impl fmt::Debug for SipUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SipUri")
            .field("raw", &self.raw)
            .field("secure", &self.secure)
            .field("user", &self.user())
            .field("password", &self.password())
            .field("host", &self.host)
            .field("port", &self.port)
            .field("params", &self.params)
            .field("headers", &self.headers)
            .finish()
    }
}

/// Field by field, the usual empty parameter and header lists made anew
/// rather than copied (a dialog clones its target for every request).
impl Clone for SipUri {
    fn clone(&self) -> SipUri {
        SipUri {
            raw: self.raw.clone(),
            secure: self.secure,
            user: self.user.clone(),
            password: self.password.clone(),
            host: self.host.clone(),
            port: self.port,
            params: if self.params.is_empty() {
                Params::new()
            } else {
                self.params.clone()
            },
            headers: if self.headers.is_empty() {
                Vec::new()
            } else {
                self.headers.clone()
            },
        }
    }
}

/// `uri-parameters` from the start of `s` (which must begin with `;` or be
/// empty) up to `?` or the end. Returns the offset of the first bad byte.
pub(super) fn uri_params<'a>(
    s: &'a [u8],
    out: &mut SmallVec<[RawParam<'a>; 4]>,
) -> Result<usize, usize> {
    let end = s.iter().position(|b| *b == b'?').unwrap_or(s.len());
    let mut pos = 0;
    if end == 0 {
        return Ok(0);
    }
    if s[0] != b';' {
        return Err(0);
    }
    for item in s[1..end].split(|b| *b == b';') {
        pos += 1;
        let (name, value) = match item.iter().position(|b| *b == b'=') {
            Some(eq) => (&item[..eq], Some(&item[eq + 1..])),
            None => (item, None),
        };
        let ok = |b: u8| lex::is_unreserved(b) || lex::is_param_unreserved(b);
        if name.is_empty() {
            return Err(pos);
        }
        valid_escaped(name, ok).map_err(|o| pos + o)?;
        if let Some(v) = value {
            if v.is_empty() {
                return Err(pos + name.len() + 1);
            }
            valid_escaped(v, ok).map_err(|o| pos + name.len() + 1 + o)?;
        }
        out.push((name, value));
        pos += item.len();
    }
    Ok(end)
}

/// `user` characters other than escapes (RFC 3261 §25.1: unreserved and
/// user-unreserved).
fn user_char(b: u8) -> bool {
    lex::is_unreserved(b) || lex::is_user_unreserved(b)
}

/// Where the parts of a SIP URI lie in its text (byte offsets), as the
/// grammar found them; every part is checked, and so ASCII.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Layout {
    secure: bool,
    user: Option<Range<usize>>,
    password: Option<Range<usize>>,
    host: Range<usize>,
    host_kind: HostKind,
    port: Option<u16>,
    /// `uri-parameters`: from the first `;` up to `?` or the end (empty
    /// when there are none).
    params: Range<usize>,
    /// `headers`, after the `?`.
    headers: Option<Range<usize>>,
}

/// The usual shapes in one pass: `sip:` or `sips:` in lower case, then
/// `[user "@"] host [":" port] *( ";" param )` with a host name or IPv4
/// address and no escape, password, bracket or URI header. `None` for
/// anything else, which [`scan`] (the whole grammar) reads; where both
/// read a URI they find the same layout.
fn quick(part: &[u8]) -> Option<Layout> {
    let (secure, body) = if part.starts_with(b"sip:") {
        (false, 4)
    } else if part.starts_with(b"sips:") {
        (true, 5)
    } else {
        return None;
    };
    let rest = &part[body..];
    // The user is everything before the first "@" (RFC 4475 §3.1.1.9).
    // Without one here, the text is read as hostport and parameters, none
    // of whose characters is "@": an "@" further on fails below.
    let run = lex::user_run(rest);
    let (user, hp_start) = match rest.get(run) {
        Some(b'@') if run > 0 => (Some(body..body + run), body + run + 1),
        _ => (None, body),
    };
    let hp = &part[hp_start..];
    let host_len = lex::host_run(hp);
    let host_kind = Host::kind(&hp[..host_len], false)?;
    let mut end = hp_start + host_len;
    let port = match part.get(end) {
        Some(b':') => {
            let digits = &part[end + 1..];
            let n = digits
                .iter()
                .position(|b| !b.is_ascii_digit())
                .unwrap_or(digits.len());
            let p = lex::number::<u16>(&digits[..n]).filter(|_| n > 0)?;
            end += 1 + n;
            Some(p)
        }
        _ => None,
    };
    // Parameter characters include neither "?" nor "@".
    if !quick_params(&part[end..]) {
        return None;
    }
    Some(Layout {
        secure,
        user,
        password: None,
        host: hp_start..hp_start + host_len,
        host_kind,
        port,
        params: end..part.len(),
        headers: None,
    })
}

/// `*( ";" pname [ "=" pvalue ] )` of plain parameter characters, without
/// escapes (which [`uri_params`] reads) or headers.
fn quick_params(t: &[u8]) -> bool {
    let run = |from: usize| t.get(from..).map_or(0, lex::param_run);
    let mut i = 0;
    while i < t.len() {
        if t[i] != b';' {
            return false;
        }
        let name = run(i + 1);
        if name == 0 {
            return false;
        }
        i += 1 + name;
        if t.get(i) == Some(&b'=') {
            let value = run(i + 1);
            if value == 0 {
                return false;
            }
            i += 1 + value;
        }
    }
    true
}

/// Splits parameters that the grammar checked (`;name[=value]...`) into
/// names and values.
fn split_params<'a>(p: &'a [u8], out: &mut SmallVec<[RawParam<'a>; 4]>) {
    for item in p.split(|b| *b == b';').skip(1) {
        out.push(match item.iter().position(|b| *b == b'=') {
            Some(eq) => (&item[..eq], Some(&item[eq + 1..])),
            None => (item, None),
        });
    }
}

/// The whole grammar (RFC 3261 §25.1 `SIP-URI` / `SIPS-URI`), the error at
/// the first byte that does not fit. The scheme before the first colon is
/// the caller's to check.
fn scan(part: &[u8]) -> Result<Layout, UriError> {
    let colon = part
        .iter()
        .position(|b| *b == b':')
        .ok_or(UriError::at(0))?;
    let secure = part[..colon].eq_ignore_ascii_case(b"sips");
    let body = colon + 1;
    let rest = &part[body..];
    let err = |o: usize| UriError::at(body + o);

    // userinfo = ( user / telephone-subscriber ) [ ":" password ] "@"
    let (user, password, hp_start) = match rest.iter().position(|b| *b == b'@') {
        Some(at) => {
            let info = &rest[..at];
            let u_len = info.iter().position(|b| *b == b':').unwrap_or(at);
            let u = &info[..u_len];
            if u.is_empty() {
                return Err(err(0));
            }
            valid_escaped(u, user_char).map_err(err)?;
            let password = (u_len < at).then(|| body + u_len + 1..body + at);
            if let Some(p) = info.get(u_len + 1..) {
                valid_escaped(p, lex::is_password).map_err(|o| err(u_len + 1 + o))?;
            }
            (Some(body..body + u_len), password, at + 1)
        }
        None => (None, None, 0),
    };

    // hostport = host [ ":" port ]
    let hp = &rest[hp_start..];
    let hp_end = hp
        .iter()
        .position(|b| *b == b';' || *b == b'?')
        .unwrap_or(hp.len());
    let hostport = &hp[..hp_end];
    let (host_len, port_txt) = if hostport.first() == Some(&b'[') {
        let close = hostport
            .iter()
            .position(|b| *b == b']')
            .ok_or(err(hp_start))?;
        match &hostport[close + 1..] {
            [] => (close + 1, None),
            [b':', port @ ..] => (close + 1, Some(port)),
            _ => return Err(err(hp_start + close + 1)),
        }
    } else {
        match hostport.iter().position(|b| *b == b':') {
            Some(c) => (c, Some(&hostport[c + 1..])),
            None => (hostport.len(), None),
        }
    };
    let host_kind = Host::kind(&hostport[..host_len], false).ok_or(err(hp_start))?;
    let port = match port_txt {
        None => None,
        Some(p) => Some(
            lex::number::<u16>(p)
                .filter(|_| !p.is_empty() && p.iter().all(u8::is_ascii_digit))
                .ok_or(err(hp_start + host_len + 1))?,
        ),
    };

    // uri-parameters, then headers
    let tail = &hp[hp_end..];
    let tail_off = hp_start + hp_end;
    let params_end = uri_params(tail, &mut SmallVec::new()).map_err(|o| err(tail_off + o))?;
    let headers = if params_end < tail.len() {
        // headers = "?" header *( "&" header ); header = hname "=" hvalue
        let mut off = tail_off + params_end + 1;
        let ok = |b: u8| lex::is_unreserved(b) || lex::is_hnv_unreserved(b);
        for h in tail[params_end + 1..].split(|b| *b == b'&') {
            let eq = h.iter().position(|b| *b == b'=').ok_or(err(off))?;
            let (n, v) = (&h[..eq], &h[eq + 1..]);
            if n.is_empty() {
                return Err(err(off));
            }
            valid_escaped(n, ok).map_err(|o| err(off + o))?;
            valid_escaped(v, ok).map_err(|o| err(off + eq + 1 + o))?;
            off += h.len() + 1;
        }
        Some(body + tail_off + params_end + 1..part.len())
    } else {
        None
    };
    Ok(Layout {
        secure,
        user,
        password,
        host: body + hp_start..body + hp_start + host_len,
        host_kind,
        port,
        params: body + tail_off..body + tail_off + params_end,
        headers,
    })
}

impl Layout {
    /// The URI, each part a shared view of `raw` (the text the layout was
    /// found in).
    fn build(self, raw: ByteString) -> Result<SipUri, UriError> {
        let bad = || UriError::at(0);
        let sub = |r: Range<usize>| lex::sub_text(&raw, r).ok_or(bad());
        let bytes = raw.as_bytes();
        let host = match self.host_kind {
            HostKind::Ip(a) => Host::from(a),
            HostKind::Domain => Host::Domain(sub(self.host)?),
        };
        let params = {
            let mut raw_params = SmallVec::new();
            split_params(bytes.get(self.params).ok_or(bad())?, &mut raw_params);
            Params::from_raw(bytes, &raw_params).ok_or(bad())?
        };
        let mut headers = Vec::new();
        if let Some(hs) = self.headers {
            let mut off = hs.start;
            for h in bytes.get(hs).ok_or(bad())?.split(|b| *b == b'&') {
                let eq = h.iter().position(|b| *b == b'=').ok_or(bad())?;
                headers.push((sub(off..off + eq)?, sub(off + eq + 1..off + h.len())?));
                off += h.len() + 1;
            }
        }
        Ok(SipUri {
            raw,
            secure: self.secure,
            user: self.user,
            password: self.password,
            host,
            port: self.port,
            params,
            headers,
        })
    }
}

/// The layout of `part`: the quick reading when it applies, the whole
/// grammar otherwise.
fn layout(part: &[u8]) -> Result<Layout, UriError> {
    match quick(part) {
        Some(l) => Ok(l),
        None => scan(part),
    }
}

impl SipUri {
    /// Parses `part`, a slice of `src`, keeping views into `src`.
    pub(crate) fn parse_in(src: &Bytes, part: &[u8]) -> Result<SipUri, UriError> {
        let l = layout(part)?;
        // Every part was checked to be ASCII: the one UTF-8 check here
        // cannot fail.
        l.build(lex::text(src, part).ok_or(UriError::at(0))?)
    }

    /// Parses URI text already held as a `ByteString` (no UTF-8 check).
    pub(crate) fn parse_text(raw: ByteString) -> Result<SipUri, UriError> {
        layout(raw.as_bytes())?.build(raw)
    }

    /// Parses a SIP URI from text; fails for other schemes.
    pub fn parse(text: &str) -> Result<SipUri, UriError> {
        let colon = text.find(':').ok_or(UriError::at(0))?;
        let scheme = &text[..colon];
        if !scheme.eq_ignore_ascii_case("sip") && !scheme.eq_ignore_ascii_case("sips") {
            return Err(UriError::at(0));
        }
        SipUri::parse_text(ByteString::from(text))
    }

    /// Starts a URI for `host` (a host name, an IPv4 address, or an IPv6
    /// address with or without brackets).
    pub fn builder(host: &str) -> SipUriBuilder {
        SipUriBuilder {
            secure: false,
            user: None,
            password: None,
            host: host.to_owned(),
            port: None,
            params: Vec::new(),
            headers: Vec::new(),
        }
    }

    /// A builder holding this URI's parts, to derive a changed copy.
    pub fn to_builder(&self) -> SipUriBuilder {
        SipUriBuilder {
            secure: self.secure,
            user: self.user().map(str::to_owned),
            password: self.password().map(str::to_owned),
            host: self.host.to_string(),
            port: self.port,
            params: self
                .params
                .iter()
                .map(|p| (p.name().to_owned(), p.value().map(str::to_owned)))
                .collect(),
            headers: self
                .headers
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect(),
        }
    }

    /// The URI text.
    pub fn as_str(&self) -> &str {
        &self.raw
    }

    pub(crate) fn raw_text(&self) -> &ByteString {
        &self.raw
    }
    /// The text of a part found by the parser (ASCII, so on character
    /// boundaries).
    fn part(&self, r: &Option<Range<usize>>) -> Option<&str> {
        r.as_ref().and_then(|r| self.raw.get(r.clone()))
    }
    /// True for `sips:`.
    pub fn is_secure(&self) -> bool {
        self.secure
    }
    /// The user part, escaped as written.
    pub fn user(&self) -> Option<&str> {
        self.part(&self.user)
    }
    /// The password, escaped as written.
    pub fn password(&self) -> Option<&str> {
        self.part(&self.password)
    }
    /// The host.
    pub fn host(&self) -> &Host {
        &self.host
    }
    /// The explicit port.
    pub fn port(&self) -> Option<u16> {
        self.port
    }
    /// The uri-parameters.
    pub fn params(&self) -> &Params {
        &self.params
    }
    /// `transport=` parameter.
    pub fn transport(&self) -> Option<&str> {
        self.params.value("transport")
    }
    /// `user=` parameter (`phone`, `ip`).
    pub fn user_param(&self) -> Option<&str> {
        self.params.value("user")
    }
    /// `method=` parameter.
    pub fn method_param(&self) -> Option<&str> {
        self.params.value("method")
    }
    /// `maddr=` parameter.
    pub fn maddr(&self) -> Option<&str> {
        self.params.value("maddr")
    }
    /// `ttl=` parameter, if a valid 0..=255 number.
    pub fn ttl(&self) -> Option<u8> {
        self.params.value("ttl").and_then(|t| t.parse().ok())
    }
    /// `lr` (loose routing, RFC 3261 §16.12).
    pub fn lr(&self) -> bool {
        self.params.contains("lr")
    }
    /// The URI headers (`?name=value&...`), escaped as written.
    pub fn headers(&self) -> impl Iterator<Item = (&str, &str)> {
        self.headers.iter().map(|(n, v)| (&**n, &**v))
    }
    /// The first URI header with this name (case-insensitive), unescaped.
    pub fn header_unescaped(&self, name: &str) -> Option<String> {
        self.headers
            .iter()
            .find(|(n, _)| unescape_str(n).eq_ignore_ascii_case(name))
            .map(|(_, v)| unescape_str(v).into_owned())
    }
}

impl fmt::Display for SipUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.raw)
    }
}

impl std::str::FromStr for SipUri {
    type Err = UriError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        SipUri::parse(s)
    }
}

/// Builds a [`SipUri`] from unescaped parts; each part is escaped for its
/// place (RFC 3261 §19.1.2).
#[derive(Debug, Clone)]
#[must_use]
pub struct SipUriBuilder {
    secure: bool,
    user: Option<String>,
    password: Option<String>,
    host: String,
    port: Option<u16>,
    params: Vec<(String, Option<String>)>,
    headers: Vec<(String, String)>,
}

impl SipUriBuilder {
    /// `sips:` instead of `sip:`.
    pub fn secure(mut self, secure: bool) -> Self {
        self.secure = secure;
        self
    }
    /// The user part (unescaped text).
    pub fn user(mut self, user: &str) -> Self {
        self.user = Some(escape(user, UriPart::User).into_owned());
        self
    }
    /// The password (unescaped text).
    pub fn password(mut self, password: &str) -> Self {
        self.password = Some(escape(password, UriPart::Password).into_owned());
        self
    }
    /// The host.
    pub fn host(mut self, host: &str) -> Self {
        self.host = host.to_owned();
        self
    }
    /// The port.
    pub fn port(mut self, port: u16) -> Self {
        self.port = Some(port);
        self
    }
    /// Adds or replaces a uri-parameter (unescaped text).
    pub fn param(mut self, name: &str, value: Option<&str>) -> Self {
        let name = escape(name, UriPart::Param).into_owned();
        let value = value.map(|v| escape(v, UriPart::Param).into_owned());
        match self
            .params
            .iter_mut()
            .find(|(n, _)| n.eq_ignore_ascii_case(&name))
        {
            Some(p) => p.1 = value,
            None => self.params.push((name, value)),
        }
        self
    }
    /// Removes a uri-parameter.
    pub fn remove_param(mut self, name: &str) -> Self {
        self.params.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
        self
    }
    /// Adds a URI header (unescaped text).
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((
            escape(name, UriPart::Header).into_owned(),
            escape(value, UriPart::Header).into_owned(),
        ));
        self
    }
    /// Removes every URI header.
    pub fn clear_headers(mut self) -> Self {
        self.headers.clear();
        self
    }
    /// Writes and parses the URI.
    pub fn build(self) -> Result<SipUri, UriError> {
        use std::fmt::Write;
        let mut s = String::with_capacity(64);
        s.push_str(if self.secure { "sips:" } else { "sip:" });
        if let Some(u) = &self.user {
            s.push_str(u);
            if let Some(p) = &self.password {
                s.push(':');
                s.push_str(p);
            }
            s.push('@');
        }
        if self.host.contains(':') && !self.host.starts_with('[') {
            let _ = write!(s, "[{}]", self.host);
        } else {
            s.push_str(&self.host);
        }
        if let Some(p) = self.port {
            let _ = write!(s, ":{p}");
        }
        for (n, v) in &self.params {
            s.push(';');
            s.push_str(n);
            if let Some(v) = v {
                s.push('=');
                s.push_str(v);
            }
        }
        for (i, (n, v)) in self.headers.iter().enumerate() {
            s.push(if i == 0 { '?' } else { '&' });
            s.push_str(n);
            s.push('=');
            s.push_str(v);
        }
        SipUri::parse_text(ByteString::from(s))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::uri::Uri;

    /// The parser as it was before the quick path and the shared parts:
    /// the reference the new one must agree with, result and error.
    fn reference(src: &Bytes, part: &[u8]) -> Result<View, UriError> {
        let colon = part
            .iter()
            .position(|b| *b == b':')
            .ok_or(UriError::at(0))?;
        let secure = part[..colon].eq_ignore_ascii_case(b"sips");
        let body_start = colon + 1;
        let rest = &part[body_start..];
        let err = |o: usize| UriError::at(body_start + o);

        // userinfo = ( user / telephone-subscriber ) [ ":" password ] "@"
        let (user, password, hp_start) = match rest.iter().position(|b| *b == b'@') {
            Some(at) => {
                let info = &rest[..at];
                let (u, p) = match info.iter().position(|b| *b == b':') {
                    Some(c) => (&info[..c], Some(&info[c + 1..])),
                    None => (info, None),
                };
                if u.is_empty() {
                    return Err(err(0));
                }
                valid_escaped(u, |b| lex::is_unreserved(b) || lex::is_user_unreserved(b))
                    .map_err(err)?;
                if let Some(p) = p {
                    valid_escaped(p, lex::is_password).map_err(|o| err(u.len() + 1 + o))?;
                }
                (Some(u), p, at + 1)
            }
            None => (None, None, 0),
        };

        // hostport = host [ ":" port ]
        let hp = &rest[hp_start..];
        let hp_end = hp
            .iter()
            .position(|b| *b == b';' || *b == b'?')
            .unwrap_or(hp.len());
        let hostport = &hp[..hp_end];
        let (host_txt, port_txt) = if hostport.first() == Some(&b'[') {
            let close = hostport
                .iter()
                .position(|b| *b == b']')
                .ok_or(err(hp_start))?;
            let after = &hostport[close + 1..];
            match after {
                [] => (&hostport[..=close], None),
                [b':', port @ ..] => (&hostport[..=close], Some(port)),
                _ => return Err(err(hp_start + close + 1)),
            }
        } else {
            match hostport.iter().position(|b| *b == b':') {
                Some(c) => (&hostport[..c], Some(&hostport[c + 1..])),
                None => (hostport, None),
            }
        };
        let host = Host::parse(host_txt, false).ok_or(err(hp_start))?;
        let port = match port_txt {
            None => None,
            Some(p) => Some(
                lex::number::<u16>(p)
                    .filter(|_| !p.is_empty() && p.iter().all(u8::is_ascii_digit))
                    .ok_or(err(hp_start + host_txt.len() + 1))?,
            ),
        };

        // uri-parameters, then headers
        let tail = &hp[hp_end..];
        let tail_off = hp_start + hp_end;
        let mut raw_params = SmallVec::new();
        let params_end = uri_params(tail, &mut raw_params).map_err(|o| err(tail_off + o))?;
        let mut headers = Vec::new();
        if params_end < tail.len() {
            // headers = "?" header *( "&" header ); header = hname "=" hvalue
            let hs = &tail[params_end + 1..];
            let mut off = tail_off + params_end + 1;
            let ok = |b: u8| lex::is_unreserved(b) || lex::is_hnv_unreserved(b);
            for h in hs.split(|b| *b == b'&') {
                let eq = h.iter().position(|b| *b == b'=').ok_or(err(off))?;
                let (n, v) = (&h[..eq], &h[eq + 1..]);
                if n.is_empty() {
                    return Err(err(off));
                }
                valid_escaped(n, ok).map_err(|o| err(off + o))?;
                valid_escaped(v, ok).map_err(|o| err(off + eq + 1 + o))?;
                let t = |s: &[u8]| lex::text(src, s).ok_or(err(off));
                headers.push((t(n)?, t(v)?));
                off += h.len() + 1;
            }
        }
        let t = |s: &[u8]| lex::text(src, s).ok_or(UriError::at(0));
        Ok(View {
            raw: t(part)?,
            secure,
            user: user.map(t).transpose()?,
            password: password.map(t).transpose()?,
            host,
            port,
            params: Params::from_raw(src, &raw_params).ok_or(UriError::at(0))?,
            headers,
        })
    }

    /// Every part of a URI as text, what the parser used to keep.
    #[derive(Debug, PartialEq)]
    struct View {
        raw: ByteString,
        secure: bool,
        user: Option<ByteString>,
        password: Option<ByteString>,
        host: Host,
        port: Option<u16>,
        params: Params,
        headers: Vec<(ByteString, ByteString)>,
    }

    fn view(u: &SipUri) -> View {
        View {
            raw: u.raw.clone(),
            secure: u.secure,
            user: u.user().map(ByteString::from),
            password: u.password().map(ByteString::from),
            host: u.host.clone(),
            port: u.port,
            params: u.params.clone(),
            headers: u.headers.clone(),
        }
    }

    /// URI text with the usual and the unusual in each place (RFC 3261
    /// §19.1, §25.1; RFC 4475 §3.1.1; RFC 5118): schemes in any case,
    /// escapes good and bad, passwords, telephone users, IPv6 references,
    /// ports out of range, parameters without values, headers, garbage.
    fn tricky() -> Vec<String> {
        let schemes = ["sip:", "sips:", "SIP:", "sIpS:", "sipx:", ""];
        let users = [
            "",
            "alice",
            "a%41b",
            "a%4",
            "a%zz",
            "+1-212-555-1212",
            "a;b=c",
            "a?b/c",
            "a b",
            "alice:pw",
            "alice:",
            ":pw",
            "a:p%20w",
            "a:p%2",
            "1_u.R~(t!)&i'+$,",
            "é",
        ];
        let hosts = [
            "127.0.0.1",
            "host",
            "a.b-c.example.com.",
            "h_s",
            "-x",
            ".x",
            "[::1]",
            "[2001:db8::1]",
            "[2001:db8:::192.0.2.1]",
            "2001:db8::1",
            "256.1.1.1",
            "1.2.3",
            "01.2.3.4",
            "",
            "ex!mple",
            "é.com",
            "[::1",
            "::1]",
        ];
        let ports = [
            "", ":", ":5060", ":0", ":65535", ":65536", ":05060", ":5a", ":-1",
        ];
        let params = [
            "",
            ";lr",
            ";transport=udp",
            ";a=",
            ";",
            ";;lr",
            ";a=b;c",
            ";a%20b=c",
            ";a=%zz",
            ";maddr=[::1]",
            ";é",
            ";a=b=c",
        ];
        let headers = [
            "",
            "?",
            "?a=b",
            "?a=b&c=%41",
            "?a",
            "?=b",
            "?a=b&",
            "?a=<b>",
            "?a=b?c",
        ];
        let mut out = Vec::new();
        // Every user, host and port with each scheme; the rest sampled.
        let mut n = 0usize;
        for s in schemes {
            for u in users {
                for at in [false, true] {
                    for h in hosts {
                        for p in ports {
                            n += 1;
                            let q = params[n % params.len()];
                            let x = headers[(n / params.len()) % headers.len()];
                            let user = if at { format!("{u}@") } else { u.to_owned() };
                            out.push(format!("{s}{user}{h}{p}{q}{x}"));
                        }
                    }
                }
            }
        }
        for q in params {
            for x in headers {
                for s in ["sip:", "sips:"] {
                    out.push(format!("{s}bob@192.0.2.4:5070{q}{x}"));
                    out.push(format!("{s}example.com{q}{x}"));
                }
            }
        }
        // Garbage: short strings of delimiters and odd bytes after "sip:".
        let alphabet = [
            "a", "1", ".", ":", "@", ";", "=", "?", "&", "%", "[", "]", " ", "é", "\r",
        ];
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        for _ in 0..20_000 {
            let mut t = String::from("sip:");
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let len = (seed % 14) as usize;
            let mut r = seed >> 8;
            for _ in 0..len {
                t.push_str(alphabet[(r % alphabet.len() as u64) as usize]);
                r /= alphabet.len() as u64;
                if r == 0 {
                    r = seed.rotate_left(23) | 1;
                }
            }
            out.push(t);
        }
        out
    }

    #[test]
    fn quick_path_reads_what_the_grammar_reads() {
        let mut quick_hits = 0;
        for t in tricky() {
            if let Some(l) = quick(t.as_bytes()) {
                quick_hits += 1;
                assert_eq!(scan(t.as_bytes()), Ok(l), "{t:?}");
            }
        }
        // The quick path takes the common shapes among them.
        assert!(quick_hits > 200, "{quick_hits}");
        for common in [
            "sip:service@127.0.0.1:5060",
            "sip:bob@biloxi.example.com;transport=tcp;lr",
            "sips:1212@gateway.com",
            "sip:127.0.0.1:5061",
        ] {
            assert!(quick(common.as_bytes()).is_some(), "{common}");
        }
    }

    #[test]
    fn parser_agrees_with_the_reference() {
        let sip_view = |u: Result<Uri, UriError>| u.map(|u| u.as_sip().map(view));
        for t in tricky() {
            let b = Bytes::from(t.clone());
            let expected = reference(&b, &b);
            let parsed = SipUri::parse_in(&b, &b);
            assert_eq!(parsed.as_ref().map(view).map_err(|e| *e), expected, "{t:?}");
            let scheme = t.split(':').next().unwrap_or_default();
            if !scheme.eq_ignore_ascii_case("sip") && !scheme.eq_ignore_ascii_case("sips") {
                continue;
            }
            let want = expected.map(Some);
            assert_eq!(SipUri::parse(&t).map(|u| Some(view(&u))), want, "{t:?}");
            assert_eq!(sip_view(t.parse::<Uri>()), want, "{t:?}");
            // Inside a larger buffer, as in a message, and outside it.
            let framed = Bytes::from(format!("Contact: <{t}>\r\n"));
            let part = &framed[10..10 + t.len()];
            assert_eq!(sip_view(Uri::parse_within(&framed, part)), want, "{t:?}");
            assert_eq!(sip_view(Uri::parse_within(&b, t.as_bytes())), want, "{t:?}");
            // A clone is equal, part by part.
            if let Ok(u) = &parsed {
                assert_eq!(view(&u.clone()), view(u));
                assert_eq!(&u.clone(), u);
            }
        }
    }

    fn p(s: &str) -> Result<SipUri, UriError> {
        SipUri::parse(s)
    }

    #[test]
    fn rfc3261_19_1_1_components() {
        let u = p("sip:alice:secretword@atlanta.com;transport=tcp").unwrap();
        assert_eq!(u.user(), Some("alice"));
        assert_eq!(u.password(), Some("secretword"));
        assert_eq!(u.host(), &Host::Domain("atlanta.com".into()));
        assert_eq!(u.transport(), Some("tcp"));
        let u = p("sip:+1-212-555-1212:1234@gateway.com;user=phone").unwrap();
        assert_eq!(u.user(), Some("+1-212-555-1212"));
        assert_eq!(u.user_param(), Some("phone"));
        let u = p("sip:atlanta.com;method=REGISTER?to=alice%40atlanta.com").unwrap();
        assert_eq!(u.method_param(), Some("REGISTER"));
        assert_eq!(
            u.header_unescaped("to").as_deref(),
            Some("alice@atlanta.com")
        );
        let u = p("sip:alice;day=tuesday@atlanta.com").unwrap();
        assert_eq!(u.user(), Some("alice;day=tuesday"));
        assert!(u.params().is_empty());
        let u = p("sips:1212@gateway.com:5061;maddr=239.255.255.1;ttl=15;lr").unwrap();
        assert!(u.is_secure() && u.lr());
        assert_eq!(
            (u.port(), u.maddr(), u.ttl()),
            (Some(5061), Some("239.255.255.1"), Some(15))
        );
    }

    #[test]
    fn rfc4475_3_1_1_2_unusual_user_and_password() {
        let u = p("sip:1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*:&it+has=1,weird!*pas$wo~d_too.(doesn't-it)@example.com").unwrap();
        assert_eq!(
            u.user(),
            Some("1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*")
        );
        assert_eq!(
            u.password(),
            Some("&it+has=1,weird!*pas$wo~d_too.(doesn't-it)")
        );
    }

    #[test]
    fn rejects_malformed() {
        for bad in [
            "sip:",
            "sip:@host",
            "sip:host:",
            "sip:host:99999",
            "sip:host:12a",
            "sip:ho st",
            "sip:host;",
            "sip:host;a=",
            "sip:host?x",
            "sip:user@host%4",
            "sip:2001:db8::10",
            "sip:[2001:db8::10",
            "sip:[2001:db8::10]x",
            "http:x",
        ] {
            assert!(p(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn builder_escapes_and_roundtrips() {
        let u = SipUri::builder("2001:db8::1")
            .user("I have spaces")
            .port(5070)
            .param("transport", Some("udp"))
            .param("lr", None)
            .build()
            .unwrap();
        assert_eq!(
            u.as_str(),
            "sip:I%20have%20spaces@[2001:db8::1]:5070;transport=udp;lr"
        );
        let again = u.to_builder().build().unwrap();
        assert_eq!(again, u);
    }
}
