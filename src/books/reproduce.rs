//! `digits reproduce`: reruns the books' experiments ([`crate::books::suite`]) from their
//! configs and writes `REPORT.md`, a table of each published figure beside ours, with the
//! learning curves of each group of experiments overlaid.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::time::Instant;

use anyhow::{Context, bail};

use crate::backend::{BackendName, Devices};
use crate::books::suite::{Claim, Experiment, Group, Published, SUITE, Split};
use crate::files::write_atomically;
use crate::train::charts::{self, Curves};
use crate::train::ensemble::Ensemble;
use crate::train::learner::Observer;
use crate::train::metrics::{self, EpochMetrics};
use crate::train::run::{Overrides, Run, RunSummary};

/// The epochs of every run with `--quick`, which exists so that CI runs the whole pipeline.
pub const QUICK_EPOCHS: usize = 2;
/// The training examples of a run of the groups run on request (the convolutional chapters)
/// with `--quick`: an epoch of expanded data is then 5,000 images, seconds on two cores.
pub const QUICK_EXAMPLES: usize = 1000;
/// The report, in the output folder.
pub const REPORT_FILE: &str = "REPORT.md";

/// How to run the suite.
#[derive(Debug, Clone)]
pub struct Options {
    /// The folder of the configs, normally `configs/`.
    pub configs: PathBuf,
    /// Where the runs and the report go, normally `artifacts/reproduce/`.
    pub out: PathBuf,
    /// Every run cut to [`QUICK_EPOCHS`] epochs, and those run on request to
    /// [`QUICK_EXAMPLES`] training examples.
    pub quick: bool,
    /// Every new run cut to at most this many epochs.
    pub epochs: Option<usize>,
    /// Runs already in `out` are kept: resumed to their own epochs (a finished one is read
    /// back, not trained again) instead of moved aside and trained afresh.
    pub keep: bool,
    /// Only the experiments named by one of these, or whose name contains one; none, every
    /// group but those run on request.
    pub only: Vec<String>,
    /// The MNIST folder, as `--data-dir`.
    pub data_dir: Option<PathBuf>,
    /// The backend, as `--backend`.
    pub backend: Option<BackendName>,
}

/// An ensemble's plurality vote on the test split.
#[derive(Debug, Clone)]
pub struct Vote {
    /// Test images the vote classifies correctly.
    pub correct: usize,
    /// Test images.
    pub total: usize,
    /// Each member's own test accuracy, in percent.
    pub members: Vec<f64>,
}

/// One finished experiment.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// What was run.
    pub experiment: Experiment,
    /// What it achieved.
    pub summary: RunSummary,
    /// The epochs its config plans; more than it ran where the run was cut short.
    pub planned: usize,
    /// For an ensemble, its vote (`summary` is then its first member's).
    pub vote: Option<Vote>,
    /// Wall time of the whole run: loading, training, evaluating and checkpointing.
    pub seconds: f64,
}

impl Outcome {
    fn final_epoch(&self) -> &EpochMetrics {
        self.summary.history.last().expect("a run trains an epoch")
    }

    /// Training accuracy minus test accuracy at the end, in points.
    fn gap(&self) -> f64 {
        100.0 * (self.summary.train_accuracy() - self.final_epoch().test_accuracy())
    }
}

/// Runs the suite (or the experiments `options.only` selects), telling `announce` as each one
/// starts and `observer` as it trains, then writes the report. Returns the report's path.
pub fn reproduce(
    options: &Options,
    stop: &AtomicBool,
    announce: &mut dyn FnMut(&str),
    observer: &mut dyn Observer,
) -> anyhow::Result<PathBuf> {
    if !options.configs.is_dir() {
        bail!(
            "{}: no such configs folder; run from the repository root or pass --configs DIR",
            options.configs.display()
        );
    }
    // A term that is an experiment's whole name selects that one (`network3-fc`, not also
    // `network3-fc2`); any other term, every experiment whose name contains it.
    let exact = |term: &str| {
        SUITE
            .iter()
            .flat_map(|g| g.experiments)
            .any(|e| e.name == term)
    };
    let selected = |group: &Group, e: &Experiment| match options.only.as_slice() {
        [] => options.quick || !group.on_request,
        only => only.iter().any(|term| {
            if exact(term) {
                e.name == term
            } else {
                e.name.contains(term.as_str())
            }
        }),
    };
    let experiments: Vec<(&Group, &Experiment)> = SUITE
        .iter()
        .flat_map(|g| g.experiments.iter().map(move |e| (g, e)))
        .filter(|(g, e)| selected(g, e))
        .collect();
    if experiments.is_empty() {
        bail!(
            "--only {}: no experiment matches; they are {}",
            options.only.join(", "),
            SUITE
                .iter()
                .flat_map(|g| g.experiments)
                .map(|e| e.name)
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    std::fs::create_dir_all(&options.out)
        .with_context(|| format!("cannot create {}", options.out.display()))?;
    let started = Instant::now();
    let mut outcomes = Vec::new();
    for (group, experiment) in experiments {
        let config = options.configs.join(format!("{}.toml", experiment.config));
        announce(&format!("== {} ({})", experiment.name, config.display()));
        let dir = options.out.join(experiment.name);
        let planned = crate::train::RunConfig::load(&config)?.training.epochs;
        let cap = match (options.quick, options.epochs) {
            (true, cap) => Some(cap.unwrap_or(QUICK_EPOCHS).min(QUICK_EPOCHS)),
            (false, cap) => cap,
        };
        let overrides = Overrides {
            data_dir: options.data_dir.clone(),
            backend: options.backend,
            epochs: cap.map(|cap| planned.min(cap)),
            train_limit: (options.quick && group.on_request).then_some(QUICK_EXAMPLES),
            ..Overrides::default()
        };
        let mut trained = Vec::new();
        if experiment.seeds.is_empty() {
            trained.push(train_one(
                &config, &dir, &overrides, options, stop, announce, observer,
            )?);
        }
        for &seed in experiment.seeds {
            let seeded = Overrides {
                seed: Some(seed),
                ..overrides.clone()
            };
            let member = dir.join(format!("seed-{seed}"));
            announce(&format!("   seed {seed} ({})", member.display()));
            trained.push(train_one(
                &config, &member, &seeded, options, stop, announce, observer,
            )?);
        }
        let vote = if experiment.seeds.is_empty() {
            None
        } else {
            Some(vote_at_best_validation(&trained, options)?)
        };
        let mut trained = trained.into_iter();
        let (backend, summary, seconds) = trained.next().expect("a run per experiment");
        outcomes.push((
            backend,
            Outcome {
                experiment: *experiment,
                planned,
                seconds: seconds + trained.map(|(_, _, s)| s).sum::<f64>(),
                summary,
                vote,
            },
        ));
    }
    let backend = outcomes.first().map(|(b, _)| b.clone()).unwrap_or_default();
    let outcomes: Vec<Outcome> = outcomes.into_iter().map(|(_, o)| o).collect();
    for group in SUITE {
        let curves: Vec<Curves> = outcomes
            .iter()
            .filter(|o| {
                group
                    .experiments
                    .iter()
                    .any(|e| e.name == o.experiment.name)
            })
            .map(|o| Curves {
                label: o.experiment.name.to_string(),
                epochs: o.summary.history.clone(),
            })
            .collect();
        if !curves.is_empty() {
            charts::draw_curves(&curves, &options.out.join(format!("{}.png", group.chart)))?;
        }
    }
    let report = render(
        &outcomes,
        options,
        &backend,
        started.elapsed().as_secs_f64(),
    );
    let path = options.out.join(REPORT_FILE);
    write_atomically(&path, report.as_bytes())?;
    Ok(path)
}

/// Trains the run of `config` in `dir`, or with `--keep` resumes the one there, and returns
/// its backend, what it achieved and its time: the wall time of this sitting, or a kept run's
/// epochs' (what this sitting did is only the rest).
fn train_one(
    config: &Path,
    dir: &Path,
    overrides: &Overrides,
    options: &Options,
    stop: &AtomicBool,
    announce: &mut dyn FnMut(&str),
    observer: &mut dyn Observer,
) -> anyhow::Result<(String, RunSummary, f64)> {
    let begun = Instant::now();
    let kept = options.keep && dir.join(crate::train::run::CONFIG_FILE).is_file();
    let run = if kept {
        announce(&format!("   (kept: resuming {})", dir.display()));
        let resumed = Overrides {
            data_dir: options.data_dir.clone(),
            backend: options.backend,
            ..Overrides::default()
        };
        Run::resume(dir, None, &resumed)?
    } else {
        let overrides = Overrides {
            out: Some(dir.to_path_buf()),
            ..overrides.clone()
        };
        Run::new(config, &overrides, true)?
    };
    if let Some(aside) = &run.moved_aside {
        announce(&format!(
            "   (the previous run is kept in {})",
            aside.display()
        ));
    }
    let backend = run.devices.describe();
    let summary = run.train(stop, observer)?;
    let seconds = if kept {
        summary.history.iter().map(|e| e.seconds).sum()
    } else {
        begun.elapsed().as_secs_f64()
    };
    Ok((backend, summary, seconds))
}

/// The members' plurality vote on the test split, each member read at its best validation
/// epoch (the checkpoint every run keeps), as network3's figures are read.
fn vote_at_best_validation(
    members: &[(String, RunSummary, f64)],
    options: &Options,
) -> anyhow::Result<Vote> {
    let checkpoints: Vec<PathBuf> = members
        .iter()
        .map(|(_, summary, _)| {
            let best = metrics::best_validation(&summary.history).expect("a run trains an epoch");
            crate::train::checkpoint::folder(&summary.dir, best.epoch)
        })
        .collect();
    let device = Devices::select(options.backend.unwrap_or(BackendName::Auto), None)?.eval;
    let evaluation =
        Ensemble::load(&checkpoints, &device)?.evaluate(options.data_dir.as_deref(), &device)?;
    Ok(Vote {
        correct: evaluation.matrix.correct(),
        total: evaluation.matrix.total(),
        members: evaluation
            .members
            .iter()
            .map(|(_, own)| 100.0 * own.correct() as f64 / own.total() as f64)
            .collect(),
    })
}

/// Our figure and how it compares, for the table: (published, ours, difference).
fn compare(outcome: &Outcome, all: &[Outcome]) -> (String, String, String) {
    let history = &outcome.summary.history;
    let last = outcome.final_epoch();
    let named = |name: &str| all.iter().find(|o| o.experiment.name == name);
    let verdict = |holds: Option<bool>| match holds {
        Some(true) => "holds".to_string(),
        Some(false) => "**does not hold**".to_string(),
        None => "not checked (run the group together)".to_string(),
    };
    match outcome.experiment.published {
        Published::Accuracy { split, percent } => {
            let (best, name) = match split {
                Split::Test => (metrics::best_test(history), "test"),
                Split::Validation => (metrics::best_validation(history), "validation"),
                Split::TestAtBestValidation => (
                    metrics::best_validation(history),
                    "test at the best validation",
                ),
            };
            let best = best.expect("a run trains an epoch");
            let ours = 100.0
                * match split {
                    Split::Test | Split::TestAtBestValidation => best.test_accuracy(),
                    Split::Validation => best.validation_accuracy(),
                };
            let shortened = if history.len() < outcome.planned {
                format!(", {} of {} epochs", history.len(), outcome.planned)
            } else {
                String::new()
            };
            (
                format!("{percent:.2}% {name}"),
                format!("{ours:.2}% {name} (epoch {}{shortened})", best.epoch),
                format!("{:+.2} points", ours - percent),
            )
        }
        Published::Vote { percent } => {
            let vote = outcome.vote.as_ref().expect("an ensemble votes");
            let ours = 100.0 * vote.correct as f64 / vote.total as f64;
            let members: Vec<String> = vote.members.iter().map(|m| format!("{m:.2}")).collect();
            let shortened = if history.len() < outcome.planned {
                format!("; {} of {} epochs each", history.len(), outcome.planned)
            } else {
                String::new()
            };
            (
                format!("{percent:.2}% test, {} runs voting", vote.members.len()),
                format!(
                    "{ours:.2}% test (members at their best validation epochs: {}%{shortened})",
                    members.join(", ")
                ),
                format!("{:+.2} points", ours - percent),
            )
        }
        Published::Claim(claim) => {
            let loss = format!("final loss {:.3}", last.train_loss);
            match claim {
                Claim::SlowestOfGroup => {
                    let group = SUITE
                        .iter()
                        .find(|g| {
                            g.experiments
                                .iter()
                                .any(|e| e.name == outcome.experiment.name)
                        })
                        .expect("every experiment is in a group");
                    let others: Vec<&Outcome> = group
                        .experiments
                        .iter()
                        .filter(|e| e.name != outcome.experiment.name)
                        .filter_map(|e| named(e.name))
                        .collect();
                    let holds = (!others.is_empty()).then(|| {
                        others
                            .iter()
                            .all(|o| o.final_epoch().train_loss < last.train_loss)
                    });
                    ("learns slowest of its group".into(), loss, verdict(holds))
                }
                Claim::FasterThan(name) => {
                    let other = named(name);
                    let ours = match other {
                        Some(o) => format!("{loss} ({name}: {:.3})", o.final_epoch().train_loss),
                        None => loss,
                    };
                    let holds = other.map(|o| last.train_loss < o.final_epoch().train_loss);
                    (format!("learns faster than {name}"), ours, verdict(holds))
                }
                Claim::DoesNotLearn => (
                    "does not learn (loss stays near 2.30)".into(),
                    format!("{loss}, test {:.2}%", 100.0 * last.test_accuracy()),
                    verdict(Some(last.train_loss > 2.2)),
                ),
                Claim::Overfits => (
                    "training 100%, test far below".into(),
                    format!(
                        "training {:.1}%, gap {:.1} points",
                        100.0 * outcome.summary.train_accuracy(),
                        outcome.gap()
                    ),
                    verdict(Some(
                        outcome.summary.train_accuracy() >= 0.995 && outcome.gap() >= 10.0,
                    )),
                ),
                Claim::NarrowsGapOf(name) => {
                    let other = named(name);
                    let ours = format!(
                        "training {:.1}%, gap {:.1} points{}",
                        100.0 * outcome.summary.train_accuracy(),
                        outcome.gap(),
                        other.map_or(String::new(), |o| format!(" ({name}: {:.1})", o.gap()))
                    );
                    let holds = other.map(|o| outcome.gap() < o.gap());
                    (format!("narrower gap than {name}"), ours, verdict(holds))
                }
            }
        }
    }
}

/// The report: how it was made, the table, then a section per group with its chart.
fn render(outcomes: &[Outcome], options: &Options, backend: &str, seconds: f64) -> String {
    let quick = options.quick;
    let mut md = String::from("# The books' experiments, rerun\n\n");
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut flags = String::new();
    if quick {
        flags += " --quick";
    }
    if let Some(epochs) = options.epochs {
        flags += &format!(" --epochs {epochs}");
    }
    if options.keep {
        flags += " --keep";
    }
    for only in &options.only {
        flags += &format!(" --only {only}");
    }
    let _ = writeln!(
        md,
        "Made by `digits reproduce{flags}` (digits {}) on {backend}, {cores} CPU cores{}, in {:.0} s.\n",
        env!("CARGO_PKG_VERSION"),
        cpu_model().map_or(String::new(), |m| format!(" ({m})")),
        seconds
    );
    if quick {
        md.push_str(&format!(
            "**Quick mode:** every run is cut to at most {QUICK_EPOCHS} epochs, and the convolutional chapters' to their first {QUICK_EXAMPLES} training images, so that CI can run the whole pipeline. These figures are not comparable with the books'.\n\n"
        ));
    }
    if !quick && outcomes.iter().any(|o| o.summary.history.len() < o.planned) {
        md.push_str("**Shortened rows:** where a run was cut to fewer epochs than its config plans, its row says how many it ran; its figure is not the book's full run.\n\n");
    }
    md.push_str(
        "Accuracies are read as the books report them: the best over the epochs on the split the book names, or, where a row says *test at the best validation*, network3's way: the test accuracy at the epoch of the best validation accuracy. \
         Where a book only draws a figure, the table states what the figure shows and checks it against our runs. \
         *Time* is the wall time of the whole run: loading the data, training, evaluating every epoch and writing a checkpoint every epoch; for a run kept from an earlier sitting (`--keep`), the sum of its epochs' training passes.\n\n",
    );
    md.push_str("| experiment | source | published | ours | difference | time |\n");
    md.push_str("|---|---|---|---|---|---|\n");
    for outcome in outcomes {
        let (published, ours, difference) = compare(outcome, outcomes);
        let _ = writeln!(
            md,
            "| `{}` | {} | {published} | {ours} | {difference} | {:.1} s |",
            outcome.experiment.name, outcome.experiment.source, outcome.seconds
        );
    }
    for group in SUITE {
        let runs: Vec<&Outcome> = outcomes
            .iter()
            .filter(|o| {
                group
                    .experiments
                    .iter()
                    .any(|e| e.name == o.experiment.name)
            })
            .collect();
        if runs.is_empty() {
            continue;
        }
        let _ = writeln!(
            md,
            "\n## {}\n\n![{}]({}.png)\n",
            group.title, group.chart, group.chart
        );
        md.push_str("| run | epochs of planned | best validation (epoch) | test there | best test | final loss | final training accuracy |\n");
        md.push_str("|---|---|---|---|---|---|---|\n");
        for run in runs {
            let history = &run.summary.history;
            let chosen = metrics::best_validation(history).expect("a run trains an epoch");
            let best = metrics::best_test(history).expect("a run trains an epoch");
            let _ = writeln!(
                md,
                "| `{}` | {} of {} | {:.2}% ({}) | {:.2}% | {:.2}% | {:.4} | {:.2}% |",
                run.experiment.name,
                history.len(),
                run.planned,
                100.0 * chosen.validation_accuracy(),
                chosen.epoch,
                100.0 * chosen.test_accuracy(),
                100.0 * best.test_accuracy(),
                run.final_epoch().train_loss,
                100.0 * run.summary.train_accuracy()
            );
        }
    }
    md
}

/// The CPU's model name, where the OS says it.
fn cpu_model() -> Option<String> {
    let info = std::fs::read_to_string(Path::new("/proc/cpuinfo")).ok()?;
    info.lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split(':').nth(1))
        .map(|m| m.trim().to_string())
}
