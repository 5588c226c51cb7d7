//! `digits predict`: reads handwritten digits from image files.

use std::path::PathBuf;
use std::process::ExitCode;

use digits::data::digit_image;
use digits::model::inference;
use digits::train::Ensemble;

use crate::cli::Compute;

// The arguments of `digits predict`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// A run folder (its newest epoch) or a checkpoint folder. Given more than once, the
    /// models vote, as in `eval`.
    #[arg(long = "model", value_name = "RUN", required = true)]
    pub models: Vec<PathBuf>,
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

/// A line for each image: the class, its probability and the two runners-up (with several
/// models: the vote's class, its votes, and probabilities averaged over the models). An image
/// that cannot be read gets a one-line error, the others are still read, and the exit code
/// fails.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let device = args.compute.devices()?.eval;
    let ensemble = Ensemble::load(&args.models, &device)?;
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
    let (voted, members) = if pixels.is_empty() {
        (Vec::new(), Vec::new())
    } else {
        ensemble.read(&pixels, &device)
    };
    let classes = ensemble.classes();
    for (i, (path, pixels)) in read.iter().enumerate() {
        // The probabilities averaged over the models (one model: its own).
        let mut average = vec![0.0; classes.len()];
        for member in &members {
            for (sum, p) in average.iter_mut().zip(&member[i]) {
                *sum += p / members.len() as f32;
            }
        }
        let class = voted[i];
        let runners_up: Vec<String> = inference::ranked(&average)
            .into_iter()
            .filter(|&(c, _)| c != class)
            .take(2)
            .map(|(c, p)| format!("{} ({:.1}%)", classes[c], 100.0 * p))
            .collect();
        let votes = if members.len() > 1 {
            let votes = members
                .iter()
                .filter(|m| inference::ranked(&m[i])[0].0 == class)
                .count();
            format!("{votes} of {} votes, ", members.len())
        } else {
            String::new()
        };
        println!(
            "{}: {} ({votes}{:.1}%)  then {}",
            path.display(),
            classes[class],
            100.0 * average[class],
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
