//! `digits serve`: a page where you draw a digit and watch the network read it, and the JSON API
//! behind it, served by axum on tokio.
//!
//! Every request's image goes through [`digit_image::from_bytes`], the preparation `predict`
//! uses, and the page shows the 28×28 input that came out of it: the browser does no image
//! processing of its own. The page is one HTML file compiled into the binary, so the server
//! works offline.
//!
//! | route | answer |
//! |---|---|
//! | `GET /` | the page |
//! | `POST /api/predict?model=NAME[&layers=all]` | a PNG or JPEG body read as a digit: [`Prediction`] |
//! | `GET /api/models` | each model: [`ModelInfo`] |
//! | `GET /api/test-digit` | a random MNIST test image and its label: [`TestDigit`] |
//! | `GET /api/weights?model=NAME&unit=K` | the first layer's unit K: an MLP's 784 incoming weights, or a conv net's K-th filter: [`UnitWeights`] |
//!
//! Every error is a 4xx (or 503 when the test set is absent) with `{"error": "..."}`.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, LazyLock, Mutex};

use anyhow::Context;
use axum::Json;
use axum::Router;
use axum::body::{Body, Bytes, HttpBody};
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use burn::tensor::{Device, Tensor, TensorData};
use http_body_util::BodyExt;
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use serde::{Deserialize, Serialize};

use crate::data::digit_image;
use crate::data::run_data::RunData;
use crate::data::{Examples, IMAGE_PIXELS, IMAGE_SIDE};
use crate::model::inference::{self, LayerValues, Reading};
use crate::model::{Activation, Cost, Output};
use crate::net::connections::listen;
use crate::net::{self, Limits};
use crate::train::run::run_name;
use crate::train::trained::Trained;

/// The largest request body `POST /api/predict` reads: 16 MiB. A phone's photo (3 to 6 MB of
/// JPEG at 12 megapixels) is sent as the file itself, so that it reads exactly as `predict`
/// reads the file; the page redraws anything larger, or in another format, as a JPEG.
pub const MAX_BODY: usize = 16 << 20;

/// The most pixels per side of an image `POST /api/predict` reads: a 12-megapixel phone photo
/// (4032 × 3024) fits. Half `predict`'s limit, since a few KiB of PNG can claim this size:
/// decoding it holds up to 64 MB (RGBA) for as long as the request lasts, and preparing it
/// works on a copy of at most 1024 pixels a side.
pub const MAX_SIDE: u32 = 4096;

/// How much of a body over [`MAX_BODY`] is read and dropped before the connection is closed.
const MAX_DRAINED: usize = 64 << 20;

/// The page: HTML, CSS and JavaScript in one file, compiled in, with the body limit filled in.
static PAGE: LazyLock<String> =
    LazyLock::new(|| include_str!("page.html").replace("MAX_BODY_BYTES", &MAX_BODY.to_string()));

/// A trained model as the server holds it.
struct Served {
    info: ModelInfo,
    trained: Trained,
    /// The first layer's weights, unit by unit: an MLP's first hidden layer's 784 incoming
    /// weights per unit, or a conv net's first filters.
    first_layer: FirstLayer,
}

/// The weights `GET /api/weights` gives.
struct FirstLayer {
    /// What the units are called in errors: `first hidden layer`, `first convolutional layer`.
    what: &'static str,
    /// The shape of one unit's weights: `[28, 28]`, or the filter's `[kernel, kernel]`.
    shape: Vec<usize>,
    /// One row per unit (hidden unit, or feature map).
    units: Vec<Vec<f32>>,
}

/// What `GET /api/models` says of a model.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ModelInfo {
    /// The name requests use: the run folder's name.
    pub name: String,
    /// The run or checkpoint folder it was read from.
    pub path: PathBuf,
    /// The fully connected layers' sizes, input first: `[784, 30, 10]`, or a conv net's
    /// `[2880, 100, 10]`.
    pub sizes: Vec<usize>,
    /// The network in a few words: `[784, 30, 10]`, or `conv 20 5×5 pool 2, [2880, 100, 10]`.
    pub network: String,
    /// The layers that compute, in the order of [`Prediction::layers`]: their names and shapes.
    pub layers: Vec<LayerInfo>,
    /// The class names, in the order of its outputs.
    pub classes: Vec<String>,
    /// The hidden layers' activation.
    pub activation: Activation,
    /// What the last layer gives.
    pub output: Output,
    /// The cost it was trained with.
    pub cost: Cost,
    /// Whether the hidden layers are batch-normalised.
    pub batch_norm: bool,
    /// The recorded test accuracy of the epoch the weights are from, in [0, 1].
    pub test_accuracy: Option<f64>,
}

/// One layer of [`ModelInfo::layers`].
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LayerInfo {
    /// As `train`'s summary names it: `conv 20 5×5, relu`, `max-pool 2×2`, `fc 100, relu`.
    pub name: String,
    /// One example's output: `[maps, rows, columns]`, or `[units]`.
    pub shape: Vec<usize>,
    /// Its trainable numbers.
    pub parameters: usize,
}

/// What `POST /api/predict` answers.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Prediction {
    /// The model that read the image.
    pub model: String,
    /// The most probable class: its index (the digit, for MNIST).
    pub digit: usize,
    /// Its name.
    pub class: String,
    /// The probability of each class.
    pub probabilities: Vec<f32>,
    /// The 28×28 input the network saw, row by row, in [0, 1], ink bright.
    pub input: Vec<f32>,
    /// Each fully connected hidden layer's activations, input side first.
    pub hidden: Vec<Vec<f32>>,
    /// Every layer that computes, as [`ModelInfo::layers`] lists them, the output last.
    pub layers: Vec<LayerView>,
}

/// One layer's outputs in [`Prediction::layers`]. By default they come as the page draws them,
/// a byte per number (a convolutional layer of 32 maps of 26×26 is 21,632 numbers: 29 KB of
/// base64, where JSON numbers would take 200 KB); `?layers=all` adds every number as it is.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LayerView {
    /// As [`LayerInfo::name`].
    pub name: String,
    /// `[maps, rows, columns]`, or `[units]` (one map).
    pub shape: Vec<usize>,
    /// Each map's smallest and largest number.
    pub ranges: Vec<[f32; 2]>,
    /// The numbers map by map, row by row, each scaled from its map's range to a byte (0 at the
    /// smallest, 255 at the largest, 0 for a map whose numbers are all equal), base64.
    pub bytes: String,
    /// With `?layers=all`: every number, in the same order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub activations: Option<Vec<f32>>,
}

impl LayerView {
    /// `layer` as bytes, with its numbers too when `all`.
    fn new(layer: LayerValues, all: bool) -> Self {
        use base64::Engine;
        let maps = if layer.shape.len() == 3 {
            layer.shape[0]
        } else {
            1
        };
        let per_map = layer.values.len() / maps;
        let mut ranges = Vec::with_capacity(maps);
        let mut bytes = Vec::with_capacity(layer.values.len());
        for map in layer.values.chunks(per_map.max(1)) {
            let low = map.iter().copied().fold(f32::INFINITY, f32::min);
            let high = map.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            let span = high - low;
            bytes.extend(map.iter().map(|&v| {
                if span > 0.0 {
                    (255.0 * (v - low) / span).round() as u8
                } else {
                    0
                }
            }));
            ranges.push([low, high]);
        }
        Self {
            name: layer.name,
            shape: layer.shape,
            ranges,
            bytes: base64::engine::general_purpose::STANDARD.encode(bytes),
            activations: all.then_some(layer.values),
        }
    }
}

/// What `GET /api/test-digit` answers.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TestDigit {
    /// Its index in the test split.
    pub index: usize,
    /// The true class: its index.
    pub label: u8,
    /// Its name.
    pub class: String,
    /// 784 pixels, row by row, in [0, 1], ink bright.
    pub pixels: Vec<f32>,
}

/// What `GET /api/weights` answers.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UnitWeights {
    /// The model.
    pub model: String,
    /// The unit: of an MLP's first hidden layer, or a conv net's first feature map.
    pub unit: usize,
    /// The shape of `weights`: `[28, 28]` for an MLP's unit, `[kernel, kernel]` for a filter.
    pub shape: Vec<usize>,
    /// Its weights, row by row: a hidden unit's 784 incoming weights, one per input pixel, or
    /// the map's filter.
    pub weights: Vec<f32>,
}

/// The models, the test set for random digits, and the device they compute on.
pub struct App {
    models: Vec<Served>,
    /// The test split and its class names.
    test_set: Option<(Examples, Vec<String>)>,
    rng: Mutex<StdRng>,
    device: Device,
    /// Images prepared at once at most: a large photo takes hundreds of MB while it is
    /// prepared, so many uploads at once wait their turn rather than run memory out.
    preparing: tokio::sync::Semaphore,
}

/// Two images prepared at once per core: with 32 clients sending 280×280 drawings on 2 cores,
/// two per core answered as many requests a second as no bound at all (310 against 307–332),
/// with the shortest tail (p99 136–150 ms against 258–461), where one per core answered 25%
/// fewer (`examples/serve_bench.rs --max-preparing N`).
fn default_preparing() -> usize {
    2 * std::thread::available_parallelism().map_or(2, |n| n.get())
}

impl App {
    /// Prepares at most `n` images at once (at least one; default: two per core).
    pub fn with_max_preparing(mut self, n: usize) -> Self {
        self.preparing = tokio::sync::Semaphore::new(n.max(1));
        self
    }

    /// Loads each run or checkpoint folder of `models` onto `device`. Models are named by their
    /// folder; a repeated name gets `-2`, `-3`, ...
    pub fn new(models: &[PathBuf], device: &Device) -> anyhow::Result<Self> {
        anyhow::ensure!(!models.is_empty(), "serve needs at least one --model");
        let mut names = HashSet::new();
        let models = models
            .iter()
            .map(|path| {
                let base = run_name(path);
                let name = (1..)
                    .map(|i| match i {
                        1 => base.clone(),
                        i => format!("{base}-{i}"),
                    })
                    .find(|name| !names.contains(name))
                    .expect("a free name");
                names.insert(name.clone());
                Served::load(name, path, device)
            })
            .collect::<anyhow::Result<_>>()?;
        Ok(Self {
            models,
            test_set: None,
            rng: Mutex::new(StdRng::seed_from_u64(
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |t| t.as_nanos() as u64),
            )),
            device: device.clone(),
            preparing: tokio::sync::Semaphore::new(default_preparing()),
        })
    }

    /// Gives random test images from `data`'s test split; without it, `/api/test-digit`
    /// answers 503 and the rest works.
    pub fn with_test_set(self, data: &RunData) -> Self {
        Self {
            test_set: Some((data.test_examples(), data.classes())),
            ..self
        }
    }

    /// The first model's run config's `[data]`: where its test images are.
    pub fn data(&self) -> &crate::data::DataConfig {
        &self.models[0].trained.config.data
    }

    /// The models, in the order given.
    pub fn models(&self) -> Vec<ModelInfo> {
        self.models.iter().map(|m| m.info.clone()).collect()
    }

    /// Reads an image's bytes as a digit with the model `name` (the first when `None`), giving
    /// every layer's numbers too when `all_layers`.
    pub fn predict(
        &self,
        name: Option<&str>,
        image: &[u8],
        all_layers: bool,
    ) -> Result<Prediction, ApiError> {
        let served = self.model(name)?;
        let pixels = digit_image::from_bytes(image, MAX_SIDE).map_err(ApiError::bad_request)?;
        let input = Tensor::from_data(
            TensorData::new(pixels.to_vec(), [1, IMAGE_PIXELS]),
            &self.device,
        );
        let config = &served.trained.config;
        let reading = inference::read(&served.trained.model, &config.model, config.output(), input);
        let hidden = reading.hidden().map(|layer| layer.values.clone()).collect();
        let Reading {
            class,
            probabilities,
            layers,
        } = reading;
        Ok(Prediction {
            model: served.info.name.clone(),
            digit: class,
            class: served.info.classes[class].clone(),
            probabilities,
            input: pixels.to_vec(),
            hidden,
            layers: layers
                .into_iter()
                .map(|layer| LayerView::new(layer, all_layers))
                .collect(),
        })
    }

    /// A random image of the MNIST test set.
    pub fn test_digit(&self) -> Result<TestDigit, ApiError> {
        let (test, classes) = self.test_set.as_ref().ok_or_else(|| ApiError {
            status: StatusCode::SERVICE_UNAVAILABLE,
            message: "no test set: start serve with --data-dir DIR".into(),
        })?;
        let index = self
            .rng
            .lock()
            .expect("the generator is never left half-used")
            .random_range(0..test.len());
        let label = test.labels()[index];
        Ok(TestDigit {
            index,
            label,
            class: classes[usize::from(label)].clone(),
            pixels: test.pixels(index).to_vec(),
        })
    }

    /// The weights of unit `unit` of model `name`'s first layer: an MLP's first hidden layer,
    /// or a conv net's first convolution.
    pub fn weights(&self, name: Option<&str>, unit: usize) -> Result<UnitWeights, ApiError> {
        let served = self.model(name)?;
        let first = &served.first_layer;
        if first.units.is_empty() {
            return Err(ApiError::not_found(format!(
                "model `{}` has no hidden layer",
                served.info.name
            )));
        }
        let weights = first.units.get(unit).ok_or_else(|| {
            ApiError::not_found(format!(
                "model `{}`'s {} has units 0 to {}, not {unit}",
                served.info.name,
                first.what,
                first.units.len() - 1
            ))
        })?;
        Ok(UnitWeights {
            model: served.info.name.clone(),
            unit,
            shape: first.shape.clone(),
            weights: weights.clone(),
        })
    }

    fn model(&self, name: Option<&str>) -> Result<&Served, ApiError> {
        match name {
            None => Ok(&self.models[0]),
            Some(name) => self
                .models
                .iter()
                .find(|m| m.info.name == name)
                .ok_or_else(|| {
                    let known: Vec<&str> =
                        self.models.iter().map(|m| m.info.name.as_str()).collect();
                    ApiError::not_found(format!(
                        "no model named `{name}`; this server has {}",
                        known.join(", ")
                    ))
                }),
        }
    }
}

impl Served {
    fn load(name: String, path: &Path, device: &Device) -> anyhow::Result<Self> {
        let trained = Trained::load(path, device)?;
        let config = &trained.config;
        let summary = config.model.summary(config.output());
        let layers = summary.rows.into_iter().filter(|row| row.computes);
        Ok(Self {
            info: ModelInfo {
                name,
                path: path.to_path_buf(),
                activation: config.model.activation,
                output: config.output(),
                cost: config.loss.cost,
                batch_norm: config.model.batch_norm,
                test_accuracy: trained.recorded_test_accuracy(),
                classes: trained.classes(),
                sizes: trained.model.sizes(),
                network: config.model.describe_layers(),
                layers: layers
                    .map(|row| LayerInfo {
                        name: row.name,
                        shape: row.shape,
                        parameters: row.parameters,
                    })
                    .collect(),
            },
            first_layer: FirstLayer::of(&trained),
            trained,
        })
    }
}

impl FirstLayer {
    /// A conv net's first filters, or an MLP's first hidden layer's weights (none without a
    /// hidden layer).
    fn of(trained: &Trained) -> Self {
        let model = &trained.model;
        if let Some(first) = model.conv().first() {
            // [maps, 1, k, k]: map j's filter is row j.
            let [maps, _, k, _] = first.conv.weight.dims();
            let values = first.conv.weight.val().into_data().try_to_vec::<f32>();
            return Self {
                what: "first convolutional layer",
                shape: vec![k, k],
                units: values
                    .expect("f32 weights")
                    .chunks(k * k)
                    .take(maps)
                    .map(<[f32]>::to_vec)
                    .collect(),
            };
        }
        // [784, n_hidden], row by row: unit j's weights are column j.
        let [inputs, units] = model.layers()[0].weight.dims();
        let values = model.layers()[0]
            .weight
            .val()
            .into_data()
            .try_to_vec::<f32>();
        let values = values.expect("f32 weights");
        let hidden = model.layers().len() > 1;
        Self {
            what: "first hidden layer",
            shape: vec![IMAGE_SIDE, IMAGE_SIDE],
            units: (0..units)
                .filter(|_| hidden)
                .map(|j| (0..inputs).map(|i| values[i * units + j]).collect())
                .collect(),
        }
    }
}

/// A request that cannot be answered: its status and a message for `{"error": ...}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// A 4xx, or 503.
    pub status: StatusCode,
    /// What is wrong, in one line.
    pub message: String,
}

impl ApiError {
    fn bad_request(message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            message: message.into(),
        }
    }

    fn not_found(message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::NOT_FOUND,
            message: message.into(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (
            self.status,
            Json(serde_json::json!({ "error": self.message })),
        )
            .into_response()
    }
}

/// The query of the routes that take a model.
#[derive(Debug, Deserialize)]
struct ModelQuery {
    model: Option<String>,
    unit: Option<usize>,
    /// `all` for every layer's numbers in `/api/predict`'s answer.
    layers: Option<String>,
}

/// The page and the API over `app`.
pub fn router(app: Arc<App>) -> Router {
    Router::new()
        .route("/", get(|| async { Html(PAGE.as_str()) }))
        .route("/api/models", get(models))
        .route("/api/predict", post(predict))
        .route("/api/test-digit", get(test_digit))
        .route("/api/weights", get(weights))
        .fallback(|| async { ApiError::not_found("no such page: the API is under /api/") })
        .method_not_allowed_fallback(|| async {
            ApiError {
                status: StatusCode::METHOD_NOT_ALLOWED,
                message: "method not allowed: /api/predict takes POST, the others GET".into(),
            }
        })
        .with_state(app)
}

async fn models(State(app): State<Arc<App>>) -> Json<Vec<ModelInfo>> {
    Json(app.models())
}

async fn predict(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    query: Result<Query<ModelQuery>, QueryRejection>,
    body: Body,
) -> Result<Json<Prediction>, ApiError> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        .unwrap_or_default();
    let media_type = content_type.split(';').next().unwrap_or("").trim();
    if !["image/png", "image/jpeg"].contains(&media_type.to_ascii_lowercase().as_str()) {
        return Err(ApiError {
            status: StatusCode::UNSUPPORTED_MEDIA_TYPE,
            message: format!("Content-Type must be image/png or image/jpeg, not `{content_type}`"),
        });
    }
    let Query(query) = query.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let all_layers = match query.layers.as_deref() {
        None => false,
        Some("all") => true,
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "layers takes `all` (every layer's numbers), not `{other}`"
            )));
        }
    };
    let body = read_body(body).await?;
    let permit = app.preparing.acquire().await.map_err(|_| ApiError {
        status: StatusCode::SERVICE_UNAVAILABLE,
        message: "the server is stopping".into(),
    })?;
    // Decoding and the forward pass are CPU work: off the async threads.
    let reading = app.clone();
    let read = tokio::task::spawn_blocking(move || {
        reading.predict(query.model.as_deref(), &body, all_layers)
    })
    .await;
    drop(permit);
    read.map_err(|e| ApiError {
        status: StatusCode::INTERNAL_SERVER_ERROR,
        message: format!("reading the image failed: {e}"),
    })?
    .map(Json)
}

/// Reads a body of at most [`MAX_BODY`] bytes. A longer one is still read to its end (up to
/// [`MAX_DRAINED`]) and dropped, so that a client still sending it receives the 413 rather than
/// a connection closed under it. Its bytes are not kept: one that says its length (the
/// `Content-Length` of every upload from a page or `curl`) is known to be too long before it is
/// read, and one that does not is dropped from the byte that passes the limit.
async fn read_body(mut body: Body) -> Result<Bytes, ApiError> {
    let too_large = || ApiError {
        status: StatusCode::PAYLOAD_TOO_LARGE,
        message: format!(
            "the image is over {} MiB, the most this server reads",
            MAX_BODY >> 20
        ),
    };
    let declared = HttpBody::size_hint(&body).exact().map(|n| n as usize);
    let mut kept = Vec::with_capacity(declared.filter(|&n| n <= MAX_BODY).unwrap_or(0));
    let mut length = 0;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| {
            if timed_out(&e) {
                ApiError {
                    status: StatusCode::REQUEST_TIMEOUT,
                    message: "the image stopped coming in for longer than the server waits \
                              (--body-timeout)"
                        .into(),
                }
            } else {
                ApiError::bad_request(format!("cannot read the body: {e}"))
            }
        })?;
        let Ok(data) = frame.into_data() else {
            continue;
        };
        length += data.len();
        if length <= MAX_BODY && declared.is_none_or(|n| n <= MAX_BODY) {
            kept.extend_from_slice(&data);
        } else if length > MAX_DRAINED {
            return Err(too_large());
        } else {
            kept = Vec::new();
        }
    }
    if length > MAX_BODY {
        return Err(too_large());
    }
    Ok(Bytes::from(kept))
}

/// Whether `error` comes from a socket read that timed out.
fn timed_out(error: &(dyn std::error::Error + 'static)) -> bool {
    std::iter::successors(Some(error), |e| e.source()).any(|e| {
        e.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::TimedOut)
    })
}

async fn test_digit(State(app): State<Arc<App>>) -> Result<Json<TestDigit>, ApiError> {
    app.test_digit().map(Json)
}

async fn weights(
    State(app): State<Arc<App>>,
    query: Result<Query<ModelQuery>, QueryRejection>,
) -> Result<Json<UnitWeights>, ApiError> {
    let Query(query) = query.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let unit = query
        .unit
        .ok_or_else(|| ApiError::bad_request("give the unit: /api/weights?unit=K"))?;
    app.weights(query.model.as_deref(), unit).map(Json)
}

/// Serves `app` on `address` under `limits` until Ctrl-C or SIGTERM, calling `ready` with the
/// URL and the connection cap once it listens.
pub fn run(
    app: App,
    address: SocketAddr,
    limits: Limits,
    ready: impl FnOnce(&str, usize),
) -> anyhow::Result<()> {
    let cap = net::connection_cap(limits.max_connections).map_err(anyhow::Error::msg)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the server's threads")?;
    runtime.block_on(async {
        let listener = listen(address)
            .and_then(tokio::net::TcpListener::from_std)
            .with_context(|| format!("cannot listen on {address}"))?;
        let bound = listener.local_addr()?;
        ready(&format!("http://{bound}/"), cap);
        net::http::serve(
            listener,
            router(Arc::new(app)),
            limits,
            cap,
            "digits serve",
            net::stop_signal(),
        )
        .await;
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_is_whole_and_needs_nothing_from_the_network() {
        assert!(PAGE.starts_with("<!doctype html>"));
        assert!(PAGE.trim_end().ends_with("</html>"));
        assert!(PAGE.contains(&format!("const MAX_BODY = {MAX_BODY};")));
        for external in ["http://", "https://", "//cdn", "@import"] {
            assert!(!PAGE.contains(external), "the page names {external}");
        }
    }
}
