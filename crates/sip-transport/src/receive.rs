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
/// log line and a counter. `None` means dropped.
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
        if !via::response_is_ours(&msg, &shared.sent_by) {
            inc(&shared.counters.dropped_responses);
            debug!(%remote, "dropping response whose top Via is not ours (RFC 3261 §18.1.2)");
            return None;
        }
        msg
    };
    inc(&shared.counters.received);
    Some(Inbound {
        message: msg,
        transport: kind,
        local,
        remote,
        connection,
    })
}
