//! Ruled lines on a page: found by a Hough transform, then measured, so that only a straight,
//! thin line crossing the whole frame is taken for one. A digit's straight stroke (a 1, a 7's
//! bar) is as straight, but it stops short of the edges.

use image::GrayImage;
use imageproc::hough::{LineDetectionOptions, detect_lines};

/// A ruled line reaches within this fraction of both ends of the frame...
const LINE_ENDS: f32 = 0.08;
/// ...and is found along at least this fraction of it.
const LINE_COVER: f32 = 0.4;
/// A line is ruled when it is within this many degrees of horizontal or vertical.
const LINE_TILT: u32 = 10;
/// A ruled line is at most this thick, as a fraction of the frame across it.
const LINE_THICKNESS: f32 = 0.02;
/// Ruled lines are looked for in an image at least this many pixels on its shorter side: a
/// dataset's small image is not a page.
const LINE_ROOM: u32 = 100;

/// A straight band of ink, `centre = a + b·t` along the image's rows (`t` is x) or, when
/// `vertical`, along its columns (`t` is y).
#[derive(Debug)]
pub struct Band {
    a: f32,
    b: f32,
    half_width: f32,
    vertical: bool,
    /// Where a stroke of the digit crosses the band: kept, so that the digit is not cut.
    strokes: Vec<bool>,
}

impl Band {
    /// The pixels of the band, but where a stroke crosses it, in an image of this size.
    pub fn pixels(&self, width: u32, height: u32) -> impl Iterator<Item = (u32, u32)> + '_ {
        let (along, across) = if self.vertical {
            (height, width)
        } else {
            (width, height)
        };
        (0..along)
            .filter(|&t| !self.strokes[t as usize])
            .flat_map(move |t| {
                let centre = self.a + self.b * t as f32;
                let from = (centre - self.half_width).floor().max(0.0) as u32;
                let to = ((centre + self.half_width).ceil().max(0.0) as u32).min(across - 1);
                (from..=to).map(move |s| if self.vertical { (s, t) } else { (t, s) })
            })
    }
}

/// The ruled lines in `binary`: straight, within [`LINE_TILT`] degrees of the frame's axes, and
/// crossing the whole frame. A digit's straight stroke (a 1, a 7's bar) is as straight, but it
/// stops short of the edges.
pub fn ruled_lines(binary: &GrayImage) -> Vec<Band> {
    let (width, height) = binary.dimensions();
    if width.min(height) < LINE_ROOM {
        return Vec::new();
    }
    let options = LineDetectionOptions {
        vote_threshold: (0.15 * width.min(height) as f32) as u32,
        suppression_radius: 8,
    };
    detect_lines(binary, options)
        .into_iter()
        .filter_map(|line| {
            let (sin, cos) = (line.angle_in_degrees as f32).to_radians().sin_cos();
            // x·cos + y·sin = r: near-horizontal lines have angles near 90°.
            if line.angle_in_degrees.abs_diff(90) <= LINE_TILT {
                measured(binary, line.r / sin, -cos / sin, false)
            } else if line.angle_in_degrees <= LINE_TILT || line.angle_in_degrees >= 180 - LINE_TILT
            {
                measured(binary, line.r / cos, -sin / cos, true)
            } else {
                None
            }
        })
        .collect()
}

/// Measures the band of ink near `a + b·t`: its centre refitted by least squares (the Hough
/// transform's angle is a degree coarse), and its thickness. `None` when it does not cross the
/// frame.
fn measured(binary: &GrayImage, a: f32, b: f32, vertical: bool) -> Option<Band> {
    let (width, height) = binary.dimensions();
    let along = if vertical { height } else { width };
    let fitted = |a: f32, b: f32, reach: f32| -> Vec<(f32, f32, f32)> {
        (0..along)
            .filter_map(|t| run_near(binary, vertical, t, a + b * t as f32, reach))
            .collect()
    };
    let (mut a, mut b) = (a, b);
    let mut runs = fitted(a, b, 2.0 + 0.01 * along as f32);
    for _ in 0..2 {
        let thin = thin_runs(&runs);
        if thin.len() < 2 {
            return None;
        }
        (a, b) = least_squares(&thin);
        runs = fitted(a, b, 2.0);
    }
    let thin = thin_runs(&runs);
    let (first, last) = (thin.first()?.0, thin.last()?.0);
    let ends = LINE_ENDS * along as f32;
    let crosses = first <= ends
        && last >= along as f32 - 1.0 - ends
        && thin.len() as f32 >= LINE_COVER * along as f32;
    let thickness = median(thin.iter().map(|r| r.2).collect());
    // A ruled line is thin beside the frame; a band as thick as a shoe's sole is not one.
    let across = if vertical { width } else { height };
    if thickness > LINE_THICKNESS * across as f32 {
        return None;
    }
    let mut strokes = vec![false; along as usize];
    for run in runs.iter().filter(|r| r.2 > 1.5 * thickness + 1.0) {
        strokes[run.0 as usize] = true;
    }
    crosses.then(|| Band {
        a,
        b,
        half_width: thickness / 2.0 + 1.5,
        vertical,
        strokes,
    })
}

/// The run of ink across position `t` nearest `centre`, within `reach`: (t, its centre, its
/// length).
fn run_near(
    binary: &GrayImage,
    vertical: bool,
    t: u32,
    centre: f32,
    reach: f32,
) -> Option<(f32, f32, f32)> {
    let across = if vertical {
        binary.width()
    } else {
        binary.height()
    } as i64;
    let ink = |s: i64| {
        (0..across).contains(&s) && {
            let (x, y) = if vertical {
                (s, t as i64)
            } else {
                (t as i64, s)
            };
            binary.get_pixel(x as u32, y as u32).0[0] > 0
        }
    };
    let nearest = (0..=reach.ceil() as i64)
        .flat_map(|d| [centre.round() as i64 - d, centre.round() as i64 + d])
        .find(|&s| ink(s))?;
    let limit = 4 * reach.ceil() as i64 + 8;
    let (mut from, mut to) = (nearest, nearest);
    while ink(from - 1) && nearest - from < limit {
        from -= 1;
    }
    while ink(to + 1) && to - nearest < limit {
        to += 1;
    }
    Some((t as f32, (from + to) as f32 / 2.0, (to - from + 1) as f32))
}

/// The runs no thicker than the line itself: where a stroke of the digit crosses it, the run is
/// longer and its centre is not the line's.
fn thin_runs(runs: &[(f32, f32, f32)]) -> Vec<(f32, f32, f32)> {
    if runs.is_empty() {
        return Vec::new();
    }
    let limit = 1.5 * median(runs.iter().map(|r| r.2).collect()) + 1.0;
    runs.iter().copied().filter(|r| r.2 <= limit).collect()
}

fn least_squares(points: &[(f32, f32, f32)]) -> (f32, f32) {
    let n = points.len() as f32;
    let (mt, mc) = points
        .iter()
        .fold((0.0, 0.0), |(t, c), p| (t + p.0 / n, c + p.1 / n));
    let (mut stc, mut stt) = (0.0, 0.0);
    for &(t, c, _) in points {
        stc += (t - mt) * (c - mc);
        stt += (t - mt) * (t - mt);
    }
    let b = if stt > 0.0 { stc / stt } else { 0.0 };
    (mc - b * mt, b)
}

/// The middle of `values` (the upper middle of an even count).
pub fn median(mut values: Vec<f32>) -> f32 {
    values.sort_by(f32::total_cmp);
    values[values.len() / 2]
}
