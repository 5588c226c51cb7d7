//! A run's MLflow run, when `MLFLOW_TRACKING_URI` names a tracking server: the config's keys
//! as params, every epoch's metrics at its step, and at the end the model and the config as
//! artifacts, with the run's status.
//!
//! The run folder stays the record. The server being down or refusing costs the MLflow run
//! what it missed, never the training: the caller turns every error here into a warning. Which
//! MLflow run a folder logs to, and how many of its epochs it has sent, is kept in
//! `mlflow.toml`, so that a resumed run continues the same MLflow run and sends what it missed.

use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::{Deserialize, Serialize};

use crate::files::write_atomically;
use crate::tracking::mlflow::{Client, Metric, Status};
use crate::train::config::RunConfig;
use crate::train::learner::Observer;
use crate::train::metrics::EpochMetrics;

/// The run folder's note of its MLflow run.
pub const MLFLOW_FILE: &str = "mlflow.toml";

/// `mlflow.toml`.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Record {
    tracking_uri: String,
    experiment_id: String,
    run_id: String,
    artifact_uri: String,
    /// The last epoch sent: those after it are sent on the next resume.
    epochs_logged: usize,
}

/// An MLflow run receiving a training run's epochs.
pub struct MlflowRun {
    client: Client,
    record: Record,
    file: PathBuf,
}

impl MlflowRun {
    /// Continues the MLflow run noted in `dir` when it is on this server, else creates one
    /// named `name` in the config's experiment. Logs the config's keys the run lacks, then the
    /// epochs of `history` it has not received.
    ///
    /// After a resume from an earlier checkpoint, the epochs from there on are sent again, so
    /// the MLflow run holds two values at those steps: the rolled-back one and the new one.
    pub fn start(
        client: Client,
        dir: &Path,
        name: &str,
        config: &RunConfig,
        history: &[EpochMetrics],
    ) -> anyhow::Result<Self> {
        let file = dir.join(MLFLOW_FILE);
        let noted = std::fs::read_to_string(&file)
            .ok()
            .and_then(|text| toml::from_str::<Record>(&text).ok())
            .filter(|noted| noted.tracking_uri == client.uri());
        let continued = match noted {
            Some(noted) => client.get_run(&noted.run_id)?.map(|remote| (noted, remote)),
            None => None,
        };
        let (mut record, params_there) = match continued {
            Some((noted, remote)) => {
                client.set_status(&noted.run_id, Status::Running, 0)?;
                (noted, remote.params)
            }
            None => {
                let experiment = config
                    .output
                    .mlflow_experiment
                    .clone()
                    .or_else(|| std::env::var("MLFLOW_EXPERIMENT_NAME").ok())
                    .filter(|name| !name.is_empty())
                    .unwrap_or_else(|| "Default".into());
                let experiment_id = client.experiment_id(&experiment)?;
                let remote = client.create_run(&experiment_id, name, now_ms())?;
                let record = Record {
                    tracking_uri: client.uri().into(),
                    experiment_id,
                    run_id: remote.run_id,
                    artifact_uri: remote.artifact_uri,
                    epochs_logged: 0,
                };
                (record, Vec::new())
            }
        };
        // MLflow's params cannot change: a resume that extends the epochs keeps the first value.
        let params: Vec<(String, String)> = params(config)
            .into_iter()
            .filter(|(key, _)| !params_there.iter().any(|(there, _)| there == key))
            .collect();
        client.log_batch(&record.run_id, &params, &[])?;
        let kept = history.last().map_or(0, |m| m.epoch);
        record.epochs_logged = record.epochs_logged.min(kept);
        let mut run = Self {
            client,
            record,
            file,
        };
        run.save()?;
        let missed: Vec<EpochMetrics> = history
            .iter()
            .filter(|m| m.epoch > run.record.epochs_logged)
            .cloned()
            .collect();
        run.epochs(&missed)?;
        Ok(run)
    }

    /// Sends epochs' metrics, each at its epoch's step.
    pub fn epochs(&mut self, epochs: &[EpochMetrics]) -> anyhow::Result<()> {
        let Some(last) = epochs.last() else {
            return Ok(());
        };
        let metrics: Vec<Metric> = epochs
            .iter()
            .flat_map(|m| {
                let timestamp_ms = m.finished_at.map_or_else(now_ms, |at| (at * 1000.0) as u64);
                m.scalars().into_iter().map(move |(key, value)| Metric {
                    key: key.into(),
                    value,
                    timestamp_ms,
                    step: m.epoch as u64,
                })
            })
            .collect();
        self.client.log_batch(&self.record.run_id, &[], &metrics)?;
        self.record.epochs_logged = last.epoch;
        self.save()
    }

    /// Ends the MLflow run with `status`, first uploading `artifacts` (name in the run, file)
    /// when it finished. The status is set even when an upload fails.
    pub fn finish(&self, status: Status, artifacts: &[(&str, PathBuf)]) -> anyhow::Result<()> {
        let uploaded = || -> anyhow::Result<()> {
            for (name, path) in artifacts {
                let bytes = std::fs::read(path)
                    .with_context(|| format!("cannot read {}", path.display()))?;
                self.client
                    .upload(&self.record.artifact_uri, name, bytes)
                    .with_context(|| format!("uploading {name}"))?;
            }
            Ok(())
        };
        let uploaded = if status == Status::Finished {
            uploaded()
        } else {
            Ok(())
        };
        self.client
            .set_status(&self.record.run_id, status, now_ms())?;
        uploaded
    }

    fn save(&self) -> anyhow::Result<()> {
        let text = format!(
            "# The MLflow run this folder logs to; `train --resume` continues it.\n{}",
            toml::to_string(&self.record)?
        );
        write_atomically(&self.file, text.as_bytes())
    }
}

/// Sends an epoch to the MLflow run, if there is one. A failure is a warning through
/// `observer`, and the run then stops sending: a resume sends what was missed.
pub fn send(run: &mut Option<MlflowRun>, metrics: &EpochMetrics, observer: &mut dyn Observer) {
    if let Some(sending) = run
        && let Err(error) = sending.epochs(std::slice::from_ref(metrics))
    {
        observer.warning(&unreachable_warning(&error));
        *run = None;
    }
}

/// The warning for an MLflow server that failed.
pub fn unreachable_warning(error: &anyhow::Error) -> String {
    format!(
        "{error:#}; training goes on without MLflow, and the run folder keeps every epoch: `digits train --resume` sends MLflow what it missed"
    )
}

/// The config's keys as MLflow params: `section.key` and the value as TOML writes it, a string
/// without its quotes.
fn params(config: &RunConfig) -> Vec<(String, String)> {
    let table: toml::Table =
        toml::from_str(&config.to_toml()).expect("a config's TOML reads back as a table");
    let mut params = Vec::new();
    flatten("", &toml::Value::Table(table), &mut params);
    params
}

fn flatten(prefix: &str, value: &toml::Value, out: &mut Vec<(String, String)>) {
    match value {
        toml::Value::Table(table) => {
            for (key, value) in table {
                let key = if prefix.is_empty() {
                    key.clone()
                } else {
                    format!("{prefix}.{key}")
                };
                flatten(&key, value, out);
            }
        }
        toml::Value::String(text) => out.push((prefix.into(), text.clone())),
        other => out.push((prefix.into(), other.to_string())),
    }
}

fn now_ms() -> u64 {
    (crate::tracking::now() * 1000.0) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_are_the_configs_keys() {
        let config = RunConfig::load("configs/nielsen.toml".as_ref()).unwrap();
        let params = params(&config);
        let get = |key: &str| {
            params
                .iter()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v.as_str())
        };
        assert_eq!(get("model.sizes"), Some("[784, 30, 10]"));
        assert_eq!(get("optimizer.lr"), Some("3.0"));
        assert_eq!(get("training.batch_size"), Some("10"));
        assert_eq!(get("model.activation"), Some("sigmoid"));
    }
}
