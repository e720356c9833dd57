"""Lifecycle capture: turn real artifacts (data files, training runs, model files) into
signed statements. `fingerprint` and `rows` hash; `datasets`, `runs` and `models` build and
record statements; `lineage` reads them back; `integrations` meets scikit-learn and MLflow
where ML teams already work; `openssf` signs models in the OpenSSF model-signing format."""
