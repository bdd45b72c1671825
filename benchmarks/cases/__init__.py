"""One module per measured case; each runs alone in its own process (see benchmarks.measure)."""
