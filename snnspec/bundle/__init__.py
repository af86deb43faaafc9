"""Build and run folders: what made them, their manifests, the environment they record.

The names of the files in them are defined here, once (a run folder's layout is described in
:mod:`snnspec.training.loop`).
"""

MANIFEST = "manifest.json"
SPEC = "spec.yaml"
PARAMS = "params.safetensors"
RESOLVED = "resolved.yaml"
METRICS = "metrics.jsonl"
RESULTS = "results.json"
SPLIT = "split.json"
CHECKPOINTS = "checkpoints"
BEST = "best.safetensors"
CURVES = "curves.png"
TENSORBOARD = "tensorboard"
MLFLOW_DB = "mlflow.db"
MLFLOW_ARTIFACTS = "mlartifacts"
SWEEP = "sweep.json"
SUMMARY_CSV = "summary.csv"
SUMMARY_MD = "summary.md"
