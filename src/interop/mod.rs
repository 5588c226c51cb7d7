//! A trained network going to other tools and coming back: safetensors and ONNX out
//! ([`export`], [`onnx`]), safetensors in ([`import`]).

pub mod export;
pub mod import;
pub mod onnx;
