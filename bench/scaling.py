"""Per-rank optimizer step times under FSDP2 (fully_shard, CPU mesh, gloo) for 1, 2 and 4
ranks on this machine: descent.torch.AdamW against torch.optim.AdamW (foreach; torch's
fused CPU kernel takes no DTensor) over the same sharded model, each rank stepping its
own shard at the same time as the others (a barrier before each timed step), as in
training. Writes build/bench/scaling.json and prints a table (docs/scaling.md).

    .venv/bin/python bench/scaling.py [--ranks 1 2 4] [--rounds 10]

Threads: each rank gets its share of the CPUs (Descent's default under
LOCAL_WORLD_SIZE; torch.set_num_threads likewise), at least one: more ranks than CPUs
share them.
"""
import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

OUT = Path(__file__).resolve().parents[1] / "build" / "bench"
WIDTH, LAYERS = 1024, 24  # 24 square layers: 25.2M parameters


def model():
    torch.manual_seed(0)
    return torch.nn.Sequential(*[torch.nn.Linear(WIDTH, WIDTH) for _ in range(LAYERS)])


def rank_main(rank, world, rounds, rendezvous, results):
    os.environ.update(LOCAL_WORLD_SIZE=str(world), LOCAL_RANK=str(rank))
    import descent.torch  # reads LOCAL_WORLD_SIZE for its default thread count
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.fsdp import fully_shard

    threads = max(1, len(os.sched_getaffinity(0)) // world)
    torch.set_num_threads(threads)
    dist.init_process_group("gloo", init_method=f"file://{rendezvous}", rank=rank, world_size=world)
    mesh = init_device_mesh("cpu", (world,))
    times = {}
    for name, make in (("descent.torch.AdamW", lambda ps: descent.torch.AdamW(ps, lr=1e-3, weight_decay=0.01)),
                       ("torch.optim.AdamW (foreach)",
                        lambda ps: torch.optim.AdamW(ps, lr=1e-3, weight_decay=0.01, foreach=True))):
        net = model()
        for layer in net:
            fully_shard(layer, mesh=mesh)
        fully_shard(net, mesh=mesh)
        opt = make(list(net.parameters()))
        net(torch.randn(4, WIDTH)).sum().backward()
        samples = []
        for step in range(rounds + 2):
            dist.barrier()
            start = time.perf_counter()
            opt.step()
            samples.append(time.perf_counter() - start)
        times[name] = statistics.median(samples[2:])
        local = sum(p.to_local().numel() for p in net.parameters())
        del opt, net
    gathered = [None] * world
    dist.all_gather_object(gathered, {"times": times, "local_params": local, "threads": threads})
    if rank == 0:
        results.put(gathered)
    dist.barrier()
    # FSDP2 over gloo here aborts in its teardown about one run in three (as in
    # Tests/python/workers/fsdp_run.py): the results are in, so each rank leaves without it.
    os._exit(0)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ranks", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--rounds", type=int, default=10)
    args = parser.parse_args()
    total = sum(p.numel() for p in model().parameters())
    rows = []
    context = mp.get_context("spawn")
    for world in args.ranks:
        results = context.SimpleQueue()
        with tempfile.TemporaryDirectory() as folder:
            mp.start_processes(rank_main, args=(world, args.rounds, f"{folder}/rendezvous", results), nprocs=world,
                               join=True, start_method="spawn")
        per_rank = results.get()
        for name in per_rank[0]["times"]:
            slowest = max(r["times"][name] for r in per_rank)
            local = max(r["local_params"] for r in per_rank)
            rows.append({"ranks": world, "optimizer": name, "threads_per_rank": per_rank[0]["threads"],
                         "params_per_rank": local, "state_bytes_per_rank": 8 * local,
                         "step_ms_slowest_rank": slowest * 1e3,
                         "step_ms_per_rank": [r["times"][name] * 1e3 for r in per_rank]})
    print(f"FSDP2, {total:,} parameters ({LAYERS} x Linear({WIDTH}, {WIDTH})), "
          f"{len(os.sched_getaffinity(0))} CPUs, torch {torch.__version__}")
    print(f"{'ranks':>5} {'threads':>8} {'params/rank':>12} {'state MB/rank':>14}  {'optimizer':<28}{'step ms':>9}")
    for r in rows:
        print(f"{r['ranks']:>5} {r['threads_per_rank']:>8} {r['params_per_rank']:>12,} "
              f"{r['state_bytes_per_rank'] / 1e6:>14.1f}  {r['optimizer']:<28}{r['step_ms_slowest_rank']:>9.2f}")
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "scaling.json").write_text(json.dumps({"date": time.strftime("%Y-%m-%d"), "command": " ".join(sys.argv),
                                                  "parameters": total, "rows": rows}, indent=2) + "\n")


if __name__ == "__main__":
    main()
