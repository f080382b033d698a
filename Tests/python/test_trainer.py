"""descent.torch inside transformers' Trainer 5.x, against torch.optim.AdamW in the same
Trainer: optimizers=(descent AdamW, None) with the Trainer's own linear schedule and
max_grad_norm, and save_steps + resume_from_checkpoint equal to the uninterrupted run."""
import logging

import pytest
import torch
import transformers

import descent.torch as dt
from problem import X, Y, make_model

transformers.logging.set_verbosity_error()
logging.getLogger("accelerate").setLevel(logging.ERROR)

OPTIMIZERS = {"torch": torch.optim.AdamW, "descent": dt.AdamW}
STEPS, SAVE = 30, 10


class Classifier(torch.nn.Module):
    """The digits MLP with the Trainer's calling convention: inputs and labels in,
    a dict with the loss out."""

    def __init__(self):
        super().__init__()
        self.model = make_model()

    def forward(self, x, labels):
        return {"loss": torch.nn.functional.cross_entropy(self.model(x), labels)}


DATA = [{"x": x, "labels": y} for x, y in zip(X[:960], Y[:960])]


def fit(kind, output_dir, resume=None):
    module = Classifier()
    args = transformers.TrainingArguments(
        output_dir=str(output_dir), max_steps=STEPS, per_device_train_batch_size=32, learning_rate=1e-2,
        warmup_steps=5, max_grad_norm=0.5, save_steps=SAVE, save_strategy="steps", report_to=[], use_cpu=True,
        seed=0, logging_strategy="no", disable_tqdm=True, dataloader_num_workers=0)
    optimizer = OPTIMIZERS[kind](module.parameters(), lr=1e-2, weight_decay=0.05)
    trainer = transformers.Trainer(model=module, args=args, train_dataset=DATA, optimizers=(optimizer, None))
    trainer.train(resume_from_checkpoint=resume)
    module.optimizer = optimizer
    return module


def assert_same_model(a, b):
    for (name, x), y in zip(a.named_parameters(), b.parameters()):
        torch.testing.assert_close(x, y, rtol=1e-5, atol=1e-7, msg=lambda m: f"{name}: {m}")


def test_trains_as_torch(tmp_path):
    assert_same_model(fit("descent", tmp_path / "ours"), fit("torch", tmp_path / "theirs"))


@pytest.mark.parametrize("first", ["descent", "torch"])
def test_resume_from_checkpoint_equals_the_uninterrupted_run(first, tmp_path):
    uninterrupted = fit("descent", tmp_path / "uninterrupted")
    fit(first, tmp_path / "first")
    resumed = fit("descent", tmp_path / "resumed", resume=str(tmp_path / "first" / f"checkpoint-{SAVE}"))
    assert_same_model(resumed, uninterrupted)
    first_param = next(resumed.parameters())
    assert resumed.optimizer.state[first_param]["step"] == STEPS  # the saved state continued, not a fresh one
