//! Chapter 1 of Michael Nielsen's *Neural Networks and Deep Learning*, through the digits
//! library. network.py's
//!
//! ```python
//! training_data, validation_data, test_data = mnist_loader.load_data_wrapper()
//! net = network.Network([784, 30, 10])
//! net.SGD(training_data, 30, 10, 3.0, test_data=test_data)
//! ```
//!
//! becomes the lines below; the gradients come from Burn's autodiff.
//!
//! ```sh
//! cargo run --release --example nielsen -- [EPOCHS (default 2)] [MNIST folder]
//! ```

use std::path::PathBuf;
use std::sync::atomic::AtomicBool;

use digits::backend::{BackendName, Devices};
use digits::data::MnistFiles;
use digits::train::RunConfig;
use digits::train::learner::Learner;

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let epochs: usize = args.next().map(|e| e.parse()).transpose()?.unwrap_or(2);
    let data_dir = args.next().map(PathBuf::from);

    // [784, 30, 10], sigmoid, quadratic cost, SGD with eta 3.0 and mini-batches of 10.
    let config =
        RunConfig::load(concat!(env!("CARGO_MANIFEST_DIR"), "/configs/nielsen.toml").as_ref())?;

    // training_data, validation_data, test_data = mnist_loader.load_data_wrapper()
    let mnist = MnistFiles::open(data_dir.as_deref())?;
    let devices = Devices::select(BackendName::Auto, None)?;
    let data = mnist.splits(&config.data, &devices.eval);

    // net = network.Network([784, 30, 10])
    let mut net = Learner::new(&config, &devices.train);

    // net.SGD(training_data, epochs, 10, 3.0, test_data=test_data)
    let never = AtomicBool::new(false);
    for epoch in 1..=epochs {
        net.train_epoch(&data.train, &data.device, &never, &mut ())?;
        println!(
            "Epoch {epoch}: {} / {}",
            net.correct(&data.test),
            data.test.len()
        );
    }
    Ok(())
}
