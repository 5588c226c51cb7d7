//! The training loop written out with Burn's primitives, for people who want to change it:
//! what `digits::train::learner::Learner` does, in one function.
//!
//! ```sh
//! cargo run --release --example custom_loop -- [MNIST folder]
//! ```

use std::path::PathBuf;

use burn::module::Module;
use burn::optim::{GradientsParams, SgdConfig};
use burn::tensor::Tensor;
use digits::backend::{BackendName, Devices};
use digits::data::MnistFiles;
use digits::model::NetworkConfig;
use digits::model::inference;
use digits::train::RunConfig;
use digits::train::learner::epoch_order;

fn main() -> anyhow::Result<()> {
    let data_dir = std::env::args().nth(1).map(PathBuf::from);
    let config = RunConfig::load(
        concat!(env!("CARGO_MANIFEST_DIR"), "/configs/two-layer-net.toml").as_ref(),
    )?;
    let (epochs, batch_size, lr, seed) = (2, 100, 0.1, 1);

    let devices = Devices::select(BackendName::Auto, None)?;
    let mnist = MnistFiles::open(data_dir.as_deref())?;
    let data = mnist.splits(&config.data, &devices.eval);

    // 784-50-10, ReLU, logits; weights N(0, 0.01²), biases 0.
    let mut model =
        NetworkConfig::new(config.model.clone(), config.output()).init(seed, &devices.train);
    let mut optimizer = SgdConfig::new().init();

    for epoch in 0..epochs {
        // This epoch's order; each step sends its slice of it to the device.
        let order = epoch_order(seed, epoch, data.train.len());
        let mut total = Tensor::<1>::zeros([1], &devices.eval);
        for rows in order.chunks(batch_size) {
            let batch = data.train.gather(rows, &devices.eval);
            let output = model.forward(batch.images.clone()); // [m, 784] -> [m, 10]
            let loss = config.loss.cost.loss(output, &batch); // softmax cross-entropy, [1]
            let grads = GradientsParams::from_grads(loss.backward(), &model);
            model = optimizer.step(lr, model, grads);
            total = total + loss.inner().mul_scalar(batch.len() as f64);
        }
        let correct = inference::correct(&model.valid(), &data.test);
        println!(
            "Epoch {}: loss {:.4}, test {correct} / {}",
            epoch + 1,
            total.into_scalar::<f64>() / data.train.len() as f64,
            data.test.len()
        );
    }
    Ok(())
}
