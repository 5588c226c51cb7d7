//! How long a folder of images takes to read: the first time, when every image is decoded and
//! prepared, and the second, when the prepared images come from the cache.
//!
//! ```text
//! cargo run --release --example image_folder_bench -- --images 10000
//! cargo run --release --example image_folder_bench -- --images 100000 --side 16
//! ```
//!
//! It writes `--images` PNGs of `--side`×`--side` pixels (a stroke at a random place, ten
//! classes) into a temporary folder, then opens it twice as `[data] format = "images"` does,
//! with the cache in the same temporary folder.

use std::time::Instant;

use clap::Parser;
use digits::data::image_folder::ImageFolder;
use digits::data::prepared_cache::CACHE_ENV;
use digits::data::{DataConfig, DataFormat};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

#[derive(Parser)]
struct Args {
    /// Images to write.
    #[arg(long, default_value_t = 10_000)]
    images: usize,
    /// Their side in pixels.
    #[arg(long, default_value_t = 28)]
    side: u32,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let tmp = tempfile::tempdir()?;
    // Before any thread starts: the cache goes into the temporary folder, not the user's.
    // SAFETY: the program is still single-threaded here.
    unsafe { std::env::set_var(CACHE_ENV, tmp.path().join("cache")) };
    let root = tmp.path().join("images");
    let mut rng = StdRng::seed_from_u64(1);
    let side = args.side;
    let started = Instant::now();
    for i in 0..args.images {
        let class = i % 10;
        let dir = root.join(format!("class-{class}"));
        if i < 10 {
            std::fs::create_dir_all(&dir)?;
        }
        let (x0, y0) = (rng.random_range(0..side / 2), rng.random_range(0..side / 2));
        let length = side / 3 + class as u32 % (side / 3);
        let image = image::GrayImage::from_fn(side, side, |x, y| {
            let on_stroke = if class % 2 == 0 {
                y == y0 && (x0..x0 + length).contains(&x)
            } else {
                x == x0 && (y0..y0 + length).contains(&y)
            };
            image::Luma([if on_stroke { 0 } else { 255 }])
        });
        image.save(dir.join(format!("{i:06}.png")))?;
    }
    println!(
        "Wrote {} PNGs of {side}×{side} in {:.1} s",
        args.images,
        started.elapsed().as_secs_f64()
    );
    let data = DataConfig {
        format: DataFormat::Images,
        dir: Some(root),
        ..Default::default()
    };
    for pass in ["first (decode and prepare)", "second (from the cache)"] {
        let started = Instant::now();
        let folder = ImageFolder::open(&data, true)?;
        println!(
            "{pass}: {:.2} s for {} files, {} from the cache; {} train, {} validation, {} test, {} skipped",
            started.elapsed().as_secs_f64(),
            folder.load.files,
            folder.load.cached,
            folder.train.len(),
            folder.validation.len(),
            folder.test.len(),
            folder.skipped.len()
        );
    }
    let cache = std::fs::read_dir(tmp.path().join("cache/prepared-images"))?
        .map(|e| e.map(|e| e.metadata().map(|m| m.len()).unwrap_or(0)))
        .sum::<Result<u64, _>>()?;
    println!("Cache: {:.1} MB", cache as f64 / 1e6);
    Ok(())
}
