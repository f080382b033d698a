"""descent.torch inside torch.distributed.optim.ZeroRedundancyOptimizer on 2 gloo ranks
(workers/zero_run.py): training, ZeRO's own resume (it assigns optim.state[p] and never
calls the local optimizer's load_state_dict) and parameters_as_bucket_view (it re-points
the parameters after building the optimizer)."""
import pytest

from multirank import assert_resume_exact_and_close


@pytest.mark.parametrize("bucket_view", [False, True], ids=["tensors", "bucket-view"])
def test_zero_training_and_resume_match_torch(tmp_path, bucket_view):
    assert_resume_exact_and_close("zero_run.py", tmp_path, int(bucket_view), timeout=120, resume="ZeRO's resume")
