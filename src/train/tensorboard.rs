//! A run's TensorBoard log: event files in the run folder's `tb/`, so that
//! `tensorboard --logdir artifacts` shows every run, named by its folder.
//!
//! Every epoch's scalars go in under `metrics.csv`'s column names, as TensorBoard's 32-bit
//! floats: `metrics.csv`'s values rounded to float32. The config and the network's layer table
//! go in as text.
//!
//! Each time a run starts or resumes, its log is written afresh from the epochs of the
//! checkpoint it starts from, each at the time it was evaluated, into a new file that replaces the old ones. A resume from an
//! earlier checkpoint therefore leaves no trace of the rolled-back epochs on disk, and no
//! epoch is ever in the log twice. A TensorBoard already open sees the new file's steps repeat
//! and drops its old points from there, as it does for any restarted run.

use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::model::summary::Summary;
use crate::tracking::event_file::EventWriter;
use crate::tracking::now;
use crate::train::config::RunConfig;
use crate::train::metrics::EpochMetrics;

/// The run folder's TensorBoard folder.
pub const TB_DIR: &str = "tb";

/// The run's log, open for the epochs to come.
pub struct TensorBoardLog {
    writer: EventWriter,
}

impl TensorBoardLog {
    /// Writes the log of `dir` afresh: the config, the network, and the epochs of `history`,
    /// replacing the event files there were.
    pub fn start(dir: &Path, config: &RunConfig, history: &[EpochMetrics]) -> anyhow::Result<Self> {
        let tb = dir.join(TB_DIR);
        std::fs::create_dir_all(&tb).with_context(|| format!("cannot create {}", tb.display()))?;
        let old = event_files(&tb)?;
        // Written under a name TensorBoard ignores, then renamed: a reader never sees the file
        // half-written, and a crash before the rename leaves the old log whole.
        let writing = tb.join(".events.writing");
        let mut writer = EventWriter::create(&writing)?;
        writer.text(0, "config", &format!("```toml\n{}\n```", config.to_toml()))?;
        let summary = config.model.summary(config.output());
        writer.text(0, "network", &layer_table(&summary))?;
        let mut log = Self { writer };
        for metrics in history {
            log.epoch(metrics)?;
        }
        log.writer.sync()?;
        let name = new_file_name(&old);
        std::fs::rename(&writing, tb.join(&name))
            .with_context(|| format!("cannot write {}", tb.join(&name).display()))?;
        for file in old {
            std::fs::remove_file(&file)
                .with_context(|| format!("cannot replace {}", file.display()))?;
        }
        Ok(log)
    }

    /// Appends an epoch's scalars, at the epoch's number.
    pub fn epoch(&mut self, m: &EpochMetrics) -> anyhow::Result<()> {
        let wall_time = m.finished_at.unwrap_or_else(now);
        self.writer.scalars(m.epoch as i64, wall_time, &m.scalars())
    }
}

/// The event files in `tb`.
fn event_files(tb: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let entries = std::fs::read_dir(tb).with_context(|| format!("cannot read {}", tb.display()))?;
    let mut files = Vec::new();
    for entry in entries {
        let path = entry?.path();
        if path
            .file_name()
            .is_some_and(|n| n.to_string_lossy().contains("tfevents"))
        {
            files.push(path);
        }
    }
    Ok(files)
}

/// `events.out.tfevents.<seconds>.<nanoseconds>.digits`: TensorBoard reads a folder's files in
/// the order of their names, so the new file's name must sort after every old one's.
fn new_file_name(old: &[PathBuf]) -> String {
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let name = format!(
        "events.out.tfevents.{:010}.{:09}.digits",
        since.as_secs(),
        since.subsec_nanos()
    );
    let newest = old.iter().filter_map(|p| p.file_name()).max();
    match newest {
        Some(newest) if newest.to_string_lossy().as_ref() >= name.as_str() => {
            format!("{}.next", newest.to_string_lossy())
        }
        _ => name,
    }
}

/// The layer table as Markdown, which the text plugin renders as a table.
fn layer_table(summary: &Summary) -> String {
    let mut table = String::from("| layer | output | parameters |\n|---|---|---:|\n");
    for row in &summary.rows {
        table.push_str(&format!(
            "| {} | {} | {} |\n",
            row.name,
            row.output(),
            row.parameters
        ));
    }
    table.push_str(&format!("| total | | {} |\n", summary.parameters()));
    table
}
