"""Inference building blocks: image I/O and conversion, padded and tiled translation, HTML."""
