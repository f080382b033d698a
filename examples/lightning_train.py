"""PyTorch Lightning with descent.torch.AdamW: the optimizer is the only line that
changes. bf16-mixed precision, gradient clipping, a per-step OneCycle schedule and
gradient accumulation, as a Lightning user writes them; the model is a small MLP on the
8x8 handwritten digits that ship with the C demo.

    .venv/bin/python examples/lightning_train.py [--epochs 40]

About a minute on a 2-core machine with the defaults; prints the test accuracy.
"""
import argparse
import logging
from pathlib import Path

import numpy as np
import pytorch_lightning as pl
import torch

import descent.torch

DIGITS = Path(__file__).resolve().parents[1] / "bindings" / "c" / "data" / "digits.csv"
TEST = 300  # the last samples are the test set, as in the C demo


def digits(split):
    """(images, labels) of the digits' `train` or `test` part (the C demo's data)."""
    table = np.loadtxt(DIGITS, delimiter=",", dtype=np.float32)
    table = table[:-TEST] if split == "train" else table[-TEST:]
    return torch.from_numpy(table[:, :64] / 16.0), torch.from_numpy(table[:, 64]).long()


class DigitClassifier(pl.LightningModule):
    def __init__(self, steps):
        super().__init__()
        self.net = torch.nn.Sequential(torch.nn.Linear(64, 256), torch.nn.GELU(), torch.nn.Linear(256, 10))
        self.steps = steps

    def training_step(self, batch, index):
        x, y = batch
        loss = torch.nn.functional.cross_entropy(self.net(x), y)
        self.log("loss", loss, prog_bar=True)
        return loss

    def configure_optimizers(self):
        opt = descent.torch.AdamW(self.parameters(), lr=1e-3, weight_decay=0.01)  # was torch.optim.AdamW
        schedule = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=1e-2, total_steps=self.steps)
        return {"optimizer": opt, "lr_scheduler": {"scheduler": schedule, "interval": "step"}}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=40)
    args = parser.parse_args()
    logging.getLogger("pytorch_lightning").setLevel(logging.WARNING)
    torch.manual_seed(0)
    x, y = digits("train")
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=32, shuffle=True)
    steps = args.epochs * (len(loader) // 2)  # two batches accumulated per optimizer step
    model = DigitClassifier(steps)
    trainer = pl.Trainer(max_epochs=args.epochs, max_steps=steps, accelerator="cpu", devices=1,
                         precision="bf16-mixed", gradient_clip_val=1.0, accumulate_grad_batches=2, logger=False,
                         enable_checkpointing=False, enable_model_summary=False, enable_progress_bar=False)
    trainer.fit(model, loader)
    test_x, test_y = digits("test")
    with torch.no_grad():
        accuracy = (model.net(test_x).argmax(1) == test_y).float().mean().item()
    print(f"{trainer.global_step} optimizer steps; test accuracy {accuracy:.1%}")


if __name__ == "__main__":
    main()
