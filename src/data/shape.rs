//! The shape of every example: a 28×28 grey image, and, unless its data names them, classes
//! named by the digits.

/// Side of an MNIST image in pixels.
pub const IMAGE_SIDE: usize = 28;
/// Inputs of the network: one per pixel.
pub const IMAGE_PIXELS: usize = IMAGE_SIDE * IMAGE_SIDE;
/// Digits 0 to 9.
pub const NUM_CLASSES: usize = 10;

/// `"0"`, `"1"`, ...: the names of classes that have none of their own, as MNIST's digits.
pub fn digit_names(classes: usize) -> Vec<String> {
    (0..classes).map(|c| c.to_string()).collect()
}
