//! A client of an MLflow tracking server's REST API: the calls a training run makes.
//!
//! It is configured as MLflow's own client is, from the environment: `MLFLOW_TRACKING_URI`,
//! and `MLFLOW_TRACKING_TOKEN` or `MLFLOW_TRACKING_USERNAME` with `MLFLOW_TRACKING_PASSWORD`.
//! Artifacts go through the server's artifact proxy (`mlflow server` serves artifacts by
//! default), which is how a client without the storage's credentials uploads them.

use std::time::Duration;

use anyhow::{Context, bail};
use serde::Deserialize;
use serde_json::{Value, json};

/// MLflow's variable naming the tracking server.
pub const URI_VAR: &str = "MLFLOW_TRACKING_URI";

/// How long a request may take: a tracking server that hangs delays training by this at most,
/// once (the run then stops sending to it).
const TIMEOUT: Duration = Duration::from_secs(30);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// A tracking server.
pub struct Client {
    uri: String,
    auth: Auth,
    http: reqwest::Client,
    runtime: tokio::runtime::Runtime,
}

enum Auth {
    None,
    Bearer(String),
    Basic(String, String),
}

/// A run's status, as MLflow names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Training.
    Running,
    /// Every epoch trained, or early stopping ended it.
    Finished,
    /// An error ended it.
    Failed,
    /// Ctrl-C or a termination signal ended it.
    Killed,
}

impl Status {
    fn name(self) -> &'static str {
        match self {
            Status::Running => "RUNNING",
            Status::Finished => "FINISHED",
            Status::Failed => "FAILED",
            Status::Killed => "KILLED",
        }
    }
}

/// One value of a metric.
#[derive(Debug, Clone, PartialEq)]
pub struct Metric {
    /// The metric's name.
    pub key: String,
    /// Its value.
    pub value: f64,
    /// When it was measured, in milliseconds since the Unix epoch.
    pub timestamp_ms: u64,
    /// The step it belongs to: the epoch.
    pub step: u64,
}

/// A run on the server, as `runs/create` and `runs/get` describe it.
#[derive(Debug, Clone)]
pub struct RemoteRun {
    /// Its id.
    pub run_id: String,
    /// Where its artifacts go.
    pub artifact_uri: String,
    /// Its params, by key.
    pub params: Vec<(String, String)>,
}

impl Client {
    /// The server named by `MLFLOW_TRACKING_URI`, or `None` when it is unset or empty. A URI the
    /// REST API cannot reach (a local file store) is refused, saying why.
    pub fn from_env() -> anyhow::Result<Option<Self>> {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        let Some(uri) = var(URI_VAR) else {
            return Ok(None);
        };
        let auth = match (
            var("MLFLOW_TRACKING_TOKEN"),
            var("MLFLOW_TRACKING_USERNAME"),
        ) {
            (Some(token), _) => Auth::Bearer(token),
            (None, Some(user)) => {
                Auth::Basic(user, var("MLFLOW_TRACKING_PASSWORD").unwrap_or_default())
            }
            (None, None) => Auth::None,
        };
        Self::new(&uri, auth).map(Some)
    }

    fn new(uri: &str, auth: Auth) -> anyhow::Result<Self> {
        let scheme = uri.split_once("://").map(|(scheme, _)| scheme);
        if !matches!(scheme, Some("http" | "https")) {
            bail!(
                "{URI_VAR}={uri}: digits logs to MLflow through a tracking server's REST API, at http:// or https://; {} Start one with `mlflow server --host 127.0.0.1 --port 5000` and set {URI_VAR}=http://127.0.0.1:5000, or unset the variable",
                if uri.starts_with("file:") || scheme.is_none() {
                    "a file: store is MLflow's Python client writing files itself, which a program in another language cannot do safely."
                } else {
                    "this store has no REST API."
                }
            );
        }
        let http = reqwest::Client::builder()
            .timeout(TIMEOUT)
            .connect_timeout(CONNECT_TIMEOUT)
            .build()
            .context("cannot set up an HTTP client for MLflow")?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("cannot start the MLflow client's runtime")?;
        Ok(Self {
            uri: uri.trim_end_matches('/').to_string(),
            auth,
            http,
            runtime,
        })
    }

    /// The server's URI, as the variable gave it.
    pub fn uri(&self) -> &str {
        &self.uri
    }

    /// The id of the experiment called `name`, created if the server has none.
    pub fn experiment_id(&self, name: &str) -> anyhow::Result<String> {
        let path = "mlflow/experiments/get-by-name";
        let request = self.http.get(self.query(path, "experiment_name", name)?);
        match self.call(path, request) {
            Ok(found) => text(&found["experiment"]["experiment_id"], path),
            Err(error) if is_missing(&error) => {
                let path = "mlflow/experiments/create";
                let created = self.post(path, json!({ "name": name }))?;
                text(&created["experiment_id"], path)
            }
            Err(error) => Err(error),
        }
    }

    /// A new run in experiment `experiment_id`, named `name`.
    pub fn create_run(
        &self,
        experiment_id: &str,
        name: &str,
        start_ms: u64,
    ) -> anyhow::Result<RemoteRun> {
        let path = "mlflow/runs/create";
        let created = self.post(
            path,
            json!({
                "experiment_id": experiment_id,
                "run_name": name,
                "start_time": start_ms,
                "tags": [{ "key": "mlflow.source.name", "value": "digits" }],
            }),
        )?;
        remote_run(&created["run"], path)
    }

    /// The run `run_id`, or `None` where the server has no such run (or it was deleted).
    pub fn get_run(&self, run_id: &str) -> anyhow::Result<Option<RemoteRun>> {
        let path = "mlflow/runs/get";
        let request = self.http.get(self.query(path, "run_id", run_id)?);
        match self.call(path, request) {
            Ok(found) if found["run"]["info"]["lifecycle_stage"] == "deleted" => Ok(None),
            Ok(found) => remote_run(&found["run"], path).map(Some),
            Err(error) if is_missing(&error) => Ok(None),
            Err(error) => Err(error),
        }
    }

    /// Logs params and metrics to a run, in batches of the sizes the API accepts.
    pub fn log_batch(
        &self,
        run_id: &str,
        params: &[(String, String)],
        metrics: &[Metric],
    ) -> anyhow::Result<()> {
        // The API's limits per request: 100 params, 1,000 metrics.
        for params in params.chunks(100) {
            let params: Vec<Value> = params
                .iter()
                .map(|(key, value)| json!({ "key": key, "value": value }))
                .collect();
            self.post(
                "mlflow/runs/log-batch",
                json!({ "run_id": run_id, "params": params }),
            )?;
        }
        for metrics in metrics.chunks(1000) {
            let metrics: Vec<Value> = metrics
                .iter()
                .map(|m| {
                    json!({ "key": m.key, "value": m.value, "timestamp": m.timestamp_ms, "step": m.step })
                })
                .collect();
            self.post(
                "mlflow/runs/log-batch",
                json!({ "run_id": run_id, "metrics": metrics }),
            )?;
        }
        Ok(())
    }

    /// Sets the run's status; a status other than running also ends it at `end_ms`.
    pub fn set_status(&self, run_id: &str, status: Status, end_ms: u64) -> anyhow::Result<()> {
        let mut body = json!({ "run_id": run_id, "status": status.name() });
        if status != Status::Running {
            body["end_time"] = json!(end_ms);
        }
        self.post("mlflow/runs/update", body).map(drop)
    }

    /// Uploads `bytes` as the artifact `name` of a run whose artifacts are at `artifact_uri`.
    /// Only the server's artifact proxy (`mlflow-artifacts:`) is reachable this way.
    pub fn upload(&self, artifact_uri: &str, name: &str, bytes: Vec<u8>) -> anyhow::Result<()> {
        let Some(rest) = artifact_uri.strip_prefix("mlflow-artifacts:") else {
            bail!(
                "the run's artifacts go to {artifact_uri}, which only MLflow's Python client can write; start the server with artifact serving (`mlflow server`'s default) to receive them"
            );
        };
        // `mlflow-artifacts:/1/<run>/artifacts`, or with the server's address:
        // `mlflow-artifacts://host:port/1/<run>/artifacts`.
        let path = match rest.strip_prefix("//") {
            Some(with_host) => with_host.split_once('/').map_or("", |(_, path)| path),
            None => rest.trim_start_matches('/'),
        };
        let what = format!("mlflow-artifacts/artifacts/{path}/{name}");
        let request = self.http.put(self.api(&what)).body(bytes);
        self.call(&what, request).map(drop)
    }

    fn api(&self, path: &str) -> String {
        format!("{}/api/2.0/{path}", self.uri)
    }

    /// The URL of a GET with one query parameter, encoded.
    fn query(&self, path: &str, key: &str, value: &str) -> anyhow::Result<reqwest::Url> {
        reqwest::Url::parse_with_params(&self.api(path), [(key, value)])
            .with_context(|| format!("{URI_VAR}={}: not a URL", self.uri))
    }

    fn post(&self, path: &str, body: Value) -> anyhow::Result<Value> {
        let request = self
            .http
            .post(self.api(path))
            .header("Content-Type", "application/json")
            .body(body.to_string());
        self.call(path, request)
    }

    /// Sends a request and reads its JSON answer; an error names the server, the call, and
    /// what the server said.
    fn call(&self, path: &str, request: reqwest::RequestBuilder) -> anyhow::Result<Value> {
        let request = match &self.auth {
            Auth::None => request,
            Auth::Bearer(token) => request.bearer_auth(token),
            Auth::Basic(user, password) => request.basic_auth(user, Some(password)),
        };
        let answer = self.runtime.block_on(async {
            let response = request.send().await?;
            let status = response.status();
            let body = response.text().await?;
            Ok::<_, reqwest::Error>((status, body))
        });
        let (status, body) = answer.map_err(|error| {
            anyhow::anyhow!("MLflow at {}: {path}: {}", self.uri, describe(&error))
        })?;
        if !status.is_success() {
            let said = serde_json::from_str::<ApiError>(&body)
                .map(|e| format!("{}: {}", e.error_code, e.message))
                .unwrap_or_else(|_| body.chars().take(200).collect());
            return Err(anyhow::Error::new(Refused {
                code: status.as_u16(),
                message: format!("MLflow at {}: {path}: {status}: {said}", self.uri),
            }));
        }
        if body.trim().is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_str(&body)
            .with_context(|| format!("MLflow at {}: {path}: the answer is not JSON", self.uri))
    }
}

/// The server answered with an error status.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
struct Refused {
    code: u16,
    message: String,
}

/// MLflow's error body.
#[derive(Deserialize)]
struct ApiError {
    error_code: String,
    #[serde(default)]
    message: String,
}

fn is_missing(error: &anyhow::Error) -> bool {
    error
        .downcast_ref::<Refused>()
        .is_some_and(|r| r.code == 404)
}

/// A transport error in words: what kind of failure, and its innermost cause (reqwest's own
/// message hides "connection refused" several sources down).
fn describe(error: &reqwest::Error) -> String {
    let kind = if error.is_timeout() {
        "no answer in time"
    } else if error.is_connect() {
        "cannot connect"
    } else {
        "the request failed"
    };
    let mut innermost: &dyn std::error::Error = error;
    while let Some(cause) = innermost.source() {
        innermost = cause;
    }
    format!("{kind}: {innermost}")
}

fn text(value: &Value, path: &str) -> anyhow::Result<String> {
    value
        .as_str()
        .map(str::to_string)
        .with_context(|| format!("MLflow's answer to {path} lacks a field digits needs: {value}"))
}

fn remote_run(run: &Value, path: &str) -> anyhow::Result<RemoteRun> {
    let params = run["data"]["params"]
        .as_array()
        .map(|params| {
            params
                .iter()
                .filter_map(|p| Some((p["key"].as_str()?.into(), p["value"].as_str()?.into())))
                .collect()
        })
        .unwrap_or_default();
    Ok(RemoteRun {
        run_id: text(&run["info"]["run_id"], path)?,
        artifact_uri: text(&run["info"]["artifact_uri"], path)?,
        params,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_server_is_accepted() {
        for uri in ["file:///tmp/mlruns", "mlruns", "./mlruns"] {
            let error = Client::new(uri, Auth::None).err().unwrap().to_string();
            assert!(error.contains("a file: store"), "{error}");
        }
        let error = Client::new("sqlite:///mlflow.db", Auth::None)
            .err()
            .unwrap()
            .to_string();
        assert!(error.contains("no REST API"), "{error}");
        let client = Client::new("http://127.0.0.1:5000/", Auth::None).unwrap();
        assert_eq!(
            client.api("mlflow/runs/get"),
            "http://127.0.0.1:5000/api/2.0/mlflow/runs/get"
        );
    }
}
