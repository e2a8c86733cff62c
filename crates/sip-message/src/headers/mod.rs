//! Typed headers, decoded on demand from a [`Message`](crate::Message).
//!
//! Each type implements [`TypedHeader`]: its name, whether the header is a
//! comma-separated list (then one value of the type is one element of the
//! list), and how to decode one value. Decoded text fields are views of
//! the message buffer ([`bytestring::ByteString`]), not copies.
//!
//! ```
//! use sip_message::{Message, headers::{Contact, Via, CSeq}};
//! let msg = Message::parse(&b"REGISTER sip:example.com SIP/2.0\r\n\
//! Via: SIP/2.0/UDP a.example.com;branch=z9hG4bK1, SIP/2.0/TCP b.example.com;branch=z9hG4bK2\r\n\
//! m: <sip:alice@192.0.2.1>;expires=60, <sip:alice@192.0.2.2>;q=0.5\r\n\
//! CSeq: 7 REGISTER\r\nContent-Length: 0\r\n\r\n"[..])?;
//! let vias: Vec<Via> = msg.get_all::<Via>().collect::<Result<_, _>>()?;
//! assert_eq!(vias[1].branch(), Some("z9hG4bK2"));
//! let contacts: Vec<Contact> = msg.get_all::<Contact>().collect::<Result<_, _>>()?;
//! assert_eq!(contacts[0].expires(), Some(60));
//! assert_eq!(msg.get::<CSeq>()?.seq(), 7);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod auth;
mod cseq;
mod date;
mod event;
mod media;
mod name_addr;
mod reason;
mod simple;
mod timers;
mod via;

use bytes::Bytes;

pub use auth::{AuthValue, Authorization, ProxyAuthenticate, ProxyAuthorization, WwwAuthenticate};
pub use cseq::{CSeq, RAck};
pub use date::Date;
pub use event::{Event, SubState, SubscriptionState, TerminationReason};
pub use media::{Accept, ContentType, MediaType};
pub use name_addr::{
    name_addr_uri, plain_name_addr, Contact, From, NameAddr, Path, RecordRoute, ReferTo, Route, To,
};
pub use reason::Reason;
pub use simple::{
    Allow, AllowEvents, CallId, ContentLength, Expires, MaxForwards, MinExpires, ProxyRequire,
    RSeq, Require, SipETag, SipIfMatch, Supported, Unsupported,
};
pub use timers::{MinSE, Refresher, RetryAfter, SessionExpires};
pub use via::{Rport, Transport, Via, MAGIC_COOKIE};

pub(crate) use cseq::raw_cseq;
pub(crate) use name_addr::eager_tag;
pub(crate) use via::{rport_of, scan_via};

use crate::error::HeaderError;
use crate::header_name::HeaderName;

/// A header with a typed form.
pub trait TypedHeader: Sized {
    /// The header this type decodes.
    const NAME: HeaderName;
    /// True if the header's value is a comma-separated list (RFC 3261
    /// §7.3.1); one value of `Self` is then one element.
    const LIST: bool = false;
    /// True if the header may be present with an empty value (e.g.
    /// `Supported:`), which then holds no element.
    const EMPTY_OK: bool = false;

    /// Decodes one value. `value` is a slice of `src`; text fields of the
    /// result may keep views of `src`.
    fn decode(src: &Bytes, value: &[u8]) -> Option<Self>;

    /// Appends the value's wire form to `out`. The default goes through
    /// `Display`; the common headers write their bytes directly.
    fn encode_value(&self, out: &mut Vec<u8>)
    where
        Self: std::fmt::Display,
    {
        use std::io::Write as _;
        let _ = write!(out, "{self}");
    }

    /// Decodes one value from text (a single element for list headers).
    fn from_value(s: &str) -> Result<Self, HeaderError> {
        let b = Bytes::copy_from_slice(s.as_bytes());
        Self::decode(&b, &b).ok_or(HeaderError::malformed(Self::NAME, 0))
    }
}

/// `token *( SEMI generic-param )` as a whole value: the shape of Event,
/// Subscription-State, Reason, Session-Expires and others.
pub(crate) fn token_and_params(
    src: &Bytes,
    value: &[u8],
) -> Option<(bytestring::ByteString, crate::params::Params)> {
    let v = crate::lex::skip_ws(value);
    let (r, t) = crate::lex::token(v).ok()?;
    let mut raw = smallvec::SmallVec::new();
    let (r, ()) = crate::lex::params(r, &mut raw).ok()?;
    if !crate::lex::skip_ws(r).is_empty() {
        return None;
    }
    Some((
        crate::lex::text(src, t)?,
        crate::params::Params::from_raw(src, &raw)?,
    ))
}
