"""The faster training step learns what the plain one did: the window's row
gather gives torch.gather's values and gradients, and a frozen-encoder step in
bf16 (encoder cast once, channels-last) gives the loss and decoder gradients
of the same step run through autocast on the model's own fp32 encoder."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from inference import checkpoint, registry
from inference.geometry import Lattice, Region
from inference.methods.base import FeatureWindow
from tests.test_train import TINY_ENCODER, images, initial_weights, tiny_config  # noqa: F401  (fixture)
from training.data import ImagePool, select
from training.run import MethodRun


def test_window_gather_matches_torch_gather_values_and_gradients() -> None:
    torch.manual_seed(0)
    table = torch.randn(3, 5, 4, 6, requires_grad=True)
    window = FeatureWindow({"t": table}, 1, 2, 9, 9)
    # Repeated rows (several queries on one latent) must add up in the gradient.
    iy = torch.randint(1, 5, (3, 40))
    ix = torch.randint(2, 8, (3, 40))
    got = window.gather("t", iy, ix)
    upstream = torch.randn_like(got)
    (grad_got,) = torch.autograd.grad(got, table, upstream)
    flat = table.permute(0, 2, 3, 1).reshape(3, 24, 5)
    idx = (iy - 1) * 6 + (ix - 2)
    want = torch.gather(flat, 1, idx.unsqueeze(-1).expand(-1, -1, 5))
    (grad_want,) = torch.autograd.grad(want, table, upstream)
    torch.testing.assert_close(got, want, rtol=0, atol=0)
    torch.testing.assert_close(grad_got, grad_want, rtol=1e-6, atol=1e-6)


def _decoder_grads(run: MethodRun) -> dict[str, torch.Tensor]:
    return {n: p.grad.clone() for n, p in run.model.named_parameters() if p.grad is not None}


def _autocast_reference(run: MethodRun, method: str) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """The same batch through the plain path: the model's fp32 encoder under autocast."""
    run.model.zero_grad(set_to_none=True)
    r = run.recipe
    if r.target == "points":
        batch = run.sampler.points(r.batch, run._sample_scales(), r.lr_patch, r.samples)
        with torch.autocast("cpu", torch.bfloat16):
            with torch.no_grad():
                feat = run.model.encode_normalised(batch.lr)
            pred = run.model.query_features(feat, batch.coord, batch.cell)
        loss = F.l1_loss(pred.float(), batch.target)
    else:
        batch = run.sampler.lattice(r.batch, run._draw_scale(), r.hr_crop)
        h, w = batch.lr.shape[-2:]
        lattice = Lattice.from_region(Region.whole(w, h), batch.hr.shape[-1], batch.hr.shape[-2])
        with torch.autocast("cpu", torch.bfloat16):
            with torch.no_grad():
                feat = run.model.encode_normalised(batch.lr)
            pred = run.model.decode_lattice_features(feat, lattice)
        loss = F.l1_loss(pred.float(), batch.hr)
    loss.backward()
    return loss.detach(), _decoder_grads(run)


@pytest.mark.parametrize("method", ["liif", "ipe-liif", "diinn", "a-liif", "liif-siren", "diif"])
def test_a_frozen_bf16_step_equals_the_autocast_step(method: str, images: Path, tmp_path: Path) -> None:  # noqa: F811
    torch.manual_seed(1)
    model = registry.build("liif", **TINY_ENCODER)
    encoder = tmp_path / "enc.safetensors"
    checkpoint.save_encoder(encoder, model, TINY_ENCODER["encoder_spec"], provenance={"source": "test"})
    config = tiny_config(method, tmp_path / "run")
    config.encoder_from = encoder
    data = select(images)
    run = MethodRun(config, ImagePool(data.paths, torch.device("cpu")), data, torch.bfloat16, say=lambda _l: None)
    state = run.sampler.state()
    run.model.zero_grad(set_to_none=True)
    loss = run.loss_on_batch()
    loss.backward()
    fast = _decoder_grads(run)
    run.sampler.set_state(state)
    ref_loss, ref = _autocast_reference(run, method)
    assert not any(name.startswith("encoder.") for name in fast)
    assert fast.keys() == ref.keys() and fast
    torch.testing.assert_close(loss.detach(), ref_loss, rtol=2e-2, atol=1e-3)
    for name in ref:
        # bf16 rounding may differ between layouts; the direction may not.
        cosine = F.cosine_similarity(fast[name].flatten().double(), ref[name].flatten().double(), dim=0)
        assert cosine > 0.99, (name, float(cosine))
        torch.testing.assert_close(fast[name].norm(), ref[name].norm(), rtol=5e-2, atol=1e-6)


@pytest.mark.parametrize("shape", [(2, 5, 7, 9), (1, 64, 3, 3), (1, 1, 4, 5)])
def test_unfold_without_a_graph_gives_the_values_of_torch_unfold(shape: tuple[int, int, int, int]) -> None:
    from inference.methods.base import unfold3x3

    torch.manual_seed(0)
    # A channel slice is not contiguous: the fast path must read it right too.
    feat = torch.randn(shape[0], shape[1] + 2, shape[2], shape[3])[:, 1:-1]
    b, c, h, w = feat.shape
    want = F.unfold(feat, 3).view(b, c * 9, h - 2, w - 2)
    torch.testing.assert_close(unfold3x3(feat), want, rtol=0, atol=0)
    torch.testing.assert_close(unfold3x3(feat.requires_grad_()), want, rtol=0, atol=0)


def test_a_frozen_bf16_run_resumes_to_the_weights_of_one_long_run(images: Path, tmp_path: Path) -> None:  # noqa: F811
    from training.run_state import MODEL_FILE
    from training.train import Budget, train

    torch.manual_seed(1)
    encoder = tmp_path / "enc.safetensors"
    checkpoint.save_encoder(encoder, registry.build("liif", **TINY_ENCODER), TINY_ENCODER["encoder_spec"],
                            provenance={"source": "test"})
    quiet = {"say": lambda _line: None, "device": "cpu", "amp": "bf16"}
    data = select(images)

    def config(folder: str):
        c = tiny_config("ipe-liif", tmp_path / folder)
        c.encoder_from = encoder
        return c

    train([config("straight")], data, Budget(steps=4), **quiet)
    train([config("resumed")], data, Budget(steps=2), **quiet)
    (second,) = train([config("resumed")], data, Budget(steps=4), **quiet)
    assert second.step == 4 and second.segments == 2
    a = checkpoint.load(tmp_path / "straight" / MODEL_FILE).state_dict
    b = checkpoint.load(tmp_path / "resumed" / MODEL_FILE).state_dict
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=0, atol=1e-6)
    start = initial_weights("ipe-liif")
    assert any(not torch.equal(v, start[k]) for k, v in a.items() if not k.startswith("encoder."))
