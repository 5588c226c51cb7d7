//! What `digits train` prints when its output is not a terminal: lines, `--quiet`, `--json`.

use crate::common::*;

pub fn tests() -> Vec<Test> {
    vec![
        test!(piped_output_is_one_plain_line_per_epoch),
        test!(quiet_prints_the_summary_only),
        test!(json_prints_one_object_per_epoch_on_stdout),
    ]
}

fn train(extra: &[&str]) -> (String, String) {
    let tmp = tempfile::tempdir().unwrap();
    let mut flags = vec!["--epochs", "3"];
    flags.extend(extra);
    let (_, output) = train_synthetic(tmp.path(), "run", &flags);
    (
        String::from_utf8_lossy(&output.stdout).to_string(),
        String::from_utf8_lossy(&output.stderr).to_string(),
    )
}

fn piped_output_is_one_plain_line_per_epoch() {
    let (stdout, stderr) = train(&[]);
    assert!(
        !stdout.contains('\u{1b}') && !stderr.contains('\u{1b}'),
        "control codes: {stdout}{stderr}"
    );
    assert!(stderr.is_empty(), "{stderr}");
    let epochs: Vec<&str> = stdout.lines().filter(|l| l.starts_with("Epoch ")).collect();
    assert_eq!(epochs.len(), 3, "{stdout}");
    assert!(epochs[2].starts_with("Epoch 3: test "), "{stdout}");
    assert!(stdout.contains("Best test accuracy: "), "{stdout}");
}

fn quiet_prints_the_summary_only() {
    let (stdout, stderr) = train(&["--quiet"]);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{stdout}");
    assert!(lines[0].starts_with("Best test accuracy: "), "{stdout}");
    assert!(
        lines[1].starts_with("Best validation accuracy: "),
        "{stdout}"
    );
    assert!(stderr.is_empty(), "{stderr}");
}

fn json_prints_one_object_per_epoch_on_stdout() {
    let (stdout, stderr) = train(&["--json"]);
    let objects: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}")))
        .collect();
    assert_eq!(objects.len(), 3, "{stdout}");
    for (i, object) in objects.iter().enumerate() {
        assert_eq!(object["epoch"], i + 1);
        assert_eq!(object["test_total"], 200);
        assert!(object["train_loss"].as_f64().unwrap() > 0.0);
    }
    assert!(stderr.contains("Best test accuracy: "), "{stderr}");
}
