//! What every transport does with received bytes: parse, apply the Via
//! rules, hand up.

use std::net::SocketAddr;

use bytes::Bytes;
use sip_message::headers::Transport as Kind;
use sip_message::Message;
use tracing::{debug, trace};

use crate::inbound::{ConnectionId, Inbound};
use crate::stats::inc;
use crate::transport::Shared;
use crate::via;

/// Parses one message and turns it into an [`Inbound`], or drops it with a
/// log line and a counter. `None` means dropped. The caller counts it as
/// received once it is handed up.
pub(crate) fn accept(
    shared: &Shared,
    bytes: Bytes,
    kind: Kind,
    local: SocketAddr,
    remote: SocketAddr,
    connection: Option<ConnectionId>,
) -> Option<Inbound> {
    let msg = match Message::parse_with(bytes, &shared.config.parse_limits) {
        Ok(m) => m,
        Err(e) => {
            inc(&shared.counters.parse_errors);
            debug!(%remote, %kind, error = %e, "dropping unparsable message");
            return None;
        }
    };
    trace!(%remote, %local, %kind, message = ?msg, "received");
    let msg = if msg.is_request() {
        match via::stamp_received(msg, remote) {
            Ok(m) => m,
            Err(e) => {
                inc(&shared.counters.parse_errors);
                debug!(%remote, error = %e, "dropping request with unusable Via");
                return None;
            }
        }
    } else {
        // §18.3: a UDP response shorter than its Content-Length is discarded
        // (a request goes up: the UA answers it 400).
        if connection.is_none()
            && msg
                .content_length()
                .is_some_and(|n| msg.body_bytes().len() < n as usize)
        {
            inc(&shared.counters.parse_errors);
            debug!(%remote, "dropping UDP response shorter than its Content-Length (RFC 3261 §18.3)");
            return None;
        }
        // §18.1.2: the sent-by we put in the request. A connection opened
        // without a listener used its own address.
        let ours = via::response_is_ours_among(&msg, &shared.sent_by)
            || (connection.is_some() && via::response_is_ours(&msg, &[local]));
        if !ours {
            inc(&shared.counters.dropped_responses);
            debug!(%remote, "dropping response whose top Via is not ours (RFC 3261 §18.1.2)");
            return None;
        }
        msg
    };
    Some(Inbound {
        message: msg,
        transport: kind,
        local,
        remote,
        connection,
    })
}
