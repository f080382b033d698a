"""transformers' Trainer with descent.torch.AdamW: hand the optimizer over with
`optimizers=(optimizer, None)` and the Trainer keeps its own linear schedule with
warmup, max_grad_norm clipping and checkpoints (save_steps; resume_from_checkpoint
reloads the optimizer's state_dict). A small GPT-2 (transformers' own
GPT2LMHeadModel, 2 layers, width 128, built from a config: no download) learns a
synthetic language of repeating patterns.

    .venv/bin/python examples/trainer_train.py [--steps 300] [--output-dir build/examples/trainer]

About a minute on a 2-core machine with the defaults; prints the loss before and after.
"""
import argparse
import logging

import torch
import transformers

import descent.torch

VOCAB, CONTEXT = 64, 32


def sequences(count, seed):
    """Token sequences that repeat a random pattern of 2-6 tokens: predictable after
    the first period, which the model has to learn."""
    gen = torch.Generator().manual_seed(seed)
    data = []
    for _ in range(count):
        period = int(torch.randint(2, 7, (1,), generator=gen))
        pattern = torch.randint(0, VOCAB, (period,), generator=gen)
        ids = pattern.repeat(CONTEXT // period + 1)[:CONTEXT]
        data.append({"input_ids": ids, "labels": ids})
    return data


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--output-dir", default="build/examples/trainer")
    args = parser.parse_args()
    transformers.logging.set_verbosity_error()
    logging.getLogger("accelerate").setLevel(logging.ERROR)
    torch.manual_seed(0)
    config = transformers.GPT2Config(vocab_size=VOCAB, n_positions=CONTEXT, n_embd=128, n_layer=2, n_head=4)
    model = transformers.GPT2LMHeadModel(config)
    optimizer = descent.torch.AdamW(model.parameters(), lr=3e-3, weight_decay=0.01)  # was torch.optim.AdamW
    training = transformers.TrainingArguments(
        output_dir=args.output_dir, max_steps=args.steps, per_device_train_batch_size=32, learning_rate=3e-3,
        warmup_steps=args.steps // 10, max_grad_norm=1.0, save_steps=max(1, args.steps // 2), save_total_limit=1,
        logging_steps=max(1, args.steps // 5), report_to=[], use_cpu=True, seed=0, disable_tqdm=True)
    held_out = sequences(256, seed=2)
    trainer = transformers.Trainer(model=model, args=training, train_dataset=sequences(4096, seed=1),
                                   eval_dataset=held_out, optimizers=(optimizer, None))
    before = trainer.evaluate()["eval_loss"]
    trainer.train()
    print(f"held-out loss {before:.3f} before training, {trainer.evaluate()['eval_loss']:.3f} after "
          f"{args.steps} steps")


if __name__ == "__main__":
    main()
