"""In-process counters for ``/metrics`` (Prometheus text format); gauges are read from the DB."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field


@dataclass
class Metrics:
    counters: Counter[tuple[str, tuple[tuple[str, str], ...]]] = field(default_factory=Counter)

    def inc(self, name: str, value: float = 1, **labels: str) -> None:
        self.counters[(name, tuple(sorted(labels.items())))] += value

    def get(self, name: str, **labels: str) -> float:
        return self.counters[(name, tuple(sorted(labels.items())))]


def _labels(labels: tuple[tuple[str, str], ...] | dict[str, str]) -> str:
    items = labels.items() if isinstance(labels, dict) else labels
    if not items:
        return ""
    body = ",".join(f'{k}="{str(v).replace(chr(92), chr(92) * 2).replace(chr(34), chr(92) + chr(34))}"'
                    for k, v in items)
    return "{" + body + "}"


def render(counters: Metrics, gauges: dict[str, list[tuple[dict[str, str], float]]],
           help_text: dict[str, str]) -> str:
    """Prometheus exposition format 0.0.4: HELP/TYPE once per family, then samples."""
    lines: list[str] = []
    families: dict[str, list[str]] = {}
    for (name, labels), value in sorted(counters.counters.items()):
        families.setdefault(name, []).append(f"{name}{_labels(labels)} {value:g}")
    for name, samples in families.items():
        lines += [f"# HELP {name} {help_text.get(name, name)}", f"# TYPE {name} counter", *samples]
    for name, samples in gauges.items():
        lines += [f"# HELP {name} {help_text.get(name, name)}", f"# TYPE {name} gauge"]
        lines += [f"{name}{_labels(labels)} {value:g}" for labels, value in samples]
    return "\n".join(lines) + "\n"
