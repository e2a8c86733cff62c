//! Server transactions (RFC 3261 §17.2, RFC 6026 §7.1).
//!
//! INVITE server transaction (RFC 3261 Figure 7, as updated by RFC 6026
//! Figure 5):
//!
//! ```text
//!                                    |INVITE
//!                                    |pass INV to TU
//!                 INVITE             V send 100 if TU won't in 200 ms
//!                 send response+------------+
//!                     +--------|            |--------+ 101-199 from TU
//!                     |        |            |        | send response
//!                     +------->|            |<-------+
//!                              | Proceeding |
//!                              |            |--------+ Transport Err.
//!                              |            |        | Inform TU
//!                              |            |<-------+
//!                              +------------+
//!                 300-699 from TU |    |2xx from TU
//!                 send response   |    |send response
//!                  +--------------+    +------------+
//!                  |                                |
//! INVITE           V          Timer G fires         |
//! send response +-----------+ send response         |
//!      +--------|           |--------+              |
//!      |        |           |        |              |
//!      +------->| Completed |<-------+      INVITE  |  Transport Err.
//!               |           |               -       |  Inform TU
//!      +--------|           |----+          +-----+ |  +---+
//!      |        +-----------+    | ACK      |     v v  |   v
//!      |          ^   |          | -        |  +------------+
//!      |          |   |          |          |  |            |---+ ACK
//!      +----------+   |          |          +--|  Accepted  |   | to TU
//!      Transport Err. |          |             |            |<--+
//!      Inform TU      |          V             +------------+
//!                     |      +-----------+        |  ^     |
//!                     |      |           |        |  |     |
//!                     |      | Confirmed |        |  +-----+
//!                     |      |           |        |  2xx from TU
//!       Timer H fires |      +-----------+        |  send response
//!       -             |          |                |
//!                     |          | Timer I fires  |
//!                     |          | -              | Timer L fires
//!                     |          V                | -
//!                     |        +------------+     |
//!                     |        |            |<----+
//!                     +------->| Terminated |
//!                              |            |
//!                              +------------+
//! ```
//!
//! non-INVITE server transaction (RFC 3261 Figure 8):
//!
//! ```text
//!                                   |Request received
//!                                   |pass to TU
//!                                   V
//!                             +-----------+
//!                             |           |
//!                             | Trying    |-------------+
//!                             |           |             |
//!                             +-----------+             |200-699 from TU
//!                                   |                   |send response
//!                                   |1xx from TU        |
//!                                   |send response      |
//!                                   |                   |
//!                Request            V      1xx from TU  |
//!                send response+-----------+send response|
//!                    +--------|           |--------+    |
//!                    |        | Proceeding|        |    |
//!                    +------->|           |<-------+    |
//!             +<--------------|           |             |
//!             |Trnsprt Err    +-----------+             |
//!             |Inform TU            |                   |
//!             |                     |                   |
//!             |                     |200-699 from TU    |
//!             |                     |send response      |
//!             |  Request            V                   |
//!             |  send response+-----------+             |
//!             |      +--------|           |             |
//!             |      |        | Completed |<------------+
//!             |      +------->|           |
//!             +<--------------|           |
//!             |Trnsprt Err    +-----------+
//!             |Inform TU            |
//!             |                     |Timer J fires
//!             |                     |-
//!             |                     |
//!             |                     V
//!             |               +-----------+
//!             |               |           |
//!             +-------------->| Terminated|
//!                             |           |
//!                             +-----------+
//! ```

use std::time::Duration;

use sip_message::{Message, ResponseBuilder};
use sip_transport::ConnectionId;

use crate::effects::Effects;
use crate::error::TransactionError;
use crate::id::ServerKey;
use crate::output::{Source, TransactionEvent, Transmit};
use crate::timer::{Timer, TRYING_DELAY};

/// States of a server transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ServerState {
    /// non-INVITE: request received, no response yet.
    Trying,
    /// A provisional was sent (INVITE starts here).
    Proceeding,
    /// A final (non-2xx for INVITE) was sent.
    Completed,
    /// INVITE: the ACK for the non-2xx came.
    Confirmed,
    /// INVITE: a 2xx was sent (RFC 6026).
    Accepted,
    /// Done.
    Terminated,
}

impl ServerState {
    pub(crate) fn name(self) -> &'static str {
        match self {
            ServerState::Trying => "Trying",
            ServerState::Proceeding => "Proceeding",
            ServerState::Completed => "Completed",
            ServerState::Confirmed => "Confirmed",
            ServerState::Accepted => "Accepted",
            ServerState::Terminated => "Terminated",
        }
    }
}

pub(crate) struct Server {
    pub(crate) key: ServerKey,
    pub(crate) invite: bool,
    pub(crate) state: ServerState,
    /// The request as received; let go once a final response leaves
    /// nothing that could need it (a non-INVITE's, or an INVITE's non-2xx:
    /// no other response can follow, and retransmissions are answered
    /// with the kept response), so that Timer J (64*T1 over UDP) does not
    /// keep every request a UAS answered. An INVITE answered 2xx keeps it
    /// until the ACK: the TU's 2xx retransmissions pass the extensions
    /// with it (RFC 6026 §7.1).
    pub(crate) request: Option<Message>,
    pub(crate) source: Source,
    reliable: bool,
    last: Option<Message>,
    interval: Duration,
    /// To tag of the final response (RFC 2543 ACK matching, §17.2.3).
    pub(crate) to_tag: Option<String>,
}

impl Server {
    pub(crate) fn new(key: ServerKey, request: Message, source: Source) -> Server {
        let invite = request.method() == Some(&sip_message::Method::Invite);
        Server {
            key,
            invite,
            state: if invite {
                ServerState::Proceeding
            } else {
                ServerState::Trying
            },
            reliable: source.transport.is_reliable(),
            request: Some(request),
            source,
            last: None,
            interval: Duration::ZERO,
            to_tag: None,
        }
    }

    fn connection(&self) -> Option<ConnectionId> {
        self.source.connection
    }

    fn resend_last(&self, fx: &mut Effects<'_>) {
        if let Some(r) = &self.last {
            fx.transmit(Transmit::Response {
                id: fx.id,
                message: r.clone(),
                connection: self.connection(),
            });
        }
    }

    /// §17.2.1: an INVITE server transaction sends 100 (Trying) unless the
    /// TU answers within 200 ms: it waits [`TRYING_DELAY`] for the TU.
    pub(crate) fn start(&mut self, fx: &mut Effects<'_>) {
        if self.invite {
            fx.arm(Timer::Trying, TRYING_DELAY);
        }
    }

    /// The 100 (Trying) of an INVITE the TU has not answered yet.
    fn send_trying(&mut self, fx: &mut Effects<'_>) {
        if self.last.is_some() {
            return;
        }
        let Some(request) = &self.request else {
            return;
        };
        if let Ok(trying) = ResponseBuilder::from_request(request, 100).build() {
            self.last = Some(trying.clone());
            fx.transmit(Transmit::Response {
                id: fx.id,
                message: trying,
                connection: self.connection(),
            });
        }
    }

    /// A retransmission of the request.
    pub(crate) fn on_retransmission(&mut self, fx: &mut Effects<'_>) {
        match self.state {
            // The client retransmits before the TU answered: 100 now.
            ServerState::Proceeding if self.invite && self.last.is_none() => {
                fx.disarm(Timer::Trying);
                self.send_trying(fx);
            }
            // §17.2.1: Proceeding and Completed re-send the last response.
            ServerState::Proceeding | ServerState::Completed => self.resend_last(fx),
            // §17.2.2: Trying absorbs; Confirmed, Accepted absorb (RFC 6026 §8.7).
            _ => {}
        }
    }

    /// An ACK matching this INVITE transaction.
    pub(crate) fn on_ack(&mut self, fx: &mut Effects<'_>, ack: Message, source: Source) {
        match self.state {
            ServerState::Completed => {
                fx.disarm(Timer::G);
                fx.disarm(Timer::H);
                self.state = ServerState::Confirmed;
                let i = if self.reliable {
                    Duration::ZERO
                } else {
                    fx.config.t4
                };
                fx.arm(Timer::I, i);
            }
            // RFC 6026 §8.7: in Accepted the ACK (for the 2xx) goes to the TU,
            // which then stops retransmitting the 2xx: the INVITE is not
            // needed for the rest of Timer L.
            ServerState::Accepted => {
                self.request = None;
                fx.event(TransactionEvent::Ack {
                    request: ack,
                    source,
                })
            }
            _ => {}
        }
    }

    /// A response from the TU.
    pub(crate) fn send_response(
        &mut self,
        fx: &mut Effects<'_>,
        resp: Message,
    ) -> Result<(), TransactionError> {
        let code = resp
            .status()
            .ok_or(TransactionError::WrongKind("not a response"))?;
        let id = fx.id;
        let invalid = |s: ServerState| TransactionError::InvalidState {
            id,
            state: s.name(),
            action: "send this response",
        };
        let transmit = |fx: &mut Effects<'_>, m: &Message, c| {
            fx.transmit(Transmit::Response {
                id: fx.id,
                message: m.clone(),
                connection: c,
            })
        };
        let conn = self.connection();
        if self.invite {
            // The TU answered: no 100 of our own.
            fx.disarm(Timer::Trying);
            match (self.state, code) {
                (ServerState::Proceeding, 100..=199) => {}
                (ServerState::Proceeding, 200..=299) => {
                    // RFC 6026 §7.1: Accepted, Timer L; the TU retransmits the
                    // 2xx, and INVITE retransmissions are absorbed (§8.7), so
                    // the transaction keeps no response.
                    self.state = ServerState::Accepted;
                    self.last = None;
                    fx.arm(Timer::L, fx.config.t1x64());
                    transmit(fx, &resp, conn);
                    return Ok(());
                }
                (ServerState::Accepted, 200..=299) => {
                    transmit(fx, &resp, conn);
                    return Ok(());
                }
                (ServerState::Proceeding, 300..=699) => {
                    self.state = ServerState::Completed;
                    self.request = None;
                    self.to_tag = resp.to_tag().map(str::to_owned);
                    if !self.reliable {
                        self.interval = fx.config.t1;
                        fx.arm(Timer::G, self.interval);
                    }
                    fx.arm(Timer::H, fx.config.t1x64());
                }
                (s, _) => return Err(invalid(s)),
            }
        } else {
            match (self.state, code) {
                (ServerState::Trying | ServerState::Proceeding, 100..=199) => {
                    self.state = ServerState::Proceeding;
                }
                (ServerState::Trying | ServerState::Proceeding, 200..=699) => {
                    self.state = ServerState::Completed;
                    self.request = None;
                    let j = if self.reliable {
                        Duration::ZERO
                    } else {
                        fx.config.t1x64()
                    };
                    fx.arm(Timer::J, j);
                }
                (s, _) => return Err(invalid(s)),
            }
        }
        transmit(fx, &resp, conn);
        self.last = Some(resp);
        Ok(())
    }

    /// Returns true when the transaction is now Terminated.
    pub(crate) fn on_timer(&mut self, fx: &mut Effects<'_>, t: Timer) -> bool {
        match (t, self.state) {
            (Timer::Trying, ServerState::Proceeding) => self.send_trying(fx),
            (Timer::G, ServerState::Completed) => {
                // §17.2.1: T1, 2T1 ... capped at T2.
                self.resend_last(fx);
                self.interval = (self.interval * 2).min(fx.config.t2);
                fx.arm(Timer::G, self.interval);
            }
            (Timer::H, ServerState::Completed) => {
                fx.disarm(Timer::G);
                self.state = ServerState::Terminated;
                fx.event(TransactionEvent::AckTimeout { id: fx.id });
            }
            (Timer::I, ServerState::Confirmed)
            | (Timer::J, ServerState::Completed)
            | (Timer::L, ServerState::Accepted) => {
                self.state = ServerState::Terminated;
            }
            _ => {}
        }
        self.state == ServerState::Terminated
    }

    /// §17.2.4: the TU is informed and the transaction ends.
    pub(crate) fn on_transport_error(&mut self, fx: &mut Effects<'_>) {
        for t in [
            Timer::Trying,
            Timer::G,
            Timer::H,
            Timer::I,
            Timer::J,
            Timer::L,
        ] {
            fx.disarm(t);
        }
        self.state = ServerState::Terminated;
        fx.event(TransactionEvent::TransportError { id: fx.id });
    }
}
