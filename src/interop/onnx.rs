//! The trained network as an ONNX model, for the tools people deploy with (ONNX Runtime and the
//! rest). Burn reads ONNX but does not write it, so the graph is built here from the `Network`'s
//! weights, with `onnx-protobuf`'s generated messages.
//!
//! The model's interface:
//! - input `pixels`: `[N, 784]` float32 in [0, 1], `N` dynamic;
//! - output `scores`: what the last layer gives: sigmoid activations (network.py) or logits;
//! - output `probabilities`: `[N, 10]`, as digits computes them (`inference::probabilities`):
//!   the softmax of logits, or sigmoid activations divided by their sum.
//!
//! Each hidden layer is `Gemm` (`x · W + b`), then `BatchNormalization` with the running
//! statistics where the run has batch norm, then `Sigmoid` or `Relu`. Dropout is the identity
//! at inference and leaves no node. Opset 13.

use burn::module::Param;
use burn::nn::{BatchNorm, Linear};
use burn::tensor::Tensor;
use onnx_protobuf::attribute_proto::AttributeType;
use onnx_protobuf::tensor_proto::DataType;
use onnx_protobuf::{
    AttributeProto, GraphProto, ModelProto, NodeProto, OperatorSetIdProto, StringStringEntryProto,
    TensorProto, TensorShapeProto, TypeProto, ValueInfoProto, tensor_shape_proto, type_proto,
};
use protobuf::{Message, MessageField};

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
}

/// The ONNX model of `model` (trained from `config`), serialised.
pub fn to_onnx(model: &Network, config: &RunConfig, provenance: &Provenance) -> Vec<u8> {
    let mut graph = Graph::default();
    let layers = model.layers();
    let mut x = "pixels".to_string();
    for (i, layer) in layers.iter().enumerate() {
        x = graph.linear(i, layer, &x);
        if i + 1 == layers.len() {
            break;
        }
        if let Some(norm) = model.norms().get(i) {
            x = graph.batch_norm(i, norm, &x);
        }
        x = graph.unary(
            match config.model.activation {
                Activation::Sigmoid => "Sigmoid",
                Activation::Relu => "Relu",
            },
            &x,
            &format!("hidden.{i}"),
        );
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

    let inputs = config.model.sizes[0];
    let classes = *config.model.sizes.last().expect("sizes has an output");
    let graph = GraphProto {
        name: "digits".into(),
        node: graph.nodes,
        initializer: graph.initializers,
        input: vec![value_info("pixels", inputs)],
        output: vec![
            value_info("probabilities", classes),
            value_info("scores", classes),
        ],
        ..Default::default()
    };
    let mut metadata = vec![
        entry("digits_version", env!("CARGO_PKG_VERSION")),
        entry("config", provenance.config_toml),
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
            "An MLP {:?} trained by digits on MNIST: input `pixels` [N, {inputs}] in [0, 1]; outputs `probabilities` and `scores` [N, {classes}]",
            config.model.sizes
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
    /// Layer `i`: `Gemm(x, W, b)`, with `W` `[n_in, n_out]` as digits stores it.
    fn linear(&mut self, i: usize, layer: &Linear, x: &str) -> String {
        let weight = format!("layers.{i}.weight");
        let bias = format!("layers.{i}.bias");
        self.initializer(float_tensor(&weight, &layer.weight));
        let bias_param = layer.bias.as_ref().expect("digits' layers have biases");
        self.initializer(float_tensor(&bias, bias_param));
        let output = format!("layers.{i}");
        self.nodes.push(node("Gemm", &[x, &weight, &bias], &output));
        output
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

/// A `[N, width]` float32 value, `N` dynamic.
fn value_info(name: &str, width: usize) -> ValueInfoProto {
    let dim = |value| tensor_shape_proto::Dimension {
        value: Some(value),
        ..Default::default()
    };
    let mut tensor = type_proto::Tensor::new();
    tensor.elem_type = DataType::FLOAT as i32;
    tensor.shape = MessageField::some(TensorShapeProto {
        dim: vec![
            dim(tensor_shape_proto::dimension::Value::DimParam("N".into())),
            dim(tensor_shape_proto::dimension::Value::DimValue(width as i64)),
        ],
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
