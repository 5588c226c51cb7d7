//! The network: the multilayer perceptron, a Burn `Module` ([`mlp`]), described by `[model]`
//! ([`config`]); the costs it is trained to lower (`[loss]`, [`cost`]); and what a trained one
//! answers ([`inference`]), alone or voting with others ([`vote`]).

pub mod config;
pub mod cost;
pub mod inference;
pub mod mlp;
pub mod vote;

pub use config::{Activation, Init, ModelConfig, Output};
pub use cost::{Cost, LossConfig};
pub use mlp::{Mlp, MlpConfig};
