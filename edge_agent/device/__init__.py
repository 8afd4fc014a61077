"""Readings of the machine the agent runs on (disk, temperature, clock) and memory housekeeping."""
