"""Stable import path of the stored job function — part of the node's on-disk contract.

APScheduler's SQLite job store records each job's function by import path. Jobs written before the
programme runtime moved to :mod:`edge_agent.programme` reference ``edge_agent.scheduler:fire``, and a
node upgraded in place must still fire them, so this path stays and new jobs use it too.
"""

from edge_agent.programme.scheduler import fire

__all__ = ["fire"]
