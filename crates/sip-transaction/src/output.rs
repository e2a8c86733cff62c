//! What the layer asks its driver to do, and what it tells the transaction user.

use std::collections::VecDeque;

use sip_message::Message;
use sip_transport::{ConnectionId, Target};

use crate::id::{ServerKey, TransactionId};
use crate::timer::Timer;

/// Bytes to put on the wire.
#[derive(Debug, Clone)]
pub enum Transmit {
    /// A request (or an ACK/CANCEL built by the layer) to a target.
    Request {
        /// The transaction that sends it (transport errors are reported against it).
        id: TransactionId,
        /// The request.
        message: Message,
        /// Where to.
        target: Target,
    },
    /// A response, routed by its top Via (RFC 3261 §18.2.2).
    Response {
        /// The server transaction.
        id: TransactionId,
        /// The response.
        message: Message,
        /// The connection the request came on.
        connection: Option<ConnectionId>,
    },
}

/// Where a request came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    /// Transport.
    pub transport: sip_message::headers::Transport,
    /// Remote address.
    pub remote: std::net::SocketAddr,
    /// Local address.
    pub local: std::net::SocketAddr,
    /// Connection (TCP/TLS).
    pub connection: Option<ConnectionId>,
}

/// Events for the transaction user (the dialog layer or a UA core).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum TransactionEvent {
    /// A response for a client transaction: each provisional, the final,
    /// and for INVITE every further 2xx while Accepted (RFC 6026:
    /// retransmissions and forks, which the TU ACKs).
    Response {
        /// Client transaction.
        id: TransactionId,
        /// The response.
        response: Message,
    },
    /// Timer B or F fired: the request got no final response (§17.1.1.2, §17.1.2.2).
    Timeout {
        /// Client transaction.
        id: TransactionId,
        /// B or F.
        timer: Timer,
    },
    /// The transport could not send for this transaction (§17.1.4, §17.2.4).
    TransportError {
        /// Transaction.
        id: TransactionId,
    },
    /// A new request created a server transaction; the TU answers it with
    /// [`TransactionLayer::send_response`](crate::TransactionLayer::send_response).
    Request {
        /// The new server transaction.
        id: TransactionId,
        /// Its key.
        key: ServerKey,
        /// The request.
        request: Message,
        /// Where it came from.
        source: Source,
        /// For a CANCEL: the INVITE server transaction it cancels, if any (§9.2).
        cancels: Option<TransactionId>,
    },
    /// An ACK that belongs to no transaction in Completed state: the ACK for
    /// a 2xx, which the dialog layer handles (§17.2.3, RFC 6026 §8.7 for
    /// Accepted).
    Ack {
        /// The ACK.
        request: Message,
        /// Where it came from.
        source: Source,
    },
    /// A response matching no client transaction (a retransmitted 2xx after
    /// the transaction ended, or a stray): the dialog layer decides.
    StrayResponse {
        /// The response.
        response: Message,
    },
    /// Timer H fired: no ACK came for a non-2xx final (§17.2.1).
    AckTimeout {
        /// INVITE server transaction.
        id: TransactionId,
    },
    /// A CANCEL held until a provisional response was dropped because the
    /// INVITE got a final response first (§9.1).
    CancelDropped {
        /// The CANCEL's transaction.
        id: TransactionId,
    },
    /// The transaction reached Terminated and is gone.
    Terminated {
        /// Transaction.
        id: TransactionId,
        /// Its key.
        key: crate::id::TransactionKey,
    },
    /// An event an extension emitted.
    Extension {
        /// The extension's name.
        name: &'static str,
        /// The client transaction it belongs to, if any
        /// ([`HookCx::emit_for`](crate::HookCx::emit_for)).
        transaction: Option<TransactionId>,
        /// What it says.
        payload: std::sync::Arc<dyn std::any::Any + Send + Sync>,
    },
}

/// One output of the layer.
#[derive(Debug, Clone)]
pub enum Output {
    /// Send these bytes.
    Transmit(Transmit),
    /// Tell the TU.
    Event(TransactionEvent),
}

/// One queued output in its compact form: what a client transaction
/// puts out per message (a transmission, a response for the TU) as it
/// is, in at most the size of a [`Transmit`]; anything else is a marker
/// for the next entry of [`OutQueue`]'s side queue. An [`Output`] is 272
/// bytes (a new request's server key and source), and each move of one
/// is a `memcpy`.
#[derive(Debug)]
pub(crate) enum Out {
    /// Send these bytes.
    Transmit(Transmit),
    /// [`TransactionEvent::Response`].
    Response {
        id: TransactionId,
        response: Message,
    },
    /// The next output of the side queue, which keeps them in order.
    Other,
}

/// The layer's outputs in order: compact entries, with the large and
/// rarer ones in a side queue (no allocation per output: both queues
/// keep their buffers).
#[derive(Debug, Default)]
pub(crate) struct OutQueue {
    order: VecDeque<Out>,
    other: VecDeque<Output>,
}

impl OutQueue {
    pub(crate) fn transmit(&mut self, t: Transmit) {
        self.order.push_back(Out::Transmit(t));
    }

    pub(crate) fn event(&mut self, e: TransactionEvent) {
        match e {
            TransactionEvent::Response { id, response } => {
                self.order.push_back(Out::Response { id, response })
            }
            other => {
                self.other.push_back(Output::Event(other));
                self.order.push_back(Out::Other);
            }
        }
    }

    /// The next output, compact; for [`Out::Other`] the caller takes
    /// [`pop_other`](Self::pop_other) next.
    pub(crate) fn pop_compact(&mut self) -> Option<Out> {
        self.order.pop_front()
    }

    /// The output an [`Out::Other`] stands for.
    pub(crate) fn pop_other(&mut self) -> Option<Output> {
        self.other.pop_front()
    }

    /// The next output, whole.
    pub(crate) fn pop(&mut self) -> Option<Output> {
        Some(match self.pop_compact()? {
            Out::Transmit(t) => Output::Transmit(t),
            Out::Response { id, response } => {
                Output::Event(TransactionEvent::Response { id, response })
            }
            Out::Other => return self.pop_other(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(index: u32) -> TransactionId {
        TransactionId {
            index,
            generation: 0,
        }
    }

    fn label(o: &Output) -> (u32, &'static str) {
        match o {
            Output::Transmit(Transmit::Request { id, .. }) => (id.index, "transmit"),
            Output::Event(TransactionEvent::Response { id, .. }) => (id.index, "response"),
            Output::Event(TransactionEvent::TransportError { id }) => (id.index, "error"),
            Output::Event(TransactionEvent::CancelDropped { id }) => (id.index, "dropped"),
            _ => (u32::MAX, "?"),
        }
    }

    /// Compact and side entries come out in the order they went in, each
    /// with the data it carried.
    #[test]
    fn outputs_keep_their_order_and_data_across_both_queues() {
        let m = Message::parse(
            "SIP/2.0 180 Ringing\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\n\
             Call-ID: o1\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n",
        )
        .unwrap();
        let target = Target {
            transport: sip_message::headers::Transport::Udp,
            addr: "192.0.2.1:5060".parse().unwrap(),
            server_name: None,
            connection: None,
            explicit_transport: false,
        };
        let mut q = OutQueue::default();
        let mut want = Vec::new();
        for round in 0..5u32 {
            for k in 0..(round % 4) {
                let i = round * 10 + k;
                match (round + k) % 4 {
                    0 => {
                        q.transmit(Transmit::Request {
                            id: id(i),
                            message: m.clone(),
                            target: target.clone(),
                        });
                        want.push((i, "transmit"));
                    }
                    1 => {
                        q.event(TransactionEvent::Response {
                            id: id(i),
                            response: m.clone(),
                        });
                        want.push((i, "response"));
                    }
                    2 => {
                        q.event(TransactionEvent::TransportError { id: id(i) });
                        want.push((i, "error"));
                    }
                    _ => {
                        q.event(TransactionEvent::CancelDropped { id: id(i) });
                        want.push((i, "dropped"));
                    }
                }
            }
            // Half through `pop`, half through the compact pair.
            let mut got = Vec::new();
            while let Some(o) = if round % 2 == 0 {
                q.pop()
            } else {
                match q.pop_compact() {
                    Some(Out::Other) => q.pop_other(),
                    Some(Out::Transmit(t)) => Some(Output::Transmit(t)),
                    Some(Out::Response { id, response }) => {
                        Some(Output::Event(TransactionEvent::Response { id, response }))
                    }
                    None => None,
                }
            } {
                if let Output::Event(TransactionEvent::Response { response, .. })
                | Output::Transmit(Transmit::Request {
                    message: response, ..
                }) = &o
                {
                    assert_eq!(response.as_bytes(), m.as_bytes());
                }
                got.push(label(&o));
            }
            assert_eq!(got, std::mem::take(&mut want));
        }
        assert!(q.pop().is_none() && q.pop_other().is_none());
        // The compact entry is no larger than a transmission and its tag.
        assert!(std::mem::size_of::<Out>() <= std::mem::size_of::<Transmit>() + 8);
    }
}
