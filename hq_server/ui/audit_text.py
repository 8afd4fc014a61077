"""What an audit entry's action means, in plain words (translated by gettext).

HQ records the action as its route's summary (English, written for developers: "Set another user's password
(admin; their sessions end; yours: /api/v1/auth/password)"). The administrator reads "Đặt lại mật khẩu".
Labels are keyed by the route (method, path pattern), not by the summary text, so rewording a summary does
not lose its label; a route without a label shows its summary as it is, never nothing.
"""

from __future__ import annotations

from aiohttp import web

from hq_server.ui.fmt import Gettext


def _(s: str) -> str:  # extraction marker
    return s


LABELS: dict[tuple[str, str], str] = {
    ("POST", "/api/v1/auth/login"): _("Logged in"), ("POST", "/api/v1/auth/logout"): _("Logged out"),
    ("POST", "/api/v1/users"): _("Created an account"), ("POST", "/api/v1/tokens"): _("Created an API token"),
    ("POST", "/api/v1/auth/password"): _("Changed their own password"),
    ("POST", "/api/v1/users/{id}/deactivate"): _("Deactivated an account"),
    ("POST", "/api/v1/users/{id}/activate"): _("Re-activated an account"),
    ("POST", "/api/v1/users/{id}/password"): _("Reset a password"),
    ("PUT", "/api/v1/users/{id}/role"): _("Changed a role"),
    ("DELETE", "/api/v1/tokens/{id}"): _("Revoked an API token"),
    ("POST", "/api/v1/bulletins"): _("Created a bulletin"),
    ("POST", "/api/v1/bulletins/cap"): _("Imported a CAP alert"),
    ("PATCH", "/api/v1/bulletins/{id}"): _("Edited a bulletin"),
    ("POST", "/api/v1/bulletins/{id}/approve"): _("Approved an emergency bulletin"),
    ("POST", "/api/v1/bulletins/{id}/cancel"): _("Cancelled a bulletin"),
    ("DELETE", "/api/v1/bulletins/{id}"): _("Deleted a bulletin"),
    ("POST", "/api/v1/bulletins/{id}/resend"): _("Sent a bulletin again"),
    ("POST", "/api/v1/audio"): _("Uploaded audio"), ("POST", "/api/v1/speech/normalise"): _("Looked at the reading"),
    ("POST", "/api/v1/speech/preview"): _("Listened to the voice"),
    ("PUT", "/api/v1/nodes/{id}"): _("Changed a node (villages, location)"),
    ("PUT", "/api/v1/cameras/{id}"): _("Changed a camera"),
    ("POST", "/api/v1/zones"): _("Created a village"), ("PATCH", "/api/v1/zones/{id}"): _("Renamed a village"),
    ("DELETE", "/api/v1/zones/{id}"): _("Deleted a village"),
    ("PUT", "/api/v1/zones/{id}/programme"): _("Set a village's programme windows"),
    ("PUT", "/api/v1/nodes/{id}/programme"): _("Set a loudspeaker's programme windows"),
    ("PUT", "/api/v1/zones/{id}/volume"): _("Set a village's volume"),
    ("PUT", "/api/v1/nodes/{id}/volume"): _("Set a loudspeaker's volume"),
    ("POST", "/api/v1/cameras/{id}/snapshot"): _("Asked a camera for a picture"),
    ("POST", "/api/v1/snapshots/upload/{token}"): _("A node sent a picture"),
    ("POST", "/api/v1/detections/upload/{token}"): _("A node sent a detection picture"),
    ("POST", "/api/v1/alerts/{id}/acknowledge"): _("Acknowledged an alert"),
    ("POST", "/api/v1/cameras/{id}/live"): _("Watched a camera live"),
    ("POST", "/api/v1/live/{id}/stop"): _("Stopped a live view"),
    ("POST", "/api/v1/nodes/{id}/enrolment"): _("Issued a node's login and enrolment code"),
    ("DELETE", "/api/v1/nodes/{id}/credential"): _("Revoked a node's login"),
    ("POST", "/api/v1/enrol"): _("A node redeemed its enrolment code"),
    ("PUT", "/api/v1/hq-settings/alert-webhook"): _("Changed where alerts are sent"),
    ("PUT", "/api/v1/hq-settings/tts-engines"): _("Changed the order of the voices"),
    ("PUT", "/api/v1/hq-settings/default-programme"): _("Set the default programme windows"),
}
ROUTE_OF_ACTION = {"login": ("POST", "/api/v1/auth/login")}  # actions recorded under another name than the summary


def routes_by_summary(app: web.Application) -> dict[str, tuple[str, str]]:
    out: dict[str, tuple[str, str]] = dict(ROUTE_OF_ACTION)
    for route in app.router.routes():
        spec = getattr(route, "_loaxa_spec", None)
        if spec is not None:
            out.setdefault(spec.summary, (spec.method, spec.path))
    return out


def action_label(action: str, routes: dict[str, tuple[str, str]], gettext: Gettext) -> str:
    key = routes.get(action)
    return gettext(LABELS[key]) if key in LABELS else action
