//! Finding the digit's ink on a page: the light taken away, the ink told from the paper, and
//! the digit told from everything else that is dark on the page.
//!
//! A photo is not a scan. The light falls off across the page, a hand or a phone throws a soft
//! shadow, the paper has a texture, the sensor adds noise, and the page may be ruled. Each step
//! here removes one of those, with `imageproc`'s operators:
//! 1. the background (paper and light) is estimated locally, by a grey-level opening with a disk
//!    larger than a stroke, on a copy at most [`BACKGROUND_SIDE`] pixels wide, and subtracted.
//!    Where the border is evenly lit, the background is its level. Where it is mostly one exact
//!    level (a drawing, a dataset's image), the image is taken whole, as MNIST's own
//!    preparation took it ([`whole`]);
//! 2. Otsu's threshold finds the ink that stands out, and faint ink joined to it is kept with
//!    it (hysteresis, as in Canny's edges);
//! 3. ruled lines that cross the frame are erased ([`ruled_lines`](crate::data::ruled_lines));
//! 4. the digit is the largest piece of ink, with the pieces near it that are large enough (the
//!    second stroke of a 4, 5 or 7); specks and ink far away are left out, and the paper's
//!    grain is taken off.

use image::imageops::{self, FilterType};
use image::{GrayImage, ImageBuffer, Luma};
use imageproc::contrast::otsu_level;
use imageproc::distance_transform::Norm;
use imageproc::filter::{gaussian_blur_f32, median_filter};
use imageproc::morphology::{Mask, dilate, grayscale_open};
use imageproc::region_labelling::{Connectivity, connected_components};

use crate::data::ruled_lines::{median, ruled_lines};

/// A grey image as f32 levels in [0, 1].
pub type Levels = ImageBuffer<Luma<f32>, Vec<f32>>;

/// The background is estimated on a copy whose longer side is at most this: it varies slowly,
/// and the opening's cost grows with the disk's area, so a 12-megapixel photo costs about what
/// a small one does.
const BACKGROUND_SIDE: u32 = 96;
/// The disk of the opening, as a fraction of the copy's longer side: wider than any stroke, so
/// that the opening keeps only the light.
const BACKGROUND_DISK: f32 = 0.25;
/// A border whose paper spreads less than this (5th to 95th percentile) is evenly lit. Only
/// the paper counts: what is nearer the brightest ink than the darkest paper is an object
/// touching the border, not light. A border mostly of one exact level is a drawing's or a
/// dataset's (MNIST's, Fashion-MNIST's), evenly lit whatever touches it: no photo is that flat.
const EVEN_LIGHT: f32 = 0.05;
/// A pixel at least this bright (after normalisation) is ink when cropping, as it was before
/// photos were read: faint ink joined to the digit counts from here.
pub const INK_THRESHOLD: f32 = 0.2;
/// Ink must stand this far above the background, on a 0 to 1 scale.
const MIN_CONTRAST: f32 = 0.1;
/// The threshold never falls below this: Otsu's level on a blank page would split its grain.
const MIN_THRESHOLD: f32 = 0.25;
/// The most grain taken off the ink, on a 0 to 1 scale: half the lowest threshold.
const MAX_GRAIN: f32 = 0.5 * MIN_THRESHOLD;
/// A stroke at least this fraction of the main ink's area belongs to the digit...
const STROKE_AREA: f32 = 0.04;
/// ...when the gap to it is at most this fraction of the main ink's longer side.
const STROKE_GAP: f32 = 0.35;

/// The ink found in an image.
pub struct Ink {
    /// The ink after the background is removed, scaled to [0, 1]: everything dark on the page.
    pub levels: Levels,
    /// What the threshold found: the digit's ink 255, other ink (specks, ruled lines, far marks)
    /// 96.
    pub threshold: GrayImage,
    /// The digit alone: `levels` with everything outside the digit set to 0.
    pub digit: Levels,
}

/// Finds the digit in `ink`, bright ink on a dark background (levels in [0, 1]).
pub fn find(ink: &Levels) -> Result<Ink, String> {
    let (width, height) = ink.dimensions();
    let background = background(ink);
    let mut levels = ink.clone();
    match &background {
        Background::Exact(paper) | Background::Even(paper) => {
            levels.iter_mut().for_each(|v| *v = (*v - paper).max(0.0))
        }
        Background::Lit(paper) => levels
            .iter_mut()
            .zip(paper.iter())
            .for_each(|(v, paper)| *v = (*v - paper).max(0.0)),
    }
    if let Background::Exact(_) = background {
        return whole(levels);
    }
    // Ink is there when it stands out even after a 3×3 median, so that noise alone (a hot
    // pixel, a blank page's grain) is not taken for it.
    let standing_out = median_filter(&to_grey(&levels), 1, 1)
        .pixels()
        .map(|p| p.0[0])
        .max()
        .unwrap_or(0) as f32
        / 255.0;
    if standing_out < MIN_CONTRAST {
        return Err("no digit found: the image has no contrast".into());
    }
    // The brightest ink becomes 1, as MNIST's darkest ink is 255.
    let brightest = levels.pixels().map(|p| p.0[0]).fold(0.0, f32::max);
    levels.pixels_mut().for_each(|p| p.0[0] /= brightest);

    // Otsu's level on a lightly smoothed copy, so that noise does not split the strokes: what
    // is above it is ink that stands out ("strong").
    let mut smooth = to_grey(&gaussian_blur_f32(&levels, 0.7));
    let strong_level = (otsu_level(&smooth) as f32).max(MIN_THRESHOLD * 255.0);
    let above = |smooth: &GrayImage, level: f32| {
        GrayImage::from_fn(width, height, |x, y| {
            Luma([if smooth.get_pixel(x, y).0[0] as f32 > level {
                255
            } else {
                0
            }])
        })
    };
    // The paper's grain, taken off what is kept so that MNIST's black field stays black: twice
    // the median level of the paper away from any ink (the background was taken at the grain's
    // floor, so its median is about half its top). On a clean scan, a drawing or a dataset's
    // image ([`whole`]), there is no grain.
    let near_ink = dilate(&above(&smooth, strong_level), Norm::LInf, 3);
    let paper: Vec<f32> = levels
        .enumerate_pixels()
        .filter(|(x, y, _)| near_ink.get_pixel(*x, *y).0[0] == 0)
        .map(|(_, _, p)| p.0[0])
        .collect();
    let grain = if paper.is_empty() {
        0.0
    } else {
        (2.0 * median(paper)).min(MAX_GRAIN)
    };
    // Faint ink ("weak"): above the crop's threshold, once the grain is off. A piece of the
    // digit is faint ink joined to ink that stands out, as in Canny's hysteresis: the soft
    // edges of strokes, the darker parts of a garment.
    let weak_level = (255.0 * (grain + INK_THRESHOLD * (1.0 - grain))).min(strong_level);
    // Unsmoothed: a garment's thin dark texture would fall below it once blurred.
    let weak = above(&to_grey(&levels), weak_level);
    let before_lines = (levels.clone(), weak.clone());
    for line in ruled_lines(&weak) {
        for (x, y) in line.pixels(width, height) {
            levels.put_pixel(x, y, Luma([0.0]));
            smooth.put_pixel(x, y, Luma([0]));
        }
    }
    let (strong, weak) = (
        above(&smooth, strong_level),
        above(&to_grey(&levels), weak_level),
    );
    let region = digit(&weak, &strong);
    let threshold = GrayImage::from_fn(width, height, |x, y| {
        let was_ink = before_lines.1.get_pixel(x, y).0[0] > 0;
        Luma([match (weak.get_pixel(x, y).0[0], region.contains(x, y)) {
            (0, _) if was_ink => 96,
            (0, _) => 0,
            (_, true) => 255,
            (_, false) => 96,
        }])
    });
    // Within the digit's box, everything but other ink: as MNIST cropped a scan.
    let digit = Levels::from_fn(width, height, |x, y| {
        let other_ink = weak.get_pixel(x, y).0[0] > 0 && !region.contains(x, y);
        let kept = region.box_contains(x, y) && !other_ink;
        let level = (levels.get_pixel(x, y).0[0] - grain).max(0.0) / (1.0 - grain);
        Luma([if kept { level } else { 0.0 }])
    });
    Ok(Ink {
        levels: before_lines.0,
        threshold,
        digit,
    })
}

/// The ink of a drawing's or a dataset's image (its paper one exact level): it holds nothing but
/// its subject, with no grain or shadow, so all its ink is kept, as MNIST's own preparation kept
/// it, but for a ruled line across a page. Cheap, too: a folder of small images is prepared
/// faster than before photos were read.
fn whole(mut levels: Levels) -> Result<Ink, String> {
    let brightest = levels.iter().copied().fold(0.0, f32::max);
    if brightest < MIN_CONTRAST {
        return Err("no digit found: the image has no contrast".into());
    }
    levels.iter_mut().for_each(|v| *v /= brightest);
    let (width, height) = levels.dimensions();
    let ink = levels
        .iter()
        .map(|&v| if v >= INK_THRESHOLD { 255 } else { 0 });
    let mut threshold =
        GrayImage::from_raw(width, height, ink.collect()).expect("one level per pixel");
    let mut digit = levels.clone();
    // A page can be ruled: a scan of lined paper, a drawing on it.
    for line in ruled_lines(&threshold) {
        for (x, y) in line.pixels(width, height) {
            digit.put_pixel(x, y, Luma([0.0]));
            if threshold.get_pixel(x, y).0[0] > 0 {
                threshold.put_pixel(x, y, Luma([96]));
            }
        }
    }
    Ok(Ink {
        levels,
        threshold,
        digit,
    })
}

/// The paper's level under the ink.
enum Background {
    /// One exact level: a drawing's or a dataset's image, with no grain.
    Exact(f32),
    /// Evenly lit: a scan, or a photo in even light.
    Even(f32),
    /// Lit unevenly: the level at every pixel.
    Lit(Levels),
}

/// The background: the border's level where the light is even, else a grey-level opening (which
/// removes what is thinner than its disk: the ink) of a small copy, smoothed and scaled back up.
fn background(ink: &Levels) -> Background {
    let (width, height) = ink.dimensions();
    let scale = (BACKGROUND_SIDE as f32 / width.max(height) as f32).min(1.0);
    let (w, h) = (
        ((width as f32 * scale).round() as u32).max(1),
        ((height as f32 * scale).round() as u32).max(1),
    );
    let level = |x: u32, y: u32| (ink.get_pixel(x, y).0[0] * 255.0).round().clamp(0.0, 255.0) as u8;
    let mut border: Vec<u8> = (0..width)
        .flat_map(|x| [level(x, 0), level(x, height - 1)])
        .chain((1..height.saturating_sub(1)).flat_map(|y| [level(0, y), level(width - 1, y)]))
        .collect();
    border.sort_unstable();
    let flat = border.iter().filter(|&&v| v == border[0]).count() * 2 >= border.len();
    if flat {
        return Background::Exact(border[0] as f32 / 255.0);
    }
    let darkest = border[(border.len() - 1) / 20];
    let small = if scale < 1.0 {
        to_grey(&imageops::resize(ink, w, h, FilterType::Triangle))
    } else {
        to_grey(ink)
    };
    let brightest = small.pixels().map(|p| p.0[0]).max().unwrap_or(0);
    // The copy is resampled: its brightest can fall below the border's darkest, and then
    // nothing would be left: the darkest twentieth of the border is always kept.
    border.retain(|&v| v <= darkest + brightest.saturating_sub(darkest) / 2);
    let percentile = |q: f32| border[((border.len() - 1) as f32 * q) as usize] as f32 / 255.0;
    if percentile(0.95) - percentile(0.05) < EVEN_LIGHT {
        return Background::Even(percentile(0.5));
    }
    let radius = (BACKGROUND_DISK * w.max(h) as f32).round().clamp(2.0, 60.0);
    // The copy is padded by repeating its edges, so that the light near the border (where the
    // disk would reach outside) is estimated as it is inside.
    let r = radius as u32;
    let padded = GrayImage::from_fn(w + 2 * r, h + 2 * r, |x, y| {
        *small.get_pixel(
            x.saturating_sub(r).min(w - 1),
            y.saturating_sub(r).min(h - 1),
        )
    });
    let opened = grayscale_open(&padded, &Mask::disk(radius as u8));
    let opened = Levels::from_fn(w, h, |x, y| {
        Luma([opened.get_pixel(x + r, y + r).0[0] as f32 / 255.0])
    });
    let smooth = gaussian_blur_f32(&opened, radius / 2.0);
    Background::Lit(imageops::resize(
        &smooth,
        width,
        height,
        FilterType::Triangle,
    ))
}

/// Levels as an 8-bit grey image, to save or to hand to `imageproc`'s 8-bit operators.
pub fn to_grey(levels: &Levels) -> GrayImage {
    GrayImage::from_fn(levels.width(), levels.height(), |x, y| {
        Luma([(levels.get_pixel(x, y).0[0] * 255.0)
            .round()
            .clamp(0.0, 255.0) as u8])
    })
}

/// The components of the digit: a set of labels, and the box around them.
struct DigitRegion {
    labels: ImageBuffer<Luma<u32>, Vec<u32>>,
    kept: Vec<bool>,
    /// left, top, right, bottom, inclusive.
    bounds: [u32; 4],
}

impl DigitRegion {
    fn contains(&self, x: u32, y: u32) -> bool {
        self.kept[self.labels.get_pixel(x, y).0[0] as usize]
    }

    fn box_contains(&self, x: u32, y: u32) -> bool {
        let [left, top, right, bottom] = self.bounds;
        (left..=right).contains(&x) && (top..=bottom).contains(&y)
    }
}

/// One connected piece of ink.
#[derive(Clone, Copy)]
struct Component {
    area: u32,
    bounds: [u32; 4],
    /// Whether it holds ink that stands out.
    stands_out: bool,
}

impl Component {
    fn longer_side(&self) -> u32 {
        (self.bounds[2] - self.bounds[0]).max(self.bounds[3] - self.bounds[1]) + 1
    }

    /// The gap between two boxes, in pixels (0 when they overlap).
    fn gap(&self, other: &Component) -> u32 {
        let apart =
            |a0: u32, a1: u32, b0: u32, b1: u32| b0.saturating_sub(a1).max(a0.saturating_sub(b1));
        apart(
            self.bounds[0],
            self.bounds[2],
            other.bounds[0],
            other.bounds[2],
        )
        .max(apart(
            self.bounds[1],
            self.bounds[3],
            other.bounds[1],
            other.bounds[3],
        ))
    }
}

/// The digit among the pieces of ink in `weak` that hold some ink of `strong` (the rest is
/// faint marks: a ruled line's fragments, shadows' edges): the largest piece, and every piece
/// large enough and near enough to it.
fn digit(weak: &GrayImage, strong: &GrayImage) -> DigitRegion {
    let (width, height) = weak.dimensions();
    let labels = connected_components(weak, Connectivity::Eight, Luma([0]));
    let count = labels.pixels().map(|p| p.0[0]).max().unwrap_or(0) as usize;
    let mut components = vec![
        Component {
            area: 0,
            bounds: [u32::MAX, u32::MAX, 0, 0],
            stands_out: false,
        };
        count + 1
    ];
    for (x, y, label) in labels.enumerate_pixels() {
        let c = &mut components[label.0[0] as usize];
        c.area += 1;
        c.stands_out |= strong.get_pixel(x, y).0[0] > 0;
        c.bounds = [
            c.bounds[0].min(x),
            c.bounds[1].min(y),
            c.bounds[2].max(x),
            c.bounds[3].max(y),
        ];
    }
    let main = (1..=count)
        .filter(|&i| components[i].stands_out)
        .max_by_key(|&i| components[i].area);
    let mut kept = vec![false; count + 1];
    let mut bounds = [0, 0, width - 1, height - 1];
    if let Some(main) = main {
        let m = components[main];
        kept[main] = true;
        bounds = m.bounds;
        for i in (1..=count).filter(|&i| components[i].stands_out) {
            let c = components[i];
            let belongs = i == main
                || (c.area as f32 >= STROKE_AREA * m.area as f32
                    && c.gap(&m) as f32 <= STROKE_GAP * m.longer_side() as f32);
            if belongs {
                kept[i] = true;
                let (b, c) = (bounds, c.bounds);
                bounds = [
                    b[0].min(c[0]),
                    b[1].min(c[1]),
                    b[2].max(c[2]),
                    b[3].max(c[3]),
                ];
            }
        }
    }
    DigitRegion {
        labels,
        kept,
        bounds,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Paper lit from the left (0.1 to 0.5 of dark ink's level, as levels of ink), with a
    /// bright "1" in the middle: `ink` is what `find` reads (bright ink on dark).
    fn page(width: u32, height: u32, draw: impl Fn(u32, u32) -> bool) -> Levels {
        Levels::from_fn(width, height, |x, y| {
            let light = 0.1 + 0.4 * x as f32 / width as f32;
            Luma([if draw(x, y) { light + 0.45 } else { light }])
        })
    }

    fn digit_pixels(ink: &Ink) -> Vec<(u32, u32)> {
        ink.digit
            .enumerate_pixels()
            .filter(|(_, _, p)| p.0[0] > 0.5)
            .map(|(x, y, _)| (x, y))
            .collect()
    }

    #[test]
    fn uneven_light_is_removed_and_only_the_stroke_is_ink() {
        let stroke = |x: u32, y: u32| (300..310).contains(&x) && (150..330).contains(&y);
        let ink = find(&page(640, 480, stroke)).unwrap();
        let found = digit_pixels(&ink);
        assert!(
            found.iter().all(|&(x, y)| stroke(x, y)),
            "ink off the stroke"
        );
        assert!(found.len() > 1500, "{}", found.len());
    }

    #[test]
    fn a_ruled_line_across_the_page_is_erased_and_the_digit_kept() {
        let stroke = |x: u32, y: u32| (300..310).contains(&x) && (150..330).contains(&y);
        // A line tilted by 2%, 3 pixels thick, crossing the stroke.
        let line = |x: u32, y: u32| (y as f32 - (230.0 + 0.02 * x as f32)).abs() <= 1.5;
        let ink = find(&page(640, 480, |x, y| stroke(x, y) || line(x, y))).unwrap();
        let found = digit_pixels(&ink);
        let on_line = found
            .iter()
            .filter(|&&(x, y)| line(x, y) && !stroke(x, y))
            .count();
        assert_eq!(on_line, 0);
        let rows = found.iter().map(|p| p.1);
        let (top, bottom) = (rows.clone().min().unwrap(), rows.max().unwrap());
        assert!(top <= 151 && bottom >= 328, "{top}..{bottom}");
    }

    #[test]
    fn specks_are_ignored_and_a_second_stroke_is_kept() {
        // A "4" in two strokes: an open angle, and the down stroke beside it, not touching.
        let angle = |x: u32, y: u32| {
            ((200..208).contains(&x) && (100..220).contains(&y))
                || ((200..300).contains(&x) && (212..220).contains(&y))
        };
        let down = |x: u32, y: u32| (272..280).contains(&x) && (120..360).contains(&y);
        let speck = |x: u32, y: u32| (500..503).contains(&x) && (50..53).contains(&y);
        let ink = find(&page(640, 480, |x, y| {
            angle(x, y) || (down(x, y) && !(210..222).contains(&y)) || speck(x, y)
        }))
        .unwrap();
        let found = digit_pixels(&ink);
        assert!(found.iter().any(|&(x, y)| angle(x, y)));
        assert!(found.iter().any(|&(x, y)| down(x, y) && y > 300));
        assert!(!found.iter().any(|&(x, y)| speck(x, y)));
    }

    #[test]
    fn a_blank_page_has_no_digit() {
        let error = find(&page(200, 100, |_, _| false)).err().unwrap();
        assert!(error.contains("no contrast"), "{error}");
    }
}
