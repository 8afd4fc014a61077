"""Vietnamese text normalisation for loudspeaker announcements (issue 6).

Public API::

    from loaxa_speech.normalise import normalise, Normaliser, load_abbreviations

    normalise("UBND xã thông báo: 7h30 ngày 25/11/2026 họp tại hội trường.")
    Normaliser(extra_abbreviations=load_abbreviations("/etc/loaxa/abbreviations.yaml")).normalise(text)

Pure Python, no network, no model: the same text gives the same speech on HQ and on every edge box.
"""

from .abbreviations import AbbreviationFileError, load_abbreviations
from .pipeline import Normaliser, normalise

__all__ = ["AbbreviationFileError", "Normaliser", "load_abbreviations", "normalise"]
