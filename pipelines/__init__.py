"""Assembling and running pipelines: config schema, the pipeline factory, runners, the CLI."""
