//! Reason (RFC 3326).

use std::fmt;

use bytes::Bytes;
use bytestring::ByteString;

use super::{token_and_params, TypedHeader};
use crate::header_name::HeaderName;
use crate::lex;
use crate::params::Params;

/// One reason-value: `protocol *(;cause=N|;text="..."|;param)`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Reason {
    protocol: ByteString,
    params: Params,
}

impl Reason {
    /// A reason with cause and optional text, e.g. `("SIP", 200, Some("Call completed elsewhere"))`.
    pub fn new(protocol: &str, cause: u16, text: Option<&str>) -> Reason {
        let mut params = Params::new();
        params.set("cause", Some(&cause.to_string()));
        if let Some(t) = text {
            params.set("text", Some(&lex::quote(t)));
        }
        Reason {
            protocol: protocol.into(),
            params,
        }
    }
    /// The protocol (`SIP`, `Q.850`, ...).
    pub fn protocol(&self) -> &str {
        &self.protocol
    }
    /// `cause`.
    pub fn cause(&self) -> Option<u16> {
        self.params
            .value("cause")
            .and_then(|v| lex::number(v.as_bytes()))
    }
    /// `text`, unquoted.
    pub fn text(&self) -> Option<std::borrow::Cow<'_, str>> {
        self.params.get("text").and_then(|p| p.unquoted())
    }
    /// All parameters.
    pub fn params(&self) -> &Params {
        &self.params
    }
}

impl TypedHeader for Reason {
    const NAME: HeaderName = HeaderName::Reason;
    const LIST: bool = true;
    fn decode(src: &Bytes, value: &[u8]) -> Option<Self> {
        let (protocol, params) = token_and_params(src, value)?;
        Some(Reason { protocol, params })
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}", self.protocol, self.params)
    }
}
