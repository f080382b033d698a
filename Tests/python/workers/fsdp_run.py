"""Trains a small model for 20 steps on 2 gloo ranks (a rendezvous file) sharded by FSDP2
(fully_shard over a CPU device mesh), with or without CPUOffloadPolicy, resuming through
torch.distributed.checkpoint (get_/set_optimizer_state_dict, dcp.save/load) at step 10
when asked, and writes the full parameters to a file. Run by Tests/python/test_fsdp.py:

    python fsdp_run.py {torch|descent} OFFLOAD(0|1) RESUME(0|1) RENDEZVOUS_FILE OUT

(the checkpoint goes to the folder OUT.dcp).
"""
import os
import sys

import torch
import torch.distributed as dist
import torch.distributed.checkpoint as dcp
import torch.multiprocessing as mp
from torch.distributed.checkpoint.state_dict import (get_model_state_dict, get_optimizer_state_dict,
                                                     set_model_state_dict, set_optimizer_state_dict)
from torch.distributed.device_mesh import init_device_mesh
from torch.distributed.fsdp import CPUOffloadPolicy, fully_shard

STEPS, RESUME_AT, WORLD = 20, 10, 2


def sharded_model(mesh, offload):
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(16, 33), torch.nn.Tanh(), torch.nn.Linear(33, 4))
    kwargs = dict(mesh=mesh, offload_policy=CPUOffloadPolicy(pin_memory=False)) if offload else dict(mesh=mesh)
    for layer in net:
        if isinstance(layer, torch.nn.Linear):
            fully_shard(layer, **kwargs)
    return fully_shard(net, **kwargs)


def optimizer(library, net):
    if library == "descent":
        import descent.torch as dt
        return dt.AdamW(net.parameters(), lr=1e-2, weight_decay=0.01)
    return torch.optim.AdamW(net.parameters(), lr=1e-2, weight_decay=0.01)


def run(rank, library, offload, resume, rendezvous, checkpoint, out):
    # A rendezvous file, not a TCP port: no port for another process to take meanwhile.
    dist.init_process_group("gloo", init_method=f"file://{rendezvous}", rank=rank, world_size=WORLD)
    mesh = init_device_mesh("cpu", (WORLD,))
    net = sharded_model(mesh, offload)
    opt = optimizer(library, net)
    data = torch.Generator().manual_seed(1)
    for step in range(STEPS):
        x, y = torch.randn(8, 16, generator=data), torch.randn(8, 4, generator=data)
        opt.zero_grad()
        ((net(x) - y) ** 2).mean().backward()
        opt.step()
        if resume and step == RESUME_AT - 1:  # save each rank's shards, then load them into a new model
            dcp.save({"model": get_model_state_dict(net), "optim": get_optimizer_state_dict(net, opt)},
                     checkpoint_id=checkpoint)
            net = sharded_model(mesh, offload)
            opt = optimizer(library, net)
            state = {"model": get_model_state_dict(net), "optim": get_optimizer_state_dict(net, opt)}
            dcp.load(state, checkpoint_id=checkpoint)
            set_model_state_dict(net, state["model"])
            set_optimizer_state_dict(net, opt, state["optim"])
    full = [p.full_tensor().detach().clone() for p in net.parameters()]
    if rank == 0:
        torch.save(full, out)
    dist.barrier()
    # FSDP2 over gloo here aborts in its teardown about one run in three ("terminate called
    # without an active exception", with torch.optim alone as well, after the results are
    # written): the run is over, so each rank leaves without it.
    os._exit(0)


if __name__ == "__main__":
    library, offload, resume = sys.argv[1], sys.argv[2] == "1", sys.argv[3] == "1"
    rendezvous, out = sys.argv[4], sys.argv[5]
    mp.spawn(run, args=(library, offload, resume, rendezvous, out + ".dcp", out), nprocs=WORLD, join=True)
