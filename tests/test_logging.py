"""One logging policy (errors.quiet_tensorflow_import) for every command, on every CPU.

Train, predict and export run as a user runs them (TF_CPP_MIN_LOG_LEVEL unset), with
TensorFlow's oneDNN kernels forced off and on: oneDNN adds a start-up notice and
Grappler's "remapper failed" error lines. What a command prints must not depend on
that: the same stderr apart from progress lines, and no TensorFlow log line in it.
(``tfpix2pix.load`` is checked the same way in test_export.py's request probe.)
"""

import re
import subprocess
import sys

import pytest
from conftest import command_env

# TensorFlow's native lines: glog/absl style ("E0000 12:00:00.000000  123 file.cc:45] ..."),
# absl's notice before its initialisation, and the start-up notes.
TF_LINE = re.compile(r"^[IWEF]\d{4} |absl::InitializeLog|oneDNN custom operations|"
                     r"cpu_feature_guard|rebuild TensorFlow")


def _run(argv, onednn, cwd):
    done = subprocess.run([sys.executable, "-m", *argv], capture_output=True, text=True,
                          timeout=600, cwd=cwd, env=command_env(TF_ENABLE_ONEDNN_OPTS=onednn))
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stderr


def _without_progress(stderr):
    return [line for line in stderr.splitlines() if " ETA " not in line]


@pytest.fixture(scope="module")
def stderr_by_setting(tmp_path_factory):
    from conftest import write_pairs

    data = tmp_path_factory.mktemp("pairs")
    write_pairs(data / "train", 4, size=64)
    inputs = write_pairs(data / "inputs", 2, size=64)
    seen = {}
    for onednn in ("0", "1"):
        work = tmp_path_factory.mktemp(f"onednn{onednn}")
        run = str(work / "run")
        seen[onednn] = {
            "train": _run(["tfpix2pix.train", "--data", str(data), "--run-dir", run,
                           "--load-size", "72", "--crop-size", "64", "--netG", "unet_64",
                           "--ngf", "8", "--ndf", "8", "--batch-size", "2", "--epochs", "1",
                           "--n-epochs-decay", "1", "--log-every", "2", "--image-every",
                           "4", "--checkpoint-every", "4"], onednn, work),
            "predict": _run(["tfpix2pix.predict", "--model", run, "--input", *inputs,
                             "--output", str(work / "out")], onednn, work),
            "export": _run(["tfpix2pix.export", run, "--output", str(work / "exported")],
                           onednn, work),
        }
    seen["run"], seen["inputs"] = run, inputs
    return seen


@pytest.mark.parametrize("command", ["train", "predict", "export"])
def test_a_command_prints_no_tensorflow_lines_and_the_same_stderr_with_onednn_on_or_off(
        stderr_by_setting, command):
    off, on = (stderr_by_setting[s][command] for s in ("0", "1"))
    for stderr in (off, on):
        assert not [line for line in stderr.splitlines() if TF_LINE.search(line)], stderr
    assert _without_progress(off) == _without_progress(on)


def test_a_user_who_sets_the_log_level_sees_what_tensorflow_prints(stderr_by_setting, tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "tfpix2pix.predict", "--model", stderr_by_setting["run"],
         "--input", *stderr_by_setting["inputs"], "--output", str(tmp_path)],
        capture_output=True, text=True, timeout=600,
        env=command_env(TF_ENABLE_ONEDNN_OPTS="1", TF_CPP_MIN_LOG_LEVEL="0"))
    assert done.returncode == 0, done.stderr[-3000:]
    assert "oneDNN custom operations are on" in done.stderr
