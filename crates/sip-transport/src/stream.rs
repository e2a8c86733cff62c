//! TCP and TLS connections: one task per connection owns the socket,
//! frames what it reads (RFC 3261 §18.3), answers keep-alive pings
//! (RFC 5626 §3.5.1), writes what is queued for it and closes it when idle.

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::{Buf, Bytes, BytesMut};
use sip_message::framing::{self, Status};
use sip_message::headers::Transport as Kind;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;
use tracing::{debug, trace};

use crate::inbound::ConnectionId;
use crate::stats::inc;
use crate::transport::Shared;

/// What the rest of the layer keeps of a connection.
#[derive(Debug, Clone)]
pub(crate) struct ConnHandle {
    pub(crate) kind: Kind,
    pub(crate) local: SocketAddr,
    pub(crate) remote: SocketAddr,
    pub(crate) queue: mpsc::Sender<Bytes>,
}

/// Registers a connection and spawns its task. Counts against the limit
/// already taken by the caller (see `Shared::reserve_connection`).
pub(crate) fn spawn<S>(
    shared: &Arc<Shared>,
    stream: S,
    kind: Kind,
    local: SocketAddr,
    remote: SocketAddr,
) -> (ConnectionId, ConnHandle)
where
    S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    let (tx, rx) = mpsc::channel(shared.config.send_queue);
    let id = shared.next_connection_id();
    let inbound = shared.inbound_sender();
    let handle = ConnHandle {
        kind,
        local,
        remote,
        queue: tx,
    };
    shared.connections.insert(id, handle.clone());
    shared.by_addr.insert((kind, remote), id);
    inc(&shared.counters.connections_opened);
    let shared2 = shared.clone();
    let task = tokio::spawn(async move {
        if let Some(inbound) = inbound {
            run(&shared2, stream, id, kind, local, remote, rx, inbound).await;
        }
        shared2.forget_connection(id, kind, remote);
    });
    shared.track(task);
    (id, handle)
}

#[allow(clippy::too_many_arguments)]
async fn run<S>(
    shared: &Arc<Shared>,
    stream: S,
    id: ConnectionId,
    kind: Kind,
    local: SocketAddr,
    remote: SocketAddr,
    mut queue: mpsc::Receiver<Bytes>,
    inbound_tx: mpsc::Sender<crate::inbound::Inbound>,
) where
    S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    let (mut rd, mut wr) = tokio::io::split(stream);
    let limits = shared.config.parse_limits;
    let idle = shared.config.idle_timeout;
    let mut buf = BytesMut::with_capacity(8 * 1024);
    let sleep = tokio::time::sleep(idle);
    tokio::pin!(sleep);
    loop {
        tokio::select! {
            r = rd.read_buf(&mut buf) => {
                match r {
                    Ok(0) => {
                        debug!(%remote, %id, "connection closed by peer");
                        return;
                    }
                    Ok(_) => {}
                    Err(e) => {
                        debug!(%remote, %id, error = %e, "connection read error");
                        return;
                    }
                }
                sleep.as_mut().reset(tokio::time::Instant::now() + idle);
                // Every complete message in the buffer; a message split
                // across reads waits for the rest.
                loop {
                    match framing::check_with(&buf, &limits) {
                        Ok(Status::Partial) => break,
                        Ok(Status::KeepAlive { len, ping }) => {
                            buf.advance(len);
                            inc(&shared.counters.keepalives);
                            if ping && !write_within(&mut wr, b"\r\n", idle, shared, remote, id).await {
                                return;
                            }
                        }
                        Ok(Status::Complete(n)) => {
                            let bytes = buf.split_to(n).freeze();
                            if let Some(inbound) = crate::receive::accept(shared, bytes, kind, local, remote, Some(id)) {
                                // Streams apply backpressure instead of dropping.
                                if inbound_tx.send(inbound).await.is_err() {
                                    return;
                                }
                                inc(&shared.counters.received);
                            }
                        }
                        Err(e) => {
                            // The stream cannot be framed any more: close it.
                            inc(&shared.counters.parse_errors);
                            debug!(%remote, %id, error = %e, "framing error, closing connection");
                            return;
                        }
                    }
                }
                // Keep the buffer's memory in check after a large message.
                if buf.is_empty() && buf.capacity() > 64 * 1024 {
                    buf = BytesMut::with_capacity(8 * 1024);
                }
            }
            m = queue.recv() => {
                let Some(bytes) = m else { return };
                trace!(%remote, %id, len = bytes.len(), "writing");
                if !write_within(&mut wr, &bytes, idle, shared, remote, id).await {
                    return;
                }
                sleep.as_mut().reset(tokio::time::Instant::now() + idle);
            }
            _ = &mut sleep => {
                inc(&shared.counters.idle_closed);
                debug!(%remote, %id, pending = buf.len(), "closing idle connection");
                let _ = wr.shutdown().await;
                return;
            }
        }
    }
}

/// Writes with a deadline: a peer that stops reading cannot hold the
/// connection (and its slot under the limit) forever. False means close.
async fn write_within<W: AsyncWrite + Unpin>(
    wr: &mut W,
    bytes: &[u8],
    limit: std::time::Duration,
    shared: &Shared,
    remote: SocketAddr,
    id: ConnectionId,
) -> bool {
    match tokio::time::timeout(limit, wr.write_all(bytes)).await {
        Ok(Ok(())) => true,
        Ok(Err(e)) => {
            debug!(%remote, %id, error = %e, "connection write error");
            false
        }
        Err(_) => {
            inc(&shared.counters.idle_closed);
            debug!(%remote, %id, "peer stopped reading: closing connection");
            false
        }
    }
}
