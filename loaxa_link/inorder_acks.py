"""Manual acknowledgement bookkeeping: PUBACKs sent only when handled, and in arrival order.

With manual acknowledgement the broker learns a QoS 1 message was received only once the
application has made it durable; a process killed before that gets the message again from its
persistent session. MQTT requires PUBACKs in the order the PUBLISH packets arrived (MQTT 5.0
§4.6), while handlers finish in any order: a message handled early waits for the ones before it.

Acks belong to one network connection: after a reconnect the broker re-sends every unacknowledged
message (same packet id, DUP set), so the bookkeeping of the old connection is dropped, never
applied to the new one. Pure: no I/O, no paho.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass


@dataclass(frozen=True)
class Token:
    generation: int
    seq: int


class InOrderAcks:
    def __init__(self) -> None:
        self.generation = 0
        self._seq = 0
        self._pending: OrderedDict[int, tuple[int, int, bool]] = OrderedDict()  # seq → (mid, qos, done)

    def new_connection(self) -> None:
        """A new network connection: what was pending is the broker's to re-send."""
        self.generation += 1
        self._pending.clear()

    def received(self, mid: int, qos: int) -> Token:
        self._seq += 1
        self._pending[self._seq] = (mid, qos, False)
        return Token(self.generation, self._seq)

    def handled(self, token: Token) -> list[tuple[int, int]]:
        """Mark a message handled; return the (mid, qos) pairs that may be acknowledged now, in order."""
        if token.generation != self.generation or token.seq not in self._pending:
            return []  # its connection is gone: the broker re-sends it
        mid, qos, _ = self._pending[token.seq]
        self._pending[token.seq] = (mid, qos, True)
        ready: list[tuple[int, int]] = []
        while self._pending:
            seq, (mid, qos, done) = next(iter(self._pending.items()))
            if not done:
                break
            del self._pending[seq]
            ready.append((mid, qos))
        return ready

    @property
    def waiting(self) -> int:
        return len(self._pending)
