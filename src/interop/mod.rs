//! A trained network going to other tools and coming back: safetensors and ONNX out
//! ([`export`], [`onnx`]), safetensors in ([`import`]).

pub mod export;
pub mod import;
pub mod onnx;

/// How a safetensors file lays out a fully connected layer's weights, coming in or going out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Layout {
    /// digits' own: `[n_in, n_out]`, the layer computing `x · W + b`.
    Digits,
    /// PyTorch's `nn.Linear`: `[n_out, n_in]`, computing `x · Wᵀ + b` (and `nn.BatchNorm1d`'s
    /// `weight` and `bias` for digits' `gamma` and `beta`).
    Pytorch,
}
