"""Evidence bundles: everything an outsider needs to check a model's trail, offline."""
