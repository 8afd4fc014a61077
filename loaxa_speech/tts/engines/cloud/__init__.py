"""Cloud voices for Vietnamese: Google Cloud TTS, Azure Speech, FPT.AI, Viettel AI, Zalo AI (one module each)."""
