//! Serving on a network that may hold slow or hostile clients: the limits that keep both of
//! digits' servers answering (`serve`'s page and API, `device-server`'s remote backend).
//!
//! - [`limits`]: the timeouts and caps, with their defaults, and the file limit under which the
//!   connection cap stays;
//! - [`connections`]: the accept loop that keeps the caps, overall and per address;
//! - [`timed_io`]: a socket whose reads and writes time out by the connection's phase;
//! - [`http`]: HTTP/1.1 connections, hyper's, under those limits (for `serve`);
//! - [`front`]: a guarded front door for a WebSocket server on loopback (for `device-server`);
//! - [`log`]: one rate-limited line per refused or closed connection.

pub mod connections;
pub mod front;
pub mod http;
pub mod limits;
pub mod log;
pub mod timed_io;

pub use limits::{Limits, connection_cap};

/// Ctrl-C, or SIGTERM where there is one.
pub async fn stop_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
}
