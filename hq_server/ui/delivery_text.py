"""Per-loudspeaker delivery states and failure reasons in plain words (pure; translated by gettext).

HQ records states and reasons in English codes (``rejected: bad_signature``, ``node offline until
expiry``); a broadcaster reads "Bị từ chối: chữ ký không hợp lệ", "Loa mất kết nối đến khi hết hạn".
Unknown reasons are shown as they are, after the known prefix, never hidden.
"""

from __future__ import annotations

import re

from hq_server.ui.fmt import Gettext


def _(s: str) -> str:  # extraction marker; translated by the caller's gettext
    return s


STATE_LABELS = {
    "pending": _("Sending"), "received": _("Received"), "scheduled": _("Scheduled"), "playing": _("Playing"),
    "played": _("Played"), "failed": _("Failed"), "expired": _("Expired"), "offline": _("Loudspeaker offline"),
    "cancelled": _("Cancelled"), "missed": _("Missed"), "interrupted": _("Interrupted"),
}
# CSS tone of each state: colour is never the only signal (the label is always written)
STATE_TONE = {"pending": "wait", "received": "wait", "scheduled": "wait", "playing": "live", "played": "ok",
              "failed": "bad", "expired": "bad", "offline": "bad", "cancelled": "off", "interrupted": "wait"}
FAILED_STATES = frozenset({"failed", "expired", "offline"})

BULLETIN_STATES = {
    "awaiting_approval": _("Awaiting approval"), "scheduled": _("Scheduled"), "sending": _("Sending"),
    "active": _("Sending"),
    "completed": _("Finished"), "cancelled": _("Cancelled"), "expired": _("Expired"), "failed": _("Not played"),
}

_CODES = {
    "node offline until expiry": _("the loudspeaker stayed offline until the bulletin expired"),
    "node offline at send time; waiting for it to reconnect": _("loudspeaker offline; waiting for it to reconnect"),
    "no acknowledgement before expiry": _("no answer from the loudspeaker before expiry"),
    "cancelled by HQ": _("cancelled at the commune"),
    "cancelled_by_hq": _("cancelled at the commune"),
    "re-sent after the node reconnected": _("sent again after the loudspeaker reconnected"),
    "re-sent: missing from the node's reconcile report": _("sent again: the loudspeaker did not have it"),
    "cancel sent: still held by the node at reconnect": _("cancel sent to the loudspeaker"),
    "bad_signature": _("signature not valid"), "unsigned": _("not signed"), "replayed": _("already received"),
    "expired": _("arrived too late"), "wrong_target": _("not meant for this loudspeaker"),
    "oversized": _("message too large"), "malformed_json": _("damaged message"),
    "invalid_schema": _("message not understood"), "unsupported_version": _("loudspeaker software too old"),
    "playback_error": _("playback error on the loudspeaker"), "internal_error": _("internal error on the loudspeaker"),
    "missed_schedule": _("missed its time (loudspeaker busy or off)"),
    "expired_in_queue": _("expired while waiting its turn"),
    "no_future_occurrence": _("no date left in the repeat series"),
    "cut_at_window_end": _("cut at the end of the programme window"),
    "unsupported_command": _("loudspeaker software too old"),
    "preempted": _("interrupted by an emergency bulletin; will resume"),
    "interrupted": _("the loudspeaker restarted while playing (power cut?)"),
    "replayed after an interruption": _("played again from the start after the loudspeaker restarted"),
    "interrupted_again": _("interrupted again while being replayed; not played a third time"),
    "interrupted_expired": _("interrupted by a restart; expired before the loudspeaker was back"),
    "interrupted_late": _("interrupted by a restart; the loudspeaker was back too late to replay it"),
}
_STOPPED = re.compile(r"^stopped at '(\w+)' before expiry$")
_ENDED = re.compile(r"^recurrence ended: (\d+) occurrence\(s\) played$")


def state_label(state: str, gettext: Gettext) -> str:
    return gettext(STATE_LABELS.get(state, state))


def bulletin_state_label(state: str, gettext: Gettext) -> str:
    return gettext(BULLETIN_STATES.get(state, state))


def reason_text(reason: str | None, gettext: Gettext) -> str:
    if not reason:
        return ""
    if reason in _CODES:
        return gettext(_CODES[reason])
    if reason.startswith("rejected: "):
        code = reason.removeprefix("rejected: ")
        return gettext("refused by the loudspeaker: %(why)s") % {"why": reason_text(code, gettext)}
    if m := _STOPPED.match(reason):
        return gettext("stopped at “%(state)s” before expiry") % {"state": state_label(m.group(1), gettext)}
    if m := _ENDED.match(reason):
        return gettext("repeat series ended: played %(n)s time(s)") % {"n": m.group(1)}
    return reason
