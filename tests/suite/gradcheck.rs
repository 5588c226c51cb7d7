//! `digits gradcheck` on every cost, and on a convolutional network, through the real binary.

use crate::common::*;

pub fn tests() -> Vec<Test> {
    vec![
        test!(autodiff_matches_central_differences_for_both_costs),
        test!(gradcheck_covers_convolutions_pooling_and_dropout, MNIST),
        test!(gradcheck_refuses_batch_norm),
    ]
}

/// Autodiff agrees with central differences for network.py's quadratic cost with sigmoids, for
/// TwoLayerNet's softmax cross-entropy with ReLU and for network2's sigmoid cross-entropy.
fn autodiff_matches_central_differences_for_both_costs() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    synthetic_mnist(&data, 300, 100, false);
    for name in ["nielsen", "two-layer-net", "network2-30"] {
        let text = std::fs::read_to_string(format!("configs/{name}.toml"))
            .or_else(|_| {
                std::fs::read_to_string(
                    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                        .join(format!("configs/{name}.toml")),
                )
            })
            .unwrap();
        // The synthetic training file holds 300 examples: hold out 100, not 10,000.
        let text = if text.contains("validation_size = 10000") {
            text.replace("validation_size = 10000", "validation_size = 100")
        } else {
            text + "\n[data]\nvalidation_size = 100\n"
        };
        let config = tmp.path().join(format!("{name}.toml"));
        std::fs::write(&config, text).unwrap();
        let output = Digits::new("gradcheck")
            .config(&config)
            .data_dir(&data)
            .output();
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success(),
            "{name}: {stdout}{}",
            String::from_utf8_lossy(&output.stderr)
        );
        for param in [
            "layers.0.weight",
            "layers.0.bias",
            "layers.1.weight",
            "layers.1.bias",
        ] {
            assert!(stdout.contains(param), "{name}: {stdout}");
        }
        assert!(
            stdout.contains("OK: every relative error is below"),
            "{name}: {stdout}"
        );
    }
}

/// A convolutional network with max-pooling and dropout in three places, ReLU and He's zero
/// biases, on real MNIST digits: every filter, weight and bias passes, and the biases of the
/// convolutions, which sit on ReLU's kink over the blank background, are named as such.
fn gradcheck_covers_convolutions_pooling_and_dropout() {
    let tmp = tempfile::tempdir().unwrap();
    let config = small_conv_config(tmp.path());
    let stdout = Digits::new("gradcheck")
        .config(&config)
        .data_dir(mnist())
        .succeeds();
    for (param, shape) in [
        ("conv.0.conv.weight", "[4, 1, 3, 3]"),
        ("conv.0.conv.bias", "[4]"),
        ("conv.1.conv.weight", "[6, 4, 3, 3]"),
        ("conv.1.conv.bias", "[6]"),
        ("layers.0.weight", "[150, 20]"),
        ("layers.1.bias", "[10]"),
    ] {
        let line = stdout.lines().find(|l| l.contains(param));
        assert!(line.is_some_and(|l| l.contains(shape)), "{param}: {stdout}");
    }
    assert!(stdout.contains("at a ReLU kink"), "{stdout}");
    assert!(!stdout.contains("TOO LARGE"), "{stdout}");
    assert!(
        stdout.contains("OK: every relative error is below"),
        "{stdout}"
    );
}

/// Batch statistics are not checked: gradcheck refuses batch normalisation with one line.
fn gradcheck_refuses_batch_norm() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    synthetic_mnist(&data, 1100, 100, false);
    let text = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("configs/ch6-batchnorm-on.toml"),
    )
    .unwrap()
    .replace("[data]\n", "[data]\nvalidation_size = 100\n");
    let config = tmp.path().join("batchnorm.toml");
    std::fs::write(&config, text).unwrap();
    let message = Digits::new("gradcheck")
        .config(&config)
        .data_dir(&data)
        .fails();
    assert_eq!(
        message.trim_end(),
        format!(
            "error: {}: gradcheck does not check batch normalisation; set [model] batch_norm = false",
            config.display()
        )
    );
}
