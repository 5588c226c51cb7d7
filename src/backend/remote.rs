//! Past one machine: a device served over WebSocket by `digits device-server`, and the client
//! that trains on it, both Burn's remote backend. The server lets in only clients that present
//! its token, checked by Burn's `TokenAuthorizer`; the token travels in the
//! `DIGITS_REMOTE_TOKEN` variable on both sides.

use std::net::{SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::time::Duration;

use anyhow::Context;
use burn::remote::{ConnectError, RemoteHost};
use burn::server::{RemoteServer, ServerLogging, TokenAuthorizer, WebSocketTransport};
use burn::tensor::Device;
use rand::{RngExt, SeedableRng};

use crate::net::connections::listen;
use crate::net::{self, Limits};

/// The variable that holds the token, for the server and its clients.
pub const TOKEN_ENV: &str = "DIGITS_REMOTE_TOKEN";

/// How long a client waits for the server's port to answer before giving up.
const REACH_TIMEOUT: Duration = Duration::from_secs(3);

/// The token in [`TOKEN_ENV`], if set and not empty.
fn token_from_env() -> Option<String> {
    std::env::var(TOKEN_ENV).ok().filter(|t| !t.is_empty())
}

/// Connects to the device server at `url` (`ws://HOST:PORT`) with the token in
/// [`TOKEN_ENV`]. Nobody listening is an error within [`REACH_TIMEOUT`], where Burn's client
/// would retry for 16 s; a refused token is one line saying which variable to set.
pub fn connect(url: &str) -> Result<Device, String> {
    let address = socket_address(url)?;
    TcpStream::connect_timeout(&address, REACH_TIMEOUT).map_err(|e| {
        format!("nothing answers at {url} ({e}); start `digits device-server` there, or check the address")
    })?;
    let token = token_from_env();
    let mut host = RemoteHost::websocket(url);
    if let Some(token) = &token {
        host = host.with_credential(token.as_str());
    }
    Device::remote_options(&host)
        .init()
        .map_err(|error| match (error, &token) {
            (ConnectError::Unauthorized, None) => format!(
                "the device server at {url} wants a token: set {TOKEN_ENV} to the one it printed"
            ),
            (ConnectError::Unauthorized, Some(_)) => format!(
                "the device server at {url} refused the token in {TOKEN_ENV}: set it to the one the server printed"
            ),
            (error, _) => format!("cannot use the device server at {url}: {error}"),
        })
}

/// The socket address of `ws://HOST:PORT[/...]`.
fn socket_address(url: &str) -> Result<SocketAddr, String> {
    let bad = || format!("--remote {url}: expected ws://HOST:PORT");
    let rest = url.strip_prefix("ws://").ok_or_else(bad)?;
    let authority = rest.split('/').next().unwrap_or_default();
    authority
        .to_socket_addrs()
        .map_err(|e| format!("--remote {url}: {e}"))?
        .next()
        .ok_or_else(bad)
}

/// A device server, bound and ready to serve.
pub struct DeviceServer {
    listener: TcpListener,
    /// The token clients must present.
    pub token: String,
    /// Whether the token was made here (and so must be shown) rather than read from
    /// [`TOKEN_ENV`].
    pub token_generated: bool,
}

impl DeviceServer {
    /// Binds `address` (e.g. 127.0.0.1:7000; port 0 picks a free one) and takes the token from
    /// [`TOKEN_ENV`], or makes a random one.
    pub fn bind(address: SocketAddr) -> anyhow::Result<Self> {
        let listener = listen(address).with_context(|| format!("cannot listen on {address}"))?;
        let (token, token_generated) = match token_from_env() {
            Some(token) => (token, false),
            None => (random_token()?, true),
        };
        Ok(Self {
            listener,
            token,
            token_generated,
        })
    }

    /// The address clients give as `--remote`.
    pub fn url(&self) -> anyhow::Result<String> {
        Ok(format!("ws://{}", self.listener.local_addr()?))
    }

    /// Serves `device` until Ctrl-C or SIGTERM, under `limits` with at most `cap` connections.
    /// A client that disconnects, however abruptly, ends only its own session.
    ///
    /// Burn's server listens on a loopback port of its own, and the address clients reach is
    /// [`net::front`]'s: the timeouts and caps apply before a byte reaches Burn, and a client
    /// that has not yet shown its token costs a few kilobytes. The token stays Burn's to check.
    pub fn serve(self, device: Device, limits: Limits, cap: usize) -> anyhow::Result<()> {
        let authorizer = TokenAuthorizer::new(self.token.as_str())
            .map_err(|e| anyhow::anyhow!("{TOKEN_ENV}: {e}"))?;
        let behind = TcpListener::bind((std::net::Ipv4Addr::LOCALHOST, 0))
            .context("cannot open the device server's loopback port")?;
        let inner = behind.local_addr()?;
        println!(
            "Burn's server listens behind this one on {inner}, loopback only; clients use {}",
            self.url()?
        );
        let server = RemoteServer::new([device]).with_authorizer(authorizer);
        ServerLogging::install();
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .context("cannot start the server's threads")?;
        runtime.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(self.listener)?;
            let front = net::front::serve(
                listener,
                inner,
                limits,
                cap,
                "digits device-server",
                net::stop_signal(),
            );
            tokio::select! {
                served = server.serve_async(WebSocketTransport::from_listener(behind)) => served
                    .map_err(|e| anyhow::anyhow!("the device server stopped: {e}")),
                () = front => Ok(()),
            }
        })
    }
}

/// 128 random bits from the operating system, in hex.
fn random_token() -> anyhow::Result<String> {
    let mut rng = rand::rngs::StdRng::try_from_rng(&mut rand::rngs::SysRng)
        .map_err(|e| anyhow::anyhow!("cannot make a token: {e}"))?;
    Ok(format!("{:032x}", rng.random::<u128>()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_ws_host_port() {
        assert_eq!(
            socket_address("ws://127.0.0.1:7000").unwrap(),
            "127.0.0.1:7000".parse().unwrap()
        );
        assert!(socket_address("http://127.0.0.1:7000").is_err());
        assert!(socket_address("ws://127.0.0.1").is_err());
    }

    #[test]
    fn tokens_are_random() {
        let (a, b) = (random_token().unwrap(), random_token().unwrap());
        assert_eq!(a.len(), 32);
        assert_ne!(a, b);
    }
}
