//! SIP methods (RFC 3261 §7.1 and the extension RFCs).

use std::fmt;

use bytestring::ByteString;

/// A request method. Known methods are unit variants; any other `token`
/// is kept as [`Method::Other`] (RFC 3261 §25.1 `extension-method`).
/// Methods are case-sensitive (RFC 3261 §7.1).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Method {
    /// INVITE (RFC 3261)
    Invite,
    /// ACK (RFC 3261)
    Ack,
    /// BYE (RFC 3261)
    Bye,
    /// CANCEL (RFC 3261)
    Cancel,
    /// OPTIONS (RFC 3261)
    Options,
    /// REGISTER (RFC 3261)
    Register,
    /// PRACK (RFC 3262)
    Prack,
    /// SUBSCRIBE (RFC 6665)
    Subscribe,
    /// NOTIFY (RFC 6665)
    Notify,
    /// PUBLISH (RFC 3903)
    Publish,
    /// INFO (RFC 6086)
    Info,
    /// REFER (RFC 3515)
    Refer,
    /// MESSAGE (RFC 3428)
    Message,
    /// UPDATE (RFC 3311)
    Update,
    /// Any other method token.
    Other(ByteString),
}

impl Method {
    /// Recognises a known method; `None` for an extension method.
    pub fn known(b: &[u8]) -> Option<Method> {
        // The one a UA sees most, before the general match (a fixed-size
        // comparison, which compiles to two word compares).
        if b == b"INVITE" {
            return Some(Method::Invite);
        }
        Some(match b {
            b"INVITE" => Method::Invite,
            b"ACK" => Method::Ack,
            b"BYE" => Method::Bye,
            b"CANCEL" => Method::Cancel,
            b"OPTIONS" => Method::Options,
            b"REGISTER" => Method::Register,
            b"PRACK" => Method::Prack,
            b"SUBSCRIBE" => Method::Subscribe,
            b"NOTIFY" => Method::Notify,
            b"PUBLISH" => Method::Publish,
            b"INFO" => Method::Info,
            b"REFER" => Method::Refer,
            b"MESSAGE" => Method::Message,
            b"UPDATE" => Method::Update,
            _ => return None,
        })
    }

    /// Builds a method from its name; any token is accepted.
    ///
    /// Returns `None` if `s` is not a `token` (RFC 3261 §25.1).
    pub fn from_token(s: &str) -> Option<Method> {
        if s.is_empty() || !s.bytes().all(crate::lex::is_token) {
            return None;
        }
        Some(Method::known(s.as_bytes()).unwrap_or_else(|| Method::Other(ByteString::from(s))))
    }

    /// The method name as it goes on the wire.
    pub fn as_str(&self) -> &str {
        match self {
            Method::Invite => "INVITE",
            Method::Ack => "ACK",
            Method::Bye => "BYE",
            Method::Cancel => "CANCEL",
            Method::Options => "OPTIONS",
            Method::Register => "REGISTER",
            Method::Prack => "PRACK",
            Method::Subscribe => "SUBSCRIBE",
            Method::Notify => "NOTIFY",
            Method::Publish => "PUBLISH",
            Method::Info => "INFO",
            Method::Refer => "REFER",
            Method::Message => "MESSAGE",
            Method::Update => "UPDATE",
            Method::Other(s) => s,
        }
    }

    /// True for methods that can create a dialog (RFC 3261 §12, RFC 6665, RFC 3515).
    pub fn creates_dialog(&self) -> bool {
        matches!(
            self,
            Method::Invite | Method::Subscribe | Method::Refer | Method::Notify
        )
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Method {
    type Err = crate::error::HeaderError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Method::from_token(s).ok_or(crate::error::HeaderError::Malformed {
            name: crate::HeaderName::CSeq,
            offset: 0,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::Method;

    #[test]
    fn known_methods_are_recognised_exactly() {
        let known = [
            "INVITE",
            "ACK",
            "BYE",
            "CANCEL",
            "OPTIONS",
            "REGISTER",
            "PRACK",
            "SUBSCRIBE",
            "NOTIFY",
            "PUBLISH",
            "INFO",
            "REFER",
            "MESSAGE",
            "UPDATE",
        ];
        for m in known {
            let got = Method::known(m.as_bytes()).expect(m);
            assert_eq!(got.as_str(), m);
        }
        // Method names are case-sensitive (RFC 3261 §7.1); near misses are
        // extension methods.
        for m in [
            "invite", "Invite", "INVITEX", "INVIT", "INVITF", "JNVITE", "INVI\0E", "",
        ] {
            assert_eq!(Method::known(m.as_bytes()), None, "{m:?}");
        }
    }
}
