"""A trained generator as a callable: from a run folder or from an export.

``load(path)`` takes a run folder (its ``config.yaml`` and latest checkpoint), an
exported version folder (``exported/<name>/<version>/``) or an export root holding
version folders (the highest version is used). Either way the result translates
images of any size with the same float function (``serving.float_fn``), so a run folder
and its export give the same pixels.
"""

import json
import os

import numpy as np
import tensorflow as tf

from .. import run_folder
from ..version import __version__
from ..errors import UserError, native_stderr_silenced, user_sets_tensorflow_logs
from ..models import build_generator, generator_kwargs, stride
from ..models.test_mode import inference_model
from . import images, request, serving, tiling

INFO_FILE = "tfpix2pix.json"  # beside saved_model.pb in an export


def float_function(generator, test_mode, info, fast=True):
    """``batch -> output``: the generator in ``test_mode`` around ``serving.float_fn``.

    ``fast`` (the default) computes the same function faster on CPUs: the largest
    transposed convolutions as four forward ones (``models.test_mode.PhaseDeconv``), and
    the weights frozen into constants, so that TensorFlow folds BatchNorm and oneDNN
    prepares each weight once. One 256x256 image through unet_256 on a 2-core Zen 3
    (AVX2): 93-97 ms against 175-178 ms frozen without the phases and 219 ms for the
    plain function with oneDNN on; 177 ms against 231 ms with oneDNN off
    (benchmarks/infer_speed.py has the recorded runs). Outputs agree to ~1e-6.
    ``fast=False`` is the plain function, the one an export's signature holds.
    """
    model = inference_model(generator, test_mode, phase_deconv=fast)
    fn = serving.float_fn(model, info["stride"], info["in_channels"])
    if not fast:
        return lambda batch: fn(batch)[serving.OUTPUT_KEY], model
    from tensorflow.python.framework.convert_to_constants import (
        convert_variables_to_constants_v2)

    frozen = convert_variables_to_constants_v2(fn.get_concrete_function())
    return lambda batch: frozen(**{serving.INPUT_KEY: batch})[0], model


class Translator:
    """Translate images with a trained generator.

    ``translator(image)`` takes one image of any size, as a PIL image, a uint8 array
    (0..255) or a float array ([-1, 1]), and returns the translation as the same kind.
    ``tile`` translates in overlapping tiles of that size (a multiple of ``stride``),
    blended, so memory stays bounded on very large images. ``info`` describes the model:
    name, netG, direction, test_mode, stride, channels and the training step.
    """

    def __init__(self, translate, info, keep=None):
        self._translate = translate  # float32 NHWC (any H, W) -> float32 NHWC
        self.info = info
        self._keep = keep  # whatever owns the variables (a loaded SavedModel)

    @property
    def stride(self):
        return self.info["stride"]

    def translate_batch(self, batch):
        """float32 NHWC in [-1, 1] -> float32 NHWC, any N (0 too) and any H, W >= 1.

        A batch of another rank, channel count or dtype, or with an empty image, is
        refused with a one-line UserError (``inference.request``).
        """
        checked = request.checked(batch, self.info["in_channels"])
        return np.asarray(self._translate(tf.constant(checked)))

    def __call__(self, image, tile=None):
        x, kind = images.from_user(image, channels=self.info["in_channels"])
        if tile:
            y = tiling.translate_tiled(self.translate_batch, x, tile, self.stride)
        else:
            y = self.translate_batch(x[None])[0]
        return images.to_user(y, kind)


def model_info(cfg, test_mode, step):
    """What an export records about its model (written as tfpix2pix.json)."""
    multiple = stride(cfg.model.netG, cfg.model.num_downs)
    return {"name": cfg.name, "netG": cfg.model.netG, "direction": cfg.data.direction,
            "test_mode": test_mode, "stride": multiple, "in_channels": cfg.data.input_nc,
            "out_channels": cfg.data.output_nc, "crop_size": cfg.data.crop_size,
            "input_size_rule": f"any height and width; reflect-padded at the bottom and right "
                               f"to multiples of {multiple}, and the output cropped back",
            "training_step": step, "tfpix2pix_version": __version__,
            "generator": generator_kwargs(cfg.model, cfg.data)}


def from_run(run_dir, test_mode=None, fast=True):
    """A Translator for a run folder's latest checkpoint, in ``test_mode`` (default: the run's)."""
    cfg, generator, step = run_folder.restore_generator(run_dir)
    mode = test_mode or cfg.infer.test_mode
    info = model_info(cfg, mode, step)
    translate, model = float_function(generator, mode, info, fast)
    return Translator(translate, info, keep=model)


def from_export(version_dir, test_mode=None, fast=True):
    """A Translator for an exported SavedModel (its test mode is fixed at export).

    With ``fast``, the generator is rebuilt from the export's description and variables
    and translates through ``float_function``; exports that lack the description (or
    ``fast=False``) run the ``serving_default`` signature itself.
    """
    with open(os.path.join(version_dir, INFO_FILE)) as fh:
        info = json.load(fh)
    if test_mode and test_mode != info["test_mode"]:
        raise UserError(f"{version_dir} was exported with --test-mode {info['test_mode']}; "
                        f"export the run again with --test-mode {test_mode}")
    loaded = tf.saved_model.load(version_dir)
    generator = _rebuild_generator(info, loaded) if fast else None
    if generator is not None:
        translate, model = float_function(generator, info["test_mode"], info, fast=True)
        return Translator(translate, info, keep=model)
    signature = loaded.signatures["serving_default"]
    return Translator(lambda batch: signature(**{serving.INPUT_KEY: batch})[serving.OUTPUT_KEY],
                      info, keep=loaded)


def _rebuild_generator(info, loaded):
    """The exported generator as a Keras model with the export's weights, or None."""
    kwargs = info.get("generator")
    if not kwargs:
        return None
    generator = build_generator(**kwargs)
    saved = {v.name.split(":")[0]: v for v in loaded.variables}
    for variable in generator.weights:  # kernels, biases, BatchNorm's four vectors
        source = saved.get(variable.path)
        if source is None or tuple(source.shape) != tuple(variable.shape):
            return None
        variable.assign(source)
    return generator


def versions(root):
    """Integer version folders in an export root, ascending."""
    names = os.listdir(root) if os.path.isdir(root) else []
    return sorted(int(n) for n in names if n.isdigit() and os.path.isdir(os.path.join(root, n)))


WARM_UP_SIDE = 16  # at least; a ResNet (stride 4) needs >= 8 for its reflection padding


def _warmed_up(translator):
    """``translator`` after one translation of a small blank batch.

    TensorFlow optimises a function's graph on its first call, so the first request
    would pay for it. Under oneDNN that optimisation also logs Grappler's harmless
    "remapper failed" line; it is dropped here unless the user set TF_CPP_MIN_LOG_LEVEL
    (the package's logging policy, ``errors.quiet_tensorflow_import``).
    """
    side = translator.stride * -(-WARM_UP_SIDE // translator.stride)
    blank = np.zeros((1, side, side, translator.info["in_channels"]), np.float32)
    with native_stderr_silenced(not user_sets_tensorflow_logs()):
        translator.translate_batch(blank)
    return translator


def load(path, test_mode=None):
    """A Translator from a run folder, an export version folder or an export root.

    It translates through ``float_function(fast=True)``, fastest with TensorFlow's
    oneDNN kernels on: ``tfpix2pix.load`` and ``python -m tfpix2pix.predict`` set
    TF_ENABLE_ONEDNN_OPTS=1 if TensorFlow is not imported yet and the variable is unset
    (TensorFlow turns oneDNN on by itself only on CPUs with AVX-512 VNNI/BF16 or AMX).
    """
    path = os.fspath(path)
    if not os.path.isdir(path):
        raise UserError(f"{path}: not found; pass a run folder (runs/<name>) or an export "
                        "(exported/<name>/<version>)")
    if os.path.isfile(os.path.join(path, "saved_model.pb")):
        if not os.path.isfile(os.path.join(path, INFO_FILE)):
            raise UserError(f"{path}: a SavedModel without {INFO_FILE}; export it with "
                            "python -m tfpix2pix.export")
        return _warmed_up(from_export(path, test_mode))
    if run_folder.is_run_folder(path):
        return _warmed_up(from_run(path, test_mode))
    found = versions(path)
    if found:
        return load(os.path.join(path, str(found[-1])), test_mode)
    raise UserError(f"{path}: neither a run folder (config.yaml) nor an export "
                    "(saved_model.pb, or numbered version folders)")
