"""descent.torch inside PyTorch Lightning 2.6, against torch.optim.AdamW in the same
Trainer: fp32 with a per-step scheduler, clipping and gradient accumulation;
bf16-mixed with gradient_clip_val (which Lightning refused before: it took descent's
GradScaler protocol for "unscales internally"); resume from ckpt_path, also from a
checkpoint torch.optim wrote; LBFGS stepped with Lightning's closure."""
import logging

import pytest
import pytorch_lightning as pl
import torch

import descent.torch as dt
from problem import X, Y, make_model

logging.getLogger("pytorch_lightning").setLevel(logging.ERROR)
pytestmark = [pytest.mark.filterwarnings("ignore:.*does not have many workers"),
              pytest.mark.filterwarnings("ignore:.*callbacks used to create the checkpoint"),
              pytest.mark.filterwarnings("ignore:.*LeafSpec.* is deprecated")]

OPTIMIZERS = {"torch": torch.optim.AdamW, "descent": dt.AdamW}


class Classifier(pl.LightningModule):
    def __init__(self, kind):
        super().__init__()
        self.model = make_model()
        self.kind = kind

    def training_step(self, batch, batch_index):
        x, y = batch
        return torch.nn.functional.cross_entropy(self.model(x), y)

    def configure_optimizers(self):
        opt = OPTIMIZERS[self.kind](self.parameters(), lr=1e-2, weight_decay=0.05)
        schedule = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=2e-2, total_steps=40)
        return {"optimizer": opt, "lr_scheduler": {"scheduler": schedule, "interval": "step"}}


STEPS_PER_EPOCH = 16  # 1,024 samples in batches of 32, two batches accumulated per step


def loader():
    data = torch.utils.data.TensorDataset(X[:1024], Y[:1024])
    return torch.utils.data.DataLoader(data, batch_size=32, shuffle=False)


def fit(kind, steps, precision="32-true", ckpt_path=None, checkpoints=None):
    """A Trainer run of `steps` optimizer steps with the `kind` optimizer; `checkpoints`
    (a folder) saves one at each epoch's end, as ModelCheckpoint does mid-run."""
    module = Classifier(kind)
    callbacks = [pl.callbacks.ModelCheckpoint(dirpath=checkpoints, every_n_train_steps=STEPS_PER_EPOCH,
                                              save_top_k=-1)] if checkpoints else []
    trainer = pl.Trainer(max_steps=steps, accelerator="cpu", devices=1, precision=precision, gradient_clip_val=0.5,
                         accumulate_grad_batches=2, logger=False, enable_checkpointing=bool(checkpoints),
                         callbacks=callbacks, enable_progress_bar=False, enable_model_summary=False)
    trainer.fit(module, loader(), ckpt_path=ckpt_path)
    return module


def assert_same_model(a, b, rtol):
    for (name, x), y in zip(a.named_parameters(), b.parameters()):
        torch.testing.assert_close(x, y, rtol=rtol, atol=rtol * 1e-2, msg=lambda m: f"{name}: {m}")


def test_fp32_schedule_clipping_accumulation_equal_torch():
    assert_same_model(fit("descent", 40), fit("torch", 40), rtol=1e-5)


def test_bf16_mixed_with_gradient_clip_val_trains_as_torch():
    """bf16 autocast rounds activations to 8 bits of mantissa: the runs agree to bf16's
    resolution, not float32's."""
    assert_same_model(fit("descent", 40, precision="bf16-mixed"), fit("torch", 40, precision="bf16-mixed"),
                      rtol=2e-2)


@pytest.mark.parametrize("first", ["descent", "torch"])
def test_resume_from_ckpt_path_equals_the_uninterrupted_run(first, tmp_path):
    uninterrupted = fit("descent", 40)
    fit(first, 40, checkpoints=tmp_path)
    resumed = fit("descent", 40, ckpt_path=tmp_path / f"epoch=0-step={STEPS_PER_EPOCH}.ckpt")
    assert_same_model(resumed, uninterrupted, rtol=1e-5)


class LBFGSClassifier(Classifier):
    """LBFGS in Lightning's automatic optimization: Lightning hands the optimizer a
    closure that runs training_step and backward, which LBFGS calls as often as it
    needs (its full-batch use: one batch of 256, max_iter 5 per step)."""

    def configure_optimizers(self):
        cls = {"torch": torch.optim.LBFGS, "descent": dt.LBFGS}[self.kind]
        return cls(self.parameters(), lr=0.5, max_iter=5, history_size=5, line_search_fn="strong_wolfe")


def test_lbfgs_steps_with_lightnings_closure_as_torchs():
    def fit_lbfgs(kind):
        module = LBFGSClassifier(kind)
        data = torch.utils.data.TensorDataset(X[:256], Y[:256])
        trainer = pl.Trainer(max_steps=6, accelerator="cpu", devices=1, logger=False, enable_checkpointing=False,
                             enable_progress_bar=False, enable_model_summary=False)
        trainer.fit(module, torch.utils.data.DataLoader(data, batch_size=256))
        return module

    # 30 iterations apart from torch's MKL dot rounding (README, Numerics): within 1e-5.
    for x, y in zip(fit_lbfgs("descent").parameters(), fit_lbfgs("torch").parameters()):
        torch.testing.assert_close(x, y, rtol=1e-4, atol=1e-5)
