//! What tests need beyond the build, found once per test process: real MNIST, the Python of the
//! interop checks, a Python with PyTorch, Chromium, a backend compiled in. Each is a
//! [`Requirement`] that tests name where they are registered, and an accessor the test body
//! calls (`mnist()`, `interop_python()`, ...), which the harness has already checked.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use digits::backend::BackendName;
use digits::data::MNIST_FILES;
use digits::data::MnistSource;

use crate::harness::Requirement;

/// The variable that names a folder with real MNIST (CI sets it).
pub const MNIST_ENV: &str = "DIGITS_MNIST_DIR";

/// Real MNIST, found as `digits train` finds it, without downloading.
pub const MNIST: Requirement = Requirement::provided_by_ci("MNIST", || found_mnist().map(drop));

/// A Python with numpy, onnxruntime, safetensors and tensorboard
/// (`tests/interop/requirements.txt`).
pub const INTEROP_PYTHON: Requirement =
    Requirement::provided_by_ci("interop Python", || found_interop_python().map(drop));

/// A Python with MLflow, whose `mlflow server` the tracking tests start (CI makes its venv).
pub const MLFLOW_PYTHON: Requirement =
    Requirement::provided_by_ci("MLflow Python", || found_mlflow_python().map(drop));

/// A Python with PyTorch, safetensors and numpy; never under CI (PyTorch's wheel is gigabytes).
pub const TORCH_PYTHON: Requirement =
    Requirement::optional("PyTorch Python", || found_torch_python().map(drop));

/// Debian's `chromium` and `chromium-driver` on PATH.
pub const CHROMIUM: Requirement = Requirement::provided_by_ci("Chromium", || {
    for (program, package) in [
        ("chromedriver", "chromium-driver"),
        ("chromium", "chromium"),
    ] {
        on_path(program)
            .ok_or_else(|| format!("no {program} on PATH: apt-get install {package}"))?;
    }
    Ok(())
});

/// The ndarray backend compiled in (`--features ndarray`).
pub const NDARRAY: Requirement =
    Requirement::optional("ndarray", || compiled(BackendName::Ndarray));

/// The remote backend compiled in (`--features remote`).
pub const REMOTE: Requirement = Requirement::optional("remote", || compiled(BackendName::Remote));

/// LibTorch compiled in (`--features tch`, which needs LibTorch or PyTorch 2.9.0 to build).
pub const TCH: Requirement = Requirement::optional("tch", || compiled(BackendName::Tch));

/// Enough open files for this process to hold 2,000 client sockets and more: raises the soft
/// limit to the hard one.
pub const OPEN_FILES: Requirement = Requirement::optional("4,096 open files", || {
    let (_, hard) = rlimit::Resource::NOFILE.get().map_err(|e| e.to_string())?;
    if hard < 4096 {
        return Err(format!(
            "the hard limit on open files is {hard} (ulimit -Hn)"
        ));
    }
    rlimit::Resource::NOFILE
        .set(hard, hard)
        .map_err(|e| e.to_string())
});

/// Limits `command`'s process to `files` open files, soft and hard, as `ulimit -n` would.
pub fn limit_open_files(command: &mut std::process::Command, files: u64) {
    use std::os::unix::process::CommandExt;
    // SAFETY: setrlimit is async-signal-safe, and nothing else runs in the child yet.
    unsafe {
        command.pre_exec(move || rlimit::Resource::NOFILE.set(files, files));
    }
}

fn compiled(backend: BackendName) -> Result<(), String> {
    if backend.compiled() {
        Ok(())
    } else {
        Err(format!("built without --features {backend}"))
    }
}

/// Where a program is on PATH.
pub fn on_path(name: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join(name))
        .find(|path| path.is_file())
}

/// The MNIST folder of [`MNIST`], for tests that declare it.
pub fn mnist() -> &'static Path {
    found_mnist().expect("a test that reads MNIST declares MNIST where it is registered")
}

/// `name` or `name.gz` in an MNIST folder, whichever exists.
pub fn mnist_file(dir: &Path, name: &str) -> Option<PathBuf> {
    MnistSource::Folder(dir.to_path_buf()).file(name)
}

/// Real MNIST as `MnistFiles::open` finds it: `DIGITS_MNIST_DIR`; else burn-dataset's cache
/// when it holds all four files (as a folder of links to them, since `--data-dir` takes one
/// folder); else the offline copy beside the repository. Nothing is downloaded.
fn found_mnist() -> Result<&'static Path, String> {
    static FOUND: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    FOUND
        .get_or_init(find_mnist)
        .as_deref()
        .map_err(Clone::clone)
}

fn find_mnist() -> Result<PathBuf, String> {
    let lacking = |source: &MnistSource| -> Vec<&str> {
        MNIST_FILES
            .into_iter()
            .filter(|name| source.file(name).is_none())
            .collect()
    };
    if let Some(dir) = std::env::var_os(MNIST_ENV) {
        let dir = PathBuf::from(dir);
        let missing = lacking(&MnistSource::Folder(dir.clone()));
        return if missing.is_empty() {
            Ok(dir)
        } else {
            Err(format!(
                "{MNIST_ENV}={} lacks {}",
                dir.display(),
                missing.join(", ")
            ))
        };
    }
    if lacking(&MnistSource::BurnCache).is_empty() {
        return Ok(burn_cache_as_one_folder());
    }
    let shared = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/mnist");
    if lacking(&MnistSource::Folder(shared.clone())).is_empty() {
        return Ok(shared.canonicalize().unwrap_or(shared));
    }
    Err(format!(
        "no MNIST: set {MNIST_ENV} to a folder with its four files, or run `digits train` once \
         online to fill burn-dataset's cache"
    ))
}

/// A folder of links to the four files of burn-dataset's cache, which keeps them in `train/`
/// and `test/`; made in the target directory, anew by each test process.
fn burn_cache_as_one_folder() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("burn-dataset-mnist");
    std::fs::create_dir_all(&dir).unwrap();
    for name in MNIST_FILES {
        let file = MnistSource::BurnCache.file(name).unwrap();
        let link = dir.join(name);
        if std::fs::read_link(&link).ok().as_ref() != Some(&file) {
            let _ = std::fs::remove_file(&link);
            // Another test process may have made the same link meanwhile.
            if let Err(e) = std::os::unix::fs::symlink(&file, &link)
                && std::fs::read_link(&link).ok().as_ref() != Some(&file)
            {
                panic!("cannot link {} to {}: {e}", link.display(), file.display());
            }
        }
    }
    dir
}

/// The variable naming the Python that has onnxruntime, numpy and safetensors.
pub const INTEROP_PYTHON_ENV: &str = "DIGITS_INTEROP_PYTHON";

/// The variable naming a Python with MLflow.
pub const MLFLOW_PYTHON_ENV: &str = "DIGITS_MLFLOW_PYTHON";

/// The variable naming a Python with PyTorch.
pub const TORCH_PYTHON_ENV: &str = "DIGITS_TORCH_PYTHON";

/// The Python of [`INTEROP_PYTHON`], for tests that declare it.
pub fn interop_python() -> &'static Path {
    found_interop_python().expect("a test that runs the interop Python declares INTEROP_PYTHON")
}

/// The Python of [`MLFLOW_PYTHON`], for tests that declare it.
pub fn mlflow_python() -> &'static Path {
    found_mlflow_python().expect("a test that runs MLflow declares MLFLOW_PYTHON")
}

/// The Python of [`TORCH_PYTHON`], for tests that declare it.
pub fn torch_python() -> &'static Path {
    found_torch_python().expect("a test that runs PyTorch declares TORCH_PYTHON")
}

/// `DIGITS_INTEROP_PYTHON`, else `python3`, when it has the interop packages.
fn found_interop_python() -> Result<&'static Path, String> {
    static FOUND: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    FOUND
        .get_or_init(|| {
            let python = std::env::var_os(INTEROP_PYTHON_ENV)
                .map_or_else(|| "python3".into(), PathBuf::from);
            let modules = ["numpy", "onnxruntime", "safetensors", "tensorboard"];
            python_with(&python, &modules).map_err(|lacks| {
                format!(
                    "{} lacks {lacks}: make the venv of tests/interop/requirements.txt and set \
                     {INTEROP_PYTHON_ENV} (README, Development)",
                    python.display()
                )
            })
        })
        .as_deref()
        .map_err(Clone::clone)
}

/// `DIGITS_MLFLOW_PYTHON`, else `python3`, when it has MLflow.
fn found_mlflow_python() -> Result<&'static Path, String> {
    static FOUND: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    FOUND
        .get_or_init(|| {
            let python =
                std::env::var_os(MLFLOW_PYTHON_ENV).map_or_else(|| "python3".into(), PathBuf::from);
            python_with(&python, &["mlflow"]).map_err(|_| {
                format!(
                    "{} lacks mlflow: python3 -m venv ~/.cache/digits-mlflow && \
                     ~/.cache/digits-mlflow/bin/pip install mlflow, and set {MLFLOW_PYTHON_ENV} \
                     (README, Development)",
                    python.display()
                )
            })
        })
        .as_deref()
        .map_err(Clone::clone)
}

/// `DIGITS_TORCH_PYTHON`, else the interop Python, else `python3`, when it has PyTorch,
/// safetensors and numpy.
fn found_torch_python() -> Result<&'static Path, String> {
    static FOUND: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    FOUND
        .get_or_init(|| {
            let python = std::env::var_os(TORCH_PYTHON_ENV)
                .or_else(|| std::env::var_os(INTEROP_PYTHON_ENV))
                .map_or_else(|| "python3".into(), PathBuf::from);
            python_with(&python, &["torch", "safetensors", "numpy"]).map_err(|lacks| {
                format!(
                    "{} lacks {lacks}: set {TORCH_PYTHON_ENV} to a Python with PyTorch",
                    python.display()
                )
            })
        })
        .as_deref()
        .map_err(Clone::clone)
}

/// `python` itself when it imports every module, else the modules it lacks.
fn python_with(python: &Path, modules: &[&str]) -> Result<PathBuf, String> {
    let imports = |module: &str| {
        Command::new(python)
            .args(["-c", &format!("import {module}")])
            .output()
            .is_ok_and(|o| o.status.success())
    };
    let lacks: Vec<&str> = modules.iter().copied().filter(|m| !imports(m)).collect();
    if lacks.is_empty() {
        Ok(python.to_path_buf())
    } else {
        Err(lacks.join(", "))
    }
}
