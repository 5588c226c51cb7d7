//! `digits data info` through the real binary.

use crate::common::*;

pub fn tests() -> Vec<Test> {
    vec![
        test!(reports_source_splits_classes_and_checksums),
        test!(recognises_the_official_files, MNIST),
    ]
}

fn reports_source_splits_classes_and_checksums() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    synthetic_mnist(&data, 20_000, 100, true);
    let stdout = Digits::new("data").arg("info").data_dir(&data).succeeds();
    assert!(
        stdout.contains(&format!("Source: {}", data.display())),
        "{stdout}"
    );
    assert!(
        stdout.contains("train 10000 (the first of the training file's 20000), validation 10000"),
        "{stdout}"
    );
    assert!(
        stdout.contains("in the test file: 10 10 10 10 10 10 10 10 10 10"),
        "{stdout}"
    );
    assert!(
        stdout.contains("t10k-labels-idx1-ubyte.gz: sha256"),
        "{stdout}"
    );
    assert!(stdout.contains("NOT the official MNIST file"), "{stdout}");
}

fn recognises_the_official_files() {
    let stdout = Digits::new("data").arg("info").data_dir(mnist()).succeeds();
    assert!(
        stdout.contains("in the training file: 5923 6742 5958 6131 5842 5421 5918 6265 5851 5949"),
        "{stdout}"
    );
    assert_eq!(
        stdout.matches(": the official MNIST file").count(),
        3,
        "{stdout}"
    );
}
