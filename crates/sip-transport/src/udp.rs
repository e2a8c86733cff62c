//! UDP: one receive task per socket.

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use sip_message::headers::Transport as Kind;
use tokio::net::UdpSocket;
use tracing::{debug, warn};

use crate::stats::inc;
use crate::transport::Shared;

/// Largest UDP payload (IPv4 and IPv6 without jumbograms).
pub(crate) const MAX_DATAGRAM: usize = 65_535;

/// Binds a UDP socket, with large buffers if configured.
pub(crate) fn bind(addr: SocketAddr, buffer: Option<usize>) -> std::io::Result<UdpSocket> {
    let domain = socket2::Domain::for_address(addr);
    let sock = socket2::Socket::new(domain, socket2::Type::DGRAM, Some(socket2::Protocol::UDP))?;
    if addr.is_ipv6() {
        sock.set_only_v6(true)?;
    }
    if let Some(n) = buffer {
        // Best effort: the kernel caps these at its own maximum.
        let _ = sock.set_recv_buffer_size(n);
        let _ = sock.set_send_buffer_size(n);
    }
    sock.set_nonblocking(true)?;
    sock.bind(&addr.into())?;
    UdpSocket::from_std(sock.into())
}

/// Sends one datagram made of `parts` (a request's bytes around its
/// spliced Via sent-by, or one whole message), waiting for the socket if
/// it is full.
pub(crate) async fn send_parts(
    socket: &UdpSocket,
    parts: &[&[u8]; 3],
    to: SocketAddr,
) -> std::io::Result<usize> {
    socket
        .async_io(tokio::io::Interest::WRITABLE, || {
            try_send_parts(socket, parts, to)
        })
        .await
}

/// A datagram in one part goes out as it is, with `sendto`. One in
/// several parts (a request around its spliced Via sent-by) is copied
/// into one buffer on the stack and sent with `sendto` up to this size;
/// a larger one goes out with a vectored `sendmsg`.
/// `sendmsg` copies in a message header and imports an iovec array: per
/// datagram that measured about 0.15 us more kernel time than copying a
/// few hundred bytes here (`perf record` of the load example's UAC).
const FLAT_SEND_MAX: usize = 2048;

/// [`send_parts`] if the socket can take the datagram now; `WouldBlock`
/// (nothing sent) if it cannot.
///
/// The socket is non-blocking, so this is one system call. It does not ask
/// tokio's readiness first (`UdpSocket::try_io` refuses until the reactor
/// has seen the socket writable once); a `WouldBlock` here leaves the
/// readiness as it was, and the waiting send that follows clears it.
pub(crate) fn try_send_parts(
    socket: &UdpSocket,
    parts: &[&[u8]; 3],
    to: SocketAddr,
) -> std::io::Result<usize> {
    let addr = socket2::SockAddr::from(to);
    let socket = socket2::SockRef::from(socket);
    match parts {
        [whole, [], []] => socket.send_to(whole, &addr),
        _ if parts.iter().map(|p| p.len()).sum::<usize>() <= FLAT_SEND_MAX => {
            let mut flat = smallvec::SmallVec::<[u8; FLAT_SEND_MAX]>::new();
            for part in parts {
                flat.extend_from_slice(part);
            }
            socket.send_to(&flat, &addr)
        }
        _ => socket.send_to_vectored(&parts.map(std::io::IoSlice::new), &addr),
    }
}

/// Receives datagrams until the socket fails or the task is aborted.
pub(crate) async fn run(
    socket: Arc<UdpSocket>,
    local: SocketAddr,
    shared: Arc<Shared>,
    inbound_tx: tokio::sync::mpsc::Sender<crate::inbound::Inbound>,
) {
    let mut buf = vec![0u8; MAX_DATAGRAM];
    loop {
        let (n, remote) = match socket.recv_from(&mut buf).await {
            Ok(r) => r,
            Err(e) => {
                // ICMP errors of earlier sends surface here on some systems:
                // they concern one peer, not the socket.
                debug!(%local, error = %e, "UDP receive error");
                continue;
            }
        };
        let data = &buf[..n];
        if data.iter().all(|b| matches!(b, b'\r' | b'\n')) {
            // A keep-alive (RFC 5626 §3.5.1 uses CRLF over UDP too, STUN aside).
            inc(&shared.counters.keepalives);
            continue;
        }
        let Some(inbound) = crate::receive::accept(
            &shared,
            Bytes::copy_from_slice(data),
            Kind::Udp,
            local,
            remote,
            None,
        ) else {
            continue;
        };
        match inbound_tx.try_send(inbound) {
            Ok(()) => inc(&shared.counters.received),
            Err(tokio::sync::mpsc::error::TrySendError::Full(_)) => {
                inc(&shared.counters.inbound_overflow);
                warn!(%local, "inbound queue full: UDP message dropped");
            }
            Err(tokio::sync::mpsc::error::TrySendError::Closed(_)) => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every shape of datagram leaves as the concatenation of its parts:
    /// one part, parts copied into one buffer, and parts too large for it.
    #[tokio::test]
    async fn parts_arrive_as_one_datagram() {
        let from = bind("127.0.0.1:0".parse().unwrap(), None).unwrap();
        let to = bind("127.0.0.1:0".parse().unwrap(), None).unwrap();
        let dest = to.local_addr().unwrap();
        let big = vec![b'x'; FLAT_SEND_MAX + 100];
        let cases: [[&[u8]; 3]; 4] = [
            [b"OPTIONS sip:a SIP/2.0\r\n\r\n", b"", b""],
            [b"head;", b"sent-by", b";tail"],
            [b"", b"only-middle", b""],
            [&big, b"sent-by", &big],
        ];
        let mut buf = vec![0u8; MAX_DATAGRAM];
        for parts in &cases {
            let n = send_parts(&from, parts, dest).await.unwrap();
            let want = parts.concat();
            assert_eq!(n, want.len());
            let (got, _) = to.recv_from(&mut buf).await.unwrap();
            assert_eq!(&buf[..got], &want[..]);
        }
    }
}
