//! The CPU backends against each other: gradients, accuracy after a real run, checkpoints
//! carried from one to the other, and the error for a backend not compiled in.

mod common;

use common::*;

/// A backend this build lacks names the ones it has and the feature that adds it.
#[test]
fn a_backend_not_compiled_in_is_a_one_line_error() {
    let Some(missing) = digits::backend::BackendName::CONCRETE
        .into_iter()
        .find(|b| !b.compiled())
    else {
        eprintln!("skipped: every backend is compiled in");
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("run");
    let stderr = clean_error(&digits(&[
        "train",
        "--config",
        "configs/smoke.toml",
        "--backend",
        &missing.to_string(),
        "--out",
        out.to_str().unwrap(),
    ]));
    assert!(
        stderr.contains(&format!("--features {missing}")),
        "{stderr}"
    );
    assert!(!out.exists());
}

#[cfg(all(feature = "ndarray", feature = "flex"))]
mod cpu_pair {
    use super::*;
    use burn::data::dataloader::batcher::Batcher;
    use burn::data::dataset::vision::MnistItem;
    use burn::optim::GradientsParams;
    use digits::backend::{BackendName, Devices};
    use digits::config::RunConfig;
    use digits::data::MnistBatcher;
    use digits::model::MlpConfig;
    use std::path::Path;

    /// Every parameter's gradient of one mini-batch's cost, flattened, on `backend`.
    fn gradients(config: &RunConfig, backend: BackendName) -> Vec<Vec<f32>> {
        let device = Devices::select(backend).unwrap().train;
        let model = MlpConfig::new(config.model.clone(), config.output()).init(7, &device);
        let items = (0..20)
            .map(|i| MnistItem {
                image: std::array::from_fn(|r| {
                    std::array::from_fn(|c| ((i * 31 + r * 7 + c * 13) % 256) as f32)
                }),
                label: (i % 10) as u8,
            })
            .collect();
        let batch = MnistBatcher.batch(items, &device);
        let loss = config
            .loss
            .cost
            .loss(model.forward(batch.images.clone()), &batch);
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        let values = |data: burn::tensor::TensorData| data.try_to_vec::<f32>().unwrap();
        model
            .layers()
            .iter()
            .flat_map(|layer| {
                let bias = layer.bias.as_ref().unwrap();
                [
                    values(grads.get::<2>(layer.weight.id).unwrap().into_data()),
                    values(grads.get::<1>(bias.id).unwrap().into_data()),
                ]
            })
            .collect()
    }

    /// Autodiff on ndarray and on flex gives the same gradients to within
    /// |a − b| ≤ 1e-6 + 1e-4·|b|, for both costs: f32 sums in a different order differ in the
    /// last bits, not more.
    #[test]
    fn autodiff_gradients_agree_across_cpu_backends() {
        for name in ["configs/nielsen.toml", "configs/two-layer-net.toml"] {
            let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(name);
            let config = RunConfig::load(&path).unwrap();
            let (a, b) = (
                gradients(&config, BackendName::Ndarray),
                gradients(&config, BackendName::Flex),
            );
            assert_eq!(a.len(), b.len());
            let mut nonzero = 0;
            for (pa, pb) in a.iter().zip(&b) {
                for (x, y) in pa.iter().zip(pb) {
                    assert!((x - y).abs() <= 1e-6 + 1e-4 * y.abs(), "{name}: {x} vs {y}");
                    nonzero += usize::from(*y != 0.0);
                }
            }
            assert!(nonzero > 100, "{name}: the gradients are almost all zero");
        }
    }

    /// Two epochs of the smoke config on real MNIST reach test accuracies within 0.5
    /// percentage points on the two CPU backends. (Measured: 92.18% and 92.37%.)
    #[test]
    fn cpu_backends_reach_the_same_accuracy() {
        let Some(mnist) = real_mnist() else { return };
        let tmp = tempfile::tempdir().unwrap();
        let mut accuracy = Vec::new();
        for backend in ["ndarray", "flex"] {
            let run = tmp.path().join(backend);
            let output = digits(&[
                "train",
                "--config",
                "configs/smoke.toml",
                "--data-dir",
                mnist.to_str().unwrap(),
                "--backend",
                backend,
                "--out",
                run.to_str().unwrap(),
            ]);
            succeeded(&output);
            let device = std::fs::read_to_string(run.join("device.toml")).unwrap();
            assert!(
                device.contains(&format!("backend = \"{backend}\"")),
                "{device}"
            );
            accuracy.push(*test_accuracies(&run).last().unwrap());
        }
        assert!((accuracy[0] - accuracy[1]).abs() <= 0.005, "{accuracy:?}");
    }

    /// A checkpoint written on one CPU backend evaluates and resumes on the other.
    #[test]
    fn checkpoints_move_between_cpu_backends() {
        for (first, second) in [("ndarray", "flex"), ("flex", "ndarray")] {
            let tmp = tempfile::tempdir().unwrap();
            let flags = ["--backend", first, "--epochs", "2"];
            let (run, _) = train_synthetic(tmp.path(), "run", &flags);
            let run_str = run.to_str().unwrap();

            let output = digits(&["eval", run_str, "--backend", second]);
            let stdout = succeeded(&output);
            let correct = (test_accuracies(&run)[1] * 200.0).round();
            assert!(
                stdout.contains(&format!("Test accuracy: {correct} / 200")),
                "{stdout}"
            );

            let output = digits(&[
                "train",
                "--resume",
                run_str,
                "--backend",
                second,
                "--epochs",
                "3",
            ]);
            succeeded(&output);
            assert_eq!(test_accuracies(&run).len(), 3);
            let device = std::fs::read_to_string(run.join("device.toml")).unwrap();
            assert!(
                device.contains(&format!("backend = \"{second}\"")),
                "{device}"
            );
        }
    }
}
