"""Text-to-speech engines behind one interface (see ``engines/base.py``)."""
