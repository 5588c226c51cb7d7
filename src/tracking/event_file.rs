//! TensorBoard's event files, written: the `Event` protobuf messages in TFRecord framing.
//!
//! Only the messages digits writes are declared, with the field numbers of TensorBoard's
//! `event.proto`, `summary.proto`, `tensor.proto` and `tensor_shape.proto`; `prost` encodes them.
//! Scalars are `simple_value`s, as PyTorch's `SummaryWriter.add_scalar` writes them: a 32-bit
//! float, which every reader takes. (A double-precision tensor would keep more digits, but
//! TensorBoard's own data server, the one `tensorboard --logdir` starts, drops any scalar that
//! is not float32.) Text is a string tensor tagged for the text plugin, which renders Markdown.
//!
//! A TFRecord is the message's length (u64, little-endian), the masked CRC-32C of those 8 bytes,
//! the message, and the masked CRC-32C of the message.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use anyhow::Context;
use prost::Message;

use crate::tracking::now;

/// `Event`: one record of the file.
#[derive(Clone, PartialEq, Message)]
struct Event {
    /// Seconds since the Unix epoch.
    #[prost(double, tag = "1")]
    wall_time: f64,
    #[prost(int64, tag = "2")]
    step: i64,
    /// The first record of a file: `brain.Event:2`.
    #[prost(string, optional, tag = "3")]
    file_version: Option<String>,
    #[prost(message, optional, tag = "5")]
    summary: Option<Summary>,
}

/// `Summary`.
#[derive(Clone, PartialEq, Message)]
struct Summary {
    #[prost(message, repeated, tag = "1")]
    value: Vec<Value>,
}

/// `Summary.Value`.
#[derive(Clone, PartialEq, Message)]
struct Value {
    #[prost(string, tag = "1")]
    tag: String,
    #[prost(float, optional, tag = "2")]
    simple_value: Option<f32>,
    #[prost(message, optional, tag = "8")]
    tensor: Option<TensorProto>,
    #[prost(message, optional, tag = "9")]
    metadata: Option<SummaryMetadata>,
}

/// `SummaryMetadata`: which plugin shows the value.
#[derive(Clone, PartialEq, Message)]
struct SummaryMetadata {
    #[prost(message, optional, tag = "1")]
    plugin_data: Option<PluginData>,
    /// `DataClass`: 1 scalar, 2 tensor.
    #[prost(int32, tag = "4")]
    data_class: i32,
}

/// `SummaryMetadata.PluginData`.
#[derive(Clone, PartialEq, Message)]
struct PluginData {
    #[prost(string, tag = "1")]
    plugin_name: String,
}

/// `TensorProto`, a scalar: no dimensions in its shape.
#[derive(Clone, PartialEq, Message)]
struct TensorProto {
    /// `DataType`: 7 is a string.
    #[prost(int32, tag = "1")]
    dtype: i32,
    #[prost(message, optional, tag = "2")]
    tensor_shape: Option<TensorShapeProto>,
    #[prost(bytes = "vec", repeated, tag = "8")]
    string_val: Vec<Vec<u8>>,
}

/// `TensorShapeProto`, empty for a scalar.
#[derive(Clone, PartialEq, Message)]
struct TensorShapeProto {}

const DT_STRING: i32 = 7;
const DATA_CLASS_TENSOR: i32 = 2;

/// An event file being written. Each call writes whole records and flushes them, so a reader
/// (or a crash) sees every complete record.
pub struct EventWriter {
    file: BufWriter<File>,
}

impl EventWriter {
    /// Creates the file at `path`, starting with the version record.
    pub fn create(path: &Path) -> anyhow::Result<Self> {
        let file =
            File::create(path).with_context(|| format!("cannot create {}", path.display()))?;
        let mut writer = Self {
            file: BufWriter::new(file),
        };
        writer.write(Event {
            wall_time: now(),
            file_version: Some("brain.Event:2".into()),
            ..Event::default()
        })?;
        Ok(writer)
    }

    /// Scalars of one step, each under its tag, as 32-bit floats.
    pub fn scalars(
        &mut self,
        step: i64,
        wall_time: f64,
        values: &[(&str, f64)],
    ) -> anyhow::Result<()> {
        let value = values
            .iter()
            .map(|&(tag, x)| Value {
                tag: tag.into(),
                simple_value: Some(x as f32),
                ..Value::default()
            })
            .collect();
        self.summary(step, wall_time, value)
    }

    /// Markdown text under `tag`, shown by the text plugin.
    pub fn text(&mut self, step: i64, tag: &str, markdown: &str) -> anyhow::Result<()> {
        let value = Value {
            tag: tag.into(),
            simple_value: None,
            tensor: Some(TensorProto {
                dtype: DT_STRING,
                tensor_shape: Some(TensorShapeProto {}),
                string_val: vec![markdown.as_bytes().to_vec()],
            }),
            metadata: Some(SummaryMetadata {
                plugin_data: Some(PluginData {
                    plugin_name: "text".into(),
                }),
                data_class: DATA_CLASS_TENSOR,
            }),
        };
        self.summary(step, now(), vec![value])
    }

    /// Writes what is buffered to the file and asks the OS to keep it.
    pub fn sync(&mut self) -> anyhow::Result<()> {
        self.file.flush()?;
        self.file.get_ref().sync_all()?;
        Ok(())
    }

    fn summary(&mut self, step: i64, wall_time: f64, value: Vec<Value>) -> anyhow::Result<()> {
        self.write(Event {
            wall_time,
            step,
            file_version: None,
            summary: Some(Summary { value }),
        })
    }

    fn write(&mut self, event: Event) -> anyhow::Result<()> {
        let data = event.encode_to_vec();
        let length = (data.len() as u64).to_le_bytes();
        self.file.write_all(&length)?;
        self.file.write_all(&masked_crc(&length).to_le_bytes())?;
        self.file.write_all(&data)?;
        self.file.write_all(&masked_crc(&data).to_le_bytes())?;
        self.file.flush()?;
        Ok(())
    }
}

/// TFRecord's masked CRC-32C: rotated and offset, so that a CRC of data holding CRCs stays
/// well-behaved.
fn masked_crc(bytes: &[u8]) -> u32 {
    crc32c::crc32c(bytes)
        .rotate_right(15)
        .wrapping_add(0xa282_ead8)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// CRC-32C's check value (of `123456789`), and the mask applied to the CRC of nothing, 0:
    /// TFRecord's constant.
    #[test]
    fn masked_crc_is_tfrecords() {
        assert_eq!(masked_crc(b""), 0xa282_ead8);
        assert_eq!(crc32c::crc32c(b"123456789"), 0xe306_9283);
    }

    /// A record reads back as its length, the message, and two CRCs that check.
    #[test]
    fn records_are_framed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("events.out.tfevents.test");
        let mut writer = EventWriter::create(&path).unwrap();
        writer.scalars(3, 1.5, &[("loss", 0.25)]).unwrap();
        drop(writer);
        let bytes = std::fs::read(&path).unwrap();
        let mut events = Vec::new();
        let mut rest = &bytes[..];
        while !rest.is_empty() {
            let length = u64::from_le_bytes(rest[..8].try_into().unwrap()) as usize;
            assert_eq!(&rest[8..12], &masked_crc(&rest[..8]).to_le_bytes());
            let data = &rest[12..12 + length];
            assert_eq!(
                &rest[12 + length..16 + length],
                &masked_crc(data).to_le_bytes()
            );
            events.push(Event::decode(data).unwrap());
            rest = &rest[16 + length..];
        }
        assert_eq!(events[0].file_version.as_deref(), Some("brain.Event:2"));
        let value = &events[1].summary.as_ref().unwrap().value[0];
        assert_eq!((events[1].step, value.tag.as_str()), (3, "loss"));
        assert_eq!(value.simple_value, Some(0.25));
    }
}
