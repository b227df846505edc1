"""gpusafe: make DETR-family detectors run fully on the LiteRT GPU delegate."""

__version__ = "0.1.0"
