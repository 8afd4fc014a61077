"""Hard limits of the wire format, shared by HQ (which refuses to send) and edge (which refuses to accept)."""

from typing import Final

SCHEMA_VERSION: Final = 1
"""Value of the ``v`` field in every payload; a receiver refuses versions it does not know."""

MAX_TEXT_CHARS = 5_000
"""Longest bulletin text: about five minutes of speech, longer than any real commune announcement."""

MAX_PAYLOAD_BYTES = 64 * 1024
"""Largest MQTT payload accepted; checked before JSON parsing so a huge message costs nothing."""

MAX_ID_CHARS = 64
"""Longest node, zone, camera, command or bulletin identifier."""

MAX_JSON_DEPTH = 16
"""Deepest nesting of objects/arrays in a payload (commands need 4): a deeper one is refused before
anything walks it, so a crafted payload cannot exhaust the parser's or the signature check's recursion."""
