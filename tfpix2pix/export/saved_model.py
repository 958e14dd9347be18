"""A run folder's generator as a SavedModel in TF Serving's layout.

``exported/<name>/<version>/`` holds ``saved_model.pb``, ``variables/`` and
``tfpix2pix.json`` (what the model is and how it takes input). Two signatures:

- ``serving_default``: ``image`` float32 [N, H, W, 3] in [-1, 1] -> ``output`` float32
  [N, H, W, 3], any N, H and W;
- ``translate_bytes``: ``image_bytes`` string [N] (encoded PNG/JPEG/GIF/BMP, any sizes)
  -> ``output_bytes`` string [N] (PNG). TF Serving's REST API returns outputs whose
  name ends in ``_bytes`` as ``{"b64": ...}``.

The test mode is baked in. A version is written under a temporary name and renamed
when complete, so TF Serving (which only loads integer folder names) never sees half
of one.
"""

import json
import os
import shutil

import keras
import tensorflow as tf

from ..errors import UserError
from ..inference import serving
from ..inference.translator import INFO_FILE, model_info, versions

SIGNATURES = {"serving_default": (serving.INPUT_KEY, serving.OUTPUT_KEY),
              "translate_bytes": (serving.BYTES_INPUT_KEY, serving.BYTES_OUTPUT_KEY)}


def write(model, cfg, test_mode, step, root, name, version=0, extra=None):
    """Export an inference model (``models.test_mode``) to ``root/name/<version>``.

    ``version`` 0 takes the next free integer; ``extra`` adds keys to ``tfpix2pix.json``
    (the demo's: ``command.demo_info``). Returns (version folder, float function).
    """
    base = os.path.join(root, name)
    version = version or (versions(base) or [0])[-1] + 1
    final = os.path.join(base, str(version))
    if os.path.exists(final):
        raise UserError(f"{final} already exists; pick another --version, or leave it out to "
                        "use the next free one")
    info = model_info(cfg, test_mode, step)
    float_fn = serving.float_fn(model, info["stride"], info["in_channels"])
    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.add_endpoint("serving_default", float_fn)
    archive.add_endpoint("translate_bytes", serving.bytes_fn(float_fn, info["in_channels"]))
    os.makedirs(base, exist_ok=True)
    tmp = os.path.join(base, f".partial-{version}-{os.getpid()}")
    try:
        archive.write_out(tmp, verbose=False)
        with open(os.path.join(tmp, INFO_FILE), "w") as fh:
            json.dump({**info, **(extra or {}), "signatures": {k: {"input": i, "output": o}
                                              for k, (i, o) in SIGNATURES.items()}},
                      fh, indent=2)
        os.rename(tmp, final)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return final, float_fn


def write_source(model, stride, path, channels, size=None):
    """A SavedModel at ``path`` for the TFLite and ONNX converters: its ``serving_default`` is
    the export's float translation (``serving.padded``) without the request checks and the
    empty-batch branch, which the converters would have to carry as ops (their runtimes
    check shapes themselves, and ``tflite.run``/``onnx.run`` check requests).

    With ``size`` the input is fixed at [1, size, size, channels]: every tensor shape is
    then known, the padding folds away, and LiteRT can plan its kernels ahead (see
    ``tflite``); without it, [N, H, W, channels].
    """
    source = tf.function(serving.padded(model, stride),
                         input_signature=[serving.float_spec(channels, size)])
    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.add_endpoint("serving_default", source)
    archive.write_out(path, verbose=False)
    return path
