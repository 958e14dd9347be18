"""Run a command with TensorFlow's oneDNN kernels set the other way from the first pass.

``python tests/other_onednn.py pytest ARGS...`` runs the command with the opposite of
TF_ENABLE_ONEDNN_OPTS if the user set it, else with the opposite of what TensorFlow does
by itself on this CPU (asked in a child process with the variable unset: TensorFlow turns
oneDNN on on CPUs with AVX-512 VNNI/BF16 or AMX). tox runs the whole suite first, then
the tests marked ``onednn`` this way, so that every CI machine covers both settings.
"""

import os
import subprocess
import sys

NO_TESTS = 5  # pytest's exit status when no test was selected
PROBE = ("from tensorflow.python.util import _pywrap_util_port as port; "
         "print(int(port.IsMklEnabled()))")


def default_is_on():
    env = {k: v for k, v in os.environ.items() if k != "TF_ENABLE_ONEDNN_OPTS"}
    done = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True,
                          text=True, check=True)
    return done.stdout.strip().splitlines()[-1] == "1"


def main(argv):
    given = os.environ.get("TF_ENABLE_ONEDNN_OPTS")
    first = {"0": False, "1": True}.get(given) if given else default_is_on()
    other = "0" if first else "1"
    print(f"other_onednn.py: TF_ENABLE_ONEDNN_OPTS={other} (the first pass had oneDNN "
          f"{'on' if first else 'off'})", flush=True)
    status = subprocess.call(argv, env={**os.environ, "TF_ENABLE_ONEDNN_OPTS": other})
    return 0 if status == NO_TESTS else status  # none of the selected tests is marked


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
