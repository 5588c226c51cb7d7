"""What TensorBoard's own reader finds in a run's tb/ folder, as JSON on stdout.

Usage: tensorboard_events.py TB_DIR

Reads with tensorboard's EventAccumulator, with its purge of repeated steps turned off, so that
an epoch written twice shows up twice. Prints the event files found, every scalar as
[step, value] pairs by tag (values as TensorBoard holds them, 32-bit floats widened, written as
repr's text: a JSON number may be parsed a bit off), their wall times by tag, and every text by
tag.
"""

import json
import os
import sys

from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.util import tensor_util

tb = sys.argv[1]
events = EventAccumulator(
    tb, size_guidance={"scalars": 0, "tensors": 0}, purge_orphaned_data=False
)
events.Reload()
scalars = {
    tag: [[event.step, repr(event.value)] for event in events.Scalars(tag)]
    for tag in events.Tags()["scalars"]
}
wall_times = {
    tag: [repr(event.wall_time) for event in events.Scalars(tag)]
    for tag in events.Tags()["scalars"]
}
texts = {
    tag: [tensor_util.make_ndarray(e.tensor_proto).item().decode() for e in events.Tensors(tag)]
    for tag in events.Tags()["tensors"]
}
files = sorted(name for name in os.listdir(tb) if "tfevents" in name)
json.dump(
    {"files": files, "scalars": scalars, "wall_times": wall_times, "texts": texts}, sys.stdout
)
