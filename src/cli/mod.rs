//! The `digits` command line: one file per command, each with its arguments (clap) and the glue
//! that prints what the library returns. These are the binary's modules; the work is the
//! library's.

pub mod data;
pub mod device_server;
pub mod errors;
pub mod eval;
pub mod export;
pub mod gradcheck;
pub mod import;
pub mod limits;
pub mod plot;
pub mod predict;
pub mod reproduce;
pub mod runs;
pub mod serve;
pub mod train;

use std::sync::atomic::{AtomicBool, Ordering};

use digits::backend::{BackendName, Devices};

/// Raised by Ctrl-C or SIGTERM; the training loop checks it at every step.
pub static STOP: AtomicBool = AtomicBool::new(false);

/// Ctrl-C and SIGTERM raise [`STOP`]; a second one exits at once.
pub fn stop_on_signals() -> anyhow::Result<()> {
    ctrlc::set_handler(|| {
        if STOP.swap(true, Ordering::SeqCst) {
            // A second Ctrl-C: the files of the last complete epoch are on disk already.
            std::process::exit(130);
        }
    })?;
    Ok(())
}

/// The devices of `backend`, with what was said about the choice on stderr.
pub fn devices(backend: BackendName, remote: Option<&str>) -> anyhow::Result<Devices> {
    let devices = Devices::select(backend, remote)?;
    for note in &devices.notes {
        eprintln!("Backend: {note}");
    }
    Ok(devices)
}

// Where to compute, for the commands that read a trained model: `--backend` and `--remote`.
#[derive(Debug, clap::Args)]
pub struct Compute {
    /// Where to compute.
    #[arg(long, value_enum, default_value_t = BackendName::Auto)]
    pub backend: BackendName,
    /// The device server for --backend remote: ws://HOST:PORT.
    #[arg(long, value_name = "URL")]
    pub remote: Option<String>,
}

impl Compute {
    /// The devices these flags name (see [`devices`]).
    pub fn devices(&self) -> anyhow::Result<Devices> {
        devices(self.backend, self.remote.as_deref())
    }
}
