//! Pictures of training with plotters: learning curves of one run or several overlaid, and a
//! grid of the test digits a model gets wrong.

use std::path::Path;
use std::sync::Once;

use anyhow::Context;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::FontStyle;

use crate::data::IMAGE_SIDE;
use crate::files::write_atomically;
use crate::train::metrics::EpochMetrics;

/// One run's curves: its name and its epochs.
#[derive(Debug, Clone)]
pub struct Curves {
    /// The label in the legend (the run folder's name).
    pub label: String,
    /// Every epoch, in order.
    pub epochs: Vec<EpochMetrics>,
}

/// The size of a curves picture.
const CURVES_SIZE: (u32, u32) = (1100, 450);

/// The font text is drawn with (DejaVu Sans, shipped in `assets/`), so that pictures look the
/// same on every machine, fonts installed or not.
fn register_font() {
    static REGISTER: Once = Once::new();
    REGISTER.call_once(|| {
        let font = include_bytes!("../../assets/DejaVuSans.ttf");
        plotters::style::register_font("sans-serif", FontStyle::Normal, font)
            .unwrap_or_else(|_| panic!("the bundled font is a valid TrueType font"));
    });
}

/// Writes training loss (left) and validation and test accuracy (right) per epoch of `runs` to
/// a PNG or an SVG file, by extension. Each file is replaced atomically.
pub fn draw_curves(runs: &[Curves], path: &Path) -> anyhow::Result<()> {
    register_font();
    let bytes = if path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("svg"))
    {
        let mut svg = String::new();
        curves(
            SVGBackend::with_string(&mut svg, CURVES_SIZE).into_drawing_area(),
            runs,
        )?;
        svg.into_bytes()
    } else {
        let (w, h) = CURVES_SIZE;
        let mut pixels = vec![0u8; (w * h * 3) as usize];
        curves(
            BitMapBackend::with_buffer(&mut pixels, CURVES_SIZE).into_drawing_area(),
            runs,
        )?;
        png(pixels, w, h)?
    };
    write_atomically(path, &bytes)
}

/// An epoch axis tick: whole epochs only, so that a short run's half-epoch ticks do not read
/// "1 2 2 3".
fn epoch_label(x: &f64) -> String {
    if x.fract() == 0.0 {
        format!("{x:.0}")
    } else {
        String::new()
    }
}

fn curves<DB: DrawingBackend>(root: DrawingArea<DB, Shift>, runs: &[Curves]) -> anyhow::Result<()>
where
    DB::ErrorType: 'static,
{
    root.fill(&WHITE)?;
    let (left, right) = root.split_horizontally(CURVES_SIZE.0 / 2);
    let epochs = runs
        .iter()
        .map(|r| r.epochs.len())
        .max()
        .unwrap_or(1)
        .max(2);
    let colour = |i: usize| Palette99::pick(i).to_rgba();

    let top_loss = runs
        .iter()
        .flat_map(|r| r.epochs.iter().map(|m| m.train_loss))
        .fold(0.0, f64::max)
        * 1.05;
    let mut chart = ChartBuilder::on(&left)
        .caption("Training loss", ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(60)
        .build_cartesian_2d(1f64..epochs as f64, 0f64..top_loss.max(1e-9))?;
    chart
        .configure_mesh()
        .x_desc("epoch")
        .x_label_formatter(&epoch_label)
        .y_desc("mean cost per example")
        .draw()?;
    for (i, run) in runs.iter().enumerate() {
        let points = run.epochs.iter().map(|m| (m.epoch as f64, m.train_loss));
        chart
            .draw_series(LineSeries::new(points, colour(i).stroke_width(2)))?
            .label(run.label.clone())
            .legend(move |(x, y)| {
                PathElement::new([(x, y), (x + 20, y)], colour(i).stroke_width(2))
            });
    }
    chart
        .configure_series_labels()
        .border_style(BLACK)
        .background_style(WHITE.mix(0.8))
        .draw()?;

    let lowest = runs
        .iter()
        .flat_map(|r| r.epochs.iter())
        .map(|m| 100.0 * m.test_accuracy().min(m.validation_accuracy()))
        .fold(100.0, f64::min);
    let mut chart = ChartBuilder::on(&right)
        .caption(
            "Accuracy (solid: test, dashed: validation)",
            ("sans-serif", 20),
        )
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(60)
        .build_cartesian_2d(1f64..epochs as f64, (lowest.floor() - 0.5).max(0.0)..100f64)?;
    chart
        .configure_mesh()
        .x_desc("epoch")
        .x_label_formatter(&epoch_label)
        .y_desc("% correct")
        .draw()?;
    for (i, run) in runs.iter().enumerate() {
        let test = run
            .epochs
            .iter()
            .map(|m| (m.epoch as f64, 100.0 * m.test_accuracy()));
        chart
            .draw_series(LineSeries::new(test, colour(i).stroke_width(2)))?
            .label(run.label.clone())
            .legend(move |(x, y)| {
                PathElement::new([(x, y), (x + 20, y)], colour(i).stroke_width(2))
            });
        let validation = run
            .epochs
            .iter()
            .map(|m| (m.epoch as f64, 100.0 * m.validation_accuracy()));
        chart.draw_series(DashedLineSeries::new(
            validation,
            6,
            4,
            colour(i).stroke_width(1),
        ))?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerRight)
        .border_style(BLACK)
        .background_style(WHITE.mix(0.8))
        .draw()?;
    root.present()?;
    Ok(())
}

/// A misclassified image: its pixels in [0, 1], its class and the prediction.
#[derive(Debug, Clone)]
pub struct Mistake {
    /// 28×28 pixels, row by row.
    pub pixels: Vec<f32>,
    /// The true class's name.
    pub label: String,
    /// The name of the class the model said.
    pub predicted: String,
}

/// Writes a PNG grid of `mistakes`, ten to a row, each captioned `true → predicted`.
pub fn draw_mistakes(mistakes: &[Mistake], path: &Path) -> anyhow::Result<()> {
    register_font();
    const SCALE: u32 = 3;
    const CAPTION: u32 = 22;
    let cell = (
        IMAGE_SIDE as u32 * SCALE + 8,
        IMAGE_SIDE as u32 * SCALE + CAPTION + 8,
    );
    let columns = 10u32;
    let rows = (mistakes.len() as u32).div_ceil(columns).max(1);
    let (w, h) = (columns * cell.0, rows * cell.1);
    let mut pixels = vec![255u8; (w * h * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut pixels, (w, h)).into_drawing_area();
        root.fill(&WHITE)?;
        for (i, mistake) in mistakes.iter().enumerate() {
            let (x0, y0) = (
                (i as u32 % columns) * cell.0 + 4,
                (i as u32 / columns) * cell.1 + 4,
            );
            for (p, value) in mistake.pixels.iter().enumerate() {
                let shade = 255 - (value.clamp(0.0, 1.0) * 255.0) as u8;
                let (x, y) = (
                    (x0 + (p % IMAGE_SIDE) as u32 * SCALE) as i32,
                    (y0 + (p / IMAGE_SIDE) as u32 * SCALE) as i32,
                );
                root.draw(&Rectangle::new(
                    [(x, y), (x + SCALE as i32, y + SCALE as i32)],
                    RGBColor(shade, shade, shade).filled(),
                ))?;
            }
            // Digits fit at 17 px; longer class names are shortened to fit the cell at 12.
            let caption = format!("{} → {}", mistake.label, mistake.predicted);
            let (caption, x, size) = if caption.chars().count() <= 7 {
                (caption, 18, 17)
            } else {
                let short = |name: &str| match name.char_indices().nth(5) {
                    Some((end, _)) => format!("{}…", &name[..end]),
                    None => name.to_string(),
                };
                let caption = format!("{} → {}", short(&mistake.label), short(&mistake.predicted));
                (caption, 0, 12)
            };
            root.draw(&Text::new(
                caption,
                (x0 as i32 + x, (y0 + IMAGE_SIDE as u32 * SCALE + 3) as i32),
                ("sans-serif", size).into_font().color(&RED),
            ))?;
        }
        root.present()?;
    }
    write_atomically(path, &png(pixels, w, h)?)
}

/// Encodes an RGB buffer as PNG.
fn png(pixels: Vec<u8>, w: u32, h: u32) -> anyhow::Result<Vec<u8>> {
    let image = image::RgbImage::from_raw(w, h, pixels).context("a buffer of w × h × 3 bytes")?;
    let mut bytes = Vec::new();
    image
        .write_to(
            &mut std::io::Cursor::new(&mut bytes),
            image::ImageFormat::Png,
        )
        .context("cannot encode the picture as PNG")?;
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::epoch_label;

    /// A 5-epoch chart's ticks at 1, 1.5, 2, ... read "1 2 3 4 5", not "1 2 2 3 4 4 5".
    #[test]
    fn epoch_ticks_are_whole_epochs() {
        let ticks: Vec<String> = (2..=10).map(|h| epoch_label(&(h as f64 / 2.0))).collect();
        assert_eq!(ticks, ["1", "", "2", "", "3", "", "4", "", "5"]);
    }
}
