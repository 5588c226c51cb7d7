//! The flags of the servers' limits, shared by `serve` and `device-server`; each server has its
//! own defaults (`digits::net::Limits`).

use std::time::Duration;

use digits::net::Limits;

// The limits a server keeps; docs/guide.md's "Exposing the servers" says what each is for.
#[derive(Debug, clap::Args)]
pub struct LimitArgs {
    /// Seconds a client has to send a request's line and headers (serve: 30, device-server:
    /// 30, for the WebSocket handshake and the token).
    #[arg(long, value_name = "SECONDS", value_parser = seconds)]
    pub header_timeout: Option<Duration>,
    /// The longest pause, in seconds, while a client sends a body or reads an answer (60).
    #[arg(long, value_name = "SECONDS", value_parser = seconds)]
    pub body_timeout: Option<Duration>,
    /// Seconds a connection with nothing in progress stays open (serve: 20, device-server: 600).
    #[arg(long, value_name = "SECONDS", value_parser = seconds)]
    pub idle_timeout: Option<Duration>,
    /// The most connections open at once (default: the open-file limit, less 64).
    #[arg(long, value_name = "N")]
    pub max_connections: Option<usize>,
    /// The most connections open at once from one address (serve: 256, device-server: 32).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub per_peer_connections: Option<u64>,
}

impl LimitArgs {
    /// `defaults`, with what the flags say instead.
    pub fn limits(&self, defaults: Limits) -> Limits {
        Limits {
            header_timeout: self.header_timeout.unwrap_or(defaults.header_timeout),
            body_timeout: self.body_timeout.unwrap_or(defaults.body_timeout),
            idle_timeout: self.idle_timeout.unwrap_or(defaults.idle_timeout),
            max_connections: self.max_connections.or(defaults.max_connections),
            per_peer: self.per_peer_connections.map_or(defaults.per_peer, |n| {
                usize::try_from(n).unwrap_or(usize::MAX)
            }),
        }
    }
}

/// A positive number of seconds, fractions allowed.
fn seconds(text: &str) -> Result<Duration, String> {
    text.parse::<f64>()
        .ok()
        .filter(|s| s.is_finite() && *s > 0.0 && *s < 1e9)
        .map(Duration::from_secs_f64)
        .ok_or_else(|| format!("expected a positive number of seconds, not `{text}`"))
}
