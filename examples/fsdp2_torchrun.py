"""Data-parallel training with FSDP2 (fully_shard) on CPU ranks, descent.torch.AdamW as
the optimizer: each rank steps its own shard of every parameter, and the optimizer state
is sharded with them (DTensors), so torch.distributed.checkpoint saves it per rank.

    .venv/bin/torchrun --standalone --nproc_per_node 2 examples/fsdp2_torchrun.py [--steps 200]

About a minute on a 2-core machine with the defaults. torchrun sets LOCAL_WORLD_SIZE:
each rank's Descent threads default to its share of the CPUs (DESCENT_NUM_THREADS
overrides it). The task: a 4-layer MLP regressing a fixed random teacher network.
"""
import argparse
import os
import time

import torch
import torch.distributed as dist
from torch.distributed.device_mesh import init_device_mesh
from torch.distributed.fsdp import fully_shard

import descent.torch


def make_model(width):
    torch.manual_seed(0)
    layers = []
    for _ in range(4):
        layers += [torch.nn.Linear(width, width), torch.nn.GELU()]
    return torch.nn.Sequential(*layers, torch.nn.Linear(width, 1))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--width", type=int, default=512)
    args = parser.parse_args()

    dist.init_process_group("gloo")
    rank, world = dist.get_rank(), dist.get_world_size()
    mesh = init_device_mesh("cpu", (world,))
    model = make_model(args.width)
    teacher = make_model(args.width)
    with torch.no_grad():  # other weights than the student's start
        weights = torch.Generator().manual_seed(2)
        for p in teacher.parameters():
            p.normal_(0, 0.05, generator=weights)
    for layer in model:
        if isinstance(layer, torch.nn.Linear):
            fully_shard(layer, mesh=mesh)
    fully_shard(model, mesh=mesh)
    # Built after fully_shard: the parameters are DTensors, each rank holds its shard.
    opt = descent.torch.AdamW(model.parameters(), lr=1e-3, weight_decay=0.01)
    schedule = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=2e-3, total_steps=args.steps)

    data = torch.Generator().manual_seed(1 + rank)  # each rank its own batches
    start = time.perf_counter()
    for step in range(args.steps):
        x = torch.randn(64, args.width, generator=data)
        with torch.no_grad():
            y = teacher(x)
        loss = torch.nn.functional.mse_loss(model(x), y)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        schedule.step()
        if rank == 0 and (step % 50 == 0 or step == args.steps - 1):
            print(f"step {step:4d}  loss {loss.item():.5f}  lr {schedule.get_last_lr()[0]:.2e}", flush=True)
    if rank == 0:
        local = sum(p.to_local().numel() for p in model.parameters())
        print(f"{world} ranks, {local:,} of {sum(p.numel() for p in model.parameters()):,} parameters on rank 0; "
              f"{time.perf_counter() - start:.1f} s; Descent threads per rank: {descent.get_num_threads()}")
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
