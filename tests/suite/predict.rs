//! `digits predict` through the real binary: MNIST test digits saved as PNG at other sizes, in
//! colour and the other way around, and bad files beside good ones.

use crate::common::*;
use image::{DynamicImage, GrayImage, Luma, Rgb, RgbImage, imageops};

pub fn tests() -> Vec<Test> {
    vec![
        test!(mnist_digits_in_other_sizes_and_polarities_are_read, MNIST),
        test!(bad_files_are_named_and_the_rest_are_read),
    ]
}

/// A way of saving an MNIST digit as a picture.
type Variant = fn(&GrayImage) -> DynamicImage;

/// Test digits as PNG files: 28×28 as they are, scaled up to 84×84, scaled to 70×70 and
/// inverted (dark ink on light), off centre on a wide page, and in colour. Each variant is read
/// right at least 90% of the time.
fn mnist_digits_in_other_sizes_and_polarities_are_read() {
    let tmp = tempfile::tempdir().unwrap();
    let run = trained_two_layer_net(tmp.path());
    let digits_ = test_digits(mnist(), 60);
    let variants: [(&str, Variant); 5] = [
        ("as-is", |g| DynamicImage::ImageLuma8(g.clone())),
        ("large", |g| {
            DynamicImage::ImageLuma8(imageops::resize(g, 84, 84, imageops::FilterType::Triangle))
        }),
        ("inverted", |g| {
            let mut g = imageops::resize(g, 70, 70, imageops::FilterType::Triangle);
            imageops::invert(&mut g);
            DynamicImage::ImageLuma8(g)
        }),
        ("off-centre on a wide page", |g| {
            let digit = imageops::resize(g, 56, 56, imageops::FilterType::Triangle);
            let mut page = GrayImage::new(160, 90);
            imageops::overlay(&mut page, &digit, 90, 20);
            DynamicImage::ImageLuma8(page)
        }),
        ("colour", |g| {
            DynamicImage::ImageRgb8(RgbImage::from_fn(56, 56, |x, y| {
                let v = g.get_pixel(x / 2, y / 2).0[0];
                Rgb([255 - v, 240 - v / 2, 200 - v / 2])
            }))
        }),
    ];
    for (name, make) in variants {
        let mut paths = Vec::new();
        for (i, (_, image)) in digits_.iter().enumerate() {
            let path = tmp
                .path()
                .join(format!("{}-{i:02}.png", name.replace(' ', "-")));
            make(image).save(&path).unwrap();
            paths.push(path);
        }
        let stdout = Digits::new("predict").model(&run).args(&paths).succeeds();
        let right = stdout
            .lines()
            .zip(&digits_)
            .filter(|(line, (label, _))| {
                let (_, rest) = line.split_once(".png: ").expect("file: digit line");
                rest.starts_with(&format!("{label} ("))
            })
            .count();
        note!("{name}: {right} of 60 right");
        assert!(right >= 54, "{name}: {right} of 60 right\n{stdout}");
    }
}

/// A file that is not an image gets an error naming it; the other images are still read, and
/// `--show` draws what the network saw.
fn bad_files_are_named_and_the_rest_are_read() {
    let tmp = tempfile::tempdir().unwrap();
    let (run, _) = train_synthetic(tmp.path(), "run", &["--epochs", "1"]);

    let good = tmp.path().join("good.png");
    GrayImage::from_fn(40, 40, |x, y| {
        Luma([if (18..22).contains(&x) && (5..35).contains(&y) {
            0
        } else {
            255
        }])
    })
    .save(&good)
    .unwrap();
    let jpeg = tmp.path().join("good.jpg");
    image::open(&good).unwrap().to_rgb8().save(&jpeg).unwrap();
    let text = tmp.path().join("notes.png");
    std::fs::write(&text, "not a picture").unwrap();
    let blank = tmp.path().join("blank.png");
    GrayImage::from_pixel(10, 10, Luma([255]))
        .save(&blank)
        .unwrap();
    let missing = tmp.path().join("missing.png");

    let output = Digits::new("predict")
        .arg("--show")
        .model(&run)
        .args([&text, &good, &blank, &missing, &jpeg])
        .output();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr),
    );
    assert!(!output.status.success());
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(stderr.contains("notes.png: not an image"), "{stderr}");
    assert!(stderr.contains("blank.png: no digit found"), "{stderr}");
    assert!(stderr.contains("missing.png: cannot read"), "{stderr}");
    assert_eq!(stderr.lines().count(), 3, "{stderr}");
    let first = stdout.lines().next().unwrap();
    assert!(
        first.starts_with(&format!("{}: ", good.display())),
        "{stdout}"
    );
    assert!(first.contains("%)  then "), "{stdout}");
    let second = stdout.lines().nth(29).unwrap();
    assert!(
        second.starts_with(&format!("{}: ", jpeg.display())),
        "{stdout}"
    );
    assert_eq!(stdout.lines().count(), 2 * (1 + 28), "{stdout}");
    assert!(stdout.contains("@@"), "{stdout}");
}
