//! What every section of a run's config shares: TOML read into plain serde structs, errors that
//! name the file, the line and the key, and the helpers the sections' serde attributes use.
//!
//! Each section lives beside what it configures (`[data]` in [`crate::data::config`], `[model]`
//! in [`crate::model::config`], `[loss]` in [`crate::model::cost`], `[optimizer]` in
//! [`crate::train::optimizer`]) and checks its own keys; the whole file, and the checks that
//! cross sections, are [`crate::train::RunConfig`].
//!
//! Burn's `#[derive(Config)]` does not apply its defaults when a struct is deserialised from
//! TOML, so the sections are plain serde structs whose defaults are explicit `#[serde(default)]`
//! functions. Every section rejects unknown keys.

use std::borrow::Cow;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;

/// A config that could not be read or does not describe a valid run.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read at all.
    #[error("{path}: cannot read config: {error}")]
    Io {
        /// The config file.
        path: PathBuf,
        /// Why it could not be read.
        error: std::io::Error,
    },
    /// The TOML is malformed, has an unknown key or a value of the wrong type.
    #[error("{path}:{line}:{column}: {message}")]
    Parse {
        /// The config file.
        path: PathBuf,
        /// 1-based line of the offending text.
        line: usize,
        /// 1-based column of the offending text.
        column: usize,
        /// What is wrong, naming the key.
        message: String,
    },
    /// A value parses but cannot describe a run.
    #[error("{source_name}: {key}: {message}")]
    Invalid {
        /// The config file, or "command line" for a flag.
        source_name: String,
        /// The offending key, e.g. `[training] batch_size`.
        key: Cow<'static, str>,
        /// What was found and what was expected.
        message: String,
    },
}

/// A key of one section whose value cannot describe a run: what a section's own check returns,
/// before the file's name is known.
#[derive(Debug, Clone, PartialEq)]
pub struct Invalid {
    /// The offending key, e.g. `[training] batch_size`, or `[model.conv] 2 kernel` for one
    /// layer's.
    pub key: Cow<'static, str>,
    /// What was found and what was expected.
    pub message: String,
}

impl Invalid {
    /// The key `key` is wrong: `message` says how.
    pub fn new(key: impl Into<Cow<'static, str>>, message: String) -> Self {
        Self {
            key: key.into(),
            message,
        }
    }

    /// The error, naming the file (or "command line") it came from.
    pub fn in_source(self, source_name: &str) -> ConfigError {
        ConfigError::Invalid {
            source_name: source_name.to_string(),
            key: self.key,
            message: self.message,
        }
    }
}

/// Reads a TOML file into `T`; [`parse`] says how errors read.
pub fn load<T: DeserializeOwned>(path: &Path) -> Result<T, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|error| ConfigError::Io {
        path: path.to_path_buf(),
        error,
    })?;
    parse(&text, path)
}

/// Parses TOML text into `T`; `path` only labels the errors, which give the line, the column
/// and the key's path (`training.batch_size`) on one line.
pub fn parse<T: DeserializeOwned>(text: &str, path: &Path) -> Result<T, ConfigError> {
    let parse_error = |span: Option<std::ops::Range<usize>>, message: String| {
        let (line, column) = line_column(text, span.map_or(0, |s| s.start));
        ConfigError::Parse {
            path: path.to_path_buf(),
            line,
            column,
            message,
        }
    };
    let deserializer =
        toml::Deserializer::parse(text).map_err(|e| parse_error(e.span(), one_line(&e)))?;
    serde_path_to_error::deserialize(deserializer).map_err(|e| {
        let key = e.path().to_string();
        let inner = e.into_inner();
        let message = if key == "." || key.is_empty() {
            one_line(&inner)
        } else {
            format!("key `{key}`: {}", one_line(&inner))
        };
        parse_error(inner.span(), message)
    })
}

/// The first path where two TOML values differ, with both values (`none` where one is absent).
pub fn first_difference(
    path: &str,
    a: &toml::Value,
    b: &toml::Value,
) -> Option<(String, String, String)> {
    match (a, b) {
        (toml::Value::Table(a), toml::Value::Table(b)) => {
            let keys: std::collections::BTreeSet<&String> = a.keys().chain(b.keys()).collect();
            keys.into_iter().find_map(|key| {
                let path = if path.is_empty() {
                    key.clone()
                } else {
                    format!("{path}.{key}")
                };
                match (a.get(key), b.get(key)) {
                    (Some(x), Some(y)) => first_difference(&path, x, y),
                    (x, y) => {
                        let show =
                            |v: Option<&toml::Value>| v.map_or("none".into(), |v| v.to_string());
                        Some((path, show(x), show(y)))
                    }
                }
            })
        }
        _ if a == b => None,
        _ => Some((path.to_string(), a.to_string(), b.to_string())),
    }
}

/// 1-based line and column of a byte offset.
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
    (line, column)
}

/// A toml error's message on one line (toml's own Display draws the source text).
fn one_line(error: &toml::de::Error) -> String {
    error.message().trim().replace('\n', " ")
}

/// For `skip_serializing_if`: a number key left at 0, which means off.
pub fn is_zero(value: &f64) -> bool {
    *value == 0.0
}

/// For `skip_serializing_if`: a switch left off.
pub fn is_false(value: &bool) -> bool {
    !value
}

/// Names a variant the way the config file spells it.
macro_rules! display_as_toml {
    ($($ty:ty),*) => {$(
        impl std::fmt::Display for $ty {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                let value = toml::Value::try_from(self).map_err(|_| std::fmt::Error)?;
                f.write_str(value.as_str().unwrap_or_default())
            }
        }
    )*};
}
pub(crate) use display_as_toml;
