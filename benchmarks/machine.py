"""What every benchmark shares: the machine it ran on (recorded in every JSON it
prints), the repository paths, and the environment set before TensorFlow is imported.

The CPU changes between sessions and its speed by up to 6x, so a figure means nothing
without it: model name, vendor, family/model numbers (AMD family 23 is Zen 1/2, 25 is
Zen 3/Zen 4, 26 is Zen 5), cores, RAM and the instruction-set flags that decide which
kernels TensorFlow, oneDNN and XNNPACK can use.
"""

import datetime
import importlib.util
import json
import os
import platform
import sys

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_DATA = os.path.join(REPO_ROOT, "..", "shared", "data", "facades")


def quiet_and_importable():
    """TensorFlow's INFO and WARNING logs off (unless set), and tfpix2pix importable from
    the checkout when it is not installed. Call before importing TensorFlow."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if importlib.util.find_spec("tfpix2pix") is None:
        sys.path.insert(0, REPO_ROOT)

FLAGS = ("avx", "avx2", "fma", "f16c", "avx512f", "avx512_vnni", "avx512_bf16", "avx_vnni",
         "amx_tile", "amx_bf16", "amx_int8")


def describe():
    cpuinfo = {}
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:  # the first processor's fields are enough
                key, _, value = line.partition(":")
                cpuinfo.setdefault(key.strip(), value.strip())
        with open("/proc/meminfo") as fh:
            kib = next(int(line.split()[1]) for line in fh if line.startswith("MemTotal:"))
        ram = round(kib / 2**20, 1)
    except (OSError, StopIteration, ValueError):
        ram = None
    flags = set(cpuinfo.get("flags", "").split())
    return {"cpu": cpuinfo.get("model name") or platform.processor() or platform.machine(),
            "vendor": cpuinfo.get("vendor_id"), "cpu_family": cpuinfo.get("cpu family"),
            "cpu_model_number": cpuinfo.get("model"),
            "logical_cores": os.cpu_count(), "ram_gib": ram,
            "flags": {f: f in flags for f in FLAGS},
            "avx512f": "avx512f" in flags, "avx512_bf16": "avx512_bf16" in flags,
            "amx": "amx_tile" in flags}


def slug(m):
    """A file-name part, e.g. amd-family25-2core."""
    vendor = {"AuthenticAMD": "amd", "GenuineIntel": "intel"}.get(m["vendor"], "cpu")
    family = f"-family{m['cpu_family']}" if m["cpu_family"] else ""
    return f"{vendor}{family}-{m['logical_cores']}core"


def onednn_enabled(env_value):
    """Whether TensorFlow runs its oneDNN kernels: TF_ENABLE_ONEDNN_OPTS if set, else
    TensorFlow's own default (on only for CPUs with AVX-512 VNNI/BF16 or AMX)."""
    if env_value is not None:
        return env_value.strip().lower() not in ("0", "false", "off")
    flags = describe()["flags"]
    return any(flags[f] for f in ("avx512_vnni", "avx512_bf16", "amx_tile"))


def training_data(path=None):
    """(name, data path, direction) a training benchmark reads: ``path`` if given (taken as
    BtoA), else facades labels->photo if the shared folder has it, else the built-in set,
    which draws label map (A) -> rendering (B)."""
    from tfpix2pix.data import folder

    if path:
        return "user", path, "BtoA"
    if folder.list_images(DEFAULT_DATA, "train"):
        return "facades", os.path.normpath(DEFAULT_DATA), "BtoA"
    # Said aloud: a checkout outside the project folder (a git worktree in /tmp, say)
    # has no ../shared beside it, and its figures are then of the built-in set.
    print(f"benchmark data: no facades at {os.path.normpath(DEFAULT_DATA)}; using "
          "builtin:shapes (pass --data to choose)", file=sys.stderr, flush=True)
    return "builtin:shapes", "builtin:shapes", "AtoB"


def split_at_dashes(argv):
    """(this script's arguments, the ones after ``--`` that it passes on)."""
    if "--" not in argv:
        return list(argv), []
    cut = argv.index("--")
    return list(argv[:cut]), list(argv[cut + 1:])


def run_json(cmd, env, what, cwd=None):
    """Run a benchmark child ``cmd`` and return the JSON it prints; exit naming ``what``
    if it fails."""
    import subprocess

    done = subprocess.run(cmd, stdout=subprocess.PIPE, text=True, env=env, cwd=cwd)
    if done.returncode:
        raise SystemExit(f"{what} failed with status {done.returncode}")
    return json.loads(done.stdout)


def interleaved(rounds, names, measure):
    """``measure(name, round_number)`` for every name, round after round, the order rotated
    each round so that a machine whose load drifts favours no name; returns one dict a
    round, ``{name: what measure returned, ..., "order": [names in the order run]}``."""
    done = []
    for r in range(rounds):
        order = list(names[r % len(names):]) + list(names[:r % len(names)])
        entry = {name: measure(name, r + 1) for name in order}
        entry["order"] = order
        done.append(entry)
    return done


def utc_now():
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def emit(result, output=None, lines=False):
    """Print a benchmark's JSON on stdout and write it to ``output`` too, if given.

    ``lines``: one compact line, appended to ``output`` (JSON lines, one run a line).
    """
    text = json.dumps(result, indent=None if lines else 2)
    print(text, flush=True)
    if output:
        with open(output, "a" if lines else "w") as fh:
            fh.write(text + "\n")
