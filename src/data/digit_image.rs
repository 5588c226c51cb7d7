//! A handwritten digit from an image file, prepared the way MNIST's digits were made.
//!
//! MNIST's digits are light ink on a dark background, scaled so that the longer side of the
//! ink fits 20 pixels, and placed in a 28×28 field with their centre of mass at the centre.
//! A drawing, a scan or a phone's photo is brought to the same form:
//! 1. turned upright as its EXIF orientation says, and scaled down to at most [`WORK_SIDE`]
//!    pixels (a digit needs no more, and a 12-megapixel photo stays fast);
//! 2. grey levels, transparent parts as paper, polarity from the border (ink is what the border
//!    is not);
//! 3. the digit's ink found on the page ([`ink::find`]): the light removed, Otsu's threshold,
//!    ruled lines, specks and far-off marks left out;
//! 4. MNIST's own steps: cropped to the ink, scaled into 20×20, centred by mass in 28×28.
//!
//! [`explain`] keeps every step's picture: `predict --explain` saves them.

use std::io::Cursor;
use std::path::Path;

use image::imageops::{self, FilterType};
use image::{DynamicImage, GrayImage, ImageDecoder, Limits, Luma};

use crate::data::ink::{self, INK_THRESHOLD, Levels};
use crate::data::ruled_lines::median;
use crate::data::shape::{IMAGE_PIXELS, IMAGE_SIDE};
use crate::files::write_atomically;

/// The side of the box MNIST scaled its digits into.
const INK_BOX: u32 = 20;
/// A larger image is scaled down to this longer side before it is prepared. A digit written on
/// a page fills a tenth of it or more, so it keeps 100 pixels or more: five times MNIST's box.
pub const WORK_SIDE: u32 = 1024;

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
/// allocated. Decoding holds the decoded pixels (4 bytes a pixel for RGBA: 268 MB at this
/// size); everything after works on a copy of at most [`WORK_SIDE`] pixels a side.
pub const MAX_SIDE: u32 = 8192;

/// Every step of the preparation of one image, as pictures: what `predict --explain` saves.
pub struct Steps {
    /// The image upright, in grey, at the size it is worked on.
    pub grey: Levels,
    /// The ink with the background (paper and light) taken away, ink bright.
    pub background_removed: Levels,
    /// The threshold: the digit's ink white, other ink (specks, ruled lines, far marks) grey.
    pub threshold: GrayImage,
    /// The digit cropped to its ink.
    pub crop: Levels,
    /// What the network reads.
    pub pixels: Pixels,
}

impl Steps {
    /// Saves the steps as `STEM-1-grey.png` ... `STEM-5-input.png` in `dir`, and returns the
    /// paths. The 28×28 input is enlarged 8×, pixel for pixel, to be seen.
    pub fn save(&self, dir: &Path, stem: &str) -> anyhow::Result<Vec<std::path::PathBuf>> {
        let input = GrayImage::from_fn(IMAGE_SIDE as u32, IMAGE_SIDE as u32, |x, y| {
            Luma([(self.pixels[y as usize * IMAGE_SIDE + x as usize] * 255.0).round() as u8])
        });
        let input = imageops::resize(&input, 224, 224, FilterType::Nearest);
        let steps = [
            ("1-grey", ink::to_grey(&self.grey)),
            (
                "2-background-removed",
                ink::to_grey(&self.background_removed),
            ),
            ("3-threshold", self.threshold.clone()),
            ("4-crop", ink::to_grey(&self.crop)),
            ("5-input", input),
        ];
        std::fs::create_dir_all(dir)
            .map_err(|e| anyhow::anyhow!("{}: cannot create: {e}", dir.display()))?;
        let mut paths = Vec::new();
        for (name, picture) in steps {
            let path = dir.join(format!("{stem}-{name}.png"));
            let mut png = Vec::new();
            picture.write_to(&mut Cursor::new(&mut png), image::ImageFormat::Png)?;
            write_atomically(&path, &png)?;
            paths.push(path);
        }
        Ok(paths)
    }
}

/// Reads an image file (PNG, JPEG, ...) and prepares it as an MNIST digit.
pub fn load(path: &Path) -> Result<Pixels, ImageError> {
    load_explained(path).map(|steps| steps.pixels)
}

/// Reads an image file and prepares it as an MNIST digit, keeping every step's picture.
pub fn load_explained(path: &Path) -> Result<Steps, ImageError> {
    let error = |problem: String| ImageError {
        path: path.to_path_buf(),
        problem,
    };
    let bytes = std::fs::read(path).map_err(|e| error(format!("cannot read: {e}")))?;
    decode(&bytes, MAX_SIDE)
        .and_then(|image| explain(&image))
        .map_err(error)
}

/// Decodes an image (PNG, JPEG, ...) from its bytes and prepares it as an MNIST digit: what
/// `predict` does with a file and `serve` with a request. An image wider or taller than
/// `max_side` is refused from its header.
pub fn from_bytes(bytes: &[u8], max_side: u32) -> Result<Pixels, String> {
    prepare(&decode(bytes, max_side)?)
}

/// Decodes an image, upright as its EXIF orientation says (a phone held upright stores a
/// landscape picture and a tag that says "turn it a quarter to view"). An image wider or taller
/// than `max_side` is refused from its header, before its pixels are allocated.
pub fn decode(bytes: &[u8], max_side: u32) -> Result<DynamicImage, String> {
    let unreadable = |e: image::ImageError| format!("not an image it can read: {e}");
    let mut reader = image::ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| format!("cannot read: {e}"))?;
    // The header alone (it allocates no pixels), to name a size that is refused.
    reader.no_limits();
    let mut decoder = reader.into_decoder().map_err(unreadable)?;
    let (width, height) = decoder.dimensions();
    if width > max_side || height > max_side {
        return Err(format!(
            "the image is {width}×{height}: larger than {max_side}×{max_side}, the most it reads"
        ));
    }
    // The decoder enforces the same bound (and the default allocation limit) while it reads.
    let mut limits = Limits::default();
    limits.max_image_width = Some(max_side);
    limits.max_image_height = Some(max_side);
    decoder.set_limits(limits).map_err(unreadable)?;
    // A missing or unreadable tag means "as stored".
    let orientation = decoder
        .orientation()
        .unwrap_or(image::metadata::Orientation::NoTransforms);
    let mut image = DynamicImage::from_decoder(decoder).map_err(unreadable)?;
    image.apply_orientation(orientation);
    Ok(image)
}

/// Prepares a decoded image as an MNIST digit.
pub fn prepare(image: &DynamicImage) -> Result<Pixels, String> {
    explain(image).map(|steps| steps.pixels)
}

/// Prepares a decoded image as an MNIST digit, keeping every step's picture.
pub fn explain(image: &DynamicImage) -> Result<Steps, String> {
    let (width, height) = (image.width(), image.height());
    if width == 0 || height == 0 {
        return Err(format!(
            "the image is {width}×{height}: there is nothing to read"
        ));
    }
    let working;
    let image = if width.max(height) > WORK_SIDE {
        working = image.thumbnail(WORK_SIDE, WORK_SIDE);
        &working
    } else {
        image
    };
    let (width, height) = (image.width(), image.height());
    // Grey levels, transparent parts taken as paper (white).
    let grey = image.to_luma_alpha32f();
    let grey = Levels::from_fn(width, height, |x, y| {
        let [value, alpha] = grey.get_pixel(x, y).0;
        Luma([alpha * value + (1.0 - alpha)])
    });
    // Polarity: the border is background. MNIST's ink is light on dark.
    let light_paper = median(border(&grey)) > 0.5;
    let mut levels = grey.clone();
    if light_paper {
        levels.pixels_mut().for_each(|p| p.0[0] = 1.0 - p.0[0]);
    }
    let found = ink::find(&levels)?;
    let digit = found.digit;

    // Crop to the ink, and scale its longer side to 20 pixels.
    let (mut left, mut top, mut right, mut bottom) = (width, height, 0, 0);
    for (x, y, p) in digit.enumerate_pixels() {
        if p.0[0] >= INK_THRESHOLD {
            (left, top) = (left.min(x), top.min(y));
            (right, bottom) = (right.max(x), bottom.max(y));
        }
    }
    if right < left {
        return Err("no digit found: no ink stands out from the paper".into());
    }
    let (w, h) = (right - left + 1, bottom - top + 1);
    let cropped = imageops::crop_imm(&digit, left, top, w, h).to_image();
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
    Ok(Steps {
        grey,
        background_removed: found.levels,
        threshold: found.threshold,
        crop: cropped,
        pixels,
    })
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

fn border(image: &Levels) -> Vec<f32> {
    let (w, h) = image.dimensions();
    image
        .enumerate_pixels()
        .filter(|(x, y, _)| *x == 0 || *y == 0 || *x == w - 1 || *y == h - 1)
        .map(|(_, _, p)| p.0[0])
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{Rgba, RgbaImage};

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
    fn a_photo_stored_turned_is_decoded_upright_as_its_exif_tag_says() {
        use image::ImageEncoder;
        // Upright: 60 wide, 30 high, dark on the left half. A phone held upright stores it
        // turned a quarter anticlockwise, with orientation 6: "turn it clockwise to view".
        let upright = GrayImage::from_fn(60, 30, |x, _| Luma([if x < 30 { 0 } else { 255 }]));
        let stored = imageops::rotate270(&upright);
        let exif = [
            b"MM\0\x2a\0\0\0\x08".as_slice(),
            &[0, 1, 0x01, 0x12, 0, 3, 0, 0, 0, 1, 0, 6, 0, 0, 0, 0, 0, 0],
        ]
        .concat();
        let mut jpeg = Vec::new();
        let mut encoder = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, 95);
        encoder.set_exif_metadata(exif).unwrap();
        encoder
            .write_image(stored.as_raw(), 30, 60, image::ExtendedColorType::L8)
            .unwrap();
        let decoded = decode(&jpeg, MAX_SIDE).unwrap().to_luma8();
        assert_eq!(decoded.dimensions(), (60, 30));
        assert!(decoded.get_pixel(5, 15).0[0] < 50 && decoded.get_pixel(55, 15).0[0] > 200);
    }

    #[test]
    fn text_art_draws_the_ink() {
        let pixels = prepare(&DynamicImage::ImageLuma8(stroke())).unwrap();
        let art = text_art(&pixels);
        assert_eq!(art.lines().count(), 28);
        assert!(art.contains("@@"));
    }
}
