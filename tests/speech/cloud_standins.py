"""Local stand-ins of the cloud voice APIs (Google, Azure, FPT.AI, Viettel AI, Zalo AI) on 127.0.0.1.

The network edge is the only fake: each stand-in checks the request the way the provider documents it
(path, method, auth header or token, content type, JSON/SSML/form body, voice ids, speed range) and
answers like the provider (base64 JSON, RIFF body, async link polled until ready, JSON errors). Every
request is recorded; a malformed one is answered 400 *and* listed in ``problems`` so a test fails
even if an engine tolerated the error. The audio is real speech made with espeak-ng from the received
text (MP3 through ffmpeg where the provider sends MP3), so HQ and nodes decode and play it for real.
"""

from __future__ import annotations

import base64
import itertools
import json
import subprocess
import xml.etree.ElementTree as ET
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from loaxa_speech.tts.voices import CATALOGUE

PROVIDERS = ("google", "azure", "fpt", "viettel", "zalo")
SSML_NS = "{http://www.w3.org/2001/10/synthesis}"


def speech_wav(text: str) -> bytes:
    out = subprocess.run(["espeak-ng", "-v", "vi", "--stdout"], input=text.encode("utf-8"),
                         capture_output=True, check=True, timeout=30)
    return out.stdout


def speech_mp3(text: str) -> bytes:
    out = subprocess.run(["ffmpeg", "-v", "error", "-f", "wav", "-i", "-", "-f", "mp3", "-"],
                         input=speech_wav(text), capture_output=True, check=True, timeout=30)
    return out.stdout


@dataclass
class Seen:
    provider: str
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    text: str = ""
    voice: str = ""
    speed: Any = None


@dataclass
class Standins:
    """State shared by the stand-in routes: keys, failure modes, what was received."""

    keys: dict[str, str]
    mode: dict[str, str] = field(default_factory=lambda: dict.fromkeys(PROVIDERS, "ok"))
    seen: list[Seen] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    not_ready_polls: int = 2
    base_url: str = ""
    _files: dict[str, tuple[bytes, str]] = field(default_factory=dict)
    _polls: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    _ids: Any = field(default_factory=lambda: itertools.count(1))

    def synth_requests(self, provider: str) -> list[Seen]:
        return [s for s in self.seen if s.provider == provider and s.method == "POST"]

    def _bad(self, provider: str, why: str) -> web.Response:
        self.problems.append(f"{provider}: {why}")
        return web.json_response({"error": {"code": 400, "message": f"bad request: {why}"}}, status=400)

    def _record(self, provider: str, request: web.Request, body: bytes) -> Seen:
        seen = Seen(provider, request.method, request.path, dict(request.headers), body)
        self.seen.append(seen)
        return seen

    def _failure(self, provider: str) -> web.Response | None:
        mode = self.mode[provider]
        if mode == "server_error":
            return web.json_response({"error": {"code": 503, "message": "backend unavailable"}}, status=503)
        if mode == "quota":
            return web.json_response({"error": {"code": 429, "message": "quota exceeded"}}, status=429)
        if mode == "echo_key":  # a provider that quotes the credential back in its error
            return web.json_response({"error": {"code": 400, "message": f"bad key {self.keys[provider]}"}},
                                     status=400)
        return None

    def _store(self, audio: bytes, kind: str) -> str:
        file_id = f"f{next(self._ids)}"
        self._files[file_id] = (audio, kind)
        return f"{self.base_url}/files/{file_id}"

    # ------------------------------------------------------------------ Google Cloud TTS
    async def google(self, request: web.Request) -> web.Response:
        body = await request.read()
        seen = self._record("google", request, body)
        if request.headers.get("X-Goog-Api-Key") != self.keys["google"]:
            return web.json_response({"error": {"code": 403, "message": "API key not valid. Please pass a valid "
                                                "API key.", "status": "PERMISSION_DENIED"}}, status=403)
        if "key" in request.query:
            return self._bad("google", "key in the URL")
        if request.content_type != "application/json":
            return self._bad("google", f"content type {request.content_type}")
        try:
            data = json.loads(body)
            seen.text, seen.voice = data["input"]["text"], data["voice"]["name"]
            seen.speed = data["audioConfig"]["speakingRate"]
            assert data["voice"]["languageCode"] == "vi-VN"
            assert data["audioConfig"]["audioEncoding"] == "LINEAR16"
        except (ValueError, KeyError, TypeError, AssertionError) as err:
            return self._bad("google", f"body shape: {err!r}")
        if seen.voice not in {v.id for v in CATALOGUE["google"]} or not 0.25 <= seen.speed <= 4.0:
            return self._bad("google", f"voice {seen.voice} / speed {seen.speed}")
        if (fail := self._failure("google")) is not None:
            return fail
        return web.json_response({"audioContent": base64.b64encode(speech_wav(seen.text)).decode()})

    # ------------------------------------------------------------------ Azure Speech
    async def azure(self, request: web.Request) -> web.Response:
        body = await request.read()
        seen = self._record("azure", request, body)
        if request.headers.get("Ocp-Apim-Subscription-Key") != self.keys["azure"]:
            return web.Response(status=401)
        if request.content_type != "application/ssml+xml" or not request.headers.get("User-Agent"):
            return self._bad("azure", f"headers {request.content_type!r}")
        if request.headers.get("X-Microsoft-OutputFormat") != "riff-24khz-16bit-mono-pcm":
            return self._bad("azure", "output format")
        try:
            root = ET.fromstring(body.decode("utf-8"))
            voice = root.find(f"{SSML_NS}voice")
            prosody = voice.find(f"{SSML_NS}prosody") if voice is not None else None
            assert root.tag == f"{SSML_NS}speak" and root.get("{http://www.w3.org/XML/1998/namespace}lang") == "vi-VN"
            assert voice is not None and prosody is not None
            seen.voice, seen.text, seen.speed = voice.get("name") or "", prosody.text or "", prosody.get("rate")
        except (ET.ParseError, UnicodeDecodeError, AssertionError) as err:
            return self._bad("azure", f"SSML: {err!r}")
        if seen.voice not in {v.id for v in CATALOGUE["azure"]}:
            return self._bad("azure", f"voice {seen.voice}")
        if (fail := self._failure("azure")) is not None:
            return fail
        return web.Response(body=speech_wav(seen.text), content_type="audio/x-wav")

    # ------------------------------------------------------------------ FPT.AI v5 (async link)
    async def fpt(self, request: web.Request) -> web.Response:
        body = await request.read()
        seen = self._record("fpt", request, body)
        if request.headers.get("api_key") != self.keys["fpt"]:
            return web.json_response({"message": "Invalid API key"}, status=401)
        seen.voice, seen.speed = request.headers.get("voice", ""), request.headers.get("speed", "")
        try:
            seen.text = body.decode("utf-8")
        except UnicodeDecodeError:
            return self._bad("fpt", "body is not UTF-8 text")
        if seen.voice not in {v.id for v in CATALOGUE["fpt"]} or seen.speed not in {str(i) for i in range(-3, 4)}:
            return self._bad("fpt", f"voice {seen.voice!r} / speed {seen.speed!r}")
        if not 3 <= len(seen.text) <= 5000 or request.headers.get("format") not in ("mp3", "wav"):
            return self._bad("fpt", "text length or format")
        if (fail := self._failure("fpt")) is not None:
            return fail
        link = self._store(speech_mp3(seen.text), "audio/mpeg")
        return web.json_response({"async": link, "error": 0, "request_id": link.rsplit("/", 1)[1],
                                  "message": "The content will be returned after a few seconds under the async "
                                             "link."})

    # ------------------------------------------------------------------ Viettel AI
    async def viettel(self, request: web.Request) -> web.Response:
        body = await request.read()
        seen = self._record("viettel", request, body)
        try:
            data = json.loads(body)
            seen.text, seen.voice, seen.speed = data["text"], data["voice"], data["speed"]
            token, option, flt = data["token"], data["tts_return_option"], data["without_filter"]
        except (ValueError, KeyError, TypeError) as err:
            return self._bad("viettel", f"body shape: {err!r}")
        if token != self.keys["viettel"]:
            return web.json_response({"code": 401, "vi_message": "Token không hợp lệ", "en_message": "Invalid token"},
                                     status=401)
        if seen.voice not in {v.id for v in CATALOGUE["viettel"]} or not 0.7 <= seen.speed <= 1.3:
            return self._bad("viettel", f"voice {seen.voice} / speed {seen.speed}")
        if option not in (2, 3) or not isinstance(flt, bool) or request.content_type != "application/json":
            return self._bad("viettel", "return option / filter / content type")
        if (fail := self._failure("viettel")) is not None:
            return fail
        audio, kind = (speech_wav(seen.text), "audio/wav") if option == 2 else (speech_mp3(seen.text), "audio/mpeg")
        return web.Response(body=audio, content_type=kind)

    # ------------------------------------------------------------------ Zalo AI (link in the reply)
    async def zalo(self, request: web.Request) -> web.Response:
        body = await request.read()
        seen = self._record("zalo", request, body)
        if request.headers.get("apikey") != self.keys["zalo"]:
            return web.json_response({"error_code": -401, "error_message": "Invalid apikey"}, status=401)
        if request.content_type != "application/x-www-form-urlencoded":
            return self._bad("zalo", f"content type {request.content_type}")
        form = await request.post()
        seen.text, seen.voice, seen.speed = str(form.get("input", "")), str(form.get("speaker_id", "")), \
            str(form.get("speed", ""))
        if seen.voice not in {"1", "2", "3", "4"} or not 0.8 <= float(seen.speed or 0) <= 1.2:
            return self._bad("zalo", f"speaker {seen.voice!r} / speed {seen.speed!r}")
        if not seen.text or form.get("encode_type") not in ("0", "1"):
            return self._bad("zalo", "input / encode_type")
        if (fail := self._failure("zalo")) is not None:
            return fail
        link = self._store(speech_mp3(seen.text), "audio/mpeg")
        return web.json_response({"data": {"url": link}, "error_code": 0, "error_message": "Successful."})

    # ------------------------------------------------------------------ async audio files
    async def file(self, request: web.Request) -> web.Response:
        file_id = request.match_info["id"]
        self.seen.append(Seen("files", "GET", request.path, dict(request.headers), b""))
        if file_id not in self._files:
            return web.Response(status=404)
        self._polls[file_id] += 1
        if self._polls[file_id] <= self.not_ready_polls:
            return web.Response(status=404, text="not ready")
        audio, kind = self._files[file_id]
        return web.Response(body=audio, content_type=kind)

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/v1/text:synthesize", self.google)
        app.router.add_post("/cognitiveservices/v1", self.azure)
        app.router.add_post("/hmi/tts/v5", self.fpt)
        app.router.add_post("/tts/speech_synthesis", self.viettel)
        app.router.add_post("/v1/tts/synthesize", self.zalo)
        app.router.add_get("/files/{id}", self.file)
        return app


KEYS = {"google": "AIzaSyFAKE-google-key-0123456789", "azure": "azure-key-5f3c9e0d1b2a",
        "fpt": "fpt-key-8c1d2e3f4a5b", "viettel": "viettel-token-77aa88bb99cc", "zalo": "zalo-key-a1b2c3d4e5"}


def engine_options(base_url: str, key_dir: Any = None) -> dict[str, dict[str, Any]]:
    """HQ/engine options pointing every cloud engine at the stand-ins; keys from env vars by default."""
    opts: dict[str, dict[str, Any]] = {name: {"base_url": base_url} for name in PROVIDERS}
    opts["fpt"]["poll_interval_s"] = 0.05
    opts["zalo"]["poll_interval_s"] = 0.05
    if key_dir is not None:  # Azure and FPT read their key from a file (chmod 600), the rest from env
        for name in ("azure", "fpt"):
            path = key_dir / f"{name}.key"
            path.write_text(KEYS[name] + "\n")
            path.chmod(0o600)
            opts[name]["api_key_file"] = str(path)
    return opts
