"""The examples (examples/*.py) run, shortened: each finishes and prints its result line."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
TORCHRUN = Path(sys.executable).with_name("torchrun")


# What c10d's C++ teardown prints when a rank aborts after its work is done (seen once
# in CI, 2026-11-30, as in the multi-rank tests: see multirank.run_worker).
TEARDOWN_ABORT = "terminate called without an active exception"


def run(command, tmp_path):
    """Runs an example; one whose rank aborted in c10d's teardown runs once more (a second
    failure fails, with both runs' output)."""
    def attempt():
        return subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=240,
                              env={**os.environ, "PYTHONWARNINGS": "ignore"})

    done = attempt()
    first = done.stderr
    if done.returncode != 0 and TEARDOWN_ABORT in first:
        done = attempt()
        first = f"(first run)\n{first[-3000:]}\n(second run)\n"
    else:
        first = ""
    assert done.returncode == 0, first + done.stderr[-3000:]
    return done.stdout


@pytest.mark.parametrize("command, expected", [
    ([str(TORCHRUN), "--standalone", "--nproc_per_node", "2", str(EXAMPLES / "fsdp2_torchrun.py"), "--steps", "20"],
     "2 ranks, 525,825 of 1,051,137 parameters on rank 0"),
    ([sys.executable, str(EXAMPLES / "lightning_train.py"), "--epochs", "2"], "test accuracy"),
    ([sys.executable, str(EXAMPLES / "trainer_train.py"), "--steps", "20", "--output-dir", "out"], "after 20 steps"),
], ids=["fsdp2-torchrun", "lightning", "trainer"])
def test_example_runs(command, expected, tmp_path):
    assert expected in run(command, tmp_path)
