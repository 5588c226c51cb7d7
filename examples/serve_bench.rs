//! How fast `digits serve` answers: requests per second and p50/p99 latency of
//! `POST /api/predict` over 127.0.0.1, at 1 and at 32 concurrent clients, for each model given:
//! an MLP beside a conv net, whose answers carry its feature maps.
//!
//! ```sh
//! cargo run --release --example serve_bench -- --model artifacts/nielsen \
//!     --model artifacts/simple-convnet
//! ```
//!
//! The server is the library's (`digits::serve::run`) on a thread of this process; the clients
//! share the machine with it, as they would on one computer. Each request is an MNIST test digit
//! drawn dark on light as a PNG: 280×280, what the page sends, and 28×28, MNIST's own size.
//! The server's work per request grows with the pixels it prepares.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use burn::data::dataset::Dataset;
use clap::Parser;
use digits::backend::{BackendName, Devices};
use digits::data::MnistFiles;
use digits::serve::App;
use image::{DynamicImage, GrayImage, imageops};

/// Requests per second and latency of `digits serve`'s /api/predict.
#[derive(Debug, Parser)]
struct Args {
    /// A model to serve: a run folder or a checkpoint; repeat for several, measured in turn.
    #[arg(long, value_name = "RUN", action = clap::ArgAction::Append, default_values = ["artifacts/nielsen"])]
    model: Vec<PathBuf>,
    /// A folder with the MNIST files, for the test digits sent (default: where the run found
    /// them).
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Requests per measurement.
    #[arg(long, default_value_t = 4000)]
    requests: usize,
    /// Concurrent clients; repeat for several measurements.
    #[arg(long, default_values_t = [1, 32])]
    clients: Vec<usize>,
    /// The side of the PNGs sent, in pixels; repeat for several measurements.
    #[arg(long, default_values_t = [280, 28])]
    side: Vec<u32>,
    /// The most images prepared at once, as `serve --max-preparing` (default: two per core).
    #[arg(long, value_name = "N")]
    max_preparing: Option<usize>,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let device = Devices::select(BackendName::Auto, None)?.eval;
    let mut app = App::new(&args.model, &device)?;
    if let Some(n) = args.max_preparing {
        app = app.with_max_preparing(n);
    }
    let files = MnistFiles::open(args.data_dir.as_deref().or(app.data().dir.as_deref()))?;
    let models: Vec<(String, String)> = app
        .models()
        .into_iter()
        .map(|m| (m.name, m.network))
        .collect();

    let (ready, url) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let address = "127.0.0.1:0".parse().expect("an address");
        let limits = digits::net::Limits::page();
        digits::serve::run(app, address, limits, |url, _| {
            ready.send(url.to_string()).expect("main waits")
        })
    });
    let url = url.recv()?;

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    println!(
        "POST /api/predict on {} cores",
        std::thread::available_parallelism()?,
    );
    println!("| model | PNG | clients | requests | answer | requests/s | p50 | p99 |");
    println!("|---|---|---|---|---|---|---|---|");
    for (name, network) in &models {
        let url = format!("{url}api/predict?model={name}");
        for &side in &args.side {
            let bodies: Vec<Vec<u8>> = (0..16).map(|i| drawing(&files, i, side)).collect();
            runtime.block_on(measure(&url, &bodies, 1, 200))?; // warm up
            for &clients in &args.clients {
                let started = Instant::now();
                let (mut latencies, answer) =
                    runtime.block_on(measure(&url, &bodies, clients, args.requests))?;
                let seconds = started.elapsed().as_secs_f64();
                latencies.sort();
                let at = |q: f64| latencies[((latencies.len() - 1) as f64 * q).round() as usize];
                println!(
                    "| {name} ({network}) | {side}×{side} | {clients} | {} | {:.1} KB | {:.0} | {:.2} ms | {:.2} ms |",
                    latencies.len(),
                    answer as f64 / 1e3,
                    latencies.len() as f64 / seconds,
                    at(0.50).as_secs_f64() * 1e3,
                    at(0.99).as_secs_f64() * 1e3,
                );
            }
        }
    }
    Ok(())
}

/// `requests` requests from `clients` concurrent clients: each request's latency, and the
/// largest answer's size in bytes.
async fn measure(
    url: &str,
    bodies: &[Vec<u8>],
    clients: usize,
    requests: usize,
) -> anyhow::Result<(Vec<Duration>, usize)> {
    let client = reqwest::Client::new();
    let tasks: Vec<_> = (0..clients)
        .map(|c| {
            let (client, url) = (client.clone(), url.to_string());
            let bodies: Vec<Vec<u8>> = bodies.to_vec();
            let share = requests / clients + usize::from(c < requests % clients);
            tokio::spawn(async move {
                let mut latencies = Vec::with_capacity(share);
                let mut answer = 0;
                for i in 0..share {
                    let started = Instant::now();
                    let response = client
                        .post(&url)
                        .header("Content-Type", "image/png")
                        .body(bodies[(c + i) % bodies.len()].clone())
                        .send()
                        .await?;
                    anyhow::ensure!(response.status().is_success(), "{}", response.status());
                    answer = response.bytes().await?.len();
                    latencies.push(started.elapsed());
                }
                Ok((latencies, answer))
            })
        })
        .collect();
    let (mut latencies, mut answer) = (Vec::with_capacity(requests), 0);
    for task in tasks {
        let (some, size) = task.await??;
        latencies.extend(some);
        answer = answer.max(size);
    }
    Ok((latencies, answer))
}

/// Test digit `index` drawn dark on white, `side` pixels square, as PNG.
fn drawing(files: &MnistFiles, index: usize, side: u32) -> Vec<u8> {
    let item = files.test.get(index).expect("a test digit");
    let digit = GrayImage::from_fn(28, 28, |x, y| {
        image::Luma([255 - item.image[y as usize][x as usize] as u8])
    });
    let big = imageops::resize(&digit, side, side, imageops::Triangle);
    let mut bytes = Vec::new();
    DynamicImage::ImageLuma8(big)
        .write_to(
            &mut std::io::Cursor::new(&mut bytes),
            image::ImageFormat::Png,
        )
        .expect("PNG in memory");
    bytes
}
