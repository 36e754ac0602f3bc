"""Assembling and running pipelines: the pipeline factory, runners, the CLI, the run
summary, and where a domain's config and data come from."""
