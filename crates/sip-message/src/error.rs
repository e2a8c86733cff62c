//! Error types of the parser and of typed header access.
//!
//! Both are small `Copy` values: no `String` is built on the parse path
//! (design-notes §2.5). The byte offset points into the message buffer.

use crate::header_name::HeaderName;

/// What went wrong while parsing a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ParseErrorKind {
    /// The input is empty or holds only line breaks.
    Empty,
    /// The blank line that ends the header section is missing.
    Incomplete,
    /// The Request-Line or Status-Line does not follow RFC 3261 §7.1/§7.2.
    StartLine,
    /// A status code outside 100..=699 (RFC 3261 §7.2: 3DIGIT, first digit 1-6).
    StatusCode,
    /// The Request-URI is malformed (RFC 3261 §7.1, §19.1).
    RequestUri,
    /// A header line has no valid name or no colon.
    HeaderName,
    /// A header that is decoded eagerly has a malformed value.
    HeaderValue(HeaderName),
    /// A bare CR or LF that is not part of a CRLF or a line fold.
    LineEnding,
    /// More header lines than [`ParseLimits::max_headers`](crate::ParseLimits).
    TooManyHeaders,
    /// More Via values than [`ParseLimits::max_vias`](crate::ParseLimits).
    TooManyVias,
    /// A line longer than [`ParseLimits::max_line_length`](crate::ParseLimits).
    LineTooLong,
    /// The message or its header section exceeds the configured size limits.
    TooLarge,
    /// Content-Length is not `1*DIGIT` or does not fit 32 bits.
    ContentLength,
    /// Two Content-Length headers disagree (stream framing cannot proceed).
    ConflictingContentLength,
}

/// A message could not be parsed: the kind and the byte offset where it was noticed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
#[error("SIP parse error: {kind:?} at byte {offset}")]
pub struct ParseError {
    /// What went wrong.
    pub kind: ParseErrorKind,
    /// Offset in the message buffer.
    pub offset: u32,
}

impl ParseError {
    pub(crate) fn new(kind: ParseErrorKind, offset: usize) -> Self {
        Self {
            kind,
            offset: u32::try_from(offset).unwrap_or(u32::MAX),
        }
    }
}

/// A typed header could not be read from a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
#[non_exhaustive]
pub enum HeaderError {
    /// The message has no such header.
    #[error("header {0} is missing")]
    Missing(HeaderName),
    /// The header is present but its value does not follow its grammar.
    #[error("header {name} is malformed at byte {offset} of its value")]
    Malformed {
        /// The header.
        name: HeaderName,
        /// Offset inside the header value.
        offset: u32,
    },
}

impl HeaderError {
    pub(crate) fn malformed(name: HeaderName, offset: usize) -> Self {
        HeaderError::Malformed {
            name,
            offset: u32::try_from(offset).unwrap_or(u32::MAX),
        }
    }
}

/// A URI could not be parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
#[error("malformed URI at byte {offset}")]
pub struct UriError {
    /// Offset in the URI text where the problem was found.
    pub offset: u32,
}

impl UriError {
    pub(crate) fn at(offset: usize) -> Self {
        UriError {
            offset: u32::try_from(offset).unwrap_or(u32::MAX),
        }
    }
}
