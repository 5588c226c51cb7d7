//! Training a network: the run description ([`config`]), the learner's loop ([`learner`]) and its
//! optimizer ([`optimizer`]), what each epoch measured ([`metrics`]) and how it is shown
//! ([`progress`], [`health`], [`charts`]) and logged for TensorBoard ([`tensorboard`]) and
//! MLflow ([`mlflow`]), the checkpoints ([`checkpoint`]), a run from start to end in its folder
//! ([`run`]), the runs below a folder ([`runs`]), and a trained model read back from one
//! ([`trained`]), alone or voting with others ([`ensemble`]).

pub mod charts;
pub mod checkpoint;
pub mod config;
pub mod ensemble;
pub mod health;
pub mod learner;
pub mod metrics;
pub mod mlflow;
pub mod optimizer;
pub mod progress;
pub mod run;
pub mod runs;
pub mod tensorboard;
pub mod trained;

pub use config::RunConfig;
pub use ensemble::Ensemble;
pub use trained::Trained;
