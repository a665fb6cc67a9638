"""The test suite and its helpers (a package, so that benchmarks import the helpers without path edits)."""
