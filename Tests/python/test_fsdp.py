"""descent.torch under FSDP2 (fully_shard over a CPU device mesh) on 2 gloo ranks
(workers/fsdp_run.py): parameters and gradients are DTensors, stepped as their local
shards; state is kept as DTensors, so torch.distributed.checkpoint saves and loads it (its
loading makes the state with a zero-lr step first)."""
import pytest

from multirank import assert_resume_exact_and_close


@pytest.mark.parametrize("offload", [False, True], ids=["cpu-mesh", "cpu-offload"])
def test_fsdp2_training_and_checkpoint_resume_match_torch(tmp_path, offload):
    assert_resume_exact_and_close("fsdp_run.py", tmp_path, int(offload), timeout=180,
                                  resume="a resume through torch.distributed.checkpoint")
