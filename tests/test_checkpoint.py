"""Self-describing checkpoints, and import of the public LIIF layout."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from inference import checkpoint, registry
from inference.catalog import load_upscaler
from inference.checkpoint import CheckpointError
from inference.geometry import Lattice, Region


def public_liif_state_dict(hidden: int = 256) -> dict[str, torch.Tensor]:
    """Random tensors under exactly the key names and shapes of edsr-baseline-liif.pth."""
    g = torch.Generator().manual_seed(1)
    sd: dict[str, torch.Tensor] = {}

    def conv(name: str, cin: int, cout: int) -> None:
        sd[f"{name}.weight"] = torch.randn(cout, cin, 3, 3, generator=g) * (1.0 / (cin * 9)) ** 0.5
        sd[f"{name}.bias"] = torch.randn(cout, generator=g) * 0.01

    conv("encoder.head.0", 3, 64)
    for i in range(16):
        conv(f"encoder.body.{i}.body.0", 64, 64)
        conv(f"encoder.body.{i}.body.2", 64, 64)
    conv("encoder.body.16", 64, 64)
    for mean in ("sub_mean", "add_mean"):
        sd[f"encoder.{mean}.weight"] = torch.eye(3).view(3, 3, 1, 1)
        sd[f"encoder.{mean}.bias"] = torch.zeros(3)
    dims = [580, hidden, hidden, hidden, hidden, 3]
    for k in range(5):
        sd[f"imnet.layers.{2 * k}.weight"] = torch.randn(dims[k + 1], dims[k], generator=g) * (1.0 / dims[k]) ** 0.5
        sd[f"imnet.layers.{2 * k}.bias"] = torch.randn(dims[k + 1], generator=g) * 0.01
    return sd


def write_public_liif(path: Path, sd: dict[str, torch.Tensor]) -> None:
    ck = {
        "model": {
            "name": "liif",
            "args": {
                "encoder_spec": {"name": "edsr-baseline", "args": {"no_upsampling": True}},
                "imnet_spec": {"name": "mlp", "args": {"out_dim": 3, "hidden_list": [256, 256, 256, 256]}},
            },
            "sd": sd,
        },
        "optimizer": {"state": {0: {"step": torch.tensor(5.0), "exp_avg": torch.zeros(3)}},
                      "param_groups": [{"lr": 1e-4, "params": [0]}]},
        "epoch": 1000,
    }
    torch.save(ck, path)


def reference_liif(sd: dict[str, torch.Tensor], lr: torch.Tensor, out_h: int, out_w: int) -> torch.Tensor:
    """An independent re-statement of the public LIIF forward pass in normalised
    coordinates with grid_sample (nearest, align_corners=False), to pin down
    coordinate order, unfold channel order and the ensemble rule."""
    x = F.conv2d(lr, sd["encoder.head.0.weight"], sd["encoder.head.0.bias"], padding=1)
    head = x
    for i in range(16):
        y = F.relu(F.conv2d(x, sd[f"encoder.body.{i}.body.0.weight"], sd[f"encoder.body.{i}.body.0.bias"], padding=1))
        x = x + F.conv2d(y, sd[f"encoder.body.{i}.body.2.weight"], sd[f"encoder.body.{i}.body.2.bias"], padding=1)
    feat = F.conv2d(x, sd["encoder.body.16.weight"], sd["encoder.body.16.bias"], padding=1) + head
    b, c, h, w = feat.shape
    feat = F.unfold(feat, 3, padding=1).view(b, c * 9, h, w)

    def centres(n: int) -> torch.Tensor:
        return -1 + (2 * torch.arange(n, dtype=torch.float32) + 1) / n

    qy, qx = torch.meshgrid(centres(out_h), centres(out_w), indexing="ij")
    coord = torch.stack((qy, qx), -1).view(1, -1, 2)
    cell = torch.tensor([2 / out_h, 2 / out_w]).expand_as(coord)
    fy, fx = torch.meshgrid(centres(h), centres(w), indexing="ij")
    feat_coord = torch.stack((fy, fx), 0).unsqueeze(0)

    def mlp(v: torch.Tensor) -> torch.Tensor:
        for k in range(5):
            v = F.linear(v, sd[f"imnet.layers.{2 * k}.weight"], sd[f"imnet.layers.{2 * k}.bias"])
            if k < 4:
                v = F.relu(v)
        return v

    preds, areas = [], []
    for vy in (-1, 1):
        for vx in (-1, 1):
            shifted = coord.clone()
            shifted[..., 0] += vy / h + 1e-6
            shifted[..., 1] += vx / w + 1e-6
            shifted.clamp_(-1 + 1e-6, 1 - 1e-6)
            grid = shifted.flip(-1).unsqueeze(1)
            q_feat = F.grid_sample(feat, grid, mode="nearest", align_corners=False)[:, :, 0].permute(0, 2, 1)
            q_coord = F.grid_sample(feat_coord, grid, mode="nearest", align_corners=False)[:, :, 0].permute(0, 2, 1)
            rel = (coord - q_coord) * torch.tensor([h, w])
            rel_cell = cell * torch.tensor([h, w])
            preds.append(mlp(torch.cat((q_feat, rel, rel_cell), -1)))
            areas.append((rel[..., 0] * rel[..., 1]).abs() + 1e-9)
    total = sum(areas)
    out = sum(p * (a / total).unsqueeze(-1) for p, a in zip(preds, areas[::-1]))
    return (out * 0.5 + 0.5).clamp(0, 1).view(out_h, out_w, 3)


def test_public_liif_checkpoint_imports_and_decodes_like_the_reference(tmp_path: Path) -> None:
    sd = public_liif_state_dict()
    path = tmp_path / "edsr-baseline-liif.pth"
    write_public_liif(path, sd)
    up = load_upscaler("liif", "cpu", weights=path, precision="fp32")  # the exact reference
    # Published weights, but the file holds no figure measured here: not called trained.
    assert not up.weights.trained and "DIV2K" in up.weights.summary and "not evaluated" in up.weights.summary
    rng = np.random.default_rng(0)
    image = rng.random((9, 11, 3)).astype(np.float32)
    out_h, out_w = 33, 41  # x3.67 / x3.73: anisotropic on purpose
    ours = up.decode_lattice(up.encode(image), Lattice.from_region(Region.whole(11, 9), out_w, out_h))
    lr = (torch.from_numpy(image).permute(2, 0, 1).unsqueeze(0) - 0.5) / 0.5
    with torch.no_grad():
        ref = reference_liif(sd, lr, out_h, out_w).numpy()
    np.testing.assert_allclose(ours, ref, atol=2e-5)


def test_pickle_that_runs_code_is_refused(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):  # noqa: D105
            return (os.system, (f"touch {marker}",))

    path = tmp_path / "evil.pth"
    torch.save({"model": Evil()}, path)
    with pytest.raises(CheckpointError, match="weights-only"):
        checkpoint.load(path)
    assert not marker.exists()


def save_liif(path: Path) -> None:
    model = registry.build("liif")
    checkpoint.save(path, model, "liif", {}, provenance={"data": "test", "steps": 3})


def test_round_trip_keeps_weights_and_metadata(tmp_path: Path) -> None:
    model = registry.build("liif")
    path = tmp_path / "liif.safetensors"
    checkpoint.save(path, model, "liif", {"hidden": [256, 256, 256, 256]},
                    provenance={"data": "unit test", "steps": 7}, metrics={"psnr_y/Set5/x4": 31.1}, half=True)
    ck = checkpoint.load(path)
    assert (ck.method, ck.provenance["steps"], ck.metrics["psnr_y/Set5/x4"]) == ("liif", 7, 31.1)
    rebuilt = ck.build()
    for key, value in model.state_dict().items():
        torch.testing.assert_close(rebuilt.state_dict()[key], value.half().float())
    up = load_upscaler("liif", "cpu", weights=path)
    assert up.weights.trained and "7 steps" in up.weights.summary


def _tamper(path: Path, out: Path, fn) -> None:
    from safetensors.torch import load_file, save_file

    tensors = load_file(str(path))
    meta = checkpoint.read_metadata(path)
    tensors, meta = fn(tensors, meta)
    save_file(tensors, str(out), metadata=meta)


@pytest.mark.parametrize("change, message", [
    (lambda t, m: ({k: v for k, v in t.items() if k != "imnet.layers.4.weight"}, m), "imnet.layers.4.weight.*missing"),
    (lambda t, m: ({**t, "imnet.extra": torch.zeros(2)}, m), "unexpected tensor 'imnet.extra'"),
    (lambda t, m: ({**t, "imnet.layers.0.weight": torch.zeros(256, 581)}, m), r"imnet.layers.0.weight.*\(256, 581\)"),
    (lambda t, m: (t, {**m, "method": "warp-drive"}), "unknown method"),
    (lambda t, m: (t, {**m, "args": json.dumps({"hidden": [128, 128]})}), "imnet.layers"),
])
def test_weights_that_do_not_fit_are_refused_naming_the_tensor(tmp_path: Path, change, message: str) -> None:
    good = tmp_path / "good.safetensors"
    save_liif(good)
    bad = tmp_path / "bad.safetensors"
    _tamper(good, bad, change)
    with pytest.raises(CheckpointError, match=message):
        checkpoint.load(bad).build()


def test_truncated_file_is_refused(tmp_path: Path) -> None:
    good = tmp_path / "good.safetensors"
    save_liif(good)
    bad = tmp_path / "liif.safetensors"
    bad.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(CheckpointError, match="not a readable"):
        load_upscaler("liif", "cpu", weights=bad)
