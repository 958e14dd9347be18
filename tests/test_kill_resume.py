"""benchmarks/kill_resume.py with three kills: the stress script, run small in CI.

The script trains a tiny ``--deterministic`` run, SIGKILLs it at three moments spread
over the run and reruns the same command after each. It fails (exit 1, ``passed``
false) if a recorded checkpoint does not read in full, if more than one checkpoint
interval is lost, or if the final weights, statistics and Adam moments differ in any
bit from an uninterrupted run's. The note of issue 18 reports the same script with 20.
"""

import json
import subprocess
import sys

from conftest import ROOT, command_env


def test_three_kills_lose_at_most_one_interval_each_and_end_bitwise_equal(tmp_path):
    output = tmp_path / "kill_resume.json"
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "kill_resume.py"), "--kills", "3",
         "--steps", "90", "--checkpoint-every", "10", "--image-every", "20",
         "--work", str(tmp_path / "work"), "--output", str(output)],
        capture_output=True, text=True, timeout=1800, env=command_env(), cwd=ROOT)
    assert output.exists(), done.stderr[-3000:]
    result = json.loads(output.read_text())
    assert done.returncode == 0 and result["passed"], (result["failures"], done.stderr[-3000:])
    assert result["kills_delivered"] == 3  # stratified moments: none falls after the end
    assert all(k["latest_damaged"] is None for k in result["kills"])
    assert result["max_steps_lost"] <= 10
    assert result["final_step"] == 90
    assert result["bitwise_equal_to_reference"] and result["tensors_compared"] > 50
