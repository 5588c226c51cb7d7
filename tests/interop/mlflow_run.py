"""A run as an MLflow tracking server returns it, through MLflow's own client (its REST API),
as JSON on stdout, metric values as repr's text (a JSON number may be parsed a bit off); its
artifacts are downloaded into OUT_DIR.

Usage: mlflow_run.py TRACKING_URI RUN_ID OUT_DIR
"""

import json
import sys

from mlflow.tracking import MlflowClient

uri, run_id, out = sys.argv[1:4]
client = MlflowClient(tracking_uri=uri)
run = client.get_run(run_id)
metrics = {
    key: [[m.step, repr(m.value)] for m in client.get_metric_history(run_id, key)]
    for key in run.data.metrics
}
client.download_artifacts(run_id, "", out)
json.dump(
    {
        "status": run.info.status,
        "run_name": run.info.run_name,
        "experiment": client.get_experiment(run.info.experiment_id).name,
        "params": run.data.params,
        "metrics": metrics,
        "artifacts": sorted(a.path for a in client.list_artifacts(run_id)),
    },
    sys.stdout,
)
