"""Convert a SavedModel's float signature to ONNX with tf2onnx, and run it with onnxruntime.

Input and output are float32 NHWC, as in the SavedModel; batch, height and width stay
dynamic when they are dynamic in the signature.
"""

import importlib
import os

import numpy as np

from ..errors import UserError, require_tensorflow
from ..files import write_atomic
from ..inference import request

_INSTALL = "pip install 'tfpix2pix[onnx]'"


def convert(saved_model_dir, out_path, signature="serving_default", opset=None):
    """Convert ``signature`` of the SavedModel at ``saved_model_dir`` to an .onnx file.

    Uses tf2onnx's ``from_function`` on the loaded signature (the same frozen graph its
    ``--saved-model DIR --signature_def NAME`` command line converts); ``opset`` None means
    tf2onnx's default. The result must pass ``onnx.checker``. Written atomically; returns
    ``out_path``.
    """
    tf2onnx = _require("tf2onnx")
    onnx = _require("onnx")
    tf = require_tensorflow()
    if not os.path.isfile(os.path.join(saved_model_dir, "saved_model.pb")):
        raise UserError(f"no SavedModel at {saved_model_dir} (saved_model.pb missing): "
                        "export the model first")
    loaded = tf.saved_model.load(str(saved_model_dir))
    if signature not in loaded.signatures:
        keys = ", ".join(sorted(loaded.signatures)) or "(none)"
        raise UserError(f"SavedModel {saved_model_dir} has no signature {signature!r}: "
                        f"use one of {keys}")
    function = loaded.signatures[signature]
    specs = function.structured_input_signature[1]  # signatures take keyword arguments only
    names = sorted(specs)
    # Named specs keep the signature's input names in the ONNX graph; tf2onnx names the
    # outputs after the signature's output keys.
    input_signature = [tf.TensorSpec(specs[n].shape, specs[n].dtype, name=n) for n in names]
    wrapper = tf.function(lambda *args: function(**dict(zip(names, args))))
    model, _ = tf2onnx.convert.from_function(wrapper, input_signature=input_signature,
                                            opset=opset)
    # from_function keeps going past ops it cannot convert; the checker rejects what is left.
    try:
        onnx.checker.check_model(model)
    except onnx.checker.ValidationError as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UserError(f"signature {signature!r} of {saved_model_dir} did not convert to a "
                        f"valid ONNX model ({reason}): export a float-only signature") from exc
    write_atomic(out_path, model.SerializeToString())
    return out_path


def run(path, images):
    """Run the .onnx file at ``path`` on the CPU with a float32 NHWC batch; returns float32 NHWC.

    A model with a fixed batch of 1 gets the images one at a time. A batch that breaks
    ``inference.request``'s rule is refused with a UserError, and an empty batch is
    answered with an empty one.
    """
    ort = _require("onnxruntime")
    if not os.path.isfile(path):
        raise UserError(f"no ONNX model at {path}: check the path")
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    inputs = session.get_inputs()
    if len(inputs) != 1:
        raise UserError(f"{path} has {len(inputs)} inputs: expected one image input")
    images = request.checked(images, inputs[0].shape[-1])
    outputs = {o.name: o for o in session.get_outputs()}
    output = "output" if "output" in outputs else next(iter(outputs))
    if not len(images):
        return request.empty_output(images, outputs[output].shape[-1])

    def invoke(batch):
        return np.asarray(session.run([output], {inputs[0].name: batch})[0], dtype=np.float32)

    if inputs[0].shape[0] == 1 and len(images) > 1:
        return np.concatenate([invoke(images[i:i + 1]) for i in range(len(images))])
    return invoke(images)


def _require(module):
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise UserError(f"ONNX export needs {module}: {_INSTALL}") from exc
