//! The backends against each other: the CPU backends' gradients, accuracy after a real run and
//! checkpoints carried from one to the other; wgpu, remote and LibTorch trained against flex;
//! and the error for a backend not compiled in.
//!
//! The default build has flex only: the tests of the others are ignored there, as "built
//! without --features ...". .ci/run runs them in their own build, `cargo test --release
//! --features ndarray,wgpu,remote --test suite backends::` (and `tch` where LibTorch is
//! installed).

use crate::common::*;
use crate::harness::Requirement;
use digits::backend::BackendName;

pub fn tests() -> Vec<Test> {
    vec![
        test!(
            a_backend_not_compiled_in_is_a_one_line_error,
            A_BACKEND_LEFT_OUT
        ),
        test!(
            cpu_pair::autodiff_gradients_agree_across_cpu_backends,
            NDARRAY
        ),
        test!(
            cpu_pair::cpu_backends_reach_the_same_accuracy,
            NDARRAY,
            MNIST
        ),
        test!(cpu_pair::checkpoints_move_between_cpu_backends, NDARRAY),
        test!(
            feature = "wgpu",
            wgpu::wgpu_trains_evaluates_and_predicts_like_flex,
            wgpu::ADAPTER,
            MNIST
        ),
        test!(
            feature = "wgpu",
            wgpu::runs_resume_across_flex_and_wgpu,
            wgpu::ADAPTER
        ),
        test!(
            feature = "wgpu",
            wgpu::auto_passes_over_a_software_gpu,
            wgpu::ADAPTER,
            wgpu::NO_HARDWARE_GPU
        ),
        test!(feature = "wgpu", wgpu::no_vulkan_driver_is_a_one_line_error),
        test!(remote::remote_trains_and_evaluates_like_flex, REMOTE, MNIST),
        test!(remote::the_server_refuses_a_missing_or_wrong_token, REMOTE),
        test!(remote::nobody_listening_is_a_quick_error, REMOTE),
        test!(
            remote::a_client_killed_mid_epoch_leaves_the_server_serving,
            REMOTE
        ),
        test!(
            remote::hostile_clients_leave_the_server_serving_and_small,
            REMOTE,
            OPEN_FILES
        ),
        test!(tch_trains_like_flex, TCH, MNIST),
    ]
}

/// A backend this build lacks, for the error it gives.
const A_BACKEND_LEFT_OUT: Requirement = Requirement::optional("a backend left out", || {
    if BackendName::CONCRETE.into_iter().all(|b| b.compiled()) {
        return Err("every backend is compiled in".into());
    }
    Ok(())
});

/// A backend this build lacks names the ones it has and the feature that adds it.
fn a_backend_not_compiled_in_is_a_one_line_error() {
    let missing = BackendName::CONCRETE
        .into_iter()
        .find(|b| !b.compiled())
        .unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("run");
    let stderr = Digits::new("train")
        .config("configs/smoke.toml")
        .backend(missing.to_string())
        .out(&out)
        .fails();
    assert!(
        stderr.contains(&format!("--features {missing}")),
        "{stderr}"
    );
    assert!(!out.exists());
}

/// ndarray against flex.
mod cpu_pair {
    use super::*;
    use burn::data::dataloader::batcher::Batcher;
    use burn::data::dataset::vision::MnistItem;
    use burn::optim::GradientsParams;
    use digits::backend::Devices;
    use digits::data::MnistBatcher;
    use digits::model::NetworkConfig;
    use digits::train::RunConfig;
    use std::path::Path;

    /// Every parameter's gradient of one mini-batch's cost, flattened, on `backend`.
    fn gradients(config: &RunConfig, backend: BackendName) -> Vec<Vec<f32>> {
        let device = Devices::select(backend, None).unwrap().train;
        let model = NetworkConfig::new(config.model.clone(), config.output()).init(7, &device);
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
    pub fn autodiff_gradients_agree_across_cpu_backends() {
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
    pub fn cpu_backends_reach_the_same_accuracy() {
        let tmp = tempfile::tempdir().unwrap();
        let mut accuracy = Vec::new();
        for backend in ["ndarray", "flex"] {
            let run = tmp.path().join(backend);
            Digits::new("train")
                .config("configs/smoke.toml")
                .data_dir(mnist())
                .backend(backend)
                .out(&run)
                .succeeds();
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
    pub fn checkpoints_move_between_cpu_backends() {
        for (first, second) in [("ndarray", "flex"), ("flex", "ndarray")] {
            let tmp = tempfile::tempdir().unwrap();
            let flags = ["--backend", first, "--epochs", "2"];
            let (run, _) = train_synthetic(tmp.path(), "run", &flags);

            let stdout = Digits::new("eval").arg(&run).backend(second).succeeds();
            let correct = (test_accuracies(&run)[1] * 200.0).round();
            assert!(
                stdout.contains(&format!("Test accuracy: {correct} / 200")),
                "{stdout}"
            );

            Digits::resume(&run)
                .backend(second)
                .args(["--epochs", "3"])
                .succeeds();
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

/// `digits train` of smoke.toml on real MNIST into `run` with `backend`.
fn smoke_run(run: &std::path::Path, backend: &str) -> Digits {
    Digits::train("configs/smoke.toml", mnist(), run).backend(backend)
}

/// `smoke.toml` trained on flex on real MNIST into `dir/flex`.
fn flex_smoke_run(dir: &std::path::Path) -> std::path::PathBuf {
    let run = dir.join("flex");
    smoke_run(&run, "flex").succeeds();
    run
}

/// wgpu for real: on a hardware GPU where there is one, else on Mesa's lavapipe, a Vulkan
/// driver that runs on the CPU (.ci/run installs it), about 100 times slower than flex.
#[cfg(feature = "wgpu")]
mod wgpu {
    use super::*;
    use digits::backend::wgpu::adapters;
    use std::path::Path;

    /// A wgpu adapter: a GPU, or lavapipe, which .ci/run installs.
    pub const ADAPTER: Requirement = Requirement::provided_by_ci("wgpu adapter", || {
        if adapters().is_empty() {
            return Err("no wgpu adapter: apt-get install mesa-vulkan-drivers gives one".into());
        }
        Ok(())
    });

    /// No hardware GPU, which `auto` rightly takes.
    pub const NO_HARDWARE_GPU: Requirement = Requirement::optional("no hardware GPU", || {
        if adapters().iter().any(|a| !a.is_software()) {
            return Err("this machine has a hardware GPU, which auto rightly takes".into());
        }
        Ok(())
    });

    /// smoke.toml for 2 epochs on wgpu reaches flex's test accuracy within 0.5 points; the
    /// flex run evaluates on wgpu to the same test count and a picture reads as the same digit.
    pub fn wgpu_trains_evaluates_and_predicts_like_flex() {
        let tmp = tempfile::tempdir().unwrap();
        let flex = flex_smoke_run(tmp.path());
        let gpu = tmp.path().join("wgpu");
        let stdout = smoke_run(&gpu, "wgpu").succeeds();
        let device = std::fs::read_to_string(gpu.join("device.toml")).unwrap();
        assert!(device.contains("backend = \"wgpu\""), "{device}");
        if adapters().iter().all(|a| a.is_software()) {
            assert!(stdout.contains("Backend: wgpu is on"), "{stdout}");
            assert!(device.contains("a CPU adapter"), "{device}");
        }
        let (a, b) = (test_accuracies(&flex), test_accuracies(&gpu));
        assert_eq!(b.len(), 2);
        assert!((a[1] - b[1]).abs() <= 0.005, "flex {a:?}, wgpu {b:?}");

        let on = |backend: &str| {
            let eval = Digits::new("eval")
                .arg(&flex)
                .data_dir(mnist())
                .backend(backend);
            eval_line(&eval.succeeds())
        };
        assert_eq!(on("wgpu"), on("flex"));

        let picture = tmp.path().join("one.png");
        write_digit_picture(&picture);
        let read = |backend: &str| {
            let predict = Digits::new("predict")
                .model(&flex)
                .arg(&picture)
                .backend(backend);
            predicted_digit(&predict.succeeds())
        };
        assert_eq!(read("wgpu"), read("flex"));
    }

    /// A run started on one of flex and wgpu resumes on the other.
    pub fn runs_resume_across_flex_and_wgpu() {
        for (first, second) in [("flex", "wgpu"), ("wgpu", "flex")] {
            let tmp = tempfile::tempdir().unwrap();
            let flags = ["--backend", first, "--epochs", "2"];
            let (run, _) = train_synthetic(tmp.path(), "run", &flags);
            Digits::resume(&run)
                .backend(second)
                .args(["--epochs", "3"])
                .succeeds();
            assert_eq!(test_accuracies(&run).len(), 3);
            let device = std::fs::read_to_string(run.join("device.toml")).unwrap();
            assert!(
                device.contains(&format!("backend = \"{second}\"")),
                "{device}"
            );
        }
    }

    /// With only a software GPU, `auto` trains on flex and says what it passed over.
    pub fn auto_passes_over_a_software_gpu() {
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
    pub fn no_vulkan_driver_is_a_one_line_error() {
        let nothing = Path::new("/nonexistent/icd.json");
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path().join("run");
        let stderr = Digits::new("train")
            .config("configs/smoke.toml")
            .backend("wgpu")
            .out(&out)
            .env("VK_DRIVER_FILES", nothing)
            .env("VK_ICD_FILENAMES", nothing)
            .fails();
        assert!(!out.exists());
        assert!(stderr.contains("found no GPU adapter"), "{stderr}");
        assert!(stderr.contains("mesa-vulkan-drivers"), "{stderr}");
    }
}

/// Burn's remote backend: `digits device-server` with flex behind it on 127.0.0.1, and clients
/// that train, evaluate and are refused through it.
mod remote {
    use super::*;
    use std::io::{BufRead, BufReader};
    use std::process::{Child, Stdio};
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
            Self::start_with(&[], Stdio::null(), None)
        }

        /// A server with `flags`, its stderr to `stderr`, and at most `files` open files.
        fn start_with(flags: &[&str], stderr: Stdio, files: Option<u64>) -> Self {
            let mut command = Digits::new("device-server")
                .backend("flex")
                .args(["--port", "0"])
                .args(flags)
                .env("DIGITS_REMOTE_TOKEN", TOKEN)
                .command();
            if let Some(files) = files {
                limit_open_files(&mut command, files);
            }
            let mut child = command
                .stdout(Stdio::piped())
                .stderr(stderr)
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

    /// `digits` with `DIGITS_REMOTE_TOKEN` set to `token`, or unset.
    fn with_token(digits: Digits, token: Option<&str>) -> Digits {
        match token {
            Some(token) => digits.env("DIGITS_REMOTE_TOKEN", token),
            None => digits.env_remove("DIGITS_REMOTE_TOKEN"),
        }
    }

    /// smoke.toml through the server reaches flex's accuracy within 0.5 points (the server
    /// computes on flex), and `eval` through it counts what flex counts.
    pub fn remote_trains_and_evaluates_like_flex() {
        let server = Server::start();
        let tmp = tempfile::tempdir().unwrap();
        let flex = flex_smoke_run(tmp.path());
        let remote = tmp.path().join("remote");
        let train = smoke_run(&remote, "remote").args(["--remote", &server.url]);
        let stdout = with_token(train, Some(TOKEN)).succeeds();
        assert!(
            stdout.contains(&format!("served at {}", server.url)),
            "{stdout}"
        );
        let (a, b) = (test_accuracies(&flex), test_accuracies(&remote));
        assert_eq!(b.len(), 2);
        assert!((a[1] - b[1]).abs() <= 0.005, "flex {a:?}, remote {b:?}");

        let eval = || Digits::new("eval").arg(&flex).data_dir(mnist());
        let through = eval().args(["--remote", &server.url]);
        let local = eval().backend("flex");
        assert_eq!(
            eval_line(&with_token(through, Some(TOKEN)).succeeds()),
            eval_line(&with_token(local, None).succeeds())
        );
    }

    /// Without the token, or with another, the server lets nobody in.
    pub fn the_server_refuses_a_missing_or_wrong_token() {
        let server = Server::start();
        let tmp = tempfile::tempdir().unwrap();
        let (run, _) = train_synthetic(tmp.path(), "run", &["--epochs", "1"]);
        let eval = |token| {
            let eval = Digits::new("eval")
                .arg(&run)
                .backend("remote")
                .args(["--remote", &server.url]);
            with_token(eval, token)
        };
        let stderr = eval(None).fails();
        assert!(
            stderr.contains("wants a token: set DIGITS_REMOTE_TOKEN"),
            "{stderr}"
        );
        let stderr = eval(Some("not-the-token")).fails();
        assert!(
            stderr.contains("refused the token in DIGITS_REMOTE_TOKEN"),
            "{stderr}"
        );
        eval(Some(TOKEN)).succeeds();
    }

    /// Nobody listening: one line within a few seconds, not Burn's 16 s of retries.
    pub fn nobody_listening_is_a_quick_error() {
        let url = format!("ws://127.0.0.1:{}", free_port());
        let started = Instant::now();
        let train = Digits::new("train")
            .config("configs/smoke.toml")
            .args(["--remote", &url]);
        let stderr = with_token(train, Some(TOKEN)).fails();
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
    pub fn a_client_killed_mid_epoch_leaves_the_server_serving() {
        let server = Server::start();
        let tmp = tempfile::tempdir().unwrap();
        let data = tmp.path().join("data");
        synthetic_mnist(&data, 600, 200, false);
        let doomed = tmp.path().join("doomed");
        let train = Digits::train(synthetic_config(tmp.path()), &data, &doomed)
            .args(["--epochs", "1000"])
            .args(["--remote", &server.url]);
        // Once an epoch is done the client is surely connected and busy with the next.
        kill_after_first_epoch(with_token(train, Some(TOKEN)));

        let (run, _) = train_synthetic(tmp.path(), "local", &["--epochs", "1"]);
        let eval = Digits::new("eval")
            .arg(&run)
            .args(["--remote", &server.url]);
        with_token(eval, Some(TOKEN)).succeeds();
    }

    /// Bytes that look random, from a fixed seed.
    fn noise(n: usize, seed: u64) -> Vec<u8> {
        let mut state = seed | 1;
        (0..n)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                state as u8
            })
            .collect()
    }

    /// A client's WebSocket frame (masked, as clients must): `opcode` 1 text, 2 binary.
    fn frame(opcode: u8, payload: &[u8]) -> Vec<u8> {
        let mut frame = vec![0x80 | opcode];
        match payload.len() {
            n if n < 126 => frame.push(0x80 | n as u8),
            n if n < 65_536 => {
                frame.push(0x80 | 126);
                frame.extend((n as u16).to_be_bytes());
            }
            n => {
                frame.push(0x80 | 127);
                frame.extend((n as u64).to_be_bytes());
            }
        }
        let mask = [0x37, 0xfa, 0x21, 0x3d];
        frame.extend(mask);
        frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        frame
    }

    /// A WebSocket handshake for `path`.
    fn handshake(path: &str) -> Vec<u8> {
        format!(
            "GET {path} HTTP/1.1\r\nHost: digits\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )
        .into_bytes()
    }

    /// Connects to `at`, sends `bytes` (as much as the server takes), and reads until the
    /// server closes or `wait` passes: what came back (its first line, and how many bytes),
    /// and how long until the server closed, if it did.
    fn hostile(
        at: std::net::SocketAddr,
        bytes: &[u8],
        wait: Duration,
    ) -> (String, Option<Duration>) {
        use std::io::{Read, Write};
        let started = Instant::now();
        let mut stream = std::net::TcpStream::connect(at).unwrap();
        let _ = stream.write_all(bytes);
        let mut got = Vec::new();
        let mut buffer = [0u8; 4096];
        let closed = loop {
            let Some(left) = wait.checked_sub(started.elapsed()) else {
                break None;
            };
            stream
                .set_read_timeout(Some(left.max(Duration::from_millis(1))))
                .unwrap();
            match stream.read(&mut buffer) {
                Ok(0) => break Some(started.elapsed()),
                Ok(n) => got.extend_from_slice(&buffer[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {
                    break Some(started.elapsed());
                }
                Err(_) => break None,
            }
        };
        let first = String::from_utf8_lossy(&got);
        let first = first.lines().next().unwrap_or("").to_string();
        (format!("{first:?} ({} bytes)", got.len()), closed)
    }

    fn rss_kib(pid: u32) -> u64 {
        std::fs::read_to_string(format!("/proc/{pid}/status"))
            .unwrap()
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap()
    }

    /// Clients with no token, one after another, against a server limited to 1,024 open files
    /// with the header timeout at 2 s: garbage in place of a handshake, a plain GET, a
    /// handshake to `/` and 50 random frames, a frame header claiming 2⁶² bytes, text frames,
    /// 8 MB of random frames, 200 connections opened and dropped at once, and 1,000 that say
    /// nothing, while a client with the token evaluates through it. Each is closed within the
    /// timeout and a few seconds; the server stays up, under 100 MB more than it started with,
    /// panics nowhere, and logs one line per closed connection, at most ten a second; a client
    /// with the token then trains through it.
    pub fn hostile_clients_leave_the_server_serving_and_small() {
        let tmp = tempfile::tempdir().unwrap();
        let log = tmp.path().join("server.log");
        let mut server = Server::start_with(
            &["--header-timeout", "2", "--per-peer-connections", "5000"],
            std::fs::File::create(&log).unwrap().into(),
            Some(1024),
        );
        let at: std::net::SocketAddr = server.url.trim_start_matches("ws://").parse().unwrap();
        let pid = server.child.id();
        let started_with = rss_kib(pid);
        let wait = Duration::from_secs(6);
        let session = |then: &[u8]| [handshake("/session"), then.to_vec()].concat();
        let fifty_frames: Vec<u8> = (0..50)
            .flat_map(|i| frame(2, &noise(100 + i * 37, i as u64 + 7)))
            .collect();
        let huge_header = {
            let mut header = vec![0x82, 0x80 | 127];
            header.extend((1u64 << 62).to_be_bytes());
            header.extend([1, 2, 3, 4]);
            header.extend(noise(1000, 3));
            header
        };
        let text: Vec<u8> = (0..20)
            .flat_map(|i| frame(1, format!("hello {i}").as_bytes()))
            .collect();
        let eight_mb: Vec<u8> = (0..128)
            .flat_map(|i| frame(2, &noise(65_536, i + 100)))
            .collect();
        let clients: Vec<(&str, Vec<u8>)> = vec![
            ("garbage in place of a handshake", noise(4096, 1)),
            (
                "a plain HTTP GET",
                b"GET / HTTP/1.1\r\nHost: digits\r\n\r\n".to_vec(),
            ),
            (
                "a handshake to / and 50 random frames",
                [handshake("/"), fifty_frames].concat(),
            ),
            ("a frame header claiming 2^62 bytes", session(&huge_header)),
            ("text frames", session(&text)),
            ("8 MB of random frames", session(&eight_mb)),
        ];
        for (name, bytes) in &clients {
            let (got, closed) = hostile(at, bytes, wait);
            note!("device server, {name}: got {got}, closed after {closed:.2?}");
            assert!(closed.is_some(), "{name}: still open after {wait:?}");
            assert!(
                server.child.try_wait().unwrap().is_none(),
                "{name}: the server ended"
            );
        }

        let dropped: Vec<_> = (0..200)
            .map(|_| std::net::TcpStream::connect(at).unwrap())
            .collect();
        drop(dropped);

        // 1,000 silent connections, more than the 960 places of a 1,024-file limit: a client
        // with the token is let in all the same, and every silent one is closed.
        let (run, _) = train_synthetic(tmp.path(), "local", &["--epochs", "1"]);
        let silent: Vec<_> = (0..1000)
            .map(|_| std::net::TcpStream::connect(at).unwrap())
            .collect();
        let started = Instant::now();
        let eval = Digits::new("eval")
            .arg(&run)
            .args(["--remote", &server.url]);
        with_token(eval, Some(TOKEN)).succeeds();
        note!(
            "device server, 1,000 silent connections: a client with the token evaluated in {:.2?}",
            started.elapsed()
        );
        let mut open = 0;
        for mut stream in silent {
            use std::io::Read;
            let left = wait.saturating_sub(started.elapsed());
            stream
                .set_read_timeout(Some(left.max(Duration::from_millis(1))))
                .unwrap();
            if !matches!(stream.read(&mut [0u8; 16]), Ok(0) | Err(_)) || left.is_zero() {
                open += 1;
            }
        }
        note!(
            "device server, 1,000 silent connections: {open} open after {:.2?}",
            started.elapsed()
        );
        assert_eq!(open, 0);
        let rss = rss_kib(pid);
        note!(
            "device server RSS: {started_with} KiB at start, {rss} KiB after the hostile clients"
        );
        assert!(rss < started_with + 100 * 1024, "{rss} KiB");
        assert!(
            server.child.try_wait().unwrap().is_none(),
            "the server ended"
        );

        let train = Digits::train(
            synthetic_config(tmp.path()),
            tmp.path().join("data"),
            tmp.path().join("remote"),
        )
        .args(["--epochs", "1", "--remote", &server.url]);
        with_token(train, Some(TOKEN)).succeeds();

        drop(server);
        let log = std::fs::read_to_string(&log).unwrap();
        note!("device server log:\n{log}");
        assert!(!log.contains("panicked"), "{log}");
        assert!(!log.contains("stack backtrace"), "{log}");
        assert!(
            log.contains("digits device-server: closed 127.0.0.1:"),
            "{log}"
        );
    }
}

/// LibTorch trains smoke.toml to flex's accuracy within 0.5 points. (`--features tch` needs
/// LibTorch: LIBTORCH, or LIBTORCH_USE_PYTORCH=1 with PyTorch 2.9.0, and LD_LIBRARY_PATH naming
/// its lib folder, which .ci/run uses where installed.)
fn tch_trains_like_flex() {
    let tmp = tempfile::tempdir().unwrap();
    let flex = flex_smoke_run(tmp.path());
    let torch = tmp.path().join("tch");
    smoke_run(&torch, "tch").succeeds();
    let (a, b) = (test_accuracies(&flex), test_accuracies(&torch));
    assert!((a[1] - b[1]).abs() <= 0.005, "flex {a:?}, tch {b:?}");
}
