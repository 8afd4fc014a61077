"""Hard limits of the wire format, shared by HQ (which refuses to send) and edge (which refuses to accept)."""

SCHEMA_VERSION = 1
"""Value of the ``v`` field in every payload; a receiver refuses versions it does not know."""

MAX_TEXT_CHARS = 5_000
"""Longest bulletin text: about five minutes of speech, longer than any real commune announcement."""

MAX_PAYLOAD_BYTES = 64 * 1024
"""Largest MQTT payload accepted; checked before JSON parsing so a huge message costs nothing."""

MAX_ID_CHARS = 64
"""Longest node, zone, camera, command or bulletin identifier."""
