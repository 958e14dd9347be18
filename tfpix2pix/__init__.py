"""tfpix2pix: pix2pix (Isola et al., CVPR 2017) for TensorFlow 2 and Keras 3.

Flow: ``data`` (paired images) -> ``models`` (U-Net G, PatchGAN D) ->
``training`` (the alternating cGAN + L1 step) -> export/inference.

``load(path)`` returns a translator for a run folder or an export. If TensorFlow is
not imported yet, it imports it as the commands do: TF_ENABLE_ONEDNN_OPTS=1 and the
logging policy of ``errors.quiet_tensorflow_import``, unless the user set either.
``build_generator``, ``build_discriminator`` and ``load`` are imported lazily so
that the command line can answer ``--help`` and reject bad flags without loading
TensorFlow.
"""

from .version import __version__

__all__ = ["build_generator", "build_discriminator", "load", "__version__"]


def __getattr__(name):
    if name in ("build_generator", "build_discriminator"):
        from . import models
        return getattr(models, name)
    if name == "load":
        from .inference import import_tensorflow
        import_tensorflow()  # as the commands: oneDNN preferred, the logging policy
        from .inference.translator import load
        return load
    raise AttributeError(f"module 'tfpix2pix' has no attribute {name!r}")
