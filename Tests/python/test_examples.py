"""The examples (examples/*.py) run, shortened: each finishes and prints its result line."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
TORCHRUN = Path(sys.executable).with_name("torchrun")


def run(command, tmp_path):
    done = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=240,
                          env={**os.environ, "PYTHONWARNINGS": "ignore"})
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


@pytest.mark.parametrize("command, expected", [
    ([str(TORCHRUN), "--standalone", "--nproc_per_node", "2", str(EXAMPLES / "fsdp2_torchrun.py"), "--steps", "20"],
     "2 ranks, 525,825 of 1,051,137 parameters on rank 0"),
    ([sys.executable, str(EXAMPLES / "lightning_train.py"), "--epochs", "2"], "test accuracy"),
    ([sys.executable, str(EXAMPLES / "trainer_train.py"), "--steps", "20", "--output-dir", "out"], "after 20 steps"),
], ids=["fsdp2-torchrun", "lightning", "trainer"])
def test_example_runs(command, expected, tmp_path):
    assert expected in run(command, tmp_path)
