//! The trained network as an ONNX model, for the tools people deploy with (ONNX Runtime and the
//! rest). Burn reads ONNX but does not write it, so the graph is built here from the `Network`'s
//! weights, with `onnx-protobuf`'s generated messages.
//!
//! The model's interface:
//! - input `pixels`: float32 in [0, 1], `N` dynamic: `[N, 784]` for an MLP, and `[N, 1, 28, 28]`
//!   for a convolutional network, the shape its first `Conv` reads;
//! - output `scores`: what the last layer gives: sigmoid activations (network.py) or logits;
//! - output `probabilities`: `[N, classes]`, as digits computes them
//!   (`inference::probabilities`): the softmax of logits, or sigmoid activations divided by
//!   their sum.
//!
//! Each convolutional layer is `Conv` (Burn's `Conv2d` weights, `[maps, channels, k, k]`, as
//! they are), `MaxPool` where the layer pools, then `Sigmoid` or `Relu`; `Flatten` then hands
//! the maps to the fully connected layers in channel, row, column order, as `Network::features`
//! does. Each hidden fully connected layer is `Gemm` (`x · W + b`), then `BatchNormalization`
//! with the running statistics where the run has batch norm, then `Sigmoid` or `Relu`. Dropout
//! is the identity at inference and leaves no node. Opset 13.
//!
//! The metadata names the classes (`classes`, a JSON array of strings in label order), so that
//! a client can say "7" or "cat" without the run's config.

use burn::module::Param;
use burn::nn::conv::Conv2d;
use burn::nn::pool::MaxPool2d;
use burn::nn::{BatchNorm, Linear, PaddingConfig2d};
use burn::tensor::Tensor;
use onnx_protobuf::attribute_proto::AttributeType;
use onnx_protobuf::tensor_proto::DataType;
use onnx_protobuf::{
    AttributeProto, GraphProto, ModelProto, NodeProto, OperatorSetIdProto, StringStringEntryProto,
    TensorProto, TensorShapeProto, TypeProto, ValueInfoProto, tensor_shape_proto, type_proto,
};
use protobuf::{Message, MessageField};

use crate::data::{IMAGE_PIXELS, IMAGE_SIDE};
use crate::model::Network;
use crate::model::{Activation, Output};
use crate::train::RunConfig;

/// The opset the graph is written against: every operator used has had its current form since.
pub const OPSET: i64 = 13;
/// The IR version that goes with opset 13.
const IR_VERSION: i64 = 7;

/// What the model's metadata says besides the weights.
pub struct Provenance<'a> {
    /// The run's resolved config, as TOML.
    pub config_toml: &'a str,
    /// Its test accuracy, a fraction, when known.
    pub test_accuracy: Option<f64>,
    /// The class names, in label order: what each column of `probabilities` is.
    pub classes: &'a [String],
}

/// The ONNX model of `model` (trained from `config`), serialised.
pub fn to_onnx(model: &Network, config: &RunConfig, provenance: &Provenance) -> Vec<u8> {
    let mut graph = Graph::default();
    let activation = match config.model.activation {
        Activation::Sigmoid => "Sigmoid",
        Activation::Relu => "Relu",
    };
    let mut x = "pixels".to_string();
    for (i, layer) in model.conv().iter().enumerate() {
        x = graph.conv(i, &layer.conv, &x);
        if let Some(pool) = &layer.pool {
            x = graph.max_pool(i, pool, &x);
        }
        x = graph.unary(activation, &x, &format!("conv.{i}"));
    }
    if !model.conv().is_empty() {
        let mut flatten = node("Flatten", &[&x], "features");
        flatten.attribute.push(int_attribute("axis", 1));
        graph.nodes.push(flatten);
        x = "features".into();
    }
    let layers = model.layers();
    for (i, layer) in layers.iter().enumerate() {
        x = graph.linear(i, layer, &x);
        if i + 1 == layers.len() {
            break;
        }
        if let Some(norm) = model.norms().get(i) {
            x = graph.batch_norm(i, norm, &x);
        }
        x = graph.unary(activation, &x, &format!("hidden.{i}"));
    }
    let scores = match config.output() {
        Output::Sigmoid => graph.unary("Sigmoid", &x, "scores"),
        Output::Logits => graph.unary("Identity", &x, "scores"),
    };
    match config.output() {
        Output::Logits => {
            let mut softmax = node("Softmax", &[&scores], "probabilities");
            softmax.attribute.push(int_attribute("axis", 1));
            graph.nodes.push(softmax);
        }
        Output::Sigmoid => {
            graph.initializer(TensorProto {
                name: "sum_axes".into(),
                dims: vec![1],
                data_type: DataType::INT64 as i32,
                int64_data: vec![1],
                ..Default::default()
            });
            let mut sum = node("ReduceSum", &[&scores, "sum_axes"], "scores_sum");
            sum.attribute.push(int_attribute("keepdims", 1));
            graph.nodes.push(sum);
            graph
                .nodes
                .push(node("Div", &[&scores, "scores_sum"], "probabilities"));
        }
    }

    let (kind, pixels) = if model.conv().is_empty() {
        ("An MLP", vec![IMAGE_PIXELS])
    } else {
        ("A convolutional network", vec![1, IMAGE_SIDE, IMAGE_SIDE])
    };
    let classes = *config.model.sizes.last().expect("sizes has an output");
    let graph = GraphProto {
        name: "digits".into(),
        node: graph.nodes,
        initializer: graph.initializers,
        input: vec![value_info("pixels", &pixels)],
        output: vec![
            value_info("probabilities", &[classes]),
            value_info("scores", &[classes]),
        ],
        ..Default::default()
    };
    let mut metadata = vec![
        entry("digits_version", env!("CARGO_PKG_VERSION")),
        entry("config", provenance.config_toml),
        entry(
            "classes",
            &serde_json::to_string(provenance.classes).expect("strings serialise to JSON"),
        ),
    ];
    if let Some(accuracy) = provenance.test_accuracy {
        metadata.push(entry("test_accuracy", &format!("{accuracy:.4}")));
    }
    ModelProto {
        ir_version: IR_VERSION,
        opset_import: vec![OperatorSetIdProto {
            domain: String::new(),
            version: OPSET,
            ..Default::default()
        }],
        producer_name: "digits".into(),
        producer_version: env!("CARGO_PKG_VERSION").into(),
        doc_string: format!(
            "{kind} ({}) trained by digits: input `pixels` {} in [0, 1]; outputs `probabilities` and `scores` [N, {classes}], one column per class of the metadata's `classes`",
            config.model.describe_layers(),
            shape_text(&pixels),
        ),
        graph: MessageField::some(graph),
        metadata_props: metadata,
        ..Default::default()
    }
    .write_to_bytes()
    .expect("an in-memory protobuf always serialises")
}

/// The nodes and weights of the graph being built.
#[derive(Default)]
struct Graph {
    nodes: Vec<NodeProto>,
    initializers: Vec<TensorProto>,
}

impl Graph {
    /// Convolutional layer `i`: `Conv(x, W, b)` with Burn's `[maps, channels, k, k]` filters as
    /// they are, and its stride, padding, dilation and groups.
    fn conv(&mut self, i: usize, conv: &Conv2d, x: &str) -> String {
        let [weight, bias] =
            self.weight_and_bias(&format!("conv.{i}.conv"), &conv.weight, &conv.bias);
        // ONNX's `pads` are every axis's start, then every axis's end.
        let pads = match conv.padding {
            PaddingConfig2d::Explicit(top, left, bottom, right) => [top, left, bottom, right],
            PaddingConfig2d::Valid => [0; 4],
            PaddingConfig2d::Same => unreachable!("digits pads its filters explicitly"),
        };
        let output = format!("conv.{i}.conv");
        let mut op = node("Conv", &[x, &weight, &bias], &output);
        op.attribute.extend([
            ints_attribute("kernel_shape", &conv.kernel_size),
            ints_attribute("strides", &conv.stride),
            ints_attribute("pads", &pads),
            ints_attribute("dilations", &conv.dilation),
            int_attribute("group", conv.groups as i64),
        ]);
        self.nodes.push(op);
        output
    }

    /// Convolutional layer `i`'s max-pooling: Burn's window and stride (both the pool's side),
    /// no padding.
    fn max_pool(&mut self, i: usize, pool: &MaxPool2d, x: &str) -> String {
        let output = format!("conv.{i}.pool");
        let mut op = node("MaxPool", &[x], &output);
        op.attribute.extend([
            ints_attribute("kernel_shape", &pool.kernel_size),
            ints_attribute("strides", &pool.stride),
        ]);
        self.nodes.push(op);
        output
    }

    /// Layer `i`: `Gemm(x, W, b)`, with `W` `[n_in, n_out]` as digits stores it.
    fn linear(&mut self, i: usize, layer: &Linear, x: &str) -> String {
        let output = format!("layers.{i}");
        let [weight, bias] = self.weight_and_bias(&output, &layer.weight, &layer.bias);
        self.nodes.push(node("Gemm", &[x, &weight, &bias], &output));
        output
    }

    /// A layer's parameters as initializers named as Burn's record names them,
    /// `{prefix}.weight` and `{prefix}.bias`; those names.
    fn weight_and_bias<const D: usize>(
        &mut self,
        prefix: &str,
        weight: &Param<Tensor<D>>,
        bias: &Option<Param<Tensor<1>>>,
    ) -> [String; 2] {
        let names = [format!("{prefix}.weight"), format!("{prefix}.bias")];
        self.initializer(float_tensor(&names[0], weight));
        let bias = bias.as_ref().expect("digits' layers have biases");
        self.initializer(float_tensor(&names[1], bias));
        names
    }

    /// Batch normalisation of hidden layer `i` with its running statistics (eval mode).
    fn batch_norm(&mut self, i: usize, norm: &BatchNorm, x: &str) -> String {
        let names =
            ["gamma", "beta", "running_mean", "running_var"].map(|n| format!("norms.{i}.{n}"));
        self.initializer(float_tensor(&names[0], &norm.gamma));
        self.initializer(float_tensor(&names[1], &norm.beta));
        self.initializer(float_values(&names[2], norm.running_mean.value()));
        self.initializer(float_values(&names[3], norm.running_var.value()));
        let output = format!("norms.{i}");
        let inputs: Vec<&str> = std::iter::once(x)
            .chain(names.iter().map(String::as_str))
            .collect();
        let mut bn = node("BatchNormalization", &inputs, &output);
        bn.attribute.push(AttributeProto {
            name: "epsilon".into(),
            type_: AttributeType::FLOAT.into(),
            f: norm.epsilon as f32,
            ..Default::default()
        });
        self.nodes.push(bn);
        output
    }

    /// A one-input operator writing `output`.
    fn unary(&mut self, op: &str, x: &str, output: &str) -> String {
        self.nodes.push(node(op, &[x], output));
        output.to_string()
    }

    fn initializer(&mut self, tensor: TensorProto) {
        self.initializers.push(tensor);
    }
}

/// A node named after its output.
fn node(op: &str, inputs: &[&str], output: &str) -> NodeProto {
    NodeProto {
        op_type: op.into(),
        name: format!("{op}:{output}"),
        input: inputs.iter().map(|s| s.to_string()).collect(),
        output: vec![output.into()],
        ..Default::default()
    }
}

fn int_attribute(name: &str, value: i64) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        type_: AttributeType::INT.into(),
        i: value,
        ..Default::default()
    }
}

fn ints_attribute(name: &str, values: &[usize]) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        type_: AttributeType::INTS.into(),
        ints: values.iter().map(|&v| v as i64).collect(),
        ..Default::default()
    }
}

fn entry(key: &str, value: &str) -> StringStringEntryProto {
    StringStringEntryProto {
        key: key.into(),
        value: value.into(),
        ..Default::default()
    }
}

/// A parameter as a float32 initializer.
fn float_tensor<const D: usize>(name: &str, param: &Param<Tensor<D>>) -> TensorProto {
    float_values(name, param.val())
}

/// A tensor's values as a float32 initializer, in its shape.
fn float_values<const D: usize>(name: &str, tensor: Tensor<D>) -> TensorProto {
    let dims = tensor.dims().iter().map(|&d| d as i64).collect();
    let values = tensor
        .into_data()
        .try_to_vec::<f32>()
        .expect("digits' weights are f32");
    TensorProto {
        name: name.into(),
        dims,
        data_type: DataType::FLOAT as i32,
        raw_data: values.iter().flat_map(|v| v.to_le_bytes()).collect(),
        ..Default::default()
    }
}

/// `[N, 1, 28, 28]`: the shape of a batch of `example`s, as the doc string writes it.
fn shape_text(example: &[usize]) -> String {
    let dims: Vec<String> = example.iter().map(usize::to_string).collect();
    format!("[N, {}]", dims.join(", "))
}

/// A float32 value holding a batch of `example`-shaped rows, `[N, example...]`, `N` dynamic.
fn value_info(name: &str, example: &[usize]) -> ValueInfoProto {
    use tensor_shape_proto::dimension::Value;
    let dim = |value| tensor_shape_proto::Dimension {
        value: Some(value),
        ..Default::default()
    };
    let mut tensor = type_proto::Tensor::new();
    tensor.elem_type = DataType::FLOAT as i32;
    tensor.shape = MessageField::some(TensorShapeProto {
        dim: std::iter::once(dim(Value::DimParam("N".into())))
            .chain(example.iter().map(|&d| dim(Value::DimValue(d as i64))))
            .collect(),
        ..Default::default()
    });
    let mut value_type = TypeProto::new();
    value_type.set_tensor_type(tensor);
    ValueInfoProto {
        name: name.into(),
        type_: MessageField::some(value_type),
        ..Default::default()
    }
}
