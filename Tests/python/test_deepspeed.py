"""descent.torch as DeepSpeed's client optimizer (ZeRO on CPU, DS_ACCELERATOR=cpu) on 2
gloo ranks (workers/deepspeed_run.py), two parameter groups: ZeRO replaces each group's
parameters with flat fp32 partitions after the optimizer is made (descent.torch follows:
the parameters never stepped are let go, the partitions registered) and steps one group
at a time (param_groups narrowed to it; stage 3 lists one partition at a time); it
resumes from DeepSpeed's own checkpoint. Against torch.optim.AdamW in the same engine."""
import pytest

from multirank import assert_resume_exact_and_close


@pytest.mark.parametrize("stage, offload, precision", [(2, True, "bf16"), (1, False, "fp32"), (3, True, "fp32")],
                         ids=["zero2-offload-bf16", "zero1-fp32", "zero3-offload-fp32"])
def test_deepspeed_zero_training_and_resume_match_torch(tmp_path, stage, offload, precision):
    assert_resume_exact_and_close("deepspeed_run.py", tmp_path, stage, int(offload), precision, timeout=180,
                                  resume="DeepSpeed's checkpoint resume")
