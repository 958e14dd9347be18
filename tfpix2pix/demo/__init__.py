"""``python -m tfpix2pix.demo``: a page to draw or upload an input and see it translated.

``palette`` derives the colours a user draws with; ``server`` serves the page (``static/``)
and translates through ``load()``, the same path as predict.
"""
