"""Shared fixtures: 2 logical CPUs, the facades folder, tiny configs, synthetic pairs."""

import fcntl
import io
import os
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

# Two logical CPUs, so MirroredStrategy can run 2 replicas here. This must
# happen before TensorFlow runs any op, which is why it lives at import time.
_cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(_cpu, [tf.config.LogicalDeviceConfiguration()] * 2)

from tfpix2pix import config as C  # noqa: E402
from tfpix2pix import run_folder  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
FACADES = Path(os.environ.get("TFPIX2PIX_FACADES", ROOT.parent / "shared" / "data" / "facades"))


@pytest.fixture(scope="session")
def facades():
    """The real facades set ([photo | labels], so labels->photo is BtoA).

    Skipped when absent, except under CI, where a missing folder is a failure.
    """
    if not (FACADES / "train").is_dir():
        if os.environ.get("CI"):
            pytest.fail(f"facades dataset not found at {FACADES} (CI is set, so this is an error)")
        pytest.skip(f"facades dataset not found at {FACADES}")
    return FACADES


def facades_subset(facades, folder, train=16, val=2):
    """A dataset folder with the first ``train`` and ``val`` facades pairs, linked, not copied."""
    for split, count in (("train", train), ("val", val)):
        (folder / split).mkdir(parents=True)
        for name in sorted(os.listdir(facades / split), key=lambda n: int(n.split(".")[0]))[:count]:
            os.symlink(facades / split / name, folder / split / name)
    return folder


def tiny_config(data_path, run_dir, **sections):
    """A 64 px, ngf/ndf 8 config for fast tests; ``sections`` override, e.g. train={...}."""
    preset = {
        "name": "test",
        "data": {"path": str(data_path), "load_size": 72, "crop_size": 64},
        "model": {"netG": "unet_64", "ngf": 8, "ndf": 8},
        "train": {"n_epochs": 1, "n_epochs_decay": 1, "batch_size": 2, "seed": 1},
        "log": {"run_dir": str(run_dir), "log_every": 5, "image_every": 10,
                "checkpoint_every": 10, "num_images": 2},
    }
    for name, values in sections.items():
        preset[name] = {**preset.get(name, {}), **values}
    return C.validate(C.apply_overrides(C.Config(), preset, "test"))


def _train_tiny_facades_run(facades, tmp_path_factory):
    """A tiny labels -> photo (BtoA) run on 16 facades pairs: 40 steps at lr 2e-3, enough for
    an output far from constant (see tests/test_predict.py). Returns its run folder."""
    from tfpix2pix.training import loop

    data = facades_subset(facades, tmp_path_factory.mktemp("facades16"))
    run_dir = tmp_path_factory.mktemp("run") / "tiny"
    cfg = tiny_config(data, run_dir, data={"direction": "BtoA"},
                      train={"n_epochs": 10, "n_epochs_decay": 0, "batch_size": 4, "lr": 2e-3},
                      log={"log_every": 20, "image_every": 1000, "checkpoint_every": 1000})
    assert loop.train(cfg)["step"] == 40
    return run_dir


@pytest.fixture(scope="session")
def tiny_run(facades, tmp_path_factory):
    """A tiny labels -> photo run on facades (``_train_tiny_facades_run``), trained once per
    test session and then only read (by predict's, the demo's and the browser's tests).

    Under pytest-xdist each worker is a process with its own session; the workers share the
    session's temporary root, so the first worker that needs the run trains it there, under
    a file lock, and the others wait for it and read the same folder.
    """
    base = tmp_path_factory.getbasetemp()
    shared = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base
    marker = shared / "tiny_facades_run.path"
    with open(shared / "tiny_facades_run.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        if not marker.exists():
            marker.write_text(str(_train_tiny_facades_run(facades, tmp_path_factory)))
    return Path(marker.read_text())


@pytest.fixture(scope="session")
def tiny_translator(tiny_run):
    """``load()`` of ``tiny_run``."""
    from tfpix2pix.inference.translator import load
    return load(tiny_run)


def serve_demo(argv, wait=300):
    """Start ``python -m tfpix2pix.demo argv`` in a daemon thread, as the command runs it;
    return (the server, what the command printed) once it listens. The caller shuts it down."""
    from tfpix2pix.demo.__main__ import main

    started, ready, out = [], threading.Event(), io.StringIO()
    thread = threading.Thread(target=main, args=([str(a) for a in argv],), daemon=True,
                              kwargs={"out": out, "err": out,
                                      "ready": lambda s: (started.append(s), ready.set())})
    thread.start()
    deadline = time.monotonic() + wait
    while not ready.wait(0.1):
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError(f"the demo did not start: {out.getvalue()}")
    return started[0], out.getvalue()


def write_pairs(folder, count, size=32, width=None, seed=0, ext=".png"):
    """Write ``count`` random [A | B] images of height ``size`` (width 2*size by default)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    paths = []
    for i in range(count):
        image = rng.integers(0, 256, (size, width or 2 * size, 3), dtype=np.uint8)
        data = tf.io.encode_png(image) if ext == ".png" else tf.io.encode_jpeg(image)
        path = folder / f"{i:04d}{ext}"
        tf.io.write_file(str(path), data)
        paths.append(str(path))
    return paths


@pytest.fixture
def pairs_dir(tmp_path):
    """A small valid dataset: train/ with 8 pairs and val/ with 2 (32x32 per side)."""
    root = tmp_path / "pairs"
    write_pairs(root / "train", 8)
    write_pairs(root / "val", 2, seed=1)
    return root


def checkpoint_value(run_dir, suffix):
    """The value of the checkpointed variable whose key ends with ``suffix``."""
    reader = tf.train.load_checkpoint(run_folder.latest_checkpoint(run_dir))
    keys = [k for k in reader.get_variable_to_shape_map() if k.endswith(suffix)]
    assert len(keys) == 1, keys
    return reader.get_tensor(keys[0])


def checkpoint_state(run_dir):
    """Every saved value (weights, BN statistics, Adam slots, RNG state) but the save counter."""
    reader = tf.train.load_checkpoint(run_folder.latest_checkpoint(run_dir))
    return {k: reader.get_tensor(k) for k in sorted(reader.get_variable_to_shape_map())
            if k.endswith("VARIABLE_VALUE") and not k.startswith("save_counter")}


def assert_same_state(resumed, reference):
    """A resumed run's checkpointed state equals an uninterrupted run's, bit for bit.

    Why exact: both runs execute the same float32 ops, in the same order, on the same CPU,
    from the same restored values and the same rebuilt data stream, and TensorFlow's CPU
    kernels are deterministic. Any tolerance would be the wrong one: after a few Adam steps a
    real difference (a lost RNG state, a shifted data stream) can be as small as rounding.
    """
    assert resumed.keys() == reference.keys() and len(resumed) > 100
    for key in reference:
        np.testing.assert_array_equal(resumed[key], reference[key], err_msg=key)


def feeds_instance_norm(model, weight):
    """A conv bias right before an instance norm cancels out: its exact gradient is zero and
    the computed one is rounding noise (~1e-9 of the kernels'), which Adam scales to +-lr."""
    layer, _, name = weight.path.rpartition("/")
    prefix = layer.rsplit("_", 1)[0]
    return name == "bias" and prefix + "_norm" in {layer.name for layer in model.layers}


def as_numpy(batches):
    """A stream of (A, B) batches as numpy pairs."""
    return [(np.asarray(a), np.asarray(b)) for a, b in batches]


def assert_same(xs, ys):
    """Two lists of (A, B) pairs are equal, element for element."""
    assert len(xs) == len(ys)
    for (a1, b1), (a2, b2) in zip(xs, ys):
        np.testing.assert_array_equal(a1, a2)
        np.testing.assert_array_equal(b1, b2)


def command_env(**extra):
    """The environment a user's command runs in: this one without TF_CPP_MIN_LOG_LEVEL, so
    that the package's logging policy applies (``errors.quiet_tensorflow_import``), plus
    ``extra`` (e.g. TF_ENABLE_ONEDNN_OPTS="1")."""
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    return {**env, **extra}


# The slowest test files, slowest first (measured on a 2-core Zen 4): with
# --no-loadscope-reorder (tox.ini) pytest-xdist's --dist loadfile hands files to idle workers
# in collection order, so a slow file collected last would keep one worker busy while the
# others wait. Collected first, they overlap instead.
SLOW_FILES = ("test_multiworker.py", "test_export.py", "test_options_train.py", "test_stop.py",
              "test_speed_options.py", "test_train.py", "test_distribute.py",
              "test_crash_safety.py", "test_logging.py", "test_kill_resume.py",
              "test_determinism.py", "test_nan_policy.py", "test_docs.py", "test_bad_files.py")


def pytest_collection_modifyitems(items):
    rank = {name: i for i, name in enumerate(SLOW_FILES)}
    items.sort(key=lambda item: rank.get(item.path.name, len(SLOW_FILES)))  # stable
