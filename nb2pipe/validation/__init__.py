"""Checking that a pipeline computes what its notebook computed: capture, verify, compare,
data quality and drift."""
