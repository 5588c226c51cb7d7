//! `digits predict`: reads handwritten digits from image files.

use std::path::PathBuf;
use std::process::ExitCode;

use digits::data::digit_image;
use digits::model::inference;
use digits::train::Trained;

use crate::cli::Compute;

// The arguments of `digits predict`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// A run folder (its newest epoch) or a checkpoint folder.
    #[arg(long, value_name = "RUN")]
    pub model: PathBuf,
    /// The images.
    #[arg(required = true)]
    pub images: Vec<PathBuf>,
    /// Also print each 28×28 input as text: what the network saw.
    #[arg(long)]
    pub show: bool,
    /// Save each image's preparation as pictures in DIR: grey, background removed, threshold,
    /// crop, and the 28×28 input. For a photo that reads wrong.
    #[arg(long, value_name = "DIR")]
    pub explain: Option<PathBuf>,
    #[command(flatten)]
    pub compute: Compute,
}

/// A line for each image: the class, its probability and the two runners-up. An image that
/// cannot be read gets a one-line error, the others are still read, and the exit code fails.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let device = args.compute.devices()?.eval;
    let trained = Trained::load(&args.model, &device)?;
    let mut failed = false;
    let mut read = Vec::new();
    for path in &args.images {
        match digit_image::load_explained(path) {
            Ok(steps) => {
                if let Some(dir) = &args.explain {
                    let stem = path.file_stem().unwrap_or_default().to_string_lossy();
                    let saved = steps.save(dir, &stem)?;
                    eprintln!(
                        "{}: its preparation is in {} ... {}",
                        path.display(),
                        saved[0].display(),
                        saved[saved.len() - 1].display()
                    );
                }
                read.push((path, steps.pixels));
            }
            Err(error) => {
                eprintln!("error: {error}");
                failed = true;
            }
        }
    }
    let pixels: Vec<_> = read.iter().map(|(_, p)| *p).collect();
    let probabilities = if pixels.is_empty() {
        Vec::new()
    } else {
        trained.probabilities(&pixels, &device)
    };
    let classes = trained.classes();
    for ((path, pixels), probabilities) in read.iter().zip(&probabilities) {
        let ranked = inference::ranked(probabilities);
        let runners_up: Vec<String> = ranked[1..ranked.len().min(3)]
            .iter()
            .map(|(class, p)| format!("{} ({:.1}%)", classes[*class], 100.0 * p))
            .collect();
        println!(
            "{}: {} ({:.1}%)  then {}",
            path.display(),
            classes[ranked[0].0],
            100.0 * ranked[0].1,
            runners_up.join(", ")
        );
        if args.show {
            println!("{}", digit_image::text_art(pixels));
        }
    }
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}
