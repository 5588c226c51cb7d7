//! A handwritten digit from an image file, prepared the way MNIST's digits were made.
//!
//! MNIST's digits are light ink on a dark background, scaled so that the longer side of the
//! ink fits 20 pixels, and placed in a 28×28 field with their centre of mass at the centre.
//! A photo or a drawing is brought to the same form: grey levels, polarity detected from the
//! border and normalised, cropped to the ink, scaled, and centred by centre of mass.

use std::io::Cursor;
use std::path::Path;

use image::imageops::{self, FilterType};
use image::{DynamicImage, ImageBuffer, Limits, Luma};

use crate::data::shape::{IMAGE_PIXELS, IMAGE_SIDE};

/// The side of the box MNIST scaled its digits into.
const INK_BOX: u32 = 20;
/// A pixel at least this bright (after normalisation) is ink when cropping.
const INK_THRESHOLD: f32 = 0.2;

/// An image that cannot be read as a digit.
#[derive(Debug, thiserror::Error)]
#[error("{}: {problem}", path.display())]
pub struct ImageError {
    /// The file.
    pub path: std::path::PathBuf,
    /// What is wrong with it.
    pub problem: String,
}

/// 784 pixels in [0, 1], row by row, ink bright: what the network reads.
pub type Pixels = [f32; IMAGE_PIXELS];

/// The most pixels per side a file given to `predict` may have. A header that claims more (a
/// decompression bomb: a few bytes that say 50,000 × 50,000) is refused before anything is
/// allocated. Preparing an image holds about 15 bytes per pixel (the decoded pixels, their grey
/// levels and alpha as f32, and the ink): about 1 GB at this size.
pub const MAX_SIDE: u32 = 8192;

/// Reads an image file (PNG, JPEG, ...) and prepares it as an MNIST digit.
pub fn load(path: &Path) -> Result<Pixels, ImageError> {
    let error = |problem: String| ImageError {
        path: path.to_path_buf(),
        problem,
    };
    let bytes = std::fs::read(path).map_err(|e| error(format!("cannot read: {e}")))?;
    from_bytes(&bytes, MAX_SIDE).map_err(error)
}

/// Decodes an image (PNG, JPEG, ...) from its bytes and prepares it as an MNIST digit: what
/// `predict` does with a file and `serve` with a request. An image wider or taller than
/// `max_side` is refused from its header.
pub fn from_bytes(bytes: &[u8], max_side: u32) -> Result<Pixels, String> {
    let reader = |limits: Limits| {
        let mut reader = image::ImageReader::new(Cursor::new(bytes))
            .with_guessed_format()
            .map_err(|e| format!("cannot read: {e}"))?;
        reader.limits(limits);
        Ok::<_, String>(reader)
    };
    // The header alone first (it allocates no pixels), to name a size that is refused.
    let (width, height) = reader(Limits::no_limits())?
        .into_dimensions()
        .map_err(|e| format!("not an image it can read: {e}"))?;
    if width > max_side || height > max_side {
        return Err(format!(
            "the image is {width}×{height}: larger than {max_side}×{max_side}, the most it reads"
        ));
    }
    // The decoder enforces the same bound while it reads.
    let mut limits = Limits::default();
    limits.max_image_width = Some(max_side);
    limits.max_image_height = Some(max_side);
    let image = reader(limits)?
        .decode()
        .map_err(|e| format!("not an image it can read: {e}"))?;
    prepare(&image)
}

/// Prepares a decoded image as an MNIST digit.
pub fn prepare(image: &DynamicImage) -> Result<Pixels, String> {
    let (width, height) = (image.width(), image.height());
    if width == 0 || height == 0 {
        return Err(format!(
            "the image is {width}×{height}: there is nothing to read"
        ));
    }
    // Grey levels, transparent parts taken as paper (white).
    let grey = image.to_luma_alpha32f();
    let mut ink: ImageBuffer<Luma<f32>, Vec<f32>> = ImageBuffer::from_fn(width, height, |x, y| {
        let [value, alpha] = grey.get_pixel(x, y).0;
        Luma([alpha * value + (1.0 - alpha)])
    });
    // Polarity: the border is background. MNIST's ink is light on dark.
    let background = median(border(&ink));
    if background > 0.5 {
        ink.pixels_mut().for_each(|p| p.0[0] = 1.0 - p.0[0]);
    }
    let background = background.min(1.0 - background);
    let brightest = ink.pixels().map(|p| p.0[0]).fold(0.0, f32::max);
    if brightest - background < 0.1 {
        return Err("no digit found: the image has no contrast".into());
    }
    ink.pixels_mut()
        .for_each(|p| p.0[0] = ((p.0[0] - background) / (brightest - background)).clamp(0.0, 1.0));

    // Crop to the ink, and scale its longer side to 20 pixels.
    let (mut left, mut top, mut right, mut bottom) = (width, height, 0, 0);
    for (x, y, p) in ink.enumerate_pixels() {
        if p.0[0] >= INK_THRESHOLD {
            (left, top) = (left.min(x), top.min(y));
            (right, bottom) = (right.max(x), bottom.max(y));
        }
    }
    let (w, h) = (right - left + 1, bottom - top + 1);
    let cropped = imageops::crop_imm(&ink, left, top, w, h).to_image();
    let scale = INK_BOX as f32 / w.max(h) as f32;
    let (sw, sh) = (
        ((w as f32 * scale).round() as u32).clamp(1, INK_BOX),
        ((h as f32 * scale).round() as u32).clamp(1, INK_BOX),
    );
    let glyph = imageops::resize(&cropped, sw, sh, FilterType::Triangle);

    // Centre of mass at the centre of the 28×28 field.
    let mass: f32 = glyph.pixels().map(|p| p.0[0]).sum();
    let (mut cx, mut cy) = (0.0, 0.0);
    for (x, y, p) in glyph.enumerate_pixels() {
        cx += x as f32 * p.0[0];
        cy += y as f32 * p.0[0];
    }
    let centre = (IMAGE_SIDE as f32 - 1.0) / 2.0;
    let dx = (centre - cx / mass).round() as i64;
    let dy = (centre - cy / mass).round() as i64;
    let mut pixels = [0f32; IMAGE_PIXELS];
    for (x, y, p) in glyph.enumerate_pixels() {
        let (tx, ty) = (x as i64 + dx, y as i64 + dy);
        if (0..IMAGE_SIDE as i64).contains(&tx) && (0..IMAGE_SIDE as i64).contains(&ty) {
            pixels[ty as usize * IMAGE_SIDE + tx as usize] = p.0[0].clamp(0.0, 1.0);
        }
    }
    Ok(pixels)
}

/// The 28×28 input as text, darkest to brightest: what the network saw.
pub fn text_art(pixels: &Pixels) -> String {
    const SHADES: [char; 5] = [' ', '.', ':', 'o', '@'];
    pixels
        .chunks(IMAGE_SIDE)
        .map(|row| {
            row.iter()
                .map(|v| SHADES[((v * 4.0).round() as usize).min(4)])
                .flat_map(|c| [c, c])
                .collect::<String>()
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn border(image: &ImageBuffer<Luma<f32>, Vec<f32>>) -> Vec<f32> {
    let (w, h) = image.dimensions();
    image
        .enumerate_pixels()
        .filter(|(x, y, _)| *x == 0 || *y == 0 || *x == w - 1 || *y == h - 1)
        .map(|(_, _, p)| p.0[0])
        .collect()
}

fn median(mut values: Vec<f32>) -> f32 {
    values.sort_by(f32::total_cmp);
    values[values.len() / 2]
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{GrayImage, Rgba, RgbaImage};

    /// A "1": a vertical stroke, dark on light, off centre, in a 60×90 picture.
    fn stroke() -> GrayImage {
        GrayImage::from_fn(60, 90, |x, y| {
            if (10..16).contains(&x) && (20..80).contains(&y) {
                Luma([20])
            } else {
                Luma([235])
            }
        })
    }

    fn centre_of_mass(pixels: &Pixels) -> (f32, f32) {
        let mass: f32 = pixels.iter().sum();
        let (mut cx, mut cy) = (0.0, 0.0);
        for (i, v) in pixels.iter().enumerate() {
            cx += (i % IMAGE_SIDE) as f32 * v;
            cy += (i / IMAGE_SIDE) as f32 * v;
        }
        (cx / mass, cy / mass)
    }

    #[test]
    fn dark_ink_on_light_paper_becomes_a_centred_20_pixel_digit() {
        let pixels = prepare(&DynamicImage::ImageLuma8(stroke())).unwrap();
        // Bright ink on a dark field.
        assert_eq!(pixels[0], 0.0);
        let rows: Vec<usize> = (0..IMAGE_PIXELS)
            .filter(|&i| pixels[i] > 0.5)
            .map(|i| i / IMAGE_SIDE)
            .collect();
        let height = rows.iter().max().unwrap() - rows.iter().min().unwrap() + 1;
        assert!((19..=20).contains(&height), "{height}");
        let (cx, cy) = centre_of_mass(&pixels);
        assert!(
            (cx - 13.5).abs() <= 1.0 && (cy - 13.5).abs() <= 1.0,
            "{cx} {cy}"
        );
    }

    #[test]
    fn polarity_and_colour_do_not_matter() {
        let dark_on_light = prepare(&DynamicImage::ImageLuma8(stroke())).unwrap();
        let mut inverted = stroke();
        imageops::invert(&mut inverted);
        let light_on_dark = prepare(&DynamicImage::ImageLuma8(inverted)).unwrap();
        let colour = RgbaImage::from_fn(60, 90, |x, y| {
            let v = stroke().get_pixel(x, y).0[0];
            Rgba([v, v / 2, 255 - v / 3, 255])
        });
        let colour = prepare(&DynamicImage::ImageRgba8(colour)).unwrap();
        let differ = |a: &Pixels, b: &Pixels| {
            a.iter()
                .zip(b)
                .map(|(x, y)| (x - y).abs())
                .fold(0.0, f32::max)
        };
        assert!(differ(&dark_on_light, &light_on_dark) < 0.05);
        assert!(differ(&dark_on_light, &colour) < 0.2);
    }

    #[test]
    fn a_blank_or_empty_image_is_an_error() {
        let blank = DynamicImage::ImageLuma8(GrayImage::from_pixel(30, 30, Luma([255])));
        assert!(prepare(&blank).unwrap_err().contains("no digit"));
        let empty = DynamicImage::ImageLuma8(GrayImage::new(0, 0));
        assert!(prepare(&empty).unwrap_err().contains("0×0"));
    }

    #[test]
    fn text_art_draws_the_ink() {
        let pixels = prepare(&DynamicImage::ImageLuma8(stroke())).unwrap();
        let art = text_art(&pixels);
        assert_eq!(art.lines().count(), 28);
        assert!(art.contains("@@"));
    }
}
