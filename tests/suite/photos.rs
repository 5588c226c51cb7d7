//! Photos of handwritten digits, made here: MNIST test digits rendered as ink on paper, lit,
//! shadowed, ruled, blurred, noisy, turned and saved as a phone saves them. `predict` reads
//! them with the network that `train --config configs/two-layer-net.toml --epochs 10` makes.
//!
//! Every photo draws each difficulty at once, uniformly over its range, from a fixed seed and
//! fixed MNIST test indices. One set of 40 per difficulty, at the top of its range, shows where
//! a regression comes from.

use std::f32::consts::PI;
use std::io::Cursor;
use std::path::{Path, PathBuf};

use image::codecs::jpeg::JpegEncoder;
use image::{GrayImage, ImageEncoder, Rgb32FImage, RgbImage, imageops};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use rand_distr::{Distribution, Normal};

use crate::common::*;

pub fn tests() -> Vec<Test> {
    vec![test!(photos_of_digits_on_paper_are_read, MNIST)]
}

/// What makes a photo hard, each drawn from 0 (none) to 1 (the top of its range).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Difficulty {
    /// The paper's tone (245 to 170 grey levels) and texture (up to ±12).
    Paper,
    /// Light falling off across the frame, up to 80 grey levels, in any direction.
    Gradient,
    /// A soft shadow's edge across the frame, up to 60 grey levels darker.
    Shadow,
    /// Sensor noise, up to σ 10 grey levels.
    Noise,
    /// Out of focus, up to σ 2 pixels.
    Blur,
    /// JPEG quality, 95 down to 30.
    Jpeg,
    /// The page turned, up to ±15°.
    Rotation,
    /// The digit's size (230 down to 70 pixels high in 640×480), and how far off centre it is.
    Size,
    /// A ruled line across the frame, up to 90 grey levels dark and 4 pixels thick.
    Line,
    /// The chance that the phone stored the picture turned, with an EXIF tag to turn it back.
    Orientation,
}

pub const DIFFICULTIES: [Difficulty; 10] = [
    Difficulty::Paper,
    Difficulty::Gradient,
    Difficulty::Shadow,
    Difficulty::Noise,
    Difficulty::Blur,
    Difficulty::Jpeg,
    Difficulty::Rotation,
    Difficulty::Size,
    Difficulty::Line,
    Difficulty::Orientation,
];

/// How hard each difficulty is for one photo.
#[derive(Clone, Copy, Debug)]
pub struct Hardness([f32; 10]);

impl Hardness {
    /// Every difficulty drawn uniformly over its range.
    pub fn random(rng: &mut StdRng) -> Self {
        Hardness(std::array::from_fn(|_| rng.random_range(0.0..=1.0)))
    }

    /// Every difficulty at half its range, and the photo stored turned, with an EXIF tag.
    pub fn moderate() -> Self {
        Hardness(DIFFICULTIES.map(|d| {
            if d == Difficulty::Orientation {
                1.0
            } else {
                0.5
            }
        }))
    }

    /// One difficulty at the top of its range, the others absent.
    pub fn only(difficulty: Difficulty) -> Self {
        Hardness(DIFFICULTIES.map(|d| if d == difficulty { 1.0 } else { 0.0 }))
    }

    fn of(&self, difficulty: Difficulty) -> f32 {
        self.0[DIFFICULTIES.iter().position(|&d| d == difficulty).unwrap()]
    }
}

const WIDTH: u32 = 640;
const HEIGHT: u32 = 480;

/// A JPEG photo of `digit` (an MNIST 28×28 digit, ink bright) written on paper.
pub fn photo(digit: &GrayImage, hardness: Hardness, seed: u64) -> Vec<u8> {
    let mut rng = StdRng::seed_from_u64(seed);
    let h = |d| hardness.of(d);
    let sign = |rng: &mut StdRng| if rng.random_bool(0.5) { 1.0 } else { -1.0 };

    // The paper: a tone, and a texture of a few waves (each a product of a row term and a column
    // term, so that the frame costs a few multiplications a pixel).
    let tone = 245.0 - 75.0 * h(Difficulty::Paper);
    let texture = 12.0 * h(Difficulty::Paper);
    let waves: Vec<(Vec<f32>, Vec<f32>)> = (0..4)
        .map(|_| {
            let (fx, fy) = (rng.random_range(0.02..0.3), rng.random_range(0.02..0.3));
            let (px, py) = (
                rng.random_range(0.0..2.0 * PI),
                rng.random_range(0.0..2.0 * PI),
            );
            (
                (0..WIDTH).map(|x| (fx * x as f32 + px).sin()).collect(),
                (0..HEIGHT).map(|y| (fy * y as f32 + py).cos()).collect(),
            )
        })
        .collect();

    // Where the digit goes: its box, how far off centre, and turned by how much.
    let side = 230.0 - 160.0 * h(Difficulty::Size);
    let room_x = (WIDTH as f32 - side) / 2.0 - 10.0;
    let room_y = (HEIGHT as f32 - side) / 2.0 - 10.0;
    let spread = h(Difficulty::Size);
    let centre = (
        WIDTH as f32 / 2.0 + spread * room_x * rng.random_range(-1.0..=1.0),
        HEIGHT as f32 / 2.0 + spread * room_y * rng.random_range(-1.0..=1.0),
    );
    let angle = sign(&mut rng) * 15.0 * h(Difficulty::Rotation) * PI / 180.0;
    let (sin, cos) = angle.sin_cos();
    let ink = [
        rng.random_range(20.0..50.0),
        rng.random_range(30.0..60.0),
        rng.random_range(90.0..140.0),
    ];
    let depth = rng.random_range(0.75..0.95);

    // A ruled line through the digit's rows, tilted a little.
    let line_dark = 90.0 * h(Difficulty::Line);
    let line_half = 0.5 + 1.5 * h(Difficulty::Line);
    let line_y = centre.1 + rng.random_range(-0.4..0.4) * side;
    let line_slope = rng.random_range(-0.05..0.05);

    // The light: a gradient in a random direction, and a shadow's soft edge.
    let gradient = 80.0 * h(Difficulty::Gradient);
    let direction = rng.random_range(0.0..2.0 * PI);
    let shadow = 60.0 * h(Difficulty::Shadow);
    let shadow_angle = rng.random_range(0.0..2.0 * PI);
    let shadow_offset = rng.random_range(-150.0..150.0);
    let shadow_soft = rng.random_range(15.0..45.0);
    let diagonal = ((WIDTH * WIDTH + HEIGHT * HEIGHT) as f32).sqrt();

    let noise = Normal::new(0.0, 10.0 * h(Difficulty::Noise) + 1e-6).unwrap();
    let mut frame = Rgb32FImage::new(WIDTH, HEIGHT);
    for (x, y, pixel) in frame.enumerate_pixels_mut() {
        let (xf, yf) = (x as f32, y as f32);
        let grain: f32 = waves
            .iter()
            .map(|(row, col)| row[x as usize] * col[y as usize])
            .sum();
        let paper = tone + texture * grain / 2.0;
        // The digit: MNIST's 28×28 spread over the box, sampled through the rotation.
        let (dx, dy) = (xf - centre.0, yf - centre.1);
        let (u, v) = (cos * dx + sin * dy, -sin * dx + cos * dy);
        let scale = 28.0 / side;
        let m = bilinear(digit, u * scale + 14.0 - 0.5, v * scale + 14.0 - 0.5);
        let on_line =
            ((yf - line_y - line_slope * (xf - centre.0)).abs() <= line_half) as u8 as f32;
        let light = {
            let along = (xf - WIDTH as f32 / 2.0) * direction.cos()
                + (yf - HEIGHT as f32 / 2.0) * direction.sin();
            let ramp = gradient * (along / diagonal + 0.5);
            let across = (xf - WIDTH as f32 / 2.0) * shadow_angle.cos()
                + (yf - HEIGHT as f32 / 2.0) * shadow_angle.sin()
                - shadow_offset;
            let shade = shadow / (1.0 + (-across / shadow_soft).exp());
            1.0 - (ramp + shade) / 255.0
        };
        let a = depth * m;
        for (channel, ink) in pixel.0.iter_mut().zip(ink) {
            let mut value = paper * (1.0 - a) + ink * a;
            value -= line_dark * on_line * (1.0 - a);
            value = value * light + noise.sample(&mut rng);
            *channel = value.clamp(0.0, 255.0);
        }
    }
    let blur = 2.0 * h(Difficulty::Blur);
    let frame = if blur > 0.05 {
        imageops::blur(&frame, blur)
    } else {
        frame
    };
    let mut upright = RgbImage::from_fn(WIDTH, HEIGHT, |x, y| {
        image::Rgb(frame.get_pixel(x, y).0.map(|v| v.round() as u8))
    });

    // A phone held another way stores the picture turned, and a tag that turns it back.
    let orientation = if rng.random_bool(h(Difficulty::Orientation) as f64) {
        [3u16, 6, 8][rng.random_range(0..3)]
    } else {
        1
    };
    upright = match orientation {
        3 => imageops::rotate180(&upright),
        6 => imageops::rotate270(&upright),
        8 => imageops::rotate90(&upright),
        _ => upright,
    };
    let quality = (95.0 - 65.0 * h(Difficulty::Jpeg)).round() as u8;
    let mut jpeg = Vec::new();
    let mut encoder = JpegEncoder::new_with_quality(Cursor::new(&mut jpeg), quality);
    if orientation != 1 {
        encoder
            .set_exif_metadata(exif_orientation(orientation))
            .unwrap();
    }
    encoder
        .write_image(
            upright.as_raw(),
            upright.width(),
            upright.height(),
            image::ExtendedColorType::Rgb8,
        )
        .unwrap();
    jpeg
}

/// A TIFF-structured EXIF block holding one tag: the orientation (0x0112).
fn exif_orientation(orientation: u16) -> Vec<u8> {
    let mut exif = b"MM\0\x2a\0\0\0\x08".to_vec();
    exif.extend([0, 1]); // one entry
    exif.extend([0x01, 0x12, 0, 3, 0, 0, 0, 1]); // tag, SHORT, count 1
    exif.extend(orientation.to_be_bytes());
    exif.extend([0, 0]); // the value's padding
    exif.extend([0, 0, 0, 0]); // no next IFD
    exif
}

fn bilinear(image: &GrayImage, x: f32, y: f32) -> f32 {
    let at = |x: i64, y: i64| {
        if (0..28).contains(&x) && (0..28).contains(&y) {
            image.get_pixel(x as u32, y as u32).0[0] as f32 / 255.0
        } else {
            0.0
        }
    };
    let (x0, y0) = (x.floor(), y.floor());
    let (fx, fy) = (x - x0, y - y0);
    let (x0, y0) = (x0 as i64, y0 as i64);
    at(x0, y0) * (1.0 - fx) * (1.0 - fy)
        + at(x0 + 1, y0) * fx * (1.0 - fy)
        + at(x0, y0 + 1) * (1.0 - fx) * fy
        + at(x0 + 1, y0 + 1) * fx * fy
}

/// The photos of one set: (label, file).
pub fn write_set(
    dir: &Path,
    name: &str,
    digits_: &[(u8, GrayImage)],
    photos: impl Iterator<Item = (usize, Hardness, u64)>,
) -> Vec<(u8, PathBuf)> {
    std::fs::create_dir_all(dir.join(name)).unwrap();
    photos
        .map(|(index, hardness, seed)| {
            let (label, digit) = &digits_[index];
            let path = dir.join(name).join(format!("{index:05}.jpg"));
            std::fs::write(&path, photo(digit, hardness, seed)).unwrap();
            (*label, path)
        })
        .collect()
}

/// How many of `set` `predict` reads right, with one line per photo and no panic.
fn read_right(run: &Path, set: &[(u8, PathBuf)]) -> usize {
    let paths: Vec<&PathBuf> = set.iter().map(|(_, p)| p).collect();
    let output = Digits::new("predict").model(run).args(&paths).output();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    let lines: Vec<&str> = stdout.lines().collect();
    let errors = stderr.lines().filter(|l| l.starts_with("error: ")).count();
    assert_eq!(
        lines.len() + errors,
        set.len(),
        "one line per photo:\n{stdout}\n{stderr}"
    );
    set.iter()
        .filter(|(label, path)| {
            let prefix = format!("{}: {label} (", path.display());
            lines.iter().any(|l| l.starts_with(&prefix))
        })
        .count()
}

/// 200 photos, every difficulty drawn at once, read right at least 90% of the time; and 40 at
/// the top of each difficulty's range, each set at least 80%.
fn photos_of_digits_on_paper_are_read() {
    let tmp = tempfile::tempdir().unwrap();
    let run = tmp.path().join("two-layer-net");
    Digits::train("configs/two-layer-net.toml", mnist(), &run)
        .args(["--epochs", "10"])
        .succeeds();
    let digits_ = test_digits(mnist(), 10_000);
    let mut hardness = StdRng::seed_from_u64(23);
    let all = write_set(
        tmp.path(),
        "all",
        &digits_,
        (0..200).map(|k| (k * 37, Hardness::random(&mut hardness), k as u64)),
    );
    let right = read_right(&run, &all);
    note!("photos with every difficulty: {right}/200 read right");
    let mut weak = Vec::new();
    for difficulty in DIFFICULTIES {
        let name = format!("{difficulty:?}").to_lowercase();
        let set = write_set(
            tmp.path(),
            &name,
            &digits_,
            (0..40).map(|k| (5000 + k * 41, Hardness::only(difficulty), 1000 + k as u64)),
        );
        let right = read_right(&run, &set);
        note!("photos at the top of {name}: {right}/40 read right");
        if right < 32 {
            weak.push(format!("{name}: {right}/40"));
        }
    }
    assert!(right >= 180, "{right}/200 photos read right");
    assert!(weak.is_empty(), "sets below 80%: {weak:?}");
}
