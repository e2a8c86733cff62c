//! Client transactions (RFC 3261 §17.1, RFC 6026 §7.2).
//!
//! INVITE client transaction (RFC 3261 Figure 5, as updated by RFC 6026
//! Figure 3):
//!
//! ```text
//!                                |INVITE from TU
//!              Timer A fires     |INVITE sent
//!              Reset A,          V                      Timer B fires
//!              INVITE sent +-----------+                or Transport Err.
//!                +---------|           |---------------+inform TU
//!                |         |  Calling  |               |
//!                +-------->|           |-------------->|
//!                          +-----------+ 2xx           |
//!                             |  |       2xx to TU     |
//!                             |  |1xx                  |
//!     300-699 +---------------+  |1xx to TU            |
//!    ACK sent |                  |                     |
//! resp. to TU |  1xx             V                     |
//!             |  1xx to TU  -----------+               |
//!             |  +---------|           |               |
//!             |  |         |Proceeding |-------------->|
//!             |  +-------->|           | 2xx           |
//!             |            +-----------+ 2xx to TU     |
//!             |       300-699    |                     |
//!             |       ACK sent,  |                     |
//!             |       resp. to TU|                     |
//!             |                  |                     |
//!             |                  V                     |
//!             |            +-----------+               |
//!             |            |           |               |
//!             +----------->| Completed |               |
//!           300-699        |           |               |
//!           ACK sent       +-----------+               |
//!                            |  ^   |                  |
//!                            |  |   | Timer D fires    |
//!                            +--+   | -                |
//!                                   |     +-----------+|  2xx
//!                                   |     |           ||  2xx to TU
//!                                   |     | Accepted  |<+ (from Calling
//!                                   |     |           |   or Proceeding)
//!                                   |     +-----------+
//!                                   |       |  ^   Timer M fires
//!                                   |  2xx  +--+   |
//!                                   |  2xx to TU   |
//!                                   V              V
//!                             +------------------------+
//!                             |       Terminated       |
//!                             +------------------------+
//! ```
//!
//! non-INVITE client transaction (RFC 3261 Figure 6):
//!
//! ```text
//!                                    |Request from TU
//!                                    |send request
//!                Timer E             V
//!                send request  +-----------+
//!                    +---------|           |-------------------+
//!                    |         |  Trying   |  Timer F          |
//!                    +-------->|           |  or Transport Err.|
//!                              +-----------+  inform TU        |
//!                 200-699         |  |                         |
//!                 resp. to TU     |  |1xx                      |
//!                 +---------------+  |resp. to TU              |
//!                 |                  |                         |
//!                 |   Timer E        V       Timer F           |
//!                 |   send req +-----------+ or Transport Err. |
//!                 |  +---------|           | inform TU         |
//!                 |  |         |Proceeding |------------------>|
//!                 |  +-------->|           |-----+             |
//!                 |            +-----------+     |1xx          |
//!                 |              |      ^        |resp to TU   |
//!                 | 200-699      |      +--------+             |
//!                 | resp. to TU  |                             |
//!                 |              |                             |
//!                 |              V                             |
//!                 |            +-----------+                   |
//!                 |            |           |                   |
//!                 |            | Completed |                   |
//!                 |            |           |                   |
//!                 |            +-----------+                   |
//!                 |              ^   |                         |
//!                 |              |   | Timer K                 |
//!                 +--------------+   | -                       |
//!                                    |                         |
//!                                    V                         |
//!              NOTE:           +-----------+                   |
//!                              |           |                   |
//!          transitions         | Terminated|<------------------+
//!          labeled with        |           |
//!          the event           +-----------+
//!          over the action
//!          to take
//! ```

use std::time::Duration;

use sip_message::Message;
use sip_transport::Target;

use crate::effects::Effects;
use crate::id::{ClientKey, TransactionId};
use crate::output::{TransactionEvent, Transmit};
use crate::timer::Timer;

/// States of a client transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ClientState {
    /// INVITE sent, nothing back yet.
    Calling,
    /// non-INVITE request sent, nothing back yet.
    Trying,
    /// A provisional response came.
    Proceeding,
    /// A 2xx to INVITE came (RFC 6026).
    Accepted,
    /// A final response came (non-2xx for INVITE).
    Completed,
    /// A CANCEL waiting for a provisional response to its INVITE (§9.1);
    /// nothing has been sent yet.
    Held,
    /// Done.
    Terminated,
}

impl ClientState {
    pub(crate) fn name(self) -> &'static str {
        match self {
            ClientState::Calling => "Calling",
            ClientState::Trying => "Trying",
            ClientState::Proceeding => "Proceeding",
            ClientState::Accepted => "Accepted",
            ClientState::Completed => "Completed",
            ClientState::Held => "Held",
            ClientState::Terminated => "Terminated",
        }
    }
}

pub(crate) struct Client {
    pub(crate) key: ClientKey,
    pub(crate) invite: bool,
    pub(crate) state: ClientState,
    /// The request as sent; dropped once nothing can need it again (no
    /// retransmission, ACK or CANCEL in Accepted or Completed): otherwise a
    /// call's INVITE and BYE would stay in memory through Timer M and K.
    pub(crate) request: Option<Message>,
    pub(crate) target: Target,
    pub(crate) reliable: bool,
    /// Current interval of Timer A or E.
    interval: Duration,
    /// The ACK for a non-2xx final, re-sent on each retransmission of it.
    ack: Option<Message>,
    /// A CANCEL held until this INVITE gets a provisional (§9.1).
    pub(crate) held_cancel: Option<TransactionId>,
    /// A CANCEL of this INVITE went out: Timer B bounds the wait for the
    /// final response again (§9.1), and provisionals no longer stop it.
    cancelled: bool,
}

impl Client {
    pub(crate) fn new(key: ClientKey, request: Message, target: Target, held: bool) -> Client {
        let invite = key.method == sip_message::Method::Invite;
        let reliable = target.transport.is_reliable();
        Client {
            key,
            invite,
            state: if held {
                ClientState::Held
            } else if invite {
                ClientState::Calling
            } else {
                ClientState::Trying
            },
            request: Some(request),
            target,
            reliable,
            interval: Duration::ZERO,
            ack: None,
            held_cancel: None,
            cancelled: false,
        }
    }

    fn send_request(&self, fx: &mut Effects<'_>) {
        if let Some(request) = &self.request {
            fx.transmit(Transmit::Request {
                id: fx.id,
                message: request.clone(),
                target: self.target.clone(),
            });
        }
    }

    /// Sends the request and starts the timers (§17.1.1.2, §17.1.2.2).
    pub(crate) fn start(&mut self, fx: &mut Effects<'_>) {
        if self.state == ClientState::Held {
            self.state = ClientState::Trying;
        }
        self.send_request(fx);
        self.interval = fx.config.t1;
        let (retransmit, timeout) = if self.invite {
            (Timer::A, Timer::B)
        } else {
            (Timer::E, Timer::F)
        };
        if !self.reliable {
            fx.arm(retransmit, self.interval);
        }
        fx.arm(timeout, fx.config.t1x64());
    }

    /// The CANCEL of this INVITE was sent. §9.1: "If no final response has
    /// been received after 64*T1 seconds, the client SHOULD then consider
    /// the original transaction cancelled and SHOULD destroy the client
    /// transaction handling the original request": Timer B runs again, and
    /// ends the transaction with a timeout if no final came.
    pub(crate) fn cancel_sent(&mut self, fx: &mut Effects<'_>) {
        // The first CANCEL sets the bound; a second one does not move it.
        if self.invite
            && !self.cancelled
            && matches!(self.state, ClientState::Calling | ClientState::Proceeding)
        {
            self.cancelled = true;
            fx.arm(Timer::B, fx.config.t1x64());
        }
    }

    pub(crate) fn on_response(&mut self, fx: &mut Effects<'_>, resp: Message) {
        let code = resp.status().unwrap_or(0);
        if self.invite {
            self.on_invite_response(fx, resp, code);
        } else {
            self.on_non_invite_response(fx, resp, code);
        }
    }

    fn on_invite_response(&mut self, fx: &mut Effects<'_>, resp: Message, code: u16) {
        let id = fx.id;
        match (self.state, code) {
            (ClientState::Calling | ClientState::Proceeding, 100..=199) => {
                // §17.1.1.2: stop retransmitting; Timer B does not run in
                // Proceeding (the TU's INVITE timer, Timer C, takes over),
                // unless it bounds the wait after a CANCEL (§9.1).
                fx.disarm(Timer::A);
                if !self.cancelled {
                    fx.disarm(Timer::B);
                }
                self.state = ClientState::Proceeding;
                fx.event(TransactionEvent::Response { id, response: resp });
            }
            (ClientState::Calling | ClientState::Proceeding, 200..=299) => {
                // RFC 6026 §8.4: Accepted; the TU sends the ACK. Timer M
                // runs in the layer's lingering table, where the
                // transaction moves now (see `lingering`).
                fx.disarm(Timer::A);
                fx.disarm(Timer::B);
                self.state = ClientState::Accepted;
                self.request = None;
                fx.event(TransactionEvent::Response { id, response: resp });
            }
            (ClientState::Accepted, 200..=299) => {
                // Retransmitted 2xx or a 2xx from another fork: to the TU.
                fx.event(TransactionEvent::Response { id, response: resp });
            }
            (ClientState::Calling | ClientState::Proceeding, 300..=699) => {
                fx.disarm(Timer::A);
                fx.disarm(Timer::B);
                self.state = ClientState::Completed;
                // The ACK is kept for retransmitted finals; the INVITE is
                // not needed any more.
                let request = self.request.take();
                match request.map(|r| crate::requests::ack_for(&r, &resp)) {
                    Some(Ok(ack)) => {
                        self.ack = Some(ack.clone());
                        fx.transmit(Transmit::Request {
                            id,
                            message: ack,
                            target: self.target.clone(),
                        });
                    }
                    Some(Err(e)) => tracing::warn!(%id, error = %e, "cannot build ACK"),
                    None => tracing::warn!(%id, "no INVITE to build the ACK from"),
                }
                let d = if self.reliable {
                    Duration::ZERO
                } else {
                    fx.config.timer_d
                };
                fx.arm(Timer::D, d);
                fx.event(TransactionEvent::Response { id, response: resp });
            }
            (ClientState::Completed, 300..=699) => {
                // §17.1.1.2: a retransmitted final gets the ACK again.
                if let Some(ack) = &self.ack {
                    fx.transmit(Transmit::Request {
                        id,
                        message: ack.clone(),
                        target: self.target.clone(),
                    });
                }
            }
            // Late provisionals, non-2xx after Accepted, anything in Completed: absorbed.
            _ => {}
        }
    }

    fn on_non_invite_response(&mut self, fx: &mut Effects<'_>, resp: Message, code: u16) {
        let id = fx.id;
        match (self.state, code) {
            (ClientState::Trying | ClientState::Proceeding, 100..=199) => {
                self.state = ClientState::Proceeding;
                fx.event(TransactionEvent::Response { id, response: resp });
            }
            (ClientState::Trying | ClientState::Proceeding, 200..=699) => {
                fx.disarm(Timer::E);
                fx.disarm(Timer::F);
                // §17.1.2.2: Completed for Timer K, which runs in the
                // layer's lingering table (see `lingering`).
                self.state = ClientState::Completed;
                self.request = None;
                fx.event(TransactionEvent::Response { id, response: resp });
            }
            // Retransmissions in Completed are absorbed.
            _ => {}
        }
    }

    /// Returns true when the transaction is now Terminated.
    pub(crate) fn on_timer(&mut self, fx: &mut Effects<'_>, t: Timer) -> bool {
        let id = fx.id;
        match (t, self.state) {
            (Timer::A, ClientState::Calling) => {
                // §17.1.1.2: retransmit, double the interval (no cap).
                self.send_request(fx);
                self.interval *= 2;
                fx.arm(Timer::A, self.interval);
            }
            // Timer B in Proceeding only after a CANCEL (§9.1).
            (Timer::B, ClientState::Calling | ClientState::Proceeding)
            | (Timer::F, ClientState::Trying | ClientState::Proceeding) => {
                self.state = ClientState::Terminated;
                fx.event(TransactionEvent::Timeout { id, timer: t });
            }
            (Timer::E, ClientState::Trying) => {
                // §17.1.2.2: T1, 2T1, 4T1 ... capped at T2.
                self.send_request(fx);
                self.interval = (self.interval * 2).min(fx.config.t2);
                fx.arm(Timer::E, self.interval);
            }
            (Timer::E, ClientState::Proceeding) => {
                // §17.1.2.2: in Proceeding, every T2.
                self.send_request(fx);
                self.interval = fx.config.t2;
                fx.arm(Timer::E, self.interval);
            }
            (Timer::D, ClientState::Completed) => {
                self.state = ClientState::Terminated;
            }
            _ => {}
        }
        self.state == ClientState::Terminated
    }

    /// §17.1.4: a transport error ends the transaction and informs the TU.
    pub(crate) fn on_transport_error(&mut self, fx: &mut Effects<'_>) {
        for t in [Timer::A, Timer::B, Timer::D, Timer::E, Timer::F] {
            fx.disarm(t);
        }
        self.state = ClientState::Terminated;
        fx.event(TransactionEvent::TransportError { id: fx.id });
    }
}
