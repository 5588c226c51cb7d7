//! `digits device-server`: this machine's device served to other machines' `--backend remote`.

use std::process::ExitCode;

use digits::backend::BackendName;

// The arguments of `digits device-server`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The device to serve.
    #[arg(long, value_enum, default_value_t = BackendName::Auto)]
    pub backend: BackendName,
    /// The port to listen on (0: any free one).
    #[arg(long, default_value_t = 7000)]
    pub port: u16,
    /// The address to listen on; the default lets in this machine only (tunnel over ssh).
    #[arg(long, default_value = "127.0.0.1")]
    pub addr: std::net::IpAddr,
    #[command(flatten)]
    pub limits: crate::cli::limits::LimitArgs,
}

/// Serves until Ctrl-C, printing the URL and the token clients need.
#[cfg(feature = "remote")]
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    use digits::backend::remote::{DeviceServer, TOKEN_ENV};
    let limits = args.limits.limits(digits::net::Limits::device());
    let cap = digits::net::connection_cap(limits.max_connections).map_err(anyhow::Error::msg)?;
    let devices = crate::cli::devices(args.backend, None)?;
    let server = DeviceServer::bind(std::net::SocketAddr::new(args.addr, args.port))?;
    let url = server.url()?;
    println!("Serving {} at {url}", devices.describe());
    if server.token_generated {
        println!("Token (set {TOKEN_ENV} to choose it): {}", server.token);
    }
    println!(
        "Clients: {TOKEN_ENV}=<token> digits train --config FILE --backend remote --remote {url}"
    );
    println!(
        "WebSocket is unencrypted: reach another machine through an ssh tunnel. Ctrl-C stops."
    );
    println!("{}", digits::net::limits::describe(&limits, cap));
    server.serve(devices.eval, limits, cap)?;
    println!("Stopped.");
    Ok(ExitCode::SUCCESS)
}

/// Without the `remote` feature there is nothing to serve with.
#[cfg(not(feature = "remote"))]
pub fn run(_: Args) -> anyhow::Result<ExitCode> {
    Err(digits::backend::BackendError::NotCompiled {
        name: BackendName::Remote,
    }
    .into())
}
