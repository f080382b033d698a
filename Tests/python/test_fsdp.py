"""descent.torch under FSDP2 (fully_shard over a CPU device mesh) on 2 gloo ranks
(workers/fsdp_run.py): parameters and gradients are DTensors, stepped as their local
shards; state is kept as DTensors, so torch.distributed.checkpoint saves and loads it (its
loading makes the state with a zero-lr step first)."""
import pytest

from multirank import assert_resume_exact_and_close, run_worker


def train(tmp_path, library, offload, resume):
    return run_worker("fsdp_run.py", tmp_path, library, int(offload), int(resume), timeout=180)


@pytest.mark.parametrize("offload", [False, True], ids=["cpu-mesh", "cpu-offload"])
def test_fsdp2_training_and_checkpoint_resume_match_torch(tmp_path, offload):
    assert_resume_exact_and_close(train(tmp_path, "descent", offload, resume=True),
                                  train(tmp_path, "descent", offload, resume=False),
                                  train(tmp_path, "torch", offload, resume=True),
                                  "a resume through torch.distributed.checkpoint")
