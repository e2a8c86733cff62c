//! # sip-message
//!
//! The bottom layer of the stack: a zero-copy SIP message parser (RFC 3261
//! §7, §25), URIs (§19), typed headers, stream framing (§18.3), a builder
//! and serializer for outgoing messages, and the checks a UA runs after
//! parsing (§8.2). No I/O, no clock.
//!
//! ## Parsing
//!
//! [`Message::parse`] takes the received [`bytes::Bytes`] and keeps them:
//! header values, URI parts and the body are views, not copies. What the
//! transaction and dialog layers match on is decoded at once; the rest on
//! demand.
//!
//! ```
//! use sip_message::{Message, headers::{Via, To}};
//!
//! let msg = Message::parse(&b"SIP/2.0 180 Ringing\r\n\
//! v: SIP/2.0/UDP 192.0.2.4;branch=z9hG4bKnashds8;received=192.0.2.4\r\n\
//! t: Bob <sip:bob@biloxi.com>;tag=a6c85cf\r\n\
//! f: Alice <sip:alice@atlanta.com>;tag=1928301774\r\n\
//! i: a84b4c76e66710\r\n\
//! CSeq: 314159 INVITE\r\n\
//! l: 0\r\n\r\n"[..])?;
//!
//! assert_eq!(msg.status(), Some(180));
//! assert_eq!(msg.to_tag(), Some("a6c85cf"));
//! let to = msg.get::<To>()?;
//! assert_eq!(to.display_name().as_deref(), Some("Bob"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! ## Building
//!
//! ```
//! use sip_message::{Method, RequestBuilder, ResponseBuilder, Message};
//! use sip_message::headers::{Via, Transport, CSeq, MaxForwards};
//! use sip_message::uri::{Host, SipUri};
//!
//! let uri = SipUri::parse("sip:bob@biloxi.com")?;
//! let bytes = RequestBuilder::new(Method::Invite, &uri.into())
//!     .header(&Via::new(Transport::Udp, Host::from_text("pc33.atlanta.com").unwrap(), None, "z9hG4bK776asdhds"))
//!     .header(&MaxForwards(70))
//!     .raw_header("To", "Bob <sip:bob@biloxi.com>")
//!     .raw_header("From", "Alice <sip:alice@atlanta.com>;tag=1928301774")
//!     .raw_header("Call-ID", "a84b4c76e66710@pc33.atlanta.com")
//!     .header(&CSeq::new(314159, Method::Invite))
//!     .body("application/sdp", "v=0\r\n")
//!     .encode();
//! let invite = Message::parse(bytes)?;
//! assert_eq!(invite.content_length(), Some(5));
//!
//! // RFC 3261 §8.2.6: a response copies Via, From, To, Call-ID and CSeq.
//! let ringing = ResponseBuilder::from_request(&invite, 180).with_to_tag("a6c85cf").build()?;
//! assert_eq!(ringing.reason_phrase().as_deref(), Some("Ringing"));
//! assert_eq!(ringing.top_via().unwrap().branch(), Some("z9hG4bK776asdhds"));
//! assert_eq!(ringing.to_tag(), Some("a6c85cf"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs, unreachable_pub)]

mod builder;
pub mod encode;
mod error;
pub mod framing;
pub mod hash;
mod header_name;
pub mod headers;
mod lex;
mod limits;
mod message;
mod method;
pub mod params;
pub mod uri;
pub mod validate;

pub use builder::{reason_phrase, RequestBuilder, ResponseBuilder};
pub use error::{HeaderError, ParseError, ParseErrorKind, UriError};
pub use header_name::HeaderName;
pub use lex::{quote, unquote};
pub use limits::ParseLimits;
pub use message::{HeaderRef, Message, SyntaxError, TopVia, Version, ViaEditError};
pub use method::Method;
pub use uri::Uri;
