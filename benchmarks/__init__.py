"""Scripts that measure the product and write results tables; run as `python -m benchmarks.NAME`."""
