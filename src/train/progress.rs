//! Showing training to a person or a script: a progress bar on a terminal, a line per epoch
//! elsewhere, nothing but the summary with `--quiet`, JSON lines with `--json`.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle};

use crate::train::learner::Observer;
use crate::train::metrics::EpochMetrics;

/// How training is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Display {
    /// A bar per epoch on stderr (examples/s, running loss, ETA), replaced by the epoch's line.
    Bar,
    /// One line per epoch on stdout, no control codes.
    Lines,
    /// Nothing per epoch.
    Quiet,
    /// One JSON object per epoch on stdout.
    Json,
}

impl Display {
    /// A bar when stderr is a terminal, lines otherwise (CI, a pipe, a file).
    pub fn for_terminal() -> Self {
        if std::io::stderr().is_terminal() {
            Display::Bar
        } else {
            Display::Lines
        }
    }
}

/// Redraw the bar at most this often: reading the running loss waits for the device.
const REDRAW: Duration = Duration::from_millis(100);

/// An [`Observer`] that shows each epoch as its [`Display`] says.
pub struct Reporter {
    display: Display,
    bar: Option<ProgressBar>,
    drawn: Instant,
}

impl Reporter {
    /// A reporter for `display`.
    pub fn new(display: Display) -> Self {
        Self {
            display,
            bar: None,
            drawn: Instant::now(),
        }
    }
}

impl Observer for Reporter {
    fn epoch_started(&mut self, epoch: usize, examples: usize) {
        if self.display != Display::Bar {
            return;
        }
        let bar =
            ProgressBar::with_draw_target(Some(examples as u64), ProgressDrawTarget::stderr());
        bar.set_style(
            ProgressStyle::with_template(
                "Epoch {prefix} {bar:30} {pos}/{len} examples  {rate}  loss {msg}  ETA {eta}",
            )
            .expect("a valid template")
            .with_key(
                "rate",
                |state: &ProgressState, out: &mut dyn std::fmt::Write| {
                    let _ = write!(out, "{:.0} examples/s", state.per_sec());
                },
            ),
        );
        bar.set_prefix(epoch.to_string());
        bar.set_message("…");
        self.bar = Some(bar);
        self.drawn = Instant::now();
    }

    fn step(&mut self, done: usize, mean_loss: &dyn Fn() -> f64) {
        if let Some(bar) = &self.bar
            && self.drawn.elapsed() >= REDRAW
        {
            bar.set_position(done as u64);
            bar.set_message(format!("{:.4}", mean_loss()));
            self.drawn = Instant::now();
        }
    }

    fn epoch_finished(&mut self, metrics: &EpochMetrics) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
        match self.display {
            Display::Bar | Display::Lines => println!("{metrics}"),
            Display::Json => println!(
                "{}",
                serde_json::to_string(metrics).expect("metrics serialise to JSON")
            ),
            Display::Quiet => {}
        }
    }

    /// Among the epoch lines on stdout; on stderr where stdout is JSON or quiet.
    fn warning(&mut self, message: &str) {
        match self.display {
            Display::Bar | Display::Lines => println!("Warning: {message}"),
            Display::Json | Display::Quiet => eprintln!("warning: {message}"),
        }
    }
}
