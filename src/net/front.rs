//! A guarded front door for a WebSocket server that has no limits of its own: the server
//! listens on loopback only, and this accept loop takes the outside's connections under the
//! [`Limits`], passing each one's bytes through.
//!
//! Until the server has answered a client's first message (for Burn's remote backend, the one
//! that carries the token), a connection is kept cheap: its handshake must come within
//! `header_timeout` and fit in [`MAX_HANDSHAKE`] bytes, and it may send at most
//! [`MAX_BEFORE_ANSWER`] bytes and must be answered within `header_timeout` of its start. Such a
//! connection gives its place to a new one when every place is taken. Once answered, it stays
//! until `idle_timeout` passes with no byte either way.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Instant;

use super::connections::{Connections, Phase, Slot};
use super::limits::Limits;

/// The largest WebSocket handshake (request line and headers) passed on.
pub const MAX_HANDSHAKE: usize = 8 * 1024;

/// The most a client may send after its handshake before the server has answered it.
pub const MAX_BEFORE_ANSWER: usize = 64 * 1024;

/// Takes connections on `listener` until `stop` resolves and passes each one's bytes to the
/// server at `inner`, under `limits` with at most `cap` connections.
pub async fn serve(
    listener: TcpListener,
    inner: SocketAddr,
    limits: Limits,
    cap: usize,
    name: &'static str,
    stop: impl Future<Output = ()>,
) {
    let connections = Connections::new(cap, limits.per_peer, name);
    connections
        .accept(&listener, stop, |stream, slot| {
            let limits = limits.clone();
            async move {
                let slot = Arc::new(slot);
                tokio::select! {
                    outcome = pass_through(stream, &slot, inner, &limits) => {
                        if let Err(reason) = outcome {
                            slot.log_closed(&reason);
                        }
                    }
                    () = slot.evicted() => {}
                }
            }
        })
        .await;
}

/// One connection's life: its handshake, the wait for the server's first answer, then the
/// session. `Err` is why it was closed, for the log; a client that hangs up is `Ok`.
async fn pass_through(
    mut client: TcpStream,
    slot: &Slot,
    inner: SocketAddr,
    limits: &Limits,
) -> Result<(), String> {
    let _ = client.set_nodelay(true);
    let started = Instant::now();
    let deadline = started + limits.header_timeout;
    let late = || {
        format!(
            "no WebSocket session within {} s (--header-timeout)",
            limits.header_timeout.as_secs_f64()
        )
    };

    // The handshake: an HTTP request's line and headers.
    let mut head = Vec::with_capacity(1024);
    let mut buffer = [0u8; 4096];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        if head.len() > MAX_HANDSHAKE {
            return Err(format!("a handshake over {MAX_HANDSHAKE} bytes"));
        }
        let n = tokio::time::timeout_at(deadline, client.read(&mut buffer))
            .await
            .map_err(|_| late())?
            .map_err(|e| format!("reading the handshake: {e}"))?;
        if n == 0 {
            return Ok(());
        }
        head.extend_from_slice(&buffer[..n]);
        slot.advance(Phase::Fresh, Phase::Head);
        if !b"GET ".starts_with(&head[..head.len().min(4)]) {
            return Err("not a WebSocket handshake".into());
        }
    }

    let mut server = TcpStream::connect(inner)
        .await
        .map_err(|e| format!("cannot reach the server behind the front ({e})"))?;
    let _ = server.set_nodelay(true);
    server
        .write_all(&head)
        .await
        .map_err(|e| format!("passing the handshake on: {e}"))?;

    // Until the server answers past its handshake response: a budget of bytes and time.
    let (mut client_read, mut client_write) = client.split();
    let (mut server_read, mut server_write) = server.split();
    let mut from_client = [0u8; 16 * 1024];
    let mut from_server = [0u8; 16 * 1024];
    let mut sent = 0usize;
    let mut response_head = Vec::new();
    let mut head_done = false;
    let mut answered = false;
    while !answered {
        tokio::select! {
            read = client_read.read(&mut from_client) => {
                let n = read.map_err(|e| format!("reading from the client: {e}"))?;
                if n == 0 {
                    return Ok(());
                }
                sent += n;
                if sent > MAX_BEFORE_ANSWER {
                    return Err(format!(
                        "sent over {MAX_BEFORE_ANSWER} bytes before the server answered it"
                    ));
                }
                tokio::time::timeout_at(deadline, server_write.write_all(&from_client[..n]))
                    .await
                    .map_err(|_| late())?
                    .map_err(|e| format!("writing to the server: {e}"))?;
            }
            read = server_read.read(&mut from_server) => {
                let n = read.map_err(|e| format!("reading from the server: {e}"))?;
                if n == 0 {
                    return Ok(());
                }
                tokio::time::timeout_at(deadline, client_write.write_all(&from_server[..n]))
                    .await
                    .map_err(|_| late())?
                    .map_err(|e| format!("writing to the client: {e}"))?;
                // Any byte past the end of the HTTP response is the server's first message.
                if head_done {
                    answered = true;
                } else {
                    response_head.extend_from_slice(&from_server[..n]);
                    if let Some(end) = response_head.windows(4).position(|w| w == b"\r\n\r\n") {
                        head_done = true;
                        answered = end + 4 < response_head.len();
                    } else if response_head.len() > MAX_HANDSHAKE {
                        return Err("the server's handshake response is too long".into());
                    }
                }
            }
            () = tokio::time::sleep_until(deadline) => return Err(late()),
        }
    }
    slot.set_phase(Phase::Working);

    // The session: both ways until either side closes or neither says anything for a while.
    let idle = limits.idle_timeout;
    let mut last = Instant::now();
    loop {
        tokio::select! {
            read = client_read.read(&mut from_client) => {
                let n = read.map_err(|e| format!("reading from the client: {e}"))?;
                if n == 0 {
                    return Ok(());
                }
                server_write.write_all(&from_client[..n]).await.map_err(|e| e.to_string())?;
            }
            read = server_read.read(&mut from_server) => {
                let n = read.map_err(|e| format!("reading from the server: {e}"))?;
                if n == 0 {
                    return Ok(());
                }
                tokio::time::timeout(limits.body_timeout, client_write.write_all(&from_server[..n]))
                    .await
                    .map_err(|_| format!(
                        "the client read nothing for {} s (--body-timeout)",
                        limits.body_timeout.as_secs_f64()
                    ))?
                    .map_err(|e| format!("writing to the client: {e}"))?;
            }
            () = tokio::time::sleep_until(last + idle) => {
                return Err(format!("idle for {} s (--idle-timeout)", idle.as_secs_f64()));
            }
        }
        last = Instant::now();
    }
}
