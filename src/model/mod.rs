//! The network, a Burn `Module` ([`network`]): convolutional layers ([`conv`]), if any, then a
//! multilayer perceptron, described by `[model]` ([`config`]) and printed as a table
//! ([`summary`]); the costs it is trained to lower (`[loss]`, [`cost`]); and what a trained one
//! answers ([`inference`]), alone or voting with others ([`vote`]).

pub mod config;
pub mod conv;
pub mod cost;
pub mod inference;
pub mod network;
pub mod summary;
pub mod vote;

pub use config::{Activation, Init, ModelConfig, Output};
pub use cost::{Cost, LossConfig};
pub use network::{Network, NetworkConfig};
