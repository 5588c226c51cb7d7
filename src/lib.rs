//! digits: a multilayer perceptron that learns to read handwritten digits (MNIST), built on
//! Burn.
//!
//! It trains the two classic seed networks, Michael Nielsen's `network.py` (a sigmoid
//! `[784, 30, 10]` with the quadratic cost) and *Deep Learning from Scratch*'s `TwoLayerNet`
//! (784-50-10, ReLU, softmax cross-entropy), from a TOML description of the run. Unlike the
//! originals there is no hand-written backprop: every gradient comes from Burn's autodiff.
//!
//! ```no_run
//! use digits::train::run::{Overrides, Run};
//!
//! let run = Run::new("configs/nielsen.toml".as_ref(), &Overrides::default(), false)?;
//! let never = std::sync::atomic::AtomicBool::new(false);
//! let mut show = digits::train::progress::Reporter::new(digits::train::progress::Display::Lines);
//! let summary = run.train(&never, &mut show)?;
//! println!("best: {:?}", summary.best());
//! # anyhow::Ok(())
//! ```
//!
//! The modules, from the bottom up, each using only those before it: [`config`], [`files`],
//! [`panics`], [`net`] (the servers' limits) and [`tracking`] (TensorBoard's files, MLflow's API) underneath; [`backend`], where tensors live; [`data`], the examples; [`model`],
//! the network; [`train`], the run and its folder; then [`books`], [`interop`] and [`serve`].
//! The `digits` command is a dispatch over the binary's `cli` modules.

#![warn(missing_docs)]

pub mod backend;
pub mod books;
pub mod config;
pub mod data;
pub mod files;
pub mod interop;
pub mod model;
pub mod net;
pub mod panics;
pub mod serve;
pub mod tracking;
pub mod train;

/// Every program built on this library allocates through mimalloc. A training step frees and
/// allocates the same large buffers (a conv net's maps, im2col's columns, the gradients) every
/// step; glibc's malloc hands buffers over 128 KiB back to the kernel with `munmap` and takes
/// fresh zeroed pages on the next step, so a SimpleConvNet step at batch 100 spent a third of
/// its time in page faults and TLB shootdowns. mimalloc keeps freed pages for reuse.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
