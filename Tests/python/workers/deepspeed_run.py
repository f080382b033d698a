"""Trains a small model for 20 steps on 2 gloo ranks (a rendezvous file) under DeepSpeed's
ZeRO (DS_ACCELERATOR=cpu) with the client optimizer given, in two parameter groups
(weights decayed; biases not, at half the lr), resuming from DeepSpeed's own checkpoint
at step 10 when asked, and writes rank 0's final parameters (as float32) to a file. Run
by Tests/python/test_deepspeed.py as a script:

    python deepspeed_run.py {torch|descent} STAGE OFFLOAD(0|1) {fp32|bf16} RESUME(0|1) RENDEZVOUS_FILE OUT

ZeRO stages 1 and 2 put one flat fp32 partition in place of each group's parameters
after the optimizer is made and step it one group at a time (param_groups narrowed to
that group); stage 3 sets a group's params to one partition for its step, then to [];
with offload_optimizer the partitions live on the CPU and keep their .grad.
"""
import importlib
import os
import sys

os.environ["DS_ACCELERATOR"] = "cpu"  # before deepspeed is imported

import deepspeed  # noqa: E402
import torch  # noqa: E402
import torch.multiprocessing as mp  # noqa: E402

STEPS, RESUME_AT, WORLD, LR = 20, 10, 2, 1e-2


def model():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(32, 64), torch.nn.Tanh(), torch.nn.Linear(64, 8))


def engine(library, stage, offload, precision, net):
    groups = [{"params": [p for n, p in net.named_parameters() if n.endswith("weight")]},
              {"params": [p for n, p in net.named_parameters() if n.endswith("bias")], "weight_decay": 0.0,
               "lr": LR / 2}]
    if library == "descent":
        import descent.torch as dt
        opt = dt.AdamW(groups, lr=LR, weight_decay=0.01)
    else:
        opt = torch.optim.AdamW(groups, lr=LR, weight_decay=0.01)
    zero = {"stage": stage}
    if offload:
        zero["offload_optimizer"] = {"device": "cpu", "pin_memory": False}
    config = {"train_micro_batch_size_per_gpu": 16, "zero_optimization": zero, "bf16": {"enabled": precision == "bf16"},
              "zero_allow_untested_optimizer": True, "zero_force_ds_cpu_optimizer": False,
              "steps_per_print": 10**9}
    return deepspeed.initialize(model=net, optimizer=opt, config=config)[0]


def run(rank, library, stage, offload, precision, resume, rendezvous, out):
    torch.set_num_threads(1)
    os.environ.update(RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE=str(WORLD), LOCAL_WORLD_SIZE=str(WORLD))
    # DeepSpeed's CPU communication backend JIT-compiles a shared-memory op at start
    # (ninja and a C++ build, tens of seconds); only its inference all-reduce uses it,
    # gloo runs the training collectives.
    importlib.import_module("deepspeed.comm.torch").build_shm_op = lambda: None
    deepspeed.init_distributed(dist_backend="gloo", init_method=f"file://{rendezvous}", rank=rank,
                               world_size=WORLD, auto_mpi_discovery=False)
    net = model()
    ds = engine(library, stage, offload, precision, net)
    data = torch.Generator().manual_seed(1)
    dtype = torch.bfloat16 if precision == "bf16" else torch.float32
    for step in range(STEPS):
        x, y = torch.randn(WORLD, 16, 32, generator=data), torch.randn(WORLD, 16, 8, generator=data)
        loss = torch.nn.functional.mse_loss(ds(x[rank].to(dtype)).float(), y[rank])
        ds.backward(loss)
        ds.step()
        if resume and step == RESUME_AT - 1:  # DeepSpeed's own checkpoint, into a new engine
            ds.save_checkpoint(out + ".ckpt", tag="half")
            net = model()
            ds = engine(library, stage, offload, precision, net)
            ds.load_checkpoint(out + ".ckpt", tag="half")
    if rank == 0:
        torch.save([p.detach().float().clone() for p in ds.module.parameters()], out)
    torch.distributed.barrier()
    torch.distributed.destroy_process_group()


if __name__ == "__main__":
    library, stage, offload, precision = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "1", sys.argv[4]
    resume, rendezvous, out = sys.argv[5] == "1", sys.argv[6], sys.argv[7]
    mp.spawn(run, args=(library, stage, offload, precision, resume, rendezvous, out), nprocs=WORLD, join=True)
