"""A stand-in for TF Serving's REST predict API, run as its own process by the tests.

``python rest_emulator.py MODEL_DIR REQUESTS.json RESPONSES.json`` loads the SavedModel,
then answers each request body in REQUESTS.json (a list) the way the REST API documents:

- row format ``{"signature_name": ..., "instances": [...]}``: one value per example, or
  an object with the input's name; the answer is ``{"predictions": [...]}``;
- columnar format ``{"inputs": ...}``: the whole batch, or an object with the input's
  name; the answer is ``{"outputs": ...}``;
- a binary value is ``{"b64": "<base64>"}``, and an output whose name ends in ``_bytes``
  comes back in that form;
- a request that fails is answered ``{"error": "<message>"}``, and the next one is served.

Only what our signatures need is covered: one input and one output per signature.
(The real tensorflow_model_server cannot be installed on these machines.)
"""

import base64
import json
import sys

import numpy as np
import tensorflow as tf


def _unpack(value):
    """JSON value -> nested lists with {"b64": s} replaced by bytes."""
    if isinstance(value, dict) and set(value) == {"b64"}:
        return base64.b64decode(value["b64"])
    if isinstance(value, list):
        return [_unpack(v) for v in value]
    return value


def _pack(value, name):
    if name.endswith("_bytes"):
        if isinstance(value, (bytes, np.bytes_)):
            return {"b64": base64.b64encode(bytes(value)).decode("ascii")}
        return [_pack(v, name) for v in value]
    return np.asarray(value).tolist()


def _named(value, name):
    """The value for input ``name``: given bare, or in an object keyed by the name."""
    if isinstance(value, dict) and set(value) != {"b64"}:
        return value[name]
    return value


def predict(model, body):
    signature = model.signatures[body.get("signature_name", "serving_default")]
    (name, spec), = signature.structured_input_signature[1].items()
    if "instances" in body:
        batch = [_named(example, name) for example in body["instances"]]
    else:
        batch = _named(body["inputs"], name)
    outputs = signature(**{name: tf.constant(_unpack(batch), dtype=spec.dtype)})
    (out_name, out), = outputs.items()
    out = out.numpy()
    if "instances" in body:
        return {"predictions": [_pack(example, out_name) for example in out]}
    return {"outputs": _pack(out, out_name)}


def main(model_dir, requests_path, responses_path):
    model = tf.saved_model.load(model_dir)
    with open(requests_path) as fh:
        requests = json.load(fh)
    responses = []
    for body in requests:
        try:
            responses.append(predict(model, body))
        except Exception as exc:  # the server answers with the error and keeps serving
            responses.append({"error": f"{type(exc).__name__}: {exc}"})
    with open(responses_path, "w") as fh:
        json.dump(responses, fh)


if __name__ == "__main__":
    main(*sys.argv[1:4])
