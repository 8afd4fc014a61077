"""Pure event decisions: which samples' findings become an event, and when the next one may come.

One sample (a few frames read every ``sample_interval_s``) yields one :class:`Observation`: what moved
in its busiest frame and the people found there. For each kind the camera reports ('motion',
'person'), an event is confirmed when the kind was seen in ``confirm_k`` of the last ``confirm_n``
samples *and* in the current one (so the event's picture shows it). The event then stays open while
the kind keeps being seen; only after ``end_after_s`` without it can the same kind raise a new event.
So one person crossing the picture is one event, and a busy market is one long event, not hundreds.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from datetime import datetime

from edge_agent.camera.detect_config import DetectionConfig, DetectionKind
from edge_agent.camera.regions import Box


@dataclass(frozen=True)
class Observation:
    at: datetime
    motion: tuple[Box, ...] = ()  # moving blobs of the sample's busiest frame
    motion_percent: float = 0.0  # their area, % of the analysed picture
    people: tuple[Box, ...] = ()  # people found in that frame (empty when none or not looked for)


@dataclass(frozen=True)
class Decision:
    kind: DetectionKind
    at: datetime
    score: float  # person: best HOG margin; motion: moving area in %
    boxes: tuple[Box, ...]


@dataclass
class _KindState:
    window: deque[bool]
    open: bool = False
    last_seen: datetime | None = None


@dataclass
class EpisodeTracker:
    cfg: DetectionConfig
    states: dict[DetectionKind, _KindState] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.states = {kind: _KindState(deque(maxlen=self.cfg.confirm_n)) for kind in self.cfg.events}

    def update(self, obs: Observation) -> list[Decision]:
        """Feed one sample; the events it starts (at most one per kind)."""
        out = []
        for kind, state in self.states.items():
            boxes = obs.people if kind == "person" else obs.motion
            seen = bool(boxes)
            state.window.append(seen)
            if state.open and state.last_seen is not None and (
                    obs.at - state.last_seen).total_seconds() > self.cfg.end_after_s:
                state.open = False
            if seen:
                state.last_seen = obs.at
            if seen and not state.open and sum(state.window) >= self.cfg.confirm_k:
                state.open = True
                score = max((b.score or 0.0) for b in boxes) if kind == "person" else obs.motion_percent
                out.append(Decision(kind, obs.at, round(score, 3), boxes))
        return out


__all__ = ["Decision", "EpisodeTracker", "Observation"]
