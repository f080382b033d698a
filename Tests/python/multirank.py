"""The multi-rank tests' common part: each runs a worker (workers/*.py: 2 gloo ranks that
meet through a rendezvous file) as a script, bounded in time, reads the parameters rank 0
wrote, and compares the runs."""
import subprocess
import sys
from pathlib import Path

import torch

WORKERS = Path(__file__).parent / "workers"


def run_worker(name, tmp_path, *args, timeout):
    """Runs workers/`name` with `args`, a fresh rendezvous file and an output file; returns
    rank 0's final parameters. A run in which a rank dies by a signal is run once more:
    DeepSpeed's stage 3 with offload has aborted in C++ (`terminate called without an
    active exception`) in a run of torch.optim alone (seen once, 2026-11-30); a failure that
    repeats fails the test, with each run's output."""
    out = tmp_path / ("-".join(str(a) for a in args) + ".pt")
    rendezvous = tmp_path / f"rendezvous-{out.stem}"
    for attempt in (1, 2):
        rendezvous.unlink(missing_ok=True)
        run = subprocess.run([sys.executable, str(WORKERS / name), *map(str, args), str(rendezvous), str(out)],
                             timeout=timeout, capture_output=True, text=True)
        print(run.stdout, end="")
        print(run.stderr, end="", file=sys.stderr)
        if run.returncode == 0:
            return torch.load(out)
        if attempt == 1 and "terminated with signal" in run.stderr:
            print(f"workers/{name} {' '.join(map(str, args))}: a rank died by a signal; running it again",
                  file=sys.stderr)
            continue
        raise subprocess.CalledProcessError(run.returncode, run.args, run.stdout, run.stderr)


def assert_resume_exact_and_close(worker, tmp_path, *config, timeout, resume):
    """Runs workers/`worker` three times, each as `worker LIBRARY *config RESUME(0|1)`:
    Descent resumed, Descent uninterrupted, torch.optim resumed. The resumed run (through
    `resume`, the engine's checkpoint path) equals the uninterrupted one bit for bit, and
    the reference within 1e-5 relative, parameter by parameter."""
    def train(library, resumed):
        return run_worker(worker, tmp_path, library, *config, int(resumed), timeout=timeout)

    for a, b, c in zip(train("descent", True), train("descent", False), train("torch", True)):
        assert torch.equal(a, b), f"{resume} changed Descent's run"
        assert ((a - c).norm() / c.norm()).item() <= 1e-5
