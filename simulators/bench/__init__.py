"""Benchmarks run through ``loaxa-sim bench``: numbers printed, never asserted by timed tests."""
