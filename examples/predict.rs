//! Read digits from image files with a trained run, through the library.
//!
//! ```sh
//! cargo run --release -- train --config configs/smoke.toml
//! cargo run --release --example predict -- artifacts/smoke my-digit.png
//! ```

use std::path::PathBuf;

use digits::backend::{BackendName, Devices};
use digits::data::digit_image::{self, text_art};
use digits::model::inference::ranked;
use digits::train::trained::Trained;

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1).map(PathBuf::from);
    let run = args.next().unwrap_or_else(|| "artifacts/smoke".into());
    let device = Devices::select(BackendName::Auto, None)?.eval;
    let trained = Trained::load(&run, &device)?;
    for path in args {
        // Light or dark ink, any size: prepared as MNIST's digits were.
        let pixels = digit_image::load(&path)?;
        let probabilities = trained.probabilities(&[pixels], &device);
        let (digit, p) = ranked(&probabilities[0])[0];
        println!(
            "{}: {digit} ({:.1}%)\n{}",
            path.display(),
            100.0 * p,
            text_art(&pixels)
        );
    }
    Ok(())
}
