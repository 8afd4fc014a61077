"""loaxa_speech."""
