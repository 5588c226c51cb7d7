//! *Deep Learning from Scratch*'s gradient_check.py for TwoLayerNet, through the library: the
//! gradient of every parameter from Burn's autodiff against central differences.
//!
//! ```sh
//! cargo run --release --example gradient_check -- [MNIST folder]
//! ```

use std::path::PathBuf;

use digits::backend::{BackendName, Devices};
use digits::books::gradcheck;
use digits::data::MnistFiles;
use digits::train::RunConfig;

fn main() -> anyhow::Result<()> {
    let data_dir = std::env::args().nth(1).map(PathBuf::from);
    let config = RunConfig::load(
        concat!(env!("CARGO_MANIFEST_DIR"), "/configs/two-layer-net.toml").as_ref(),
    )?;
    let devices = Devices::select(BackendName::Auto, None)?;
    // x_batch = x_train[:3]; t_batch = t_train[:3]
    let batch = MnistFiles::open(data_dir.as_deref())?.first_training_examples(3, &devices.train);
    for check in gradcheck::check(&config, &batch, &devices.train) {
        println!("{}: {:.2e}", check.name, check.mean_abs_diff);
    }
    Ok(())
}
