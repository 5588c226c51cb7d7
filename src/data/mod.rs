//! The data: where examples come from and how they reach the network. MNIST's IDX files
//! ([`mnist`], read by [`idx`]) or a folder of images ([`image_folder`], each image prepared by
//! [`digit_image`], its ink found by [`ink`] on a page perhaps ruled ([`ruled_lines`]), and kept
//! in [`prepared_cache`]), gathered as a run's splits ([`run_data`]) and turned into tensors
//! ([`batch`]). `[data]` is [`config`].

pub mod batch;
pub mod config;
pub mod digit_image;
pub mod export_images;
pub mod idx;
pub mod image_folder;
pub mod info;
pub mod ink;
pub mod mnist;
pub mod prepared_cache;
pub mod ruled_lines;
pub mod run_data;
pub mod shape;

pub use batch::{Examples, MnistBatch, MnistBatcher};
pub use config::{DataConfig, DataFormat};
pub use mnist::{DataError, MNIST_FILES, MnistFiles, MnistSource, MnistSplits};
pub use run_data::RunData;
pub use shape::{IMAGE_PIXELS, IMAGE_SIDE, NUM_CLASSES, digit_names};
