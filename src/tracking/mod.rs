//! The formats and services people compare runs in: TensorBoard's event files
//! ([`event_file`]) and an MLflow tracking server ([`mlflow`]). Neither knows about training;
//! [`crate::train`] decides what a run sends them.

pub mod event_file;
pub mod mlflow;

/// Seconds since the Unix epoch: the time both formats record.
pub fn now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}
