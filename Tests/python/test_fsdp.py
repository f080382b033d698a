"""descent.torch under FSDP2 (fully_shard over a CPU device mesh) on 2 gloo ranks
(workers/fsdp_run.py, a rendezvous file, bounded in time): parameters and gradients are DTensors, stepped as
their local shards; state is kept as DTensors, so torch.distributed.checkpoint saves and
loads it (its loading makes the state with a zero-lr step first)."""
import subprocess
import sys
from pathlib import Path

import pytest
import torch

WORKER = Path(__file__).parent / "workers" / "fsdp_run.py"


def train(tmp_path, library, offload, resume):
    out = tmp_path / f"{library}-{offload}-{resume}.pt"
    subprocess.run([sys.executable, str(WORKER), library, str(int(offload)), str(int(resume)),
                    str(tmp_path / f"rendezvous-{out.stem}"), str(tmp_path / f"checkpoint-{library}-{offload}"), str(out)],
                   check=True, timeout=180)
    return torch.load(out)


@pytest.mark.parametrize("offload", [False, True], ids=["cpu-mesh", "cpu-offload"])
def test_fsdp2_training_and_checkpoint_resume_match_torch(tmp_path, offload):
    ours_resumed = train(tmp_path, "descent", offload, resume=True)
    ours = train(tmp_path, "descent", offload, resume=False)
    theirs = train(tmp_path, "torch", offload, resume=True)
    for a, b, c in zip(ours_resumed, ours, theirs):
        assert torch.equal(a, b), "a resume through torch.distributed.checkpoint changed Descent's run"
        assert ((a - c).norm() / c.norm()).item() <= 1e-5
