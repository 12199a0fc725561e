"""Benchmarks behind `make bench`: each module has `run(quick: bool = False) -> list[dict]`.

A row is {"name", "value", "unit", "target" (optional, e.g. ">= 100"), ...extra fields}. `emotalk.bench`
runs them all and writes JSON + a Markdown table.
"""
