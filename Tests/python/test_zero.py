"""descent.torch inside torch.distributed.optim.ZeroRedundancyOptimizer on 2 gloo ranks
(workers/zero_run.py, a rendezvous file, bounded in time): training, ZeRO's own resume (it assigns
optim.state[p] and never calls the local optimizer's load_state_dict) and
parameters_as_bucket_view (it re-points the parameters after building the optimizer)."""
import subprocess
import sys
from pathlib import Path

import pytest
import torch

WORKER = Path(__file__).parent / "workers" / "zero_run.py"


def train(tmp_path, library, bucket_view, resume):
    out = tmp_path / f"{library}-{bucket_view}-{resume}.pt"
    subprocess.run([sys.executable, str(WORKER), library, str(int(bucket_view)), str(int(resume)),
                    str(tmp_path / f"rendezvous-{out.stem}"), str(out)], check=True, timeout=120)
    return torch.load(out)


@pytest.mark.parametrize("bucket_view", [False, True], ids=["tensors", "bucket-view"])
def test_zero_training_and_resume_match_torch(tmp_path, bucket_view):
    ours_resumed = train(tmp_path, "descent", bucket_view, resume=True)
    ours = train(tmp_path, "descent", bucket_view, resume=False)
    theirs = train(tmp_path, "torch", bucket_view, resume=True)
    for a, b, c in zip(ours_resumed, ours, theirs):
        assert torch.equal(a, b), "ZeRO's resume changed Descent's run"
        assert ((a - c).norm() / c.norm()).item() <= 1e-5
