//! HTTP/1.1 served by hyper under a server's [`Limits`]: axum's `serve` has neither a header
//! timeout nor a connection cap, so the accept loop and the timeouts are digits' own, and each
//! connection is hyper's.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use http_body::{Body as HttpBody, Frame, SizeHint};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tower::ServiceExt;

use super::connections::{Connections, Phase, Slot};
use super::limits::Limits;
use super::timed_io::TimedIo;

/// How long requests under way at shutdown have to finish.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// The largest request line and headers read, as nginx's `large_client_header_buffers`.
const MAX_HEAD: usize = 64 * 1024;

/// Serves `router` on `listener` under `limits`, with at most `cap` connections, until `stop`
/// resolves; then lets requests under way finish for a few seconds. `name` starts the log's
/// lines.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: Limits,
    cap: usize,
    name: &'static str,
    stop: impl Future<Output = ()>,
) {
    let connections = Connections::new(cap, limits.per_peer, name);
    let (stopping, stop_seen) = watch::channel(false);
    connections
        .accept(&listener, stop, |stream, slot| {
            connection(
                stream,
                slot,
                router.clone(),
                limits.clone(),
                stop_seen.clone(),
            )
        })
        .await;
    let _ = stopping.send(true);
    connections.drained(SHUTDOWN_GRACE).await;
}

/// One connection, until the client closes it, a timeout closes it, a new connection takes its
/// place, or the server stops.
async fn connection(
    stream: TcpStream,
    slot: Slot,
    router: Router,
    limits: Limits,
    mut stop: watch::Receiver<bool>,
) {
    let _ = stream.set_nodelay(true);
    let slot = Arc::new(slot);
    let io = TimedIo::new(stream, slot.clone(), limits);
    let timed_out = io.reason();
    let for_requests = slot.clone();
    let service = hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
        let slot = for_requests.clone();
        let router = router.clone();
        async move {
            slot.set_phase(Phase::Body);
            let request = request.map(|body| Body::new(WatchedBody::new(body, slot.clone())));
            let response = router.oneshot(request).await;
            slot.set_phase(Phase::KeepAlive);
            response
        }
    });
    let served = hyper::server::conn::http1::Builder::new()
        .max_buf_size(MAX_HEAD)
        .serve_connection(TokioIo::new(io), service);
    let mut served = std::pin::pin!(served);
    tokio::select! {
        _ = served.as_mut() => {}
        () = slot.evicted() => return,
        () = async {
            let _ = stop.wait_for(|&stopping| stopping).await;
        } => {
            served.as_mut().graceful_shutdown();
            let _ = served.await;
        }
    }
    let reason = timed_out.lock().unwrap_or_else(|p| p.into_inner()).take();
    if let Some(reason) = reason {
        slot.log_closed(&reason);
    }
}

/// A request's body that moves its connection to [`Phase::Working`] once it has all come in,
/// so that the body timeout stops counting while the server works.
struct WatchedBody {
    inner: Incoming,
    slot: Arc<Slot>,
}

impl WatchedBody {
    fn new(inner: Incoming, slot: Arc<Slot>) -> Self {
        if inner.is_end_stream() {
            slot.set_phase(Phase::Working);
        }
        Self { inner, slot }
    }
}

impl HttpBody for WatchedBody {
    type Data = hyper::body::Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        if matches!(polled, Poll::Ready(None)) || self.inner.is_end_stream() {
            self.slot.set_phase(Phase::Working);
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
