"""This checkout's train step against another checkout's, in one run, printed as JSON.

Runs ``benchmarks/train_speed.py`` of this checkout and of ``--other`` (e.g. a
``git worktree`` of an earlier commit) in turn, ``--rounds`` times each, every run
in a fresh process that imports the package of its own checkout (``PYTHONPATH``
first; the JSON's ``software.tfpix2pix`` shows which was imported). Each round
reports both medians; the summary gives the median over rounds and their ratio
(this / other). Arguments after ``--`` go to both scripts (e.g. ``-- --steps 30``),
and ``--env KEY=VALUE`` sets a variable for this checkout's runs only (to compare a
setting, e.g. ``--other . --env TF_ENABLE_ONEDNN_OPTS=1``).

    git worktree add /tmp/main-before <commit>
    python benchmarks/ab_train_speed.py --other /tmp/main-before --rounds 3

Only JSON goes to stdout; run on an otherwise idle machine.
"""

import argparse
import os
import statistics
import sys

import machine  # benchmarks/machine.py

HERE = machine.REPO_ROOT


def _run(checkout, extra, env_extra):
    env = {**os.environ, "PYTHONPATH": checkout, "TF_CPP_MIN_LOG_LEVEL": "2", **env_extra}
    script = os.path.join(checkout, "benchmarks", "train_speed.py")
    return machine.run_json([sys.executable, script, *extra], env, f"ab_train_speed: {script}",
                            cwd=checkout)


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    argv, extra = machine.split_at_dashes(argv)
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--other", required=True, help="the other checkout's root folder")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--env", action="append", default=[], metavar="KEY=VALUE",
                   help="environment for this checkout's runs only")
    p.add_argument("--output", help="also write the JSON to this file")
    args = p.parse_args(argv)
    env_this = dict(item.split("=", 1) for item in args.env)
    other = os.path.abspath(args.other)

    checkouts = {"this": (HERE, env_this), "other": (other, {})}

    def measure(name, round_number):
        checkout, env = checkouts[name]
        result = _run(checkout, extra, env)
        print(f"round {round_number} {name}: {result['median_steps_per_s']} steps/s",
              file=sys.stderr)
        return {"median_steps_per_s": result["median_steps_per_s"],
                "peak_rss_mb": result.get("peak_rss_mb"),
                "package": result["software"]["tfpix2pix"]}

    # The first to run alternates, so drift over time does not favour one side.
    rounds = machine.interleaved(args.rounds, ("this", "other"), measure)
    this = statistics.median(e["this"]["median_steps_per_s"] for e in rounds)
    that = statistics.median(e["other"]["median_steps_per_s"] for e in rounds)
    out = {"benchmark": "train step A/B: this checkout vs another, alternating rounds",
           "this": {"root": HERE, "env": env_this, "median_steps_per_s": this},
           "other": {"root": other, "median_steps_per_s": that},
           "ratio_this_over_other": round(this / that, 4),
           "rounds": rounds, "train_speed_args": extra, "machine": machine.describe(),
           "date_utc": machine.utc_now()}
    machine.emit(out, args.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
