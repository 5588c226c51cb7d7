//! `digits runs`: the runs below a folder, one line each, or their curves in one picture.

use std::path::PathBuf;
use std::process::ExitCode;

use digits::train::runs::{RunSummary, Status, find};

/// A column of the list, to sort by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Column {
    /// The run's folder, A to Z.
    Name,
    /// The network, A to Z.
    Network,
    /// Epochs done, most first.
    Epochs,
    /// Best validation accuracy, highest first.
    Best,
    /// Test accuracy at the best validation epoch, highest first.
    Test,
    /// Training time, longest first.
    Time,
    /// Training now, then interrupted, then finished.
    Status,
}

// The arguments of `digits runs`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The folder to look in, below which every run is listed (default: artifacts); with
    /// --plot, the run folders to draw.
    #[arg(value_name = "DIR|RUN")]
    pub paths: Vec<PathBuf>,
    /// The list as JSON, for scripts.
    #[arg(long, conflicts_with = "plot")]
    pub json: bool,
    /// The column to sort by.
    #[arg(long, value_enum, default_value_t = Column::Name)]
    pub sort: Column,
    /// Draw the learning curves of the RUNs given into this picture (PNG, or SVG by
    /// extension), as `digits plot` does.
    #[arg(long, value_name = "OUT.png")]
    pub plot: Option<PathBuf>,
}

/// Lists the runs, or draws their curves.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    if let Some(output) = &args.plot {
        anyhow::ensure!(
            !args.paths.is_empty(),
            "runs --plot {} needs the run folders to draw: runs --plot OUT.png RUN...",
            output.display()
        );
        crate::cli::plot::draw(&args.paths, output)?;
        return Ok(ExitCode::SUCCESS);
    }
    let root = match args.paths.as_slice() {
        [] => PathBuf::from("artifacts"),
        [dir] => dir.clone(),
        _ => anyhow::bail!("runs lists one folder; to draw several runs, give --plot OUT.png"),
    };
    let mut runs = Vec::new();
    for dir in find(&root)? {
        match RunSummary::read(&dir, &root) {
            Ok(run) => runs.push(run),
            Err(error) => eprintln!("Skipped {}: {error:#}", dir.display()),
        }
    }
    sort(&mut runs, args.sort);
    if args.json {
        println!("{}", serde_json::to_string_pretty(&runs)?);
        return Ok(ExitCode::SUCCESS);
    }
    if runs.is_empty() {
        println!("No runs below {}.", root.display());
        return Ok(ExitCode::SUCCESS);
    }
    print_table(&runs);
    Ok(ExitCode::SUCCESS)
}

fn sort(runs: &mut [RunSummary], by: Column) {
    let descending = |a: f64, b: f64| b.total_cmp(&a);
    runs.sort_by(|a, b| match by {
        Column::Name => a.name.cmp(&b.name),
        Column::Network => a.network.cmp(&b.network).then(a.name.cmp(&b.name)),
        Column::Epochs => b.epochs.cmp(&a.epochs),
        Column::Best => descending(
            a.best_validation.unwrap_or(-1.0),
            b.best_validation.unwrap_or(-1.0),
        ),
        Column::Test => descending(a.test.unwrap_or(-1.0), b.test.unwrap_or(-1.0)),
        Column::Time => descending(a.seconds, b.seconds),
        Column::Status => a.status.cmp(&b.status).then(a.name.cmp(&b.name)),
    });
}

fn print_table(runs: &[RunSummary]) {
    let rows: Vec<[String; 7]> = runs
        .iter()
        .map(|run| {
            let percent = |v: Option<f64>| v.map_or("-".into(), |v| format!("{:.2}%", 100.0 * v));
            [
                run.name.clone(),
                run.network.clone(),
                format!("{}/{}", run.epochs, run.planned),
                match run.best_epoch {
                    Some(epoch) => format!("{} (epoch {epoch})", percent(run.best_validation)),
                    None => "-".into(),
                },
                percent(run.test),
                format!("{:.1} s", run.seconds),
                match run.status {
                    Status::Training => "training now",
                    Status::Interrupted => "interrupted",
                    Status::Finished => "finished",
                }
                .into(),
            ]
        })
        .collect();
    let header = [
        "run",
        "network",
        "epochs",
        "best validation",
        "test",
        "time",
        "status",
    ];
    let widths: Vec<usize> = (0..header.len())
        .map(|i| {
            rows.iter()
                .map(|r| r[i].chars().count())
                .chain([header[i].len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |cells: Vec<&str>| {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(cell, &width)| format!("{cell:<width$}"))
            .collect();
        println!("{}", padded.join("  ").trim_end());
    };
    line(header.to_vec());
    for row in &rows {
        line(row.iter().map(String::as_str).collect());
    }
}
