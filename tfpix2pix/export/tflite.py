"""Convert a SavedModel's float signature to TFLite, and run the result with LiteRT.

Every kind keeps float32 input and output tensors (NHWC, values in [-1, 1]), so the code
that feeds a model and reads its output is the same whatever the kind. With ``int8_full``
the converter adds a quantize op after the input and a dequantize op before the output;
everything between runs in int8.
"""

import os

import numpy as np

from ..errors import UserError, require_tensorflow
from ..files import write_atomic
from ..inference import request
from ..names import TFLITE_KINDS as KINDS  # the kinds' one declaration

_RANGE_SLACK = 1e-3  # representative images may overshoot [-1, 1] by rounding, not more
_SELECT_OPS = "TF Select ops:"  # how the converter lists the ops only Flex (TF kernels) has


def convert(saved_model_dir, out_path, kind, representative=None, signature="serving_default"):
    """Convert ``signature`` of the SavedModel at ``saved_model_dir`` to a .tflite file.

    Kinds: ``fp32`` (no optimisation), ``fp16`` (float16 weights), ``int8`` (dynamic range:
    int8 weights, float tensors between ops), ``int8_full`` (int8 weights and activations,
    calibrated on ``representative``, an iterable of float32 NHWC arrays in [-1, 1] of
    batch 1; larger batches are split). Inputs and outputs stay float32 for every kind.
    Only the float signature converts: an encoded-image endpoint would need Flex ops.
    The file is written atomically. Returns ``out_path``.
    """
    if kind not in KINDS:
        raise UserError(f"unknown TFLite kind {kind!r}: use one of {', '.join(KINDS)}")
    if kind == "int8_full" and representative is None:
        raise UserError("TFLite kind int8_full needs calibration images: pass representative= "
                        "(a few float32 NHWC images in [-1, 1]), or use kind int8")
    samples = _representative_samples(representative) if kind == "int8_full" else None
    tf = require_tensorflow()
    _check_signature(saved_model_dir, signature)

    converter = tf.lite.TFLiteConverter.from_saved_model(
        str(saved_model_dir), signature_keys=[signature])
    if kind != "fp32":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if kind == "fp16":
        converter.target_spec.supported_types = [tf.float16]
    elif kind == "int8_full":
        converter.representative_dataset = lambda: ([x] for x in samples)
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        # inference_input_type / inference_output_type stay float32 (see the module doc).
    try:
        data = converter.convert()
    except Exception as exc:  # the converter's error class is not public
        ops = [line for line in str(exc).splitlines() if line.startswith(_SELECT_OPS)]
        if not ops:
            raise
        raise UserError(f"signature {signature!r} of {saved_model_dir} needs ops TFLite lacks "
                        f"({ops[0][len(_SELECT_OPS):].strip()}): convert the float signature"
                        ) from exc
    write_atomic(out_path, data)
    return out_path


def run(path, images, num_threads=None):
    """Run the .tflite file at ``path`` on a float32 NHWC batch.

    A model with dynamic height and width takes any; one converted at a fixed size takes
    that size only. A batch that breaks ``inference.request``'s rule is refused with a
    UserError, and an empty batch is answered with an empty one. The input is resized to the batch's shape; a model converted with a
    fixed batch of 1 gets the images one at a time. Returns the output as float32 NHWC.
    """
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError as exc:
        raise UserError("running TFLite models needs ai-edge-litert: "
                        "pip install 'tfpix2pix[tflite]'") from exc
    if not os.path.isfile(path):
        raise UserError(f"no TFLite model at {path}: check the path")

    interpreter = Interpreter(model_path=str(path), num_threads=num_threads)
    inputs = interpreter.get_input_details()
    outputs = interpreter.get_output_details()
    if len(inputs) != 1:
        raise UserError(f"{path} has {len(inputs)} inputs: expected one image input")
    images = request.checked(images, int(inputs[0]["shape_signature"][-1]))
    fixed = [int(d) for d in inputs[0]["shape_signature"][1:]]
    if any(want > 0 and want != got for want, got in zip(fixed, images.shape[1:])):
        shape = "x".join(str(d) if d > 0 else "?" for d in fixed)
        raise UserError(f"{path} takes {shape} (HxWxC) images, got "
                        f"{'x'.join(map(str, images.shape[1:]))}: resize them, or export "
                        f"with another --tflite-size (any for every size)")
    if not len(images):
        return request.empty_output(images, outputs[0]["shape_signature"][-1])
    invoke = _signature_invoke(interpreter) or _details_invoke(interpreter, inputs, outputs)
    if inputs[0]["shape_signature"][0] == 1 and len(images) > 1:
        return np.concatenate([invoke(images[i:i + 1]) for i in range(len(images))])
    return invoke(images)


def _signature_invoke(interpreter):
    """A function batch -> output through the model's only signature, or None."""
    signatures = interpreter.get_signature_list()
    if len(signatures) != 1:
        return None
    (key, io), = signatures.items()
    if len(io["inputs"]) != 1:
        return None
    runner = interpreter.get_signature_runner(key)
    name = io["inputs"][0]
    out = "output" if "output" in io["outputs"] else io["outputs"][0]
    # The runner resizes the input to each batch's shape and re-allocates before invoking.
    return lambda batch: np.array(runner(**{name: batch})[out], dtype=np.float32)


def _details_invoke(interpreter, inputs, outputs):
    """A function batch -> output through the raw input and output tensors."""
    index = inputs[0]["index"]
    out_index = next((d["index"] for d in outputs if d["name"].startswith("output")),
                     outputs[0]["index"])

    def invoke(batch):
        interpreter.resize_tensor_input(index, batch.shape, strict=True)
        interpreter.allocate_tensors()
        interpreter.set_tensor(index, batch)
        interpreter.invoke()
        return np.array(interpreter.get_tensor(out_index), dtype=np.float32)

    return invoke


def _representative_samples(representative):
    samples = []
    for item in representative:
        batch = np.asarray(item, dtype=np.float32)
        if batch.ndim == 3:
            batch = batch[None]
        if batch.ndim != 4:
            raise UserError(f"representative images must be NHWC arrays, got shape {batch.shape}")
        if batch.size and np.abs(batch).max() > 1.0 + _RANGE_SLACK:
            raise UserError(f"representative images must be in [-1, 1], got values up to "
                            f"{np.abs(batch).max():g}: scale 8-bit images as x / 127.5 - 1")
        samples.extend(batch[i:i + 1] for i in range(len(batch)))
    if not samples:
        raise UserError("the representative set for int8_full is empty: pass a few images")
    return samples


def _check_signature(saved_model_dir, signature):
    pb = os.path.join(saved_model_dir, "saved_model.pb")
    if not os.path.isfile(pb):
        raise UserError(f"no SavedModel at {saved_model_dir} (saved_model.pb missing): "
                        "export the model first")
    from tensorflow.core.protobuf import saved_model_pb2

    proto = saved_model_pb2.SavedModel()
    with open(pb, "rb") as f:
        proto.ParseFromString(f.read())
    keys = sorted({k for graph in proto.meta_graphs for k in graph.signature_def
                   if not k.startswith("__")})  # not __saved_model_init_op
    if signature not in keys:
        raise UserError(f"SavedModel {saved_model_dir} has no signature {signature!r}: "
                        f"use one of {', '.join(keys) or '(none)'}")
