"""Audio processing with pydub: decode, loudness normalisation, chime, repeat, join without clicks.

A human recording gets the same treatment as synthetic speech (:func:`prepare_recording`): leading and
trailing silence trimmed (a phone recorder's seconds of nothing before the voice), the same sample
format and the same loudness target, so a recorded announcement is as loud as a rendered one.

Shared by the node (everything the loudspeaker plays goes through :func:`render`) and HQ (which
renders a bulletin once with the same code, so both sound alike): decoded audio (WAV from espeak, MP3
from gTTS or HQ) is brought to one sample format, normalised to a target RMS level with a peak limit,
optionally framed by a chime (generated when no chime file is configured), repeated with a gap, and
exported as one WAV for the sink. Joins use short fades at every boundary, so neither a TTS chunk
edge nor a repeat makes a click through a 100 W horn.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from pydub import AudioSegment
from pydub.exceptions import CouldntDecodeError
from pydub.generators import Sine

MIN_PLAUSIBLE_S = 0.2
FADE_MS = 8
PEAK_CEILING_DBFS = -1.0


class AudioError(ValueError):
    """Audio is empty, undecodable or implausibly short: never cached, never played."""


@dataclass(frozen=True)
class RenderOptions:
    target_dbfs: float = -16.0
    sample_rate: int = 22050
    channels: int = 1
    chime_before: bool = False
    chime_after: bool = False
    chime_file: Path | None = None
    repeat: int = 1
    repeat_gap_s: float = 2.0
    chunk_gap_ms: int = 200


def decode(data: bytes, fmt: str | None = None) -> AudioSegment:
    """Decode audio bytes (WAV natively, anything else through ffmpeg); :class:`AudioError` if bad."""
    if len(data) < 64:
        raise AudioError(f"audio is {len(data)} bytes")
    kind = fmt or ("wav" if data[:4] == b"RIFF" else None)
    try:
        seg = AudioSegment.from_file(io.BytesIO(data), format=kind)
    except (CouldntDecodeError, IndexError, ValueError, OSError) as err:
        raise AudioError(f"cannot decode audio ({fmt or 'auto'}): {str(err)[:200]}") from err
    if seg.duration_seconds < MIN_PLAUSIBLE_S:
        raise AudioError(f"audio lasts {seg.duration_seconds:.3f}s: implausibly short")
    return seg


def check_audio(data: bytes, fmt: str | None = None) -> float:
    """Duration in seconds of valid audio; raises :class:`AudioError` otherwise."""
    return decode(data, fmt).duration_seconds


def make_chime(sample_rate: int = 22050) -> AudioSegment:
    """A two-tone 'ding-dong' (G5 → E5), soft attack and long release, ~1.2 s."""
    ding = Sine(784, sample_rate=sample_rate).to_audio_segment(duration=450, volume=-8).fade_in(10).fade_out(300)
    dong = Sine(659, sample_rate=sample_rate).to_audio_segment(duration=750, volume=-8).fade_in(10).fade_out(600)
    return ding + dong


def normalise_loudness(seg: AudioSegment, target_dbfs: float) -> AudioSegment:
    if seg.rms == 0:
        return seg
    out = seg.apply_gain(target_dbfs - seg.dBFS)
    if out.max_dBFS > PEAK_CEILING_DBFS:  # a limiter would be better; a gain cut never clips
        out = out.apply_gain(PEAK_CEILING_DBFS - out.max_dBFS)
    return out


def _shape(seg: AudioSegment, opts: RenderOptions) -> AudioSegment:
    return seg.set_frame_rate(opts.sample_rate).set_channels(opts.channels).set_sample_width(2)


def join(parts: Sequence[AudioSegment], gap_ms: int) -> AudioSegment:
    """Concatenate with a fade at each edge and a silence between: no discontinuity, no click."""
    out: AudioSegment | None = None
    for part in parts:
        faded = part.fade_in(FADE_MS).fade_out(FADE_MS)
        if out is None:
            out = faded
        else:
            out = out + AudioSegment.silent(gap_ms, frame_rate=part.frame_rate).set_channels(part.channels) + faded
    if out is None:
        raise AudioError("nothing to join")
    return out


def render(parts: Sequence[AudioSegment], opts: RenderOptions) -> AudioSegment:
    """Speech/audio parts → the programme item as it will leave the amplifier."""
    body = normalise_loudness(join([_shape(p, opts) for p in parts], opts.chunk_gap_ms), opts.target_dbfs)
    if opts.chime_before or opts.chime_after:
        chime = _shape(AudioSegment.from_file(opts.chime_file) if opts.chime_file else make_chime(opts.sample_rate),
                       opts)
        chime = normalise_loudness(chime, opts.target_dbfs - 3)
        pieces = [chime] if opts.chime_before else []
        pieces.append(body)
        if opts.chime_after:
            pieces.append(chime)
        body = join(pieces, 300)
    if opts.repeat > 1:
        body = join([body] * opts.repeat, int(opts.repeat_gap_s * 1000))
    return body


#: Silence kept at each end after trimming: the voice must not start on the first sample.
KEEP_SILENCE_MS = 150
#: Below this contrast between the loud and the quiet parts there is no "silence" to cut (music, noise).
MIN_CONTRAST_DB = 6.0


def _chunk_levels(seg: AudioSegment, chunk_ms: int) -> list[float]:
    levels = []
    for start in range(0, len(seg), chunk_ms):
        rms = seg[start : start + chunk_ms].rms
        levels.append(-120.0 if rms == 0 else seg[start : start + chunk_ms].dBFS)
    return levels


def trim_silence(seg: AudioSegment, keep_ms: int = KEEP_SILENCE_MS, chunk_ms: int = 10) -> AudioSegment:
    """Cut leading and trailing silence, keeping ``keep_ms`` of it; :class:`AudioError` if nothing is left.

    "Silence" is relative to the recording itself: the threshold sits a third of the way from its noise
    floor (10th percentile of 10 ms levels) to its loud parts (95th percentile), so a phone recorder's
    hiss counts as silence and a quiet voice does not.
    """
    if seg.rms == 0:
        raise AudioError("bản ghi chỉ có im lặng (the recording is silent)")
    levels = _chunk_levels(seg, chunk_ms)
    ordered = sorted(levels)
    floor, loud = ordered[len(ordered) // 10], ordered[min(len(ordered) - 1, len(ordered) * 95 // 100)]
    if loud - floor < MIN_CONTRAST_DB:
        if loud < -60:
            raise AudioError("bản ghi chỉ có im lặng (the recording is silent)")
        return seg  # no quiet stretch to speak of: nothing to trim
    threshold = floor + max(MIN_CONTRAST_DB, (loud - floor) / 3)
    voiced = [i for i, level in enumerate(levels) if level > threshold]
    start = max(0, voiced[0] * chunk_ms - keep_ms)
    end = min(len(seg), (voiced[-1] + 1) * chunk_ms + keep_ms)
    if end - start < MIN_PLAUSIBLE_S * 1000 or (voiced[-1] - voiced[0] + 1) * chunk_ms < 100:
        raise AudioError("bản ghi chỉ có im lặng (the recording is silent)")
    return seg[start:end]


def prepare_recording(data: bytes, fmt: str | None = None, opts: RenderOptions | None = None) -> bytes:
    """A recorded or uploaded announcement → trimmed, loudness-normalised WAV in the speech sample format."""
    opts = opts or RenderOptions()
    body = trim_silence(_shape(decode(data, fmt), opts))
    return to_wav(normalise_loudness(body, opts.target_dbfs))


def to_wav(seg: AudioSegment) -> bytes:
    buf = io.BytesIO()
    seg.export(buf, format="wav")
    return buf.getvalue()
