//! `digits serve`: the draw-a-digit page and its JSON API.

use std::path::PathBuf;
use std::process::ExitCode;

use digits::data::RunData;

use crate::cli::Compute;
use crate::cli::limits::LimitArgs;

// The arguments of `digits serve`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// A run folder (its newest epoch) or a checkpoint folder; repeat to offer several.
    #[arg(long, value_name = "RUN", required = true)]
    pub model: Vec<PathBuf>,
    /// Where to listen. Loopback unless you say otherwise; port 0 picks a free one.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub addr: std::net::SocketAddr,
    /// The first model's data folder, for random test images: the four MNIST IDX files, or
    /// its folder of images (default: where its run found them).
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// The most images prepared at once (default: two per core); more uploads wait their turn.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub max_preparing: Option<u64>,
    #[command(flatten)]
    pub compute: Compute,
    #[command(flatten)]
    pub limits: LimitArgs,
}

/// Serves until Ctrl-C.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let devices = args.compute.devices()?;
    let data_dir = args.data_dir.as_deref();
    let mut app = digits::serve::App::new(&args.model, &devices.eval)?;
    if let Some(n) = args.max_preparing {
        app = app.with_max_preparing(usize::try_from(n).unwrap_or(usize::MAX));
    }
    // Random test images come from the first model's data: a folder given must be there;
    // otherwise the page works without them.
    let data = RunData::open(app.data(), data_dir, true);
    let app = match (data, data_dir) {
        (Ok(data), _) => app.with_test_set(&data),
        (Err(error), Some(_)) => return Err(error),
        (Err(error), None) => {
            eprintln!("Random test digits are off: {error:#}");
            app
        }
    };
    let described: Vec<String> = app
        .models()
        .iter()
        .map(|m| match m.test_accuracy {
            Some(accuracy) => format!("{} ({:.2}%)", m.name, 100.0 * accuracy),
            None => m.name.clone(),
        })
        .collect();
    let limits = args.limits.limits(digits::net::Limits::page());
    digits::serve::run(app, args.addr, limits.clone(), |url, cap| {
        println!("Serving {} at {url}", described.join(", "));
        println!("{}", digits::net::limits::describe(&limits, cap));
        println!("Open it in a browser; the API is in the README (Draw a digit). Ctrl-C stops.");
    })?;
    println!("Stopped.");
    Ok(ExitCode::SUCCESS)
}
