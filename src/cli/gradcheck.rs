//! `digits gradcheck`: autodiff's gradients against central differences, as *Deep Learning
//! from Scratch* checks its hand-written backprop.

use std::path::PathBuf;
use std::process::ExitCode;

use digits::books::gradcheck;
use digits::data::RunData;
use digits::train::RunConfig;

use crate::cli::devices;

// The arguments of `digits gradcheck`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The run description whose network (and seed) is checked.
    #[arg(long, value_name = "FILE")]
    pub config: PathBuf,
    /// A folder holding the four MNIST IDX files (overrides [data] dir).
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Training examples in the batch.
    #[arg(long, value_name = "N", default_value_t = 3)]
    pub examples: usize,
}

/// Checks the config's network; the exit code fails where autodiff and central differences
/// disagree.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let (config, data_dir, examples) = (&args.config, args.data_dir.as_deref(), args.examples);
    let run = RunConfig::load(config)?;
    let data = RunData::open(&run.data, data_dir, true)?;
    run.validate(
        &config.display().to_string(),
        data.train_pool(),
        data.classes().len(),
    )?;
    if run.model.batch_norm {
        anyhow::bail!(
            "{}: gradcheck does not check batch normalisation; set [model] batch_norm = false",
            config.display()
        );
    }
    let devices = devices(run.training.backend, None)?;
    let batch = data.first_training_examples(examples.max(1), &devices.train);
    println!(
        "Gradient check of {} ({} cost, seed {}) on {} training examples: central differences, step {}",
        run.model.describe_layers(),
        run.loss.cost,
        run.training.seed,
        batch.len(),
        gradcheck::STEP
    );
    let checks = gradcheck::check(&run, &batch, &devices.train);
    for check in &checks {
        println!(
            "  {:<18} {:>14}  {:>3} entries  mean |autodiff - numerical| {:.2e}  max relative error {:.2e}{}",
            check.name,
            format!("{:?}", check.shape),
            check.checked,
            check.mean_abs_diff,
            check.max_rel_error,
            if check.passes() { "" } else { "  TOO LARGE" }
        );
        if check.kinks > 0 {
            println!(
                "  {:<18} {} of them at a ReLU kink, compared with the one-sided slope autodiff takes",
                "", check.kinks
            );
        }
    }
    if checks.iter().all(|c| c.passes()) {
        println!(
            "OK: every relative error is below {:.0e}",
            gradcheck::THRESHOLD
        );
        Ok(ExitCode::SUCCESS)
    } else {
        eprintln!(
            "error: autodiff and central differences disagree beyond {:.0e}",
            gradcheck::THRESHOLD
        );
        Ok(ExitCode::FAILURE)
    }
}
