"""Domain configs: one folder per domain, each with a config.yaml (and optional schema)."""
