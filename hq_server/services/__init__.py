"""HQ services: delivery state machine, orchestration, TTS rendering, auth, fleet and alerts."""
