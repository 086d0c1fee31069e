"""Checkpoints that load but would produce garbage are refused in one line
naming the tensor (non-float, non-finite or absurd weights, absurd metrics), no
output is ever written with non-finite values, and a checkpoint that changes
while it is read never kills the process (no memory-mapped read)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file, save_file

import main
from inference import checkpoint, imageio, registry

ROOT = Path(__file__).resolve().parent.parent
TINY_LIIF = {"encoder_spec": {"name": "edsr-baseline", "args": {"n_resblocks": 1, "n_feats": 8}}, "hidden": [16]}


def cli(*argv: str) -> int:
    try:
        return main.main(list(argv))
    except SystemExit as exit_:
        return int(exit_.code or 0)


def tiny_checkpoint(path: Path, metrics: dict[str, object] | None = None) -> Path:
    model = registry.build("liif", **TINY_LIIF)
    checkpoint.save(path, model, "liif", TINY_LIIF, provenance={"data": "test", "steps": 3},
                    metrics={"psnr_y/Set5/x4": 20.5} if metrics is None else metrics)
    return path


def rewritten(path: Path, change: dict[str, torch.Tensor], out: Path, metadata: dict[str, str] | None = None) -> Path:
    """`path`'s checkpoint with some tensors replaced (same metadata unless given)."""
    from safetensors import safe_open

    with safe_open(str(path), "pt") as handle:
        meta = dict(handle.metadata() or {})
    tensors = {**load_file(str(path)), **change}
    save_file(tensors, str(out), metadata={**meta, **(metadata or {})})
    return out


@pytest.fixture
def photo(tmp_path: Path) -> Path:
    path = tmp_path / "photo.png"
    Image.fromarray(np.random.default_rng(3).integers(0, 256, (10, 12, 3), dtype=np.uint8)).save(path)
    return path


def last_layer(tensors: dict[str, torch.Tensor], suffix: str) -> str:
    return sorted(k for k in tensors if k.endswith(suffix) and not k.startswith("encoder."))[-1]


@pytest.mark.parametrize("dtype", [torch.int64, torch.bool, torch.uint8, torch.float8_e4m3fn])
def test_non_float_tensors_are_refused_naming_the_tensor(tmp_path: Path, photo: Path, dtype: torch.dtype,
                                                         capsys: pytest.CaptureFixture) -> None:
    good = tiny_checkpoint(tmp_path / "good.safetensors")
    tensors = load_file(str(good))
    name = last_layer(tensors, ".weight")
    bad = rewritten(good, {name: tensors[name].to(dtype)}, tmp_path / "bad.safetensors")
    with pytest.raises(checkpoint.CheckpointError, match=name.replace(".", r"\.")):
        checkpoint.load(bad)
    out = tmp_path / "out.png"
    assert cli("upscale", str(photo), "--method", "liif", "--weights", str(bad), "-o", str(out)) != 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and name in err[0] and "Traceback" not in err[0]
    assert not out.exists()


@pytest.mark.parametrize("value", [float("nan"), float("inf"), 1e30])
def test_non_finite_or_absurd_weights_are_refused_naming_the_tensor(tmp_path: Path, value: float) -> None:
    good = tiny_checkpoint(tmp_path / "good.safetensors")
    tensors = load_file(str(good))
    name = last_layer(tensors, ".bias")
    poisoned = tensors[name].clone()
    poisoned[0] = value
    bad = rewritten(good, {name: poisoned}, tmp_path / "bad.safetensors")
    with pytest.raises(checkpoint.CheckpointError) as error:
        checkpoint.load(bad)
    assert name in str(error.value) and "\n" not in str(error.value)


def test_weights_that_overflow_inside_the_network_are_refused(tmp_path: Path) -> None:
    """Finite hidden weights so large that the activations overflow to inf/NaN."""
    good = tiny_checkpoint(tmp_path / "good.safetensors")
    tensors = load_file(str(good))
    name = sorted(k for k in tensors if k.endswith(".weight") and not k.startswith("encoder."))[0]
    bad = rewritten(good, {name: tensors[name] * 1e25}, tmp_path / "bad.safetensors")
    with pytest.raises(checkpoint.CheckpointError, match=name.replace(".", r"\.")):
        checkpoint.load(bad)


@pytest.mark.parametrize("metrics", [{"psnr_y/Set5/x4": "9" * 4000}, {"psnr_y/Set5/x4": float("nan")},
                                     {"psnr_y/Set5/x4": 1e300}])
def test_absurd_metrics_are_refused(tmp_path: Path, metrics: dict[str, object]) -> None:
    good = tiny_checkpoint(tmp_path / "good.safetensors")
    text = json.dumps(metrics).replace('"' + "9" * 4000 + '"', "9" * 4000)
    bad = rewritten(good, {}, tmp_path / "bad.safetensors", metadata={"metrics": text})
    with pytest.raises(checkpoint.CheckpointError, match="metric"):
        checkpoint.load(bad)


def test_no_image_is_written_with_non_finite_values(tmp_path: Path) -> None:
    rgb = np.full((4, 5, 3), 0.5, np.float32)
    rgb[1, 2, 0] = np.nan
    for name in ("a.png", "b.tif", "c.webp"):
        with pytest.raises(imageio.ImageSaveError, match="non-finite"):
            imageio.save_image(tmp_path / name, rgb)
        assert not (tmp_path / name).exists()
    assert list(tmp_path.iterdir()) == []


def test_a_checkpoint_truncated_while_it_is_read_never_kills_the_process(tmp_path: Path) -> None:
    """A memory-mapped read dies with SIGBUS when the file shrinks under it; the
    loader reads the file first, so a changing file gets one line at worst."""
    good = tiny_checkpoint(tmp_path / "good.safetensors")
    data = good.read_bytes()
    target = tmp_path / "changing.safetensors"
    script = ("import sys; from inference import checkpoint\n"
              "for _ in range(200):\n"
              "    try:\n"
              "        checkpoint.load(sys.argv[1])\n"
              "    except checkpoint.CheckpointError:\n"
              "        pass\n")
    target.write_bytes(data)
    stop = threading.Event()

    def churn() -> None:
        while not stop.is_set():
            with open(target, "r+b") as handle:
                handle.truncate(len(data) // 3)
                handle.seek(0)
                handle.write(data)

    thread = threading.Thread(target=churn, daemon=True)
    thread.start()
    try:
        result = subprocess.run([sys.executable, "-c", script, str(target)], capture_output=True, text=True,
                                cwd=ROOT, timeout=300, env={**os.environ})
    finally:
        stop.set()
        thread.join()
    assert result.returncode == 0, (result.returncode, result.stderr[-2000:])


def test_weights_within_bounds_that_overflow_together_are_refused_by_a_probe(tmp_path: Path) -> None:
    """Each weight under the 1e4 bound, yet together they overflow: the probe
    decode after loading refuses them, naming the first layer that overflowed."""
    good = tiny_checkpoint(tmp_path / "good.safetensors")
    tensors = load_file(str(good))
    loud = {k: torch.full_like(v, 9000.0) for k, v in tensors.items() if k.endswith(".weight")}
    bad = rewritten(good, loud, tmp_path / "bad.safetensors")
    ck = checkpoint.load(bad)  # every tensor passes on its own
    with pytest.raises(checkpoint.CheckpointError, match=r"overflow.*tensor 'encoder\."):
        ck.build()
