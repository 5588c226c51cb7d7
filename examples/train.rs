//! Train a network from a config through the library, the way the `digits train` command does.
//!
//! ```sh
//! cargo run --release --example train -- configs/smoke.toml [MNIST folder]
//! ```

use std::path::PathBuf;

use digits::run::{Overrides, Run};

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let config = PathBuf::from(args.next().unwrap_or("configs/smoke.toml".into()));
    let overrides = Overrides {
        data_dir: args.next().map(PathBuf::from),
        out: Some(std::env::temp_dir().join("digits-example")),
        ..Overrides::default()
    };
    let run = Run::new(&config, &overrides, true)?;
    println!("training {:?} on {}", run.config.model.sizes, run.source);
    let never = std::sync::atomic::AtomicBool::new(false);
    let summary = run.train(&never, |epoch| println!("{epoch}"))?;
    let best = summary.best().expect("at least one epoch");
    println!(
        "best test accuracy {:.2}% at epoch {}",
        100.0 * best.test_accuracy(),
        best.epoch
    );
    Ok(())
}
