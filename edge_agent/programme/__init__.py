"""The programme runtime of a loudspeaker node: what plays, when, and from which audio.

``queue`` and ``windows`` are the pure policy (priority, programme windows, quiet hours, expiry);
``player`` carries it out; ``scheduler`` fires timed and recurring bulletins (APScheduler); ``store``
keeps accepted bulletins across reboots; ``render`` and ``fetch`` produce the audio (HQ's file first,
local speech as fallback); ``stream_relay`` plays a live stream (tiếp âm).
"""
