//! `digits gradcheck` on both costs through the real binary.

use crate::common::*;

pub fn tests() -> Vec<Test> {
    vec![
        test!(autodiff_matches_central_differences_for_both_costs),
        test!(gradcheck_refuses_dropout),
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

/// Dropout makes the cost random: gradcheck refuses such a network with a one-line error.
fn gradcheck_refuses_dropout() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    synthetic_mnist(&data, 300, 100, false);
    let text = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("configs/best.toml"),
    )
    .unwrap()
        + "\n[data]\nvalidation_size = 100\n";
    let config = tmp.path().join("best.toml");
    std::fs::write(&config, text).unwrap();
    let message = Digits::new("gradcheck")
        .config(&config)
        .data_dir(&data)
        .fails();
    assert!(message.contains("set [model] dropout = 0"), "{message}");
}
