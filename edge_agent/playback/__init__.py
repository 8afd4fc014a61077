"""Audio output: sinks (ALSA, file, null), the amplifier relay (GPIO) and loudness measurement."""
