//! Property tests: arbitrary bytes given to the IDX reader and arbitrary text given to the
//! config loader give errors, never panics. 512 cases each (proptest's default is 256).

use std::path::Path;

use digits::data::idx;
use digits::train::RunConfig;
use proptest::prelude::*;

use crate::common::*;

pub fn tests() -> Vec<Test> {
    vec![
        test!(idx_reader_never_panics),
        test!(config_loader_never_panics_on_any_text),
        test!(config_loader_never_panics_on_a_mangled_config),
    ]
}

const NIELSEN: &str = include_str!("../../configs/nielsen.toml");

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 512,
        ..ProptestConfig::default()
    }
}

/// Any bytes, or a valid IDX header followed by any bytes (so that the payload checks are
/// reached, not only the magic number).
fn idx_bytes() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..2048),
        (
            any::<u32>(),
            proptest::collection::vec(any::<u8>(), 0..4096)
        )
            .prop_map(|(count, rest)| {
                let mut bytes = vec![0, 0, 8, 3];
                bytes.extend(count.to_be_bytes());
                bytes.extend(28u32.to_be_bytes());
                bytes.extend(28u32.to_be_bytes());
                bytes.extend(rest);
                bytes
            }),
        (any::<u32>(), proptest::collection::vec(any::<u8>(), 0..512)).prop_map(|(count, rest)| {
            let mut bytes = vec![0, 0, 8, 1];
            bytes.extend(count.to_be_bytes());
            bytes.extend(rest);
            bytes
        }),
    ]
}

// Without `#[test]`: proptest! makes each a plain function, which the harness runs.
proptest! {
    #![proptest_config(config())]

    fn idx_reader_never_panics(bytes in idx_bytes(), gzip in any::<bool>()) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("file");
        if gzip {
            use std::io::Write;
            let mut encoder = flate2::write::GzEncoder::new(Vec::new(), Default::default());
            encoder.write_all(&bytes).unwrap();
            std::fs::write(&path, encoder.finish().unwrap()).unwrap();
        } else {
            std::fs::write(&path, &bytes).unwrap();
        }
        let _ = idx::read_images(&path, 28, 28);
        let _ = idx::read_labels(&path, 10);
    }

    fn config_loader_never_panics_on_any_text(text in ".{0,400}") {
        let _ = RunConfig::parse(&text, Path::new("fuzz.toml"));
    }

    fn config_loader_never_panics_on_a_mangled_config(
        cut in 0..NIELSEN.len(),
        insert in "[a-z_=\\[\\]\"0-9. \\n-]{0,12}",
    ) {
        let cut = (0..=cut).rev().find(|&i| NIELSEN.is_char_boundary(i)).unwrap_or(0);
        let text = format!("{}{}{}", &NIELSEN[..cut], insert, &NIELSEN[cut..]);
        if let Ok(config) = RunConfig::parse(&text, Path::new("fuzz.toml")) {
            let _ = config.validate("fuzz.toml", 60_000, 10);
        }
    }
}
