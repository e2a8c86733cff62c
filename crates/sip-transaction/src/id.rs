//! Transaction ids and keys (RFC 3261 §17.1.3, §17.2.3).

use std::fmt;

use sip_message::{Message, Method};

/// A handle to one transaction, stable for its life and never reused for
/// another (index plus generation).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TransactionId {
    pub(crate) index: u32,
    pub(crate) generation: u32,
}

impl fmt::Display for TransactionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "tsx-{}.{}", self.index, self.generation)
    }
}

/// Client transaction key: the branch of the top Via and the CSeq method
/// (§17.1.3). A CANCEL has the INVITE's branch and its own method.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ClientKey {
    /// Branch parameter.
    pub branch: String,
    /// CSeq method.
    pub method: Method,
}

/// Server transaction key (§17.2.3).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ServerKey {
    /// Branch with the magic cookie, sent-by and method (ACK counts as INVITE).
    Rfc3261 {
        /// Branch parameter.
        branch: String,
        /// sent-by of the top Via, lower-cased, with the port.
        sent_by: String,
        /// Method, ACK mapped to INVITE.
        method: Method,
    },
    /// RFC 2543 fallback for requests without a magic-cookie branch:
    /// Request-URI, From tag, Call-ID, CSeq number, top Via and method
    /// (ACK mapped to INVITE); the To tag is checked separately.
    Rfc2543 {
        /// Request-URI text.
        request_uri: String,
        /// From tag.
        from_tag: String,
        /// Call-ID.
        call_id: String,
        /// CSeq number.
        cseq: u32,
        /// Top Via as written.
        via: String,
        /// Method, ACK mapped to INVITE.
        method: Method,
    },
}

/// Either kind of key.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum TransactionKey {
    /// A client transaction.
    Client(ClientKey),
    /// A server transaction.
    Server(ServerKey),
}

fn key_method(m: &Method) -> Method {
    if *m == Method::Ack {
        Method::Invite
    } else {
        m.clone()
    }
}

impl ClientKey {
    /// The key of a new client transaction for `req` (§17.1.3: branch and
    /// method), or `None` without Via branch or method.
    pub fn of_request(req: &Message) -> Option<ClientKey> {
        Some(ClientKey {
            branch: req.top_via()?.branch()?.to_owned(),
            method: req.method()?.clone(),
        })
    }

    /// The key a response matches (§17.1.3), or `None` without Via/CSeq.
    pub fn of_response(resp: &Message) -> Option<ClientKey> {
        let branch = resp.top_via()?.branch()?;
        let (_, method) = resp.cseq()?;
        Some(ClientKey {
            branch: branch.to_owned(),
            method: method.clone(),
        })
    }
}

impl ServerKey {
    /// The same key for another method: a CANCEL's key with INVITE finds
    /// the INVITE it cancels (§9.2).
    pub fn with_method(&self, m: Method) -> ServerKey {
        let mut k = self.clone();
        match &mut k {
            ServerKey::Rfc3261 { method, .. } | ServerKey::Rfc2543 { method, .. } => *method = m,
        }
        k
    }

    /// The key a request matches (§17.2.3).
    pub fn of_request(req: &Message) -> Option<ServerKey> {
        let via = req.top_via()?;
        let method = key_method(req.method()?);
        match via.branch() {
            Some(b) if via.has_rfc3261_branch() => {
                let port = via.port().unwrap_or(via.transport().default_port());
                // "host:port", the host lower-cased (no `fmt`: one per request).
                let host = via.host();
                let mut sent_by = Vec::with_capacity(host.len() + 6);
                sent_by.extend(host.bytes().map(|c| c.to_ascii_lowercase()));
                sent_by.push(b':');
                sip_message::encode::put_u64(&mut sent_by, u64::from(port));
                Some(ServerKey::Rfc3261 {
                    branch: b.to_owned(),
                    sent_by: String::from_utf8(sent_by).unwrap_or_default(),
                    method,
                })
            }
            _ => Some(ServerKey::Rfc2543 {
                request_uri: req.request_uri_str()?.to_owned(),
                from_tag: req.from_tag().unwrap_or_default().to_owned(),
                call_id: req.call_id()?.to_owned(),
                cseq: req.cseq()?.0,
                via: format!("{}:{:?}{}", via.host(), via.port(), via.params()),
                method,
            }),
        }
    }
}
