"""gTTS: Google Translate's Vietnamese voice — the best voice a node has, when the 4G link is up.

Measured traps of gTTS 2.5 that this engine closes:

* ``timeout=None`` by default: a stalled connection hangs forever. Here every request has a connect
  and read timeout, and the whole synthesis a hard deadline checked while streaming.
* It sends HTTPS with certificate verification **off**. :class:`_VerifiedGtts` re-implements
  ``stream()`` (reusing gTTS's own request preparation and response parsing format) with
  verification on — against the system CA store, or a given CA bundle.
* A failed ``save()`` leaves a 0-byte file: we never write to a file; audio is collected in memory,
  and the chain validates it before the cache sees it.

``endpoint`` replaces Google's URL (tests point it at a local fake of the same RPC on 127.0.0.1).
"""

from __future__ import annotations

import base64
import re
import time
import urllib.request

from loaxa_speech.tts.engines.base import EngineUnavailable, SpeechRequest, SpeechResult, TtsEngine, TtsError
from loaxa_speech.tts.engines.http import network_error, status_error
from loaxa_speech.tts.voices import CATALOGUE

_AUDIO_RE = re.compile(r'jQ1olc","\[\\"(.*)\\"]')


def _gtts_module():
    try:
        from gtts import gTTS, gTTSError
    except ImportError as err:  # pragma: no cover - gtts is an edge dependency
        raise TtsError("gTTS is not installed (pip install gtts)") from err
    return gTTS, gTTSError


class GttsEngine(TtsEngine):
    name = "gtts"
    default_voice = "vi"
    voices = CATALOGUE["gtts"]

    def __init__(self, *, timeout_s: float = 10.0, tld: str = "com", endpoint: str | None = None,
                 ca_bundle: str | bool = True, slow_below_wpm: int = 110) -> None:
        self.timeout_s = timeout_s
        self.tld = tld
        self.endpoint = endpoint
        self.ca_bundle = ca_bundle
        self.slow_below_wpm = slow_below_wpm

    def available(self) -> bool:
        try:
            _gtts_module()
        except TtsError:
            return False
        return True

    def _synthesize(self, request: SpeechRequest) -> SpeechResult:
        import requests  # lazy, with gtts: an idle node without Internet TTS does not pay ~15 MB for them

        gtts_cls, gtts_error = _gtts_module()
        tts = _make_verified(gtts_cls)(
            request.text, lang=request.lang, tld=self.tld, slow=(request.rate_wpm or 150) < self.slow_below_wpm,
            lang_check=False, timeout=(min(5.0, self.timeout_s), self.timeout_s),
        )
        tts.loaxa_endpoint = self.endpoint
        tts.loaxa_verify = self.ca_bundle
        tts.loaxa_deadline = time.monotonic() + self.timeout_s
        try:
            audio = b"".join(tts.stream())
        except gtts_error as err:
            raise TtsError(f"gTTS failed: {err}") from err
        except requests.RequestException as err:
            raise network_error(err, self.timeout_s) from err
        return SpeechResult(audio=audio, fmt="mp3", engine=self.name, voice="vi")


_VERIFIED: dict[type, type] = {}


def _make_verified(gtts_cls: type) -> type:
    """Subclass of gTTS whose requests verify certificates and respect a hard deadline."""
    if gtts_cls in _VERIFIED:
        return _VERIFIED[gtts_cls]
    import requests

    class _VerifiedGtts(gtts_cls):  # type: ignore[misc, valid-type]
        loaxa_endpoint: str | None = None
        loaxa_verify: str | bool = True
        loaxa_deadline: float = 0.0

        def _prepare_requests(self):
            prepared = super()._prepare_requests()
            if self.loaxa_endpoint:
                for pr in prepared:
                    pr.prepare_url(self.loaxa_endpoint, None)
            return prepared

        def stream(self):
            _, gtts_error = _gtts_module()
            for pr in self._prepare_requests():
                try:
                    with requests.Session() as s:
                        r = s.send(pr, verify=self.loaxa_verify, proxies=urllib.request.getproxies(),
                                   timeout=self.timeout, stream=True)
                        r.raise_for_status()
                        for line in r.iter_lines(chunk_size=1024):
                            if time.monotonic() > self.loaxa_deadline:
                                raise EngineUnavailable("Google Dịch quá thời hạn khi gửi âm thanh "
                                                        "(gTTS exceeded its deadline while streaming)")
                            decoded = line.decode("utf-8", errors="replace")
                            if "jQ1olc" in decoded:
                                found = _AUDIO_RE.search(decoded)
                                if not found:
                                    raise gtts_error(tts=self, response=r)
                                yield base64.b64decode(found.group(1).encode("ascii"))
                except requests.exceptions.HTTPError as err:
                    status = err.response.status_code if err.response is not None else 0
                    raise status_error("Google Dịch", status, "") from err
                except requests.exceptions.RequestException as err:
                    raise network_error(err, self.timeout[1]) from err

    _VERIFIED[gtts_cls] = _VerifiedGtts
    return _VerifiedGtts
