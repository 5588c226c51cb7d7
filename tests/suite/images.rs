//! Training on a folder of images (`[data] format = "images"`) through the real binary: real
//! MNIST digits written as PNGs, fine-tuning, exact resume, the cache, and bad folders.

use crate::common::*;
use std::path::{Path, PathBuf};

pub fn tests() -> Vec<Test> {
    vec![
        test!(a_folder_run_learns_and_shows_its_class_names, MNIST),
        test!(fine_tuning_starts_from_another_runs_weights, MNIST),
        test!(a_resumed_folder_run_equals_an_uninterrupted_one),
        test!(the_cache_holds_each_file_until_it_changes_and_bad_images_are_skipped),
        test!(bad_folders_get_one_line_errors_naming_the_path),
    ]
}

/// `digits subcommand` with its cache of prepared images in `cache`.
pub fn cached(subcommand: &str, cache: &Path) -> Digits {
    Digits::new(subcommand).env("DIGITS_CACHE_DIR", cache)
}

/// A config for a folder of images: `sizes`, ReLU and cross-entropy, or network.py's sigmoid
/// and quadratic cost when `nielsen`.
pub fn folder_config(dir: &Path, name: &str, folder: &Path, sizes: &str, nielsen: bool) -> PathBuf {
    let network = if nielsen {
        "activation = \"sigmoid\"\ninit = \"standard_normal\"\n[loss]\ncost = \"quadratic\"\n[optimizer]\nname = \"sgd\"\nlr = 3.0\n[training]\nbatch_size = 10\n"
    } else {
        "activation = \"relu\"\ninit = \"he\"\n[loss]\ncost = \"cross_entropy\"\n[optimizer]\nname = \"sgd\"\nlr = 0.1\nmomentum = 0.9\n[training]\nbatch_size = 20\n"
    };
    let text = format!(
        "[data]\nformat = \"images\"\ndir = \"{}\"\n[model]\nsizes = {sizes}\n{network}epochs = 3\nseed = 1\n",
        folder.display()
    );
    let path = dir.join(format!("{name}.toml"));
    std::fs::write(&path, text).unwrap();
    path
}

/// Writes `image` as a PNG at `folder/<parts>`, making the folders.
fn save(image: &image::GrayImage, path: &Path) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    image.save(path).unwrap();
}

/// A small synthetic folder: three classes of strokes (`bar` horizontal, `pole` vertical,
/// `slash` diagonal), `per_class` images each, 32×32, dark ink on white at varied places.
pub fn strokes(root: &Path, per_class: usize) {
    for (class, name) in ["bar", "pole", "slash"].iter().enumerate() {
        for i in 0..per_class {
            let (a, b) = ((i * 7) % 12, (i * 5) % 9);
            let image = image::GrayImage::from_fn(32, 32, |x, y| {
                let (x, y) = (x as usize, y as usize);
                let ink = match class {
                    0 => (8 + b..10 + b).contains(&y) && (4 + a / 2..22 + a / 2).contains(&x),
                    1 => (8 + b..10 + b).contains(&x) && (4 + a / 2..22 + a / 2).contains(&y),
                    _ => x.abs_diff(y + a / 3) < 2 && (4..26).contains(&x),
                };
                image::Luma([if ink { 10 } else { 240 }])
            });
            save(&image, &root.join(name).join(format!("{i:03}.png")));
        }
    }
}

/// The last epoch's test accuracy of a run.
fn final_accuracy(run: &Path) -> f64 {
    *test_accuracies(run).last().unwrap()
}

fn a_folder_run_learns_and_shows_its_class_names() {
    let tmp = tempfile::tempdir().unwrap();
    let (png, cache) = (tmp.path().join("png"), tmp.path().join("cache"));
    let names = "zero,one,two,three,four,five,six,seven,eight,nine";
    let out = cached("data", &cache)
        .arg("export-images")
        .data_dir(mnist())
        .out(&png)
        .args(["--names", names, "--limit", "3000"])
        .succeeds();
    assert!(
        out.contains("Wrote 3000 training and 3000 test images"),
        "{out}"
    );
    let sevens = std::fs::read_dir(png.join("test/seven")).unwrap().count();
    assert!(sevens > 100, "{sevens}");

    let config = folder_config(tmp.path(), "words", &png, "[784, 100, 10]", false);
    let first = tmp.path().join("first");
    let out = cached("train", &cache)
        .config(&config)
        .args(["--epochs", "10"])
        .out(&first)
        .succeeds();
    assert!(
        out.contains("Images: 6000 files read") && out.contains("0 of them prepared before"),
        "{out}"
    );
    assert!(out.contains("train/ and test/ as given"), "{out}");
    let accuracy = final_accuracy(&first);
    // 87.8% on an AMD EPYC with AVX-512, above 88% elsewhere: gemm's kernels, and so the
    // floats, differ between CPUs.
    assert!(accuracy > 0.85, "{accuracy}");
    let recorded = std::fs::read_to_string(first.join("config.toml")).unwrap();
    assert!(
        recorded.contains("\"eight\",") && recorded.contains("\"zero\",\n]"),
        "{recorded}"
    );

    // A second run on the same folder takes every image from the cache.
    let second = tmp.path().join("second");
    let out = cached("train", &cache)
        .config(&config)
        .args(["--epochs", "1"])
        .out(&second)
        .succeeds();
    assert!(out.contains("6000 of them prepared before"), "{out}");

    // Names, not indices, in predict, eval and data info.
    let seven = std::fs::read_dir(png.join("test/seven"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let out = cached("predict", &cache)
        .model(&first)
        .arg(&seven)
        .succeeds();
    let said = out.split(": ").nth(1).unwrap().split(" (").next().unwrap();
    assert!(names.split(',').any(|name| name == said), "{out}");
    let out = cached("eval", &cache).arg(&first).succeeds();
    assert!(out.contains("\n  seven: "), "{out}");
    assert!(out.contains("Test accuracy: "), "{out}");
    let out = cached("data", &cache)
        .arg("info")
        .config(&config)
        .succeeds();
    assert!(out.contains("Classes: 10"), "{out}");
    assert!(out.contains("6000 of them prepared before"), "{out}");
    assert!(out.contains("Skipped: 0 files"), "{out}");
    let errors = tmp.path().join("errors.png");
    cached("errors", &cache)
        .arg(&first)
        .arg("--output")
        .arg(&errors)
        .succeeds();
    assert!(image::open(&errors).is_ok());
}

fn fine_tuning_starts_from_another_runs_weights() {
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("cache");
    let nielsen = trained_nielsen(tmp.path());

    // MNIST test digits in another style: mirrored, inverted (dark on light), scaled ×2 and
    // shifted in a larger picture. Preparation undoes all but the mirroring.
    let style = |digit: &image::GrayImage, i: usize| {
        let mirrored = image::imageops::flip_horizontal(digit);
        let big = image::imageops::resize(&mirrored, 56, 56, image::imageops::FilterType::Triangle);
        let (dx, dy) = ((i % 5) as u32 * 3, (i % 7) as u32 * 2);
        image::GrayImage::from_fn(80, 80, |x, y| {
            let v = match (x.checked_sub(dx), y.checked_sub(dy)) {
                (Some(x), Some(y)) if x < 56 && y < 56 => big.get_pixel(x, y).0[0],
                _ => 0,
            };
            image::Luma([255 - v])
        })
    };
    let (mirror, five) = (tmp.path().join("mirror"), tmp.path().join("five"));
    for (i, (label, digit)) in test_digits(mnist(), 1000).iter().enumerate() {
        let part = if i < 700 { "train" } else { "test" };
        let name = format!("{part}/{label}/{i:04}.png");
        save(&style(digit, i), &mirror.join(&name));
        if *label < 5 {
            save(&style(digit, i), &five.join(&name));
        }
    }

    // Before: the MNIST network on the mirrored test digits, read by predict.
    let mut tests: Vec<PathBuf> = Vec::new();
    for label in std::fs::read_dir(mirror.join("test")).unwrap() {
        for file in std::fs::read_dir(label.unwrap().path()).unwrap() {
            tests.push(file.unwrap().path());
        }
    }
    let out = cached("predict", &cache)
        .model(&nielsen)
        .args(&tests)
        .succeeds();
    let right = out
        .lines()
        .filter(|line| {
            let (path, reading) = line.split_once(": ").unwrap();
            let label = Path::new(path).parent().unwrap().file_name().unwrap();
            reading.starts_with(&format!("{} (", label.to_str().unwrap()))
        })
        .count();
    let before = right as f64 / tests.len() as f64;

    let config = folder_config(tmp.path(), "mirror", &mirror, "[784, 30, 10]", true);
    let (scratch, tuned) = (tmp.path().join("scratch"), tmp.path().join("tuned"));
    cached("train", &cache)
        .config(&config)
        .out(&scratch)
        .succeeds();
    let out = cached("train", &cache)
        .config(&config)
        .out(&tuned)
        .arg("--init-from")
        .arg(&nielsen)
        .succeeds();
    assert!(out.contains("Starting from the weights of"), "{out}");
    assert!(out.contains("starting from"), "{out}");
    let (scratch, tuned) = (final_accuracy(&scratch), final_accuracy(&tuned));
    note!(
        "mirrored digits: MNIST network {before:.3}, from scratch {scratch:.3}, fine-tuned {tuned:.3}"
    );
    assert!(
        tuned > scratch + 0.05,
        "fine-tuned {tuned} vs scratch {scratch}"
    );
    assert!(
        tuned > before + 0.1,
        "fine-tuned {tuned} vs before {before}"
    );

    // Five classes: the hidden layer is kept, the last layer drawn afresh.
    let config = folder_config(tmp.path(), "five", &five, "[784, 30, 5]", true);
    let out = cached("train", &cache)
        .config(&config)
        .out(tmp.path().join("five-run"))
        .arg("--init-from")
        .arg(&nielsen)
        .succeeds();
    assert!(
        out.contains(
            "its last layer has 10 outputs and this run 5 classes, so that layer is drawn afresh"
        ),
        "{out}"
    );
    assert!(final_accuracy(&tmp.path().join("five-run")) > 0.5);

    // Hidden layers of another size cannot be kept.
    let config = folder_config(tmp.path(), "wide", &mirror, "[784, 40, 10]", true);
    let error = cached("train", &cache)
        .config(&config)
        .out(tmp.path().join("wide"))
        .arg("--init-from")
        .arg(&nielsen)
        .fails();
    assert!(
        error.contains("its network is [784, 30, 10], this run's [784, 40, 10]; all but the last size must match"),
        "{error}"
    );
}

fn a_resumed_folder_run_equals_an_uninterrupted_one() {
    let tmp = tempfile::tempdir().unwrap();
    let (folder, cache) = (tmp.path().join("strokes"), tmp.path().join("cache"));
    strokes(&folder, 40);
    let config = folder_config(tmp.path(), "strokes", &folder, "[784, 16, 3]", false);
    let (whole, halves) = (tmp.path().join("whole"), tmp.path().join("halves"));
    let resume = |epochs: &str| {
        cached("train", &cache)
            .arg("--resume")
            .arg(&halves)
            .args(["--epochs", epochs])
    };
    cached("train", &cache)
        .config(&config)
        .out(&whole)
        .succeeds();
    cached("train", &cache)
        .config(&config)
        .out(&halves)
        .args(["--epochs", "1"])
        .succeeds();
    resume("3").succeeds();
    assert_eq!(
        metrics_without_seconds(&whole),
        metrics_without_seconds(&halves)
    );
    assert_eq!(
        std::fs::read(whole.join("model.bpk")).unwrap(),
        std::fs::read(halves.join("model.bpk")).unwrap()
    );
    assert!(final_accuracy(&whole) > 0.9, "{}", final_accuracy(&whole));

    // A class added since is refused on resume, naming both lists.
    strokes(&folder.join("..").join("more"), 1);
    std::fs::rename(folder.join("../more/bar"), folder.join("dot")).unwrap();
    let error = resume("4").fails();
    assert!(
        error.contains("[data] classes: the run's classes are [\"bar\", \"pole\", \"slash\"], but")
            && error.contains("now holds [\"bar\", \"dot\", \"pole\", \"slash\"]"),
        "{error}"
    );
}

fn the_cache_holds_each_file_until_it_changes_and_bad_images_are_skipped() {
    let tmp = tempfile::tempdir().unwrap();
    let (folder, cache) = (tmp.path().join("strokes"), tmp.path().join("cache"));
    strokes(&folder, 20);
    std::fs::write(folder.join("pole/broken.png"), b"not a png at all").unwrap();
    std::fs::write(folder.join("pole/notes.txt"), b"hello").unwrap();
    let blank = image::GrayImage::from_pixel(20, 20, image::Luma([255]));
    save(&blank, &folder.join("bar/blank.png"));
    let info = |cache: &Path| {
        cached("data", cache)
            .args(["info", "--format", "images"])
            .data_dir(&folder)
            .succeeds()
    };
    let out = info(&cache);
    assert!(out.contains("Read 62 image files"), "{out}");
    assert!(out.contains("0 of them prepared before"), "{out}");
    assert!(out.contains("Skipped: 3 files"), "{out}");
    for expected in [
        "bar/blank.png: no digit found: the image has no contrast",
        "pole/broken.png: not an image it can read",
        "pole/notes.txt: not a .png, .jpg or .jpeg file",
    ] {
        assert!(out.contains(expected), "{expected}: {out}");
    }
    assert!(out.contains("  bar  "), "{out}");

    let out = info(&cache);
    assert!(out.contains("62 of them prepared before"), "{out}");
    assert!(out.contains("Skipped: 3 files"), "{out}");

    // A file rewritten is prepared again; the others come from the cache.
    let dot = image::GrayImage::from_fn(32, 32, |x, y| {
        image::Luma([if x.abs_diff(16) < 4 && y.abs_diff(16) < 4 {
            0
        } else {
            255
        }])
    });
    std::thread::sleep(std::time::Duration::from_millis(20));
    save(&dot, &folder.join("slash/000.png"));
    let out = info(&cache);
    assert!(out.contains("61 of them prepared before"), "{out}");

    // Training warns about each skipped file and goes on.
    let config = folder_config(tmp.path(), "strokes", &folder, "[784, 16, 3]", false);
    let output = cached("train", &cache)
        .config(&config)
        .out(tmp.path().join("r"))
        .args(["--epochs", "1"])
        .output();
    succeeded(&output);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("warning: skipped ")
            && stderr.contains("broken.png: not an image it can read"),
        "{stderr}"
    );
}

fn bad_folders_get_one_line_errors_naming_the_path() {
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("cache");
    let train = |folder: &Path, sizes: &str| {
        let config = folder_config(tmp.path(), "bad", folder, sizes, false);
        cached("train", &cache)
            .config(&config)
            .out(tmp.path().join("run"))
            .arg("--force")
            .fails()
    };
    let folder = tmp.path().join("data");
    let error = train(&folder, "[784, 3]");
    assert!(
        error.contains(&format!("image folder {} does not exist", folder.display())),
        "{error}"
    );

    std::fs::create_dir_all(&folder).unwrap();
    let error = train(&folder, "[784, 3]");
    assert!(
        error.contains(&format!("{}: no class folders", folder.display())),
        "{error}"
    );

    strokes(&folder, 3);
    std::fs::create_dir(folder.join("empty")).unwrap();
    let error = train(&folder, "[784, 3]");
    assert!(
        error.contains(&format!(
            "{}: class folder with no images",
            folder.join("empty").display()
        )),
        "{error}"
    );
    std::fs::remove_dir(folder.join("empty")).unwrap();

    let error = train(&folder, "[784, 10]");
    assert!(
        error.contains("[model] sizes: the last size must be the data's 3 classes, got 10"),
        "{error}"
    );

    let one = tmp.path().join("one");
    strokes(&one, 2);
    std::fs::remove_dir_all(one.join("pole")).unwrap();
    std::fs::remove_dir_all(one.join("slash")).unwrap();
    let error = train(&one, "[784, 1]");
    assert!(
        error.contains("only one class (bar); a classifier needs at least two"),
        "{error}"
    );

    // With train/ and test/, test/ is the test split: test_fraction is refused, and so is a
    // test class that train/ lacks.
    let split = tmp.path().join("split");
    strokes(&split.join("train"), 10);
    strokes(&split.join("test"), 2);
    let config = folder_config(tmp.path(), "split", &split, "[784, 3]", false);
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(
        &config,
        text.replace("[model]", "test_fraction = 0.2\n[model]"),
    )
    .unwrap();
    let error = cached("train", &cache)
        .config(&config)
        .out(tmp.path().join("split-run"))
        .fails();
    assert!(
        error.contains("[data] test_fraction: the folder has train/ and test/"),
        "{error}"
    );
    std::fs::rename(split.join("test/bar"), split.join("test/blob")).unwrap();
    let error = train(&split, "[784, 3]");
    assert!(error.contains("class blob has no folder in"), "{error}");

    // Keys of the other format, and no folder at all.
    let config = folder_config(tmp.path(), "keys", &folder, "[784, 3]", false);
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(
        &config,
        text.replace("[model]", "validation_size = 5\n[model]"),
    )
    .unwrap();
    let error = cached("train", &cache).config(&config).fails();
    assert!(
        error.contains(
            "[data] validation_size: only used with format = \"mnist\", but format is \"images\""
        ),
        "{error}"
    );
    let text = text.replace(&format!("dir = \"{}\"\n", folder.display()), "");
    std::fs::write(&config, text).unwrap();
    let error = cached("train", &cache).config(&config).fails();
    assert!(
        error.contains("format = \"images\" needs a folder: set [data] dir or pass --data-dir"),
        "{error}"
    );
}
