"""Audio output: sinks (ALSA, file, null) and, later, the amplifier relay."""
