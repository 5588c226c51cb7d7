//! The CPU backends against each other: gradients, accuracy after a real run, checkpoints
//! carried from one to the other, and the error for a backend not compiled in.

use crate::common::*;

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
    use digits::data::MnistBatcher;
    use digits::model::MlpConfig;
    use digits::train::RunConfig;
    use std::path::Path;

    /// Every parameter's gradient of one mini-batch's cost, flattened, on `backend`.
    fn gradients(config: &RunConfig, backend: BackendName) -> Vec<Vec<f32>> {
        let device = Devices::select(backend, None).unwrap().train;
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

#[cfg(feature = "wgpu")]
/// A bar of ink on white paper, 40×40: read as a 1 by any trained network worth the name, and
/// the same file for every backend.
fn write_digit_picture(path: &std::path::Path) {
    image::GrayImage::from_fn(40, 40, |x, y| {
        let ink = (18..22).contains(&x) && (5..35).contains(&y);
        image::Luma([if ink { 0 } else { 255 }])
    })
    .save(path)
    .unwrap();
}

#[cfg(any(feature = "wgpu", feature = "remote"))]
/// The `Test accuracy: N / M` line of `digits eval`.
fn eval_line(stdout: &str) -> String {
    stdout
        .lines()
        .find(|l| l.starts_with("Test accuracy:"))
        .unwrap_or_else(|| panic!("no accuracy line in {stdout}"))
        .to_string()
}

#[cfg(feature = "wgpu")]
/// The digit `digits predict` reads in one picture: the text after `: `, up to the space.
fn predicted_digit(stdout: &str) -> String {
    let (_, rest) = stdout.trim().split_once(": ").expect("file: digit line");
    rest.split(' ').next().unwrap().to_string()
}

#[cfg(any(feature = "wgpu", feature = "remote", feature = "tch"))]
/// `smoke.toml` trained on flex on real MNIST into `dir/flex`.
fn flex_smoke_run(mnist: &std::path::Path, dir: &std::path::Path) -> std::path::PathBuf {
    let run = dir.join("flex");
    let config = std::path::Path::new("configs/smoke.toml");
    succeeded(&train_run(config, mnist, &run, &["--backend", "flex"]));
    run
}

#[cfg(not(feature = "wgpu"))]
#[test]
fn wgpu_trains() {
    eprintln!(
        "skipped: built without --features wgpu; .ci/run runs `cargo test --release --features wgpu,remote --test backends`"
    );
}

/// wgpu for real: on a hardware GPU where there is one, else on Mesa's lavapipe, a Vulkan
/// driver that runs on the CPU (.ci/run installs it), about 100 times slower than flex.
#[cfg(feature = "wgpu")]
mod wgpu {
    use super::*;
    use digits::backend::wgpu::adapters;
    use std::path::Path;

    /// Whether wgpu has an adapter; says "skipped" when not (a failure under CI, which installs
    /// lavapipe).
    fn adapter_present() -> bool {
        if !adapters().is_empty() {
            return true;
        }
        assert!(
            std::env::var_os("CI").is_none(),
            "no wgpu adapter under CI: .ci/run installs mesa-vulkan-drivers"
        );
        eprintln!("skipped: no wgpu adapter; `apt-get install mesa-vulkan-drivers` gives one");
        false
    }

    /// smoke.toml for 2 epochs on wgpu reaches flex's test accuracy within 0.5 points; the
    /// flex run evaluates on wgpu to the same test count and a picture reads as the same digit.
    #[test]
    fn wgpu_trains_evaluates_and_predicts_like_flex() {
        let Some(mnist) = real_mnist() else { return };
        if !adapter_present() {
            return;
        }
        let tmp = tempfile::tempdir().unwrap();
        let flex = flex_smoke_run(&mnist, tmp.path());
        let gpu = tmp.path().join("wgpu");
        let config = Path::new("configs/smoke.toml");
        let stdout = succeeded(&train_run(config, &mnist, &gpu, &["--backend", "wgpu"]));
        let device = std::fs::read_to_string(gpu.join("device.toml")).unwrap();
        assert!(device.contains("backend = \"wgpu\""), "{device}");
        if adapters().iter().all(|a| a.is_software()) {
            assert!(stdout.contains("Backend: wgpu is on"), "{stdout}");
            assert!(device.contains("a CPU adapter"), "{device}");
        }
        let (a, b) = (test_accuracies(&flex), test_accuracies(&gpu));
        assert_eq!(b.len(), 2);
        assert!((a[1] - b[1]).abs() <= 0.005, "flex {a:?}, wgpu {b:?}");

        let mnist_flag = mnist.to_str().unwrap();
        let flex_str = flex.to_str().unwrap();
        let on = |backend: &str| {
            let args = [
                "eval",
                flex_str,
                "--data-dir",
                mnist_flag,
                "--backend",
                backend,
            ];
            eval_line(&succeeded(&digits(&args)))
        };
        assert_eq!(on("wgpu"), on("flex"));

        let picture = tmp.path().join("one.png");
        write_digit_picture(&picture);
        let read = |backend: &str| {
            let args = [
                "predict",
                "--model",
                flex_str,
                picture.to_str().unwrap(),
                "--backend",
                backend,
            ];
            predicted_digit(&succeeded(&digits(&args)))
        };
        assert_eq!(read("wgpu"), read("flex"));
    }

    /// A run started on one of flex and wgpu resumes on the other.
    #[test]
    fn runs_resume_across_flex_and_wgpu() {
        if !adapter_present() {
            return;
        }
        for (first, second) in [("flex", "wgpu"), ("wgpu", "flex")] {
            let tmp = tempfile::tempdir().unwrap();
            let flags = ["--backend", first, "--epochs", "2"];
            let (run, _) = train_synthetic(tmp.path(), "run", &flags);
            let run_str = run.to_str().unwrap();
            let args = [
                "train",
                "--resume",
                run_str,
                "--backend",
                second,
                "--epochs",
                "3",
            ];
            succeeded(&digits(&args));
            assert_eq!(test_accuracies(&run).len(), 3);
            let device = std::fs::read_to_string(run.join("device.toml")).unwrap();
            assert!(
                device.contains(&format!("backend = \"{second}\"")),
                "{device}"
            );
        }
    }

    /// With only a software GPU, `auto` trains on flex and says what it passed over.
    #[test]
    fn auto_passes_over_a_software_gpu() {
        if !adapter_present() {
            return;
        }
        if adapters().iter().any(|a| !a.is_software()) {
            eprintln!("skipped: this machine has a hardware GPU, which auto rightly takes");
            return;
        }
        let tmp = tempfile::tempdir().unwrap();
        let flags = ["--backend", "auto", "--epochs", "1"];
        let (run, output) = train_synthetic(tmp.path(), "run", &flags);
        let device = std::fs::read_to_string(run.join("device.toml")).unwrap();
        assert!(device.contains("backend = \"flex\""), "{device}");
        assert!(device.contains("auto: wgpu passed over"), "{device}");
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            stdout.contains("Backend: auto: wgpu passed over"),
            "{stdout}"
        );
    }

    /// No Vulkan driver at all: `--backend wgpu` is one line saying what to install.
    #[test]
    fn no_vulkan_driver_is_a_one_line_error() {
        let nothing = Path::new("/nonexistent/icd.json");
        let env = [("VK_DRIVER_FILES", nothing), ("VK_ICD_FILENAMES", nothing)];
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path().join("run");
        let args = [
            "train",
            "--config",
            "configs/smoke.toml",
            "--backend",
            "wgpu",
            "--out",
            out.to_str().unwrap(),
        ];
        let stderr = clean_error(&digits_with_env(&args, &env));
        assert!(!out.exists());
        assert!(stderr.contains("found no GPU adapter"), "{stderr}");
        assert!(stderr.contains("mesa-vulkan-drivers"), "{stderr}");
    }
}

#[cfg(not(feature = "remote"))]
#[test]
fn remote_trains() {
    eprintln!(
        "skipped: built without --features remote; .ci/run runs `cargo test --release --features wgpu,remote --test backends`"
    );
}

/// Burn's remote backend: `digits device-server` with flex behind it on 127.0.0.1, and clients
/// that train, evaluate and are refused through it.
#[cfg(feature = "remote")]
mod remote {
    use super::*;
    use std::io::{BufRead, BufReader};
    use std::process::{Child, Command, Output, Stdio};
    use std::time::{Duration, Instant};

    const TOKEN: &str = "a-test-token";

    /// A device server on a free loopback port, stopped when dropped.
    struct Server {
        child: Child,
        url: String,
        /// Kept open: the server prints more lines, and a closed pipe would end it.
        _stdout: BufReader<std::process::ChildStdout>,
    }

    impl Server {
        fn start() -> Self {
            let mut child = Command::new(env!("CARGO_BIN_EXE_digits"))
                .args(["device-server", "--backend", "flex", "--port", "0"])
                .env("DIGITS_REMOTE_TOKEN", TOKEN)
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .spawn()
                .unwrap();
            let mut first = String::new();
            let mut stdout = BufReader::new(child.stdout.take().unwrap());
            stdout.read_line(&mut first).unwrap();
            let url = first
                .trim()
                .rsplit(" at ")
                .next()
                .filter(|u| u.starts_with("ws://127.0.0.1:"))
                .unwrap_or_else(|| panic!("no address in {first:?}"))
                .to_string();
            Self {
                child,
                url,
                _stdout: stdout,
            }
        }
    }

    impl Drop for Server {
        fn drop(&mut self) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }

    /// `digits args` with `DIGITS_REMOTE_TOKEN` set to `token`, or unset.
    fn client(args: &[&str], token: Option<&str>) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_digits"));
        command.args(args).current_dir(env!("CARGO_MANIFEST_DIR"));
        match token {
            Some(token) => command.env("DIGITS_REMOTE_TOKEN", token),
            None => command.env_remove("DIGITS_REMOTE_TOKEN"),
        };
        command
    }

    fn run(args: &[&str], token: Option<&str>) -> Output {
        client(args, token).output().unwrap()
    }

    /// smoke.toml through the server reaches flex's accuracy within 0.5 points (the server
    /// computes on flex), and `eval` through it counts what flex counts.
    #[test]
    fn remote_trains_and_evaluates_like_flex() {
        let Some(mnist) = real_mnist() else { return };
        let server = Server::start();
        let tmp = tempfile::tempdir().unwrap();
        let flex = flex_smoke_run(&mnist, tmp.path());
        let remote = tmp.path().join("remote");
        let (mnist, remote_str) = (mnist.to_str().unwrap(), remote.to_str().unwrap());
        let args = [
            "train",
            "--config",
            "configs/smoke.toml",
            "--data-dir",
            mnist,
            "--out",
            remote_str,
            "--backend",
            "remote",
            "--remote",
            &server.url,
        ];
        let stdout = succeeded(&run(&args, Some(TOKEN)));
        assert!(
            stdout.contains(&format!("served at {}", server.url)),
            "{stdout}"
        );
        let (a, b) = (test_accuracies(&flex), test_accuracies(&remote));
        assert_eq!(b.len(), 2);
        assert!((a[1] - b[1]).abs() <= 0.005, "flex {a:?}, remote {b:?}");

        let flex_str = flex.to_str().unwrap();
        let through = [
            "eval",
            flex_str,
            "--data-dir",
            mnist,
            "--remote",
            &server.url,
        ];
        let local = ["eval", flex_str, "--data-dir", mnist, "--backend", "flex"];
        assert_eq!(
            eval_line(&succeeded(&run(&through, Some(TOKEN)))),
            eval_line(&succeeded(&run(&local, None)))
        );
    }

    /// Without the token, or with another, the server lets nobody in.
    #[test]
    fn the_server_refuses_a_missing_or_wrong_token() {
        let server = Server::start();
        let tmp = tempfile::tempdir().unwrap();
        let (run_dir, _) = train_synthetic(tmp.path(), "run", &["--epochs", "1"]);
        let args = [
            "eval",
            run_dir.to_str().unwrap(),
            "--backend",
            "remote",
            "--remote",
            &server.url,
        ];
        let stderr = clean_error(&run(&args, None));
        assert!(
            stderr.contains("wants a token: set DIGITS_REMOTE_TOKEN"),
            "{stderr}"
        );
        let stderr = clean_error(&run(&args, Some("not-the-token")));
        assert!(
            stderr.contains("refused the token in DIGITS_REMOTE_TOKEN"),
            "{stderr}"
        );
        succeeded(&run(&args, Some(TOKEN)));
    }

    /// Nobody listening: one line within a few seconds, not Burn's 16 s of retries.
    #[test]
    fn nobody_listening_is_a_quick_error() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let url = format!("ws://127.0.0.1:{port}");
        let started = Instant::now();
        let args = ["train", "--config", "configs/smoke.toml", "--remote", &url];
        let stderr = clean_error(&run(&args, Some(TOKEN)));
        assert!(
            stderr.contains(&format!("nothing answers at {url}")),
            "{stderr}"
        );
        assert!(
            started.elapsed() < Duration::from_secs(8),
            "{:?}",
            started.elapsed()
        );
    }

    /// A client killed in the middle of an epoch leaves the server serving the next one.
    #[test]
    fn a_client_killed_mid_epoch_leaves_the_server_serving() {
        let server = Server::start();
        let tmp = tempfile::tempdir().unwrap();
        let data = tmp.path().join("data");
        synthetic_mnist(&data, 600, 200, false);
        let config = synthetic_config(tmp.path());
        let doomed = tmp.path().join("doomed");
        let mut child = client(
            &[
                "train",
                "--config",
                config.to_str().unwrap(),
                "--data-dir",
                data.to_str().unwrap(),
                "--out",
                doomed.to_str().unwrap(),
                "--epochs",
                "1000",
                "--remote",
                &server.url,
            ],
            Some(TOKEN),
        )
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
        // Once an epoch is done the client is surely connected and busy with the next.
        let mut line = String::new();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        while !line.starts_with("Epoch 1:") {
            line.clear();
            assert!(
                stdout.read_line(&mut line).unwrap() > 0,
                "the client ended early"
            );
        }
        child.kill().unwrap();
        child.wait().unwrap();

        let (run_dir, _) = train_synthetic(tmp.path(), "local", &["--epochs", "1"]);
        let args = ["eval", run_dir.to_str().unwrap(), "--remote", &server.url];
        succeeded(&run(&args, Some(TOKEN)));
    }
}

#[cfg(not(feature = "tch"))]
#[test]
fn tch_trains() {
    eprintln!(
        "skipped: built without --features tch; it needs LibTorch (LIBTORCH, or LIBTORCH_USE_PYTORCH=1 with PyTorch 2.9.0, and LD_LIBRARY_PATH naming its lib folder), which .ci/run uses where installed"
    );
}

/// LibTorch trains smoke.toml to flex's accuracy within 0.5 points.
#[cfg(feature = "tch")]
#[test]
fn tch_trains_like_flex() {
    let Some(mnist) = real_mnist() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let flex = flex_smoke_run(&mnist, tmp.path());
    let torch = tmp.path().join("tch");
    let config = std::path::Path::new("configs/smoke.toml");
    succeeded(&train_run(config, &mnist, &torch, &["--backend", "tch"]));
    let (a, b) = (test_accuracies(&flex), test_accuracies(&torch));
    assert!((a[1] - b[1]).abs() <= 0.005, "flex {a:?}, tch {b:?}");
}
