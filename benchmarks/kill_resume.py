"""Kill -9 a training run at random moments, resume it each time, and check what survived.

A tiny model (64 px pairs cropped to 32, ngf = ndf = 8, ``--deterministic``) is trained to
``--steps`` once without interruption (the reference), and then again in the same
command, killed with SIGKILL ``--kills`` times. The moments are stratified so that the kills
spread over the whole run whatever the machine's speed or load: the run's steps are cut into
``--kills`` equal parts; for kill i a step is drawn uniformly from part i and a fraction
uniformly from [0, 1) (seeded by ``--seed``); the run (through its resumes) is killed that
fraction of its last step's duration after it reports the drawn step. A step's progress line
comes before that step's TensorBoard write, grid and checkpoint save, so kills land in steps,
in those writes and inside saves alike, and none is wasted on a run that has already ended.
After each kill the script checks that

- the checkpoint the manager records as the latest reads in full (every checksum);
- at most one ``--checkpoint-every`` interval of the steps the run had reported was lost;

and then reruns the same command, which resumes. At the end the run's final checkpoint
is compared with the reference's, tensor by tensor and bit for bit: weights, BatchNorm
statistics, both Adams' moments and the dropout RNG state (the save counter aside).

Prints one JSON object (settings, per-kill records, the verdict, the machine) to stdout;
progress goes to stderr. Exit status 1 if any check failed.

    .venv/bin/python benchmarks/kill_resume.py --kills 20
"""

import argparse
import os
import queue
import re
import subprocess
import sys
import tempfile
import threading
import time

import machine  # benchmarks/machine.py

machine.quiet_and_importable()

import numpy as np  # noqa: E402

STEP_LINE = re.compile(r" step (\d+)/")


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--kills", type=int, default=20, help="SIGKILLs to deliver (CI uses 3)")
    p.add_argument("--seed", type=int, default=0, help="seed of the kill moments")
    p.add_argument("--steps", type=int, default=300, help="training steps of the run")
    p.add_argument("--checkpoint-every", type=int, default=10)
    p.add_argument("--image-every", type=int, default=25)
    p.add_argument("--work", default=None, help="folder for the data and both runs "
                   "(default: a temporary folder, deleted afterwards)")
    p.add_argument("--timeout", type=float, default=600, help="seconds allowed per command")
    p.add_argument("--output", default=None, help="also write the JSON to this file")
    return p.parse_args(argv)


def write_pairs(folder, count, seed):
    """``count`` random [A | B] 32x64 PNG pairs (A and B 32x32) in ``folder``."""
    import tensorflow as tf

    os.makedirs(folder, exist_ok=True)
    rng = np.random.default_rng(seed)
    for i in range(count):
        image = rng.integers(0, 256, (32, 64, 3), dtype=np.uint8)
        tf.io.write_file(os.path.join(folder, f"{i:03d}.png"), tf.io.encode_png(image))


def train_argv(data, run_dir, args):
    return [sys.executable, "-m", "tfpix2pix.train", "--data", data, "--run-dir", run_dir,
            "--load-size", "36", "--crop-size", "32", "--netG", "unet_64", "--num-downs", "4",
            "--ngf", "8", "--ndf", "8", "--batch-size", "2", "--epochs", "1000",
            "--n-epochs-decay", "0", "--max-steps", str(args.steps), "--deterministic",
            "--log-every", "1", "--image-every", str(args.image_every),
            "--checkpoint-every", str(args.checkpoint_every), "--keep-checkpoints", "2"]


class Command:
    """The training command, its stderr read in a thread for the highest step reported."""

    def __init__(self, argv):
        env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True, env=env, cwd=machine.REPO_ROOT)
        self.began = time.monotonic()
        self.step, self.tail = None, queue.Queue()
        self.first_step_at = None
        self.step_seconds = 0.0  # the time between the last two step lines
        self._last_line = None
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for line in self.proc.stderr:
            for match in STEP_LINE.finditer(line):
                self.step = max(self.step or 0, int(match.group(1)))
                now = time.monotonic()
                if self._last_line is not None:
                    self.step_seconds = now - self._last_line
                self._last_line = now
                if self.first_step_at is None:
                    self.first_step_at = now
            self.tail.put(line)

    def stderr_tail(self, lines=5):
        got = []
        while not self.tail.empty():
            got.append(self.tail.get())
        return "".join(got[-lines:])

    def wait(self, timeout):
        self.proc.wait(timeout=timeout)
        self.reader.join(timeout=10)
        out = self.proc.stdout.read()
        return self.proc.returncode, out


def latest_state(run_dir):
    """(the recorded latest checkpoint's step or None, why it is damaged or None)."""
    import tensorflow as tf

    from tfpix2pix import run_folder

    latest = tf.train.latest_checkpoint(run_folder.checkpoints_dir(run_dir))
    if latest is None:
        return None, None
    return run_folder.checkpoint_step(latest), run_folder.checkpoint_damage(latest)


def save_in_progress(run_dir, latest):
    """What a save interrupted by the kill left: temporary files, or a newer checkpoint's
    files that the record does not name yet (the kill fell between the two)."""
    from tfpix2pix import run_folder

    folder = run_folder.checkpoints_dir(run_dir)
    if not os.path.isdir(folder):
        return []
    left = []
    for name in sorted(os.listdir(folder)):
        stem = name.split(".")[0]
        newer = (stem.startswith("ckpt-") and stem[5:].isdigit()
                 and int(stem[5:]) > (latest or 0))
        if newer or name.endswith("_temp") or ".tempstate" in name:
            left.append(name)
    return left


def final_state(run_dir):
    import tensorflow as tf

    from tfpix2pix import run_folder

    reader = tf.train.load_checkpoint(run_folder.latest_checkpoint(run_dir))
    return {k: reader.get_tensor(k) for k in sorted(reader.get_variable_to_shape_map())
            if k.endswith("VARIABLE_VALUE") and not k.startswith("save_counter")}


def compare(ours, reference):
    """(tensors compared, names of those that differ in any bit)."""
    names = sorted(set(ours) | set(reference))
    differ = [k for k in names if k not in ours or k not in reference
              or ours[k].dtype != reference[k].dtype or ours[k].shape != reference[k].shape
              or ours[k].tobytes() != reference[k].tobytes()]
    return len(names), differ


def log(*parts):
    print(*parts, file=sys.stderr, flush=True)


def run(args):
    from tfpix2pix import run_folder

    work = args.work or tempfile.mkdtemp(prefix="kill_resume-")
    data = os.path.join(work, "pairs")
    write_pairs(os.path.join(data, "train"), 8, seed=0)
    write_pairs(os.path.join(data, "val"), 2, seed=1)
    reference_dir, killed_dir = os.path.join(work, "reference"), os.path.join(work, "killed")

    began = time.monotonic()
    command = Command(train_argv(data, reference_dir, args))
    code, _out = command.wait(args.timeout)
    ended = time.monotonic()
    reference_seconds = ended - began
    if code != 0 or command.first_step_at is None:
        raise SystemExit(f"the reference run failed ({code}): {command.stderr_tail()}")
    training_seconds = ended - command.first_step_at
    log(f"reference run: {args.steps} steps in {reference_seconds:.1f} s, "
        f"{training_seconds:.1f} s of them from the first step on")

    rng = np.random.default_rng(args.seed)
    targets = [int(rng.integers(i * args.steps // args.kills,
                                (i + 1) * args.steps // args.kills)) + 1
               for i in range(args.kills)]  # the step each kill follows
    fractions = rng.uniform(0.0, 1.0, size=args.kills)  # of that step's duration
    kills, failures = [], []
    for i, (target, fraction) in enumerate(zip(targets, fractions)):
        before, _ = latest_state(killed_dir)
        left_before = set(save_in_progress(killed_dir, before))
        command = Command(train_argv(data, killed_dir, args))
        finished = True  # whether the run ended before its kill moment
        while (command.proc.poll() is None and (command.step or 0) < target
               and time.monotonic() - command.began < args.timeout):
            time.sleep(0.005)  # until the run reports the target step (or ends)
        if command.proc.poll() is None:
            try:
                command.proc.wait(timeout=fraction * command.step_seconds)
            except subprocess.TimeoutExpired:
                command.proc.kill()
                finished = False
        code, _out = command.wait(args.timeout)
        latest, damage = latest_state(killed_dir)
        in_save = [n for n in save_in_progress(killed_dir, latest) if n not in left_before]
        reported = command.step
        lost = (reported - (latest or 0)) if reported is not None else 0
        record = {"kill": i + 1, "after_step": target,
                  "fraction_of_a_step": round(float(fraction), 3),
                  "finished_before_kill": finished, "exit": code,
                  "resumed_from": before, "reported_step": reported,
                  "latest_checkpoint": latest, "steps_lost": lost,
                  "latest_damaged": damage, "interrupted_save_left": in_save}
        if damage is not None:
            failures.append(f"kill {i + 1}: the recorded latest checkpoint ckpt-{latest} is "
                            f"damaged ({damage})")
        if lost > args.checkpoint_every:
            failures.append(f"kill {i + 1}: {lost} steps lost, more than one interval of "
                            f"{args.checkpoint_every}")
        if finished and code != 0:
            failures.append(f"kill {i + 1}: the command failed ({code}): "
                            f"{command.stderr_tail()}")
        kills.append(record)
        log(f"kill {i + 1}/{args.kills} {fraction:.2f} of a step after step {target}: reported step {reported}, latest "
            f"checkpoint {latest}, lost {lost}" + (" (ended first)" if finished else "")
            + (f", inside a save: {in_save}" if in_save else ""))

    command = Command(train_argv(data, killed_dir, args))  # the last resume, to the end
    code, _out = command.wait(args.timeout)
    if code != 0:
        failures.append(f"the final resume failed ({code}): {command.stderr_tail()}")
    step = run_folder.checkpoint_step(run_folder.latest_checkpoint(killed_dir))
    compared, differ = compare(final_state(killed_dir), final_state(reference_dir))
    if step != args.steps:
        failures.append(f"the killed run ended at step {step}, not {args.steps}")
    if differ:
        failures.append(f"{len(differ)} of {compared} tensors differ from the reference, "
                        f"e.g. {differ[:3]}")
    if not args.work:
        import shutil
        shutil.rmtree(work, ignore_errors=True)

    import keras
    import tensorflow as tf
    killed_in = [k for k in kills if not k["finished_before_kill"]]
    return {
        "benchmark": "kill_resume",
        "passed": not failures,
        "failures": failures,
        "settings": {"kills": args.kills, "seed": args.seed, "steps": args.steps,
                     "checkpoint_every": args.checkpoint_every,
                     "image_every": args.image_every, "keep_checkpoints": 2,
                     "model": "unet_64 with --num-downs 4, ngf 8, basic D ndf 8, batch 2, "
                              "32x32 crops of 8 random pairs, --deterministic"},
        "reference_seconds": round(reference_seconds, 2),
        "reference_training_seconds": round(training_seconds, 2),
        "kills_delivered": len(killed_in),
        "kills_after_the_first_step": sum(k["reported_step"] is not None for k in killed_in),
        "kills_inside_a_save": sum(bool(k["interrupted_save_left"]) for k in killed_in),
        "max_steps_lost": max((k["steps_lost"] for k in kills), default=0),
        "final_step": step,
        "tensors_compared": compared,
        "tensors_differing": len(differ),
        "bitwise_equal_to_reference": not differ,
        "kills": kills,
        "versions": {"tensorflow": tf.__version__, "keras": keras.__version__,
                     "numpy": np.__version__},
        "onednn": machine.onednn_enabled(os.environ.get("TF_ENABLE_ONEDNN_OPTS")),
        "machine": machine.describe(),
        "date_utc": machine.utc_now(),
    }


def main(argv=None):
    args = parse_args(argv)
    result = run(args)
    machine.emit(result, args.output)
    return 0 if result["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
