"""Send requests of every kind to an export, in a fresh process, and record what happens.

``python request_probe.py EXPORT_DIR REQUESTS.json ANSWERS.json`` loads the export with
``tfpix2pix.load`` first (so TensorFlow is imported under the package's logging policy),
then with ``tf.saved_model.load``, and sends each request to three doors:

- ``load``: ``Translator.translate_batch`` (float requests);
- ``float``: the ``serving_default`` signature (float requests);
- ``bytes``: the ``translate_bytes`` signature (lists of encoded images, base64 in JSON).

A float request is ``{"shape": [...], "dtype": "float32"}`` (filled with zeros) or
``{"value": <nested lists>}``. Each answer is ``{"shape": [...]}`` or ``{"refused":
"<exception type>: <message>"}``. A request that kills the process shows as the
process's exit status: that is what the tests look for first.
"""

import base64
import json
import sys

import numpy as np


def _array(request):
    if "value" in request:
        return np.asarray(request["value"])
    return np.zeros(request["shape"], request.get("dtype", "float32"))


def _answer(call):
    try:
        return {"shape": list(np.shape(call()))}
    except Exception as exc:  # what a server would send back as the error
        text = str(exc).strip().splitlines()
        return {"refused": f"{type(exc).__name__}: {' '.join(text)[:400]}"}


def main(model_dir, requests_path, answers_path):
    import tfpix2pix

    translator = tfpix2pix.load(model_dir)
    import tensorflow as tf

    signatures = tf.saved_model.load(model_dir).signatures
    with open(requests_path) as fh:
        requests = json.load(fh)
    answers = {}
    for name, request in requests["float"].items():
        array = _array(request)
        answers[f"load {name}"] = _answer(lambda: translator.translate_batch(array))
        answers[f"float {name}"] = _answer(
            lambda: signatures["serving_default"](image=tf.constant(array))["output"])
    for name, items in requests["bytes"].items():
        data = [base64.b64decode(item) for item in items]
        answers[f"bytes {name}"] = _answer(lambda: signatures["translate_bytes"](
            image_bytes=tf.constant(data, tf.string))["output_bytes"])
    with open(answers_path, "w") as fh:
        json.dump(answers, fh, indent=1)


if __name__ == "__main__":
    main(*sys.argv[1:4])
