"""Trains a small model for 20 steps on 2 gloo ranks (a rendezvous file) under
torch.distributed.optim.ZeroRedundancyOptimizer with the optimizer class given, resuming
through ZeRO's own consolidate_state_dict / load_state_dict at step 10 when asked, and
writes rank 0's final parameters to a file. Run by Tests/python/test_zero.py as a script:

    python zero_run.py {torch|descent} BUCKET_VIEW(0|1) RESUME(0|1) RENDEZVOUS_FILE OUT
"""
import os
import sys

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch.distributed.optim import ZeroRedundancyOptimizer

STEPS, RESUME_AT, WORLD = 20, 10, 2


def model():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(16, 32), torch.nn.Tanh(), torch.nn.Linear(32, 4))


def optimizer_class(library):
    if library == "descent":
        import descent.torch as dt
        return dt.AdamW
    return torch.optim.AdamW


def run(rank, library, bucket_view, resume, rendezvous, out):
    # A rendezvous file, not a TCP port: no port for another process to take meanwhile.
    dist.init_process_group("gloo", init_method=f"file://{rendezvous}", rank=rank, world_size=WORLD)
    net = model()

    def zero():
        return ZeroRedundancyOptimizer(net.parameters(), optimizer_class=optimizer_class(library), lr=1e-2,
                                       weight_decay=0.01, parameters_as_bucket_view=bucket_view)

    opt = zero()
    data = torch.Generator().manual_seed(1)
    for step in range(STEPS):
        x, y = torch.randn(8, 16, generator=data), torch.randn(8, 4, generator=data)
        opt.zero_grad()
        ((net(x) - y) ** 2).mean().backward()
        for p in net.parameters():
            dist.all_reduce(p.grad)
            p.grad /= WORLD
        opt.step()
        if resume and step == RESUME_AT - 1:  # ZeRO's resume: consolidate, then load into a new one
            opt.consolidate_state_dict(0)
            saved = [opt.state_dict() if rank == 0 else None]
            dist.broadcast_object_list(saved, 0)
            opt = zero()
            opt.load_state_dict(saved[0])
    if rank == 0:
        torch.save([p.detach().clone() for p in net.parameters()], out)
    dist.destroy_process_group()


if __name__ == "__main__":
    library, bucket_view, resume, rendezvous, out = sys.argv[1], sys.argv[2] == "1", sys.argv[3] == "1", sys.argv[4], sys.argv[5]
    mp.spawn(run, args=(library, bucket_view, resume, rendezvous, out), nprocs=WORLD, join=True)
