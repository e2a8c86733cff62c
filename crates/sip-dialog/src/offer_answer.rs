//! Offer/answer tracking for an INVITE session (RFC 3264 §4, RFC 3261
//! §13.2.1, RFC 3262 §5, RFC 3311 §5, RFC 6337): who holds the offer, the
//! current local and remote session descriptions, and "request pending"
//! (491) when a new offer would overlap an outstanding one.

use bytes::Bytes;

/// Where the negotiation stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum NegotiationState {
    /// No offer outstanding (before the first one, or after an answer).
    Stable,
    /// We sent an offer and wait for the answer.
    LocalOffer,
    /// We received an offer and owe the answer.
    RemoteOffer,
}

/// Which message carried a body, as far as offer/answer cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Carrier {
    /// INVITE or re-INVITE.
    Invite,
    /// UPDATE (RFC 3311).
    Update,
    /// PRACK (RFC 3262).
    Prack,
    /// ACK for a 2xx.
    Ack,
    /// A reliable provisional (100rel) or a 2xx to INVITE.
    ReliableResponse,
    /// A 2xx to UPDATE or PRACK.
    OtherResponse,
    /// Anything else (unreliable 1xx, INFO...): a body there is not part of
    /// offer/answer (RFC 6337 §2.1).
    None,
}

/// What a body was.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Exchange {
    /// It was an offer (the other side must answer).
    Offer,
    /// It was the answer: the negotiation is complete and both descriptions
    /// are current.
    Answer,
    /// It does not take part in offer/answer.
    Ignored,
}

/// Why a body cannot be accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum OfferError {
    /// A new offer while one is outstanding (RFC 3261 §14.1, RFC 3311 §5.2;
    /// glare): answer 491 Request Pending.
    #[error("an offer is already outstanding")]
    RequestPending,
    /// A body that can only be an answer arrived with no offer outstanding
    /// (e.g. an ACK body after the 2xx answered): 488 Not Acceptable Here.
    #[error("an answer without an offer")]
    UnexpectedAnswer,
}

impl OfferError {
    /// The response code a UAS sends.
    pub fn status_code(self) -> u16 {
        match self {
            OfferError::RequestPending => 491,
            OfferError::UnexpectedAnswer => 488,
        }
    }
}

/// Offer/answer state of one session.
#[derive(Debug, Clone)]
pub struct OfferAnswer {
    state: NegotiationState,
    local: Option<Bytes>,
    remote: Option<Bytes>,
    pending_local: Option<Bytes>,
    pending_remote: Option<Bytes>,
}

impl Default for OfferAnswer {
    fn default() -> Self {
        OfferAnswer {
            state: NegotiationState::Stable,
            local: None,
            remote: None,
            pending_local: None,
            pending_remote: None,
        }
    }
}

fn can_offer(c: Carrier) -> bool {
    // Offers ride requests, or the first reliable response to an INVITE
    // that had none (RFC 3261 §13.2.1, RFC 3262 §5).
    matches!(
        c,
        Carrier::Invite | Carrier::Update | Carrier::Prack | Carrier::ReliableResponse
    )
}

fn can_answer(c: Carrier) -> bool {
    matches!(
        c,
        Carrier::ReliableResponse | Carrier::OtherResponse | Carrier::Ack | Carrier::Prack
    )
}

impl OfferAnswer {
    /// Nothing negotiated yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// The state.
    pub fn state(&self) -> NegotiationState {
        self.state
    }

    /// The current (negotiated) local description.
    pub fn local(&self) -> Option<&Bytes> {
        self.local.as_ref()
    }

    /// The current (negotiated) remote description.
    pub fn remote(&self) -> Option<&Bytes> {
        self.remote.as_ref()
    }

    /// True if a new offer may be sent now (else a re-INVITE or UPDATE with
    /// one would draw a 491).
    pub fn may_offer(&self) -> bool {
        self.state == NegotiationState::Stable
    }

    /// We send `body` in a message of kind `carrier`.
    pub fn send(&mut self, body: Bytes, carrier: Carrier) -> Result<Exchange, OfferError> {
        match self.state {
            NegotiationState::RemoteOffer if can_answer(carrier) => {
                self.local = Some(body);
                self.remote = self.pending_remote.take();
                self.state = NegotiationState::Stable;
                Ok(Exchange::Answer)
            }
            NegotiationState::Stable if can_offer(carrier) => {
                self.pending_local = Some(body);
                self.state = NegotiationState::LocalOffer;
                Ok(Exchange::Offer)
            }
            NegotiationState::LocalOffer | NegotiationState::RemoteOffer if can_offer(carrier) => {
                Err(OfferError::RequestPending)
            }
            _ => Ok(Exchange::Ignored),
        }
    }

    /// We received `body` in a message of kind `carrier`.
    pub fn receive(&mut self, body: Bytes, carrier: Carrier) -> Result<Exchange, OfferError> {
        match self.state {
            NegotiationState::LocalOffer if can_answer(carrier) => {
                self.remote = Some(body);
                self.local = self.pending_local.take();
                self.state = NegotiationState::Stable;
                Ok(Exchange::Answer)
            }
            // Glare: both sides offered at once (RFC 3261 §14.1).
            NegotiationState::LocalOffer
                if matches!(carrier, Carrier::Invite | Carrier::Update) =>
            {
                Err(OfferError::RequestPending)
            }
            NegotiationState::RemoteOffer
                if matches!(carrier, Carrier::Invite | Carrier::Update | Carrier::Prack) =>
            {
                Err(OfferError::RequestPending)
            }
            NegotiationState::Stable if can_offer(carrier) => {
                self.pending_remote = Some(body);
                self.state = NegotiationState::RemoteOffer;
                Ok(Exchange::Offer)
            }
            NegotiationState::Stable if carrier == Carrier::Ack => {
                Err(OfferError::UnexpectedAnswer)
            }
            _ => Ok(Exchange::Ignored),
        }
    }

    /// The transaction that carried our outstanding offer failed (e.g. a
    /// re-INVITE got 488 or 491): the offer is withdrawn and the previous
    /// descriptions stay (RFC 3261 §14.1).
    pub fn offer_rejected(&mut self) {
        if self.state == NegotiationState::LocalOffer {
            self.pending_local = None;
            self.state = NegotiationState::Stable;
        }
    }
}

/// How long to wait before retrying a re-INVITE that drew a 491 (RFC 3261
/// §14.1): 2.1 to 4 s, in 10 ms units, if we own the Call-ID (we sent the
/// dialog-creating request), else 0 to 2 s. `random` is any random number.
pub fn glare_retry_delay(call_id_owner: bool, random: u64) -> std::time::Duration {
    let ms = if call_id_owner {
        2100 + (random % 191) * 10
    } else {
        (random % 201) * 10
    };
    std::time::Duration::from_millis(ms)
}
