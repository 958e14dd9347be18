"""Weights from other implementations, as run folders (``python -m tfpix2pix.convert``).

- ``layout``: the PyTorch reference's state-dict keys and shapes, and the Keras weight
  each one fills (no torch, no TensorFlow);
- ``pytorch``: reading a ``.pth`` without running pickle code, checking it against the
  layout, assigning the tensors;
- ``command``: writing the run folder; ``__main__``: the command line.
"""
