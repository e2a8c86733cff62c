//! WWW-Authenticate, Proxy-Authenticate, Authorization and
//! Proxy-Authorization (RFC 3261 §20.7, §20.27, §20.28, §20.44; Digest
//! parameters of RFC 2617 / RFC 7616).

use std::borrow::Cow;
use std::fmt;

use bytes::Bytes;
use bytestring::ByteString;
use smallvec::SmallVec;

use super::TypedHeader;
use crate::header_name::HeaderName;
use crate::lex::{self, sep, skip_ws, token};

/// A challenge or credentials: `scheme LWS auth-param *(COMMA auth-param)`.
/// Parameter values are kept as written (quoted strings keep their quotes).
///
/// ```
/// use sip_message::headers::{AuthValue, TypedHeader, WwwAuthenticate};
/// let c = WwwAuthenticate::from_value(
///     r#"Digest realm="atlanta.com", nonce="84a4cc6f", qop="auth", algorithm=SHA-256, stale=FALSE"#)?;
/// assert!(c.is_digest());
/// assert_eq!(c.realm().as_deref(), Some("atlanta.com"));
/// assert_eq!(c.algorithm().as_deref(), Some("SHA-256"));
/// let creds = AuthValue::new("Digest")
///     .with_quoted("username", "alice")
///     .with_token("nc", "00000001");
/// assert_eq!(creds.to_string(), r#"Digest username="alice", nc=00000001"#);
/// # Ok::<(), sip_message::HeaderError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AuthValue {
    scheme: ByteString,
    params: SmallVec<[(ByteString, ByteString); 8]>,
}

impl AuthValue {
    /// An empty value of this scheme.
    pub fn new(scheme: &str) -> AuthValue {
        AuthValue {
            scheme: scheme.into(),
            params: SmallVec::new(),
        }
    }
    /// Adds a parameter whose value is written as a quoted string.
    pub fn with_quoted(mut self, name: &str, value: &str) -> Self {
        self.params.push((name.into(), lex::quote(value).into()));
        self
    }
    /// Adds a parameter whose value is written as a token.
    pub fn with_token(mut self, name: &str, value: &str) -> Self {
        self.params.push((name.into(), value.into()));
        self
    }
    /// The scheme (`Digest`).
    pub fn scheme(&self) -> &str {
        &self.scheme
    }
    /// True for the Digest scheme (case-insensitive).
    pub fn is_digest(&self) -> bool {
        self.scheme.eq_ignore_ascii_case("digest")
    }
    /// A parameter's value without quotes (names are case-insensitive).
    pub fn param(&self, name: &str) -> Option<Cow<'_, str>> {
        self.params
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| lex::unquote(v))
    }
    /// All parameters as written.
    pub fn params(&self) -> impl Iterator<Item = (&str, &str)> {
        self.params.iter().map(|(n, v)| (&**n, &**v))
    }
    /// `realm`
    pub fn realm(&self) -> Option<Cow<'_, str>> {
        self.param("realm")
    }
    /// `nonce`
    pub fn nonce(&self) -> Option<Cow<'_, str>> {
        self.param("nonce")
    }
    /// `opaque`
    pub fn opaque(&self) -> Option<Cow<'_, str>> {
        self.param("opaque")
    }
    /// `algorithm` (MD5 when absent, RFC 2617 §3.2.1)
    pub fn algorithm(&self) -> Option<Cow<'_, str>> {
        self.param("algorithm")
    }
    /// `qop` options (challenge) or the chosen qop (credentials).
    pub fn qop(&self) -> Vec<String> {
        self.param("qop")
            .map(|q| {
                q.split(',')
                    .map(|s| s.trim().to_owned())
                    .filter(|s| !s.is_empty())
                    .collect()
            })
            .unwrap_or_default()
    }
    /// `stale=TRUE`
    pub fn stale(&self) -> bool {
        self.param("stale")
            .is_some_and(|s| s.eq_ignore_ascii_case("true"))
    }
    /// `username`
    pub fn username(&self) -> Option<Cow<'_, str>> {
        self.param("username")
    }
    /// `response`
    pub fn response(&self) -> Option<Cow<'_, str>> {
        self.param("response")
    }

    fn decode_in(src: &Bytes, value: &[u8]) -> Option<AuthValue> {
        let v = skip_ws(value);
        let (r, scheme) = token(v).ok()?;
        let mut params = SmallVec::new();
        let mut r = skip_ws(r);
        while !r.is_empty() {
            let (rest, name) = token(r).ok()?;
            let (rest, ()) = sep(b'=')(rest).ok()?;
            let (rest, val) = if rest.first() == Some(&b'"') {
                lex::quoted_string(rest).ok()?
            } else {
                // token, plus "/" and "=" seen in the field (base64-ish opaque values)
                let n = rest
                    .iter()
                    .position(|b| !(lex::is_token(*b) || matches!(b, b'/' | b'=' | b':')))
                    .unwrap_or(rest.len());
                if n == 0 {
                    return None;
                }
                (&rest[n..], &rest[..n])
            };
            params.push((lex::text(src, name)?, lex::text(src, val)?));
            r = skip_ws(rest);
            if r.is_empty() {
                break;
            }
            r = sep(b',')(r).ok()?.0;
        }
        Some(AuthValue {
            scheme: lex::text(src, scheme)?,
            params,
        })
    }
}

impl fmt::Display for AuthValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.scheme)?;
        for (i, (n, v)) in self.params.iter().enumerate() {
            write!(f, "{}{n}={v}", if i == 0 { " " } else { ", " })?;
        }
        Ok(())
    }
}

macro_rules! auth_header {
    ($(#[$doc:meta])* $ty:ident, $name:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        pub struct $ty(pub AuthValue);

        impl std::ops::Deref for $ty {
            type Target = AuthValue;
            fn deref(&self) -> &AuthValue {
                &self.0
            }
        }
        impl TypedHeader for $ty {
            const NAME: HeaderName = $name;
            fn decode(src: &Bytes, value: &[u8]) -> Option<Self> {
                AuthValue::decode_in(src, value).map($ty)
            }
        }
        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }
    };
}

auth_header!(
    /// A challenge from a UAS or registrar (401).
    WwwAuthenticate, HeaderName::WwwAuthenticate);
auth_header!(
    /// A challenge from a proxy (407).
    ProxyAuthenticate, HeaderName::ProxyAuthenticate);
auth_header!(
    /// Credentials for a UAS or registrar.
    Authorization, HeaderName::Authorization);
auth_header!(
    /// Credentials for a proxy.
    ProxyAuthorization, HeaderName::ProxyAuthorization);
