//! Runs as TensorBoard and MLflow see them: the event files read by TensorBoard's own reader,
//! and a real `mlflow server` receiving a run, read back through MLflow's client.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::*;

pub fn tests() -> Vec<Test> {
    vec![
        test!(
            tensorboard_reads_metrics_csv_resumed_and_rolled_back,
            INTEROP_PYTHON
        ),
        test!(mlflow_receives_a_run_killed_and_resumed, MLFLOW_PYTHON),
        test!(a_dead_tracking_server_is_a_warning_and_a_file_store_an_error),
    ]
}

const SCRIPTS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/interop");

/// Runs a script of tests/interop and parses the JSON it prints.
fn python_json(python: &Path, script: &str, args: &[&std::ffi::OsStr]) -> Value {
    let output = Command::new(python)
        .arg(Path::new(SCRIPTS).join(script))
        .args(args)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{script}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

/// Each column of metrics.csv but the epoch, as (epoch, value) pairs: what a tracker must hold.
fn csv_series(run: &Path) -> Vec<(&'static str, Vec<(u64, f64)>)> {
    let rows = metrics_rows(run);
    METRICS_COLUMNS[1..]
        .iter()
        .enumerate()
        .map(|(i, &column)| {
            let series = rows
                .iter()
                .map(|row| (row[0].parse().unwrap(), row[i + 1].parse().unwrap()))
                .collect();
            (column, series)
        })
        .collect()
}

/// A tracker's `{tag: [[step, "value"], ...]}` as pairs; the values come as Python's shortest
/// text, which `str::parse` reads exactly.
fn series(found: &Value, tag: &str) -> Vec<(u64, f64)> {
    found[tag]
        .as_array()
        .unwrap_or_else(|| panic!("no {tag} in {found}"))
        .iter()
        .map(|pair| {
            let value = pair[1].as_str().unwrap().parse().unwrap();
            (pair[0].as_u64().unwrap(), value)
        })
        .collect()
}

/// The synthetic config with `extra` TOML appended.
fn config_with(dir: &Path, extra: &str) -> PathBuf {
    let config = synthetic_config(dir);
    let text = std::fs::read_to_string(&config).unwrap() + extra;
    std::fs::write(&config, text).unwrap();
    config
}

/// TensorBoard's EventAccumulator, with its purge of repeated steps off, reads exactly the
/// values of metrics.csv (as float32, TensorBoard's scalars), with one value per epoch, after a plain resume and after a resume
/// that rolled back an epoch (its newest checkpoint damaged); the epochs kept keep their wall
/// times. The config and the network are there as text, and `[output] tensorboard = false`
/// writes no log.
fn tensorboard_reads_metrics_csv_resumed_and_rolled_back() {
    let tmp = tempfile::tempdir().unwrap();
    let (run, _) = train_synthetic(tmp.path(), "run", &["--epochs", "2"]);
    let read = || {
        let found = python_json(
            interop_python(),
            "tensorboard_events.py",
            &[run.join("tb").as_os_str()],
        );
        note!("{found}");
        assert_eq!(found["files"].as_array().unwrap().len(), 1, "{found}");
        // TensorBoard's scalars are 32-bit floats: metrics.csv's values rounded to float32.
        for (column, expected) in csv_series(&run) {
            let expected: Vec<(u64, f64)> = expected
                .into_iter()
                .map(|(step, value)| (step, value as f32 as f64))
                .collect();
            assert_eq!(series(&found["scalars"], column), expected, "{column}");
        }
        found
    };
    let found = read();
    let config = found["texts"]["config"][0].as_str().unwrap();
    assert!(config.contains("batch_size = 10\n"), "{config}");
    let network = found["texts"]["network"][0].as_str().unwrap();
    assert!(
        network.contains("| fc 50, relu | 50 | 39250 |"),
        "{network}"
    );

    let wall_times = |found: &Value| -> Vec<String> {
        serde_json::from_value(found["wall_times"]["train_loss"].clone()).unwrap()
    };
    let before = wall_times(&found);

    Digits::resume(&run).args(["--epochs", "3"]).succeeds();
    let found = read();
    assert_eq!(metrics_rows(&run).len(), 3);
    // The log is written afresh, but each epoch keeps the time it was evaluated at.
    assert_eq!(wall_times(&found)[..2], before[..]);

    let model = run.join("checkpoints/epoch-0003/model.bpk");
    let mut bytes = std::fs::read(&model).unwrap();
    bytes[200] ^= 0xff;
    std::fs::write(&model, bytes).unwrap();
    let stderr =
        String::from_utf8_lossy(&Digits::resume(&run).args(["--epochs", "4"]).output().stderr)
            .into_owned();
    assert!(stderr.contains("skipping damaged checkpoint"), "{stderr}");
    let found = read();
    let steps: Vec<u64> = series(&found["scalars"], "train_loss")
        .iter()
        .map(|(step, _)| *step)
        .collect();
    assert_eq!(steps, [1, 2, 3, 4]);

    let config = config_with(tmp.path(), "\n[output]\ntensorboard = false\n");
    let quiet = tmp.path().join("without");
    Digits::train(&config, tmp.path().join("data"), &quiet)
        .args(["--epochs", "1"])
        .succeeds();
    assert!(quiet.join("metrics.csv").is_file());
    assert!(!quiet.join("tb").exists());
}

/// `mlflow server` on 127.0.0.1, in a temp folder, stopped with the test.
struct MlflowServer {
    child: Child,
    uri: String,
    _dir: tempfile::TempDir,
}

impl MlflowServer {
    fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let store = format!("sqlite:///{}", dir.path().join("mlflow.db").display());
        let log = std::fs::File::create(dir.path().join("server.log")).unwrap();
        let child = Command::new(mlflow_python())
            .args([
                "-m",
                "mlflow",
                "server",
                "--host",
                "127.0.0.1",
                "--workers",
                "1",
            ])
            .args(["--port", &port.to_string(), "--backend-store-uri", &store])
            .arg("--artifacts-destination")
            .arg(dir.path().join("artifacts"))
            .current_dir(dir.path())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .process_group(0)
            .spawn()
            .unwrap();
        let server = Self {
            child,
            uri: format!("http://127.0.0.1:{port}"),
            _dir: dir,
        };
        let deadline = Instant::now() + Duration::from_secs(120);
        while !server.healthy() {
            assert!(
                Instant::now() < deadline,
                "mlflow server did not start: {}",
                std::fs::read_to_string(server._dir.path().join("server.log")).unwrap()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
        server
    }

    /// `GET /health` answers `OK`.
    fn healthy(&self) -> bool {
        use std::io::{Read, Write};
        let address = self.uri.trim_start_matches("http://");
        let Ok(mut stream) = std::net::TcpStream::connect(address) else {
            return false;
        };
        let request =
            format!("GET /health HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n");
        let mut answer = String::new();
        stream.write_all(request.as_bytes()).is_ok()
            && stream.read_to_string(&mut answer).is_ok()
            && answer.starts_with("HTTP/1.1 200")
    }

    /// The run as the server returns it, its artifacts downloaded into `out`.
    fn run(&self, run_id: &str, out: &Path) -> Value {
        python_json(
            mlflow_python(),
            "mlflow_run.py",
            &[self.uri.as_ref(), run_id.as_ref(), out.as_os_str()],
        )
    }
}

impl Drop for MlflowServer {
    fn drop(&mut self) {
        // The server and its workers share its process group; nothing of theirs needs keeping.
        let _ = Command::new("kill")
            .args(["-s", "KILL", "--", &format!("-{}", self.child.id())])
            .status();
        let _ = self.child.wait();
    }
}

/// The run id noted in the run folder.
fn noted_run_id(run: &Path) -> String {
    let noted: toml::Table =
        toml::from_str(&std::fs::read_to_string(run.join("mlflow.toml")).unwrap()).unwrap();
    noted["run_id"].as_str().unwrap().to_string()
}

/// A run stopped by Ctrl-C after its second epoch is KILLED on the server, with the config's
/// keys as params and the epochs so far. Resumed, it continues the same MLflow run to
/// FINISHED: every column of metrics.csv is a metric with one value per epoch, and the model
/// and config downloaded back equal the run folder's bytes.
fn mlflow_receives_a_run_killed_and_resumed() {
    let server = MlflowServer::start();
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    synthetic_mnist(&data, 600, 200, false);
    let config = config_with(
        tmp.path(),
        "\n[output]\nmlflow_experiment = \"digits tests\"\n",
    );
    let run = tmp.path().join("killed-and-resumed");
    let train = Digits::train(&config, &data, &run).env("MLFLOW_TRACKING_URI", &server.uri);
    let child = spawn_pausing(train, 100);
    wait_for("epoch 2", || run.join("checkpoints/epoch-0002").is_dir());
    signal(child.id(), "INT");
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(130), "{stderr}");
    assert!(!stderr.contains("MLflow"), "{stderr}");

    let run_id = noted_run_id(&run);
    let killed = server.run(&run_id, &tmp.path().join("killed"));
    note!("{killed}");
    assert_eq!(killed["status"], "KILLED");
    assert_eq!(killed["run_name"], "killed-and-resumed");
    assert_eq!(killed["experiment"], "digits tests");
    assert_eq!(killed["params"]["training.batch_size"], "10");
    assert_eq!(killed["params"]["model.sizes"], "[784, 50, 10]");
    assert_eq!(killed["params"]["optimizer.lr"], "0.1");
    let epochs_sent = series(&killed["metrics"], "train_loss").len();
    assert_eq!(epochs_sent, metrics_rows(&run).len());

    let output = Digits::resume(&run)
        .env("MLFLOW_TRACKING_URI", &server.uri)
        .output();
    let stdout = succeeded(&output);
    assert!(!stdout.contains("Warning"), "{stdout}");
    assert_eq!(noted_run_id(&run), run_id);
    let downloaded = tmp.path().join("finished");
    let finished = server.run(&run_id, &downloaded);
    note!("{finished}");
    assert_eq!(finished["status"], "FINISHED");
    assert_eq!(metrics_rows(&run).len(), 10);
    for (column, expected) in csv_series(&run) {
        assert_eq!(series(&finished["metrics"], column), expected, "{column}");
    }
    assert_eq!(
        finished["artifacts"],
        serde_json::json!(["config.toml", "model.bpk"])
    );
    for name in ["config.toml", "model.bpk"] {
        assert!(
            std::fs::read(downloaded.join(name)).unwrap() == std::fs::read(run.join(name)).unwrap(),
            "{name} came back different"
        );
    }
}

/// A tracking URI where nothing listens is a warning naming it, and the run completes with
/// every file; a `file:` store is refused before anything is made, in a line that says why.
fn a_dead_tracking_server_is_a_warning_and_a_file_store_an_error() {
    let tmp = tempfile::tempdir().unwrap();
    let uri = format!("http://127.0.0.1:{}", free_port());
    let data = tmp.path().join("data");
    synthetic_mnist(&data, 600, 200, false);
    let config = synthetic_config(tmp.path());
    let run = tmp.path().join("run");
    let stdout = Digits::train(&config, &data, &run)
        .args(["--epochs", "2"])
        .env("MLFLOW_TRACKING_URI", &uri)
        .succeeds();
    let warning =
        format!("Warning: MLflow at {uri}: mlflow/experiments/get-by-name: cannot connect");
    assert!(stdout.contains(&warning), "{stdout}");
    assert!(
        stdout.contains("training goes on without MLflow"),
        "{stdout}"
    );
    assert_eq!(metrics_rows(&run).len(), 2);
    assert!(run.join("model.bpk").is_file());
    assert!(!run.join("mlflow.toml").exists());

    let refused = tmp.path().join("refused");
    let error = Digits::train(&config, &data, &refused)
        .env("MLFLOW_TRACKING_URI", "file:///tmp/mlruns")
        .fails();
    assert!(
        error.starts_with("error: MLFLOW_TRACKING_URI=file:///tmp/mlruns: digits logs to MLflow through a tracking server's REST API"),
        "{error}"
    );
    assert!(!refused.exists());
}
