"""Training on the CPU with tiny settings: every method learns, runs resume
exactly, budgets stop cleanly, exports load as trained weights, and the data
path makes geometrically correct, antialiased batches."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

import main
from inference import checkpoint, registry
from inference.catalog import load_upscaler
from training.data import ImagePool, Sampler, list_images, select, shard, shards_needed
from training.export import export
from training.recipes import RECIPES, learning_rate, recipe_for, with_overrides
from training.run import TrainConfig
from training.run_state import LOG_FILE, MODEL_FILE, STATE_FILE
from training.train import Budget, train

TINY_ENCODER = {"encoder_spec": {"name": "edsr-baseline", "args": {"n_resblocks": 1, "n_feats": 8}}}


def textured(h: int, w: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    base = 0.5 + 0.3 * np.sin(xx[..., None] * np.array([0.3, 0.5, 0.7]) + yy[..., None] * np.array([0.4, 0.2, 0.6]))
    return (np.clip(base + 0.1 * rng.standard_normal((h, w, 3)), 0, 1) * 255).astype(np.uint8)


@pytest.fixture
def images(tmp_path: Path) -> Path:
    root = tmp_path / "train"
    for i, (h, w) in enumerate([(40, 44), (48, 36), (52, 52)]):
        (root / f"part{i % 2}").mkdir(parents=True, exist_ok=True)
        Image.fromarray(textured(h, w, i)).save(root / f"part{i % 2}" / f"img{i}.png")
    return root


def tiny_config(method: str, out: Path, **overrides) -> TrainConfig:
    recipe = with_overrides(recipe_for(method), batch=2, samples=32, lr_patch=8, hr_crop=24)
    return TrainConfig(method, replace(recipe, **overrides), out, dict(TINY_ENCODER), seed=0)


def initial_weights(method: str) -> dict[str, torch.Tensor]:
    torch.manual_seed(0)
    return registry.build(method, **TINY_ENCODER).state_dict()


def log_steps(run_dir: Path) -> list[int]:
    lines = (run_dir / LOG_FILE).read_text().splitlines()
    assert lines[0] == "step,loss,lr,seconds,images_per_s"
    return [int(line.split(",")[0]) for line in lines[1:]]


def test_every_registered_method_has_a_recipe() -> None:
    assert set(registry.method_names()) <= set(RECIPES)


@pytest.mark.parametrize("method", registry.method_names())
def test_three_cpu_steps_give_a_finite_loss_and_change_the_weights(method: str, images: Path, tmp_path: Path) -> None:
    out = tmp_path / "runs" / method
    (run,) = train([tiny_config(method, out)], select(images), Budget(steps=3, log_every=1), device="cpu",
                   say=lambda _line: None)
    assert run.step == 3 and np.isfinite(run.last_loss) and run.last_loss > 0
    assert log_steps(out) == [1, 2, 3]
    saved = checkpoint.load(out / MODEL_FILE)
    before = initial_weights(method)
    changed = [k for k, v in saved.state_dict.items() if not torch.equal(v, before[k])]
    assert changed, "no weight changed"
    assert any(k.startswith("encoder.") for k in changed) and any(not k.startswith("encoder.") for k in changed)
    assert saved.provenance["steps"] == 3 and saved.provenance["device"] == "CPU"


def test_resuming_continues_the_step_count_and_equals_one_long_run(images: Path, tmp_path: Path) -> None:
    quiet = {"say": lambda _line: None, "device": "cpu"}
    data = select(images)
    (_straight,) = train([tiny_config("liif", tmp_path / "a")], data, Budget(steps=4, log_every=1), **quiet)
    (first,) = train([tiny_config("liif", tmp_path / "b")], data, Budget(steps=2, log_every=1), **quiet)
    assert first.step == 2
    (second,) = train([tiny_config("liif", tmp_path / "b")], data, Budget(steps=4, log_every=1), **quiet)
    assert second.step == 4 and second.segments == 2
    assert log_steps(tmp_path / "b") == [1, 2, 3, 4]
    # Weights, optimizer moments and data order all carried over: the same
    # result as four steps in one go.
    a = checkpoint.load(tmp_path / "a" / MODEL_FILE).state_dict
    b = checkpoint.load(tmp_path / "b" / MODEL_FILE).state_dict
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=0, atol=1e-6)
    # A finished run is left alone when the same command comes again.
    (again,) = train([tiny_config("liif", tmp_path / "b")], data, Budget(steps=4, log_every=1), **quiet)
    assert again.step == 4 and log_steps(tmp_path / "b") == [1, 2, 3, 4]


def test_state_file_holds_no_pickle_and_resumes_adam(images: Path, tmp_path: Path) -> None:
    (_run,) = train([tiny_config("liif", tmp_path / "r")], select(images), Budget(steps=2), device="cpu",
                   say=lambda _line: None)
    raw = (tmp_path / "r" / STATE_FILE).read_bytes()
    header_len = int.from_bytes(raw[:8], "little")
    header = json.loads(raw[8:8 + header_len])  # a safetensors file: JSON header + raw tensors
    state = json.loads(header["__metadata__"]["state"])
    assert state["step"] == 2 and state["method"] == "liif"
    assert any(k.startswith("optimizer.") and k.endswith("exp_avg_sq") for k in header)
    (resumed,) = train([tiny_config("liif", tmp_path / "r")], select(images), Budget(steps=2), device="cpu",
                       say=lambda _line: None)
    adam_steps = {float(s["step"]) for s in resumed.optimizer.state_dict()["state"].values()}
    assert adam_steps == {2.0}


def test_a_spent_time_budget_saves_without_training(images: Path, tmp_path: Path) -> None:
    (run,) = train([tiny_config("liif", tmp_path / "t")], select(images), Budget(steps=10, seconds=0.0),
                   device="cpu", say=lambda _line: None)
    assert run.step == 0
    assert (tmp_path / "t" / MODEL_FILE).is_file() and (tmp_path / "t" / STATE_FILE).is_file()
    with pytest.raises(ValueError, match="nothing trained"):
        export(tmp_path / "t", tmp_path / "x.safetensors")


def test_a_different_architecture_is_not_resumed_into(images: Path, tmp_path: Path) -> None:
    train([tiny_config("liif", tmp_path / "m")], select(images), Budget(steps=1), device="cpu", say=lambda _l: None)
    other = tiny_config("liif", tmp_path / "m")
    other.model_args = {"encoder_spec": {"name": "edsr-baseline", "args": {"n_resblocks": 2, "n_feats": 8}}}
    with pytest.raises(RuntimeError, match="model arguments"):
        train([other], select(images), Budget(steps=2), device="cpu", say=lambda _l: None)


def test_a_fresh_run_continues_from_an_exported_checkpoint_with_a_rewarmed_rate(images: Path,
                                                                                  tmp_path: Path) -> None:
    quiet = {"say": lambda _line: None, "device": "cpu"}
    train([tiny_config("liif", tmp_path / "run", warmup=4)], select(images), Budget(steps=3), **quiet)
    shipped = export(tmp_path / "run", tmp_path / "weights" / "liif.safetensors")
    config = replace(tiny_config("liif", tmp_path / "fresh", warmup=4), continue_from=shipped)
    (run,) = train([config], select(images), Budget(steps=5, log_every=1), **quiet)
    # It went on from the exported step count, not from 0 ...
    assert run.step == 5 and log_steps(tmp_path / "fresh") == [4, 5]
    # ... with the rate ramping up again for the fresh Adam: 1/4, then 2/4 of the schedule's.
    rates = [float(line.split(",")[2]) for line in (tmp_path / "fresh" / LOG_FILE).read_text().splitlines()[1:]]
    assert rates == pytest.approx([learning_rate(config.recipe, 3) / 4, learning_rate(config.recipe, 4) / 2],
                                  rel=1e-3)
    # Its own saved state now decides: the file is not read again, the ramp goes on.
    (again,) = train([config], select(images), Budget(steps=6, log_every=1), **quiet)
    assert again.step == 6 and again.fresh_optimizer_at == 3



def test_a_fresh_run_told_to_continue_from_a_missing_file_does_not_start_from_step_0(images: Path,
                                                                                    tmp_path: Path) -> None:
    config = replace(tiny_config("liif", tmp_path / "fresh"), continue_from=tmp_path / "gone.safetensors")
    with pytest.raises(FileNotFoundError, match=r"gone\.safetensors: no checkpoint to continue liif from"):
        train([config], select(images), Budget(steps=1), device="cpu", say=lambda _l: None)
    assert not (tmp_path / "fresh" / MODEL_FILE).exists()

def test_exported_checkpoint_loads_as_trained(images: Path, tmp_path: Path) -> None:
    train([tiny_config("liif", tmp_path / "run")], select(images), Budget(steps=3), device="cpu", say=lambda _l: None)
    path = export(tmp_path / "run", tmp_path / "weights" / "liif.safetensors", {"psnr_y/Set5/x4": 31.5})
    assert all(v.dtype == torch.float16 for v in checkpoint.load(path).state_dict.values())
    up = load_upscaler("liif", "cpu", weights=path)
    assert up.weights.trained
    assert up.weights.provenance["steps"] == 3 and up.weights.provenance["device"] == "CPU"
    assert str(images) in up.weights.provenance["data"] and "3 images" in up.weights.provenance["data"]
    assert up.weights.metrics == {"psnr_y/Set5/x4": 31.5}
    assert up.upscale(textured(10, 12, 0), 2.5).shape == (25, 30, 3)


def test_cli_trains_two_methods_interleaved_and_exports_both(images: Path, tmp_path: Path,
                                                            capsys: pytest.CaptureFixture) -> None:
    runs, weights = tmp_path / "runs", tmp_path / "weights"
    code = main.main(["train", "--method", "liif,diinn", "--data", str(images), "--out", str(runs),
                      "--steps", "2", "--batch", "2", "--samples", "32", "--patch", "8", "--log-every", "1",
                      "--device", "cpu", "--model-args", json.dumps(TINY_ENCODER), "--export", str(weights),
                      "--metric", "psnr_y/Set5/x4=31.5"])
    assert code == 0
    printed = capsys.readouterr().out
    # One step of each, in turn.
    order = [line.split()[0] for line in printed.splitlines() if " step " in line and "loss" in line]
    assert order == ["liif", "diinn", "liif", "diinn"]
    assert "it/s" in printed and "ETA" in printed
    for method in ("liif", "diinn"):
        assert log_steps(runs / method) == [1, 2]
        up = load_upscaler(method, "cpu", weights=weights / f"{method}.safetensors")
        assert up.weights.trained and up.weights.metrics["psnr_y/Set5/x4"] == 31.5



@pytest.mark.parametrize(("mistake", "message"), [
    (["--continue-from", "{tmp}/weights"], "--continue-from: {tmp}/weights is a folder, not a checkpoint of liif"),
    (["--continue-from", "{tmp}/gone.safetensors"], "--continue-from: {tmp}/gone.safetensors is not there"),
    (["--halve-every", "0"], "--halve-every must be at least 1 step, got 0"),
    (["--out", "{tmp}/a-file"], "--out: {tmp}/a-file is a file, not a run folder"),
    (["--steps", "-1"], "--steps must be at least 1, got -1"),
    (["--minutes", "-1"], "--minutes must be a positive number, got -1"),
    (["--export", "{tmp}/weights", "--metric", "x=nan"], "--metric x: nan is not a measured figure"),
    (["--export", "{tmp}/weights", "--metric", "psnr_y/Set5/x4=inf"], "--metric psnr_y/Set5/x4: inf is not a"),
    (["--export", "{tmp}/weights", "--metrics-from", "{tmp}/eval.json"],
     "{tmp}/eval.json: liif on Set5 x4 has PSNR inf"),
])
def test_cli_refuses_a_value_no_run_can_use_in_one_line_before_any_work(
        mistake: list[str], message: str, images: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    (tmp_path / "weights").mkdir()
    (tmp_path / "a-file").write_text("not a folder")
    # An evaluation of a perfect reconstruction: PSNR Infinity (JSON allows it).
    (tmp_path / "eval.json").write_text('{"results": [{"method": "liif", "set": "Set5", "scale": 4, '
                                        '"psnr": Infinity, "ssim": 1.0}]}')
    args = ["train", "--method", "liif", "--data", str(images), "--out", str(tmp_path / "runs" / "{method}"),
            "--steps", "1", "--batch", "2", "--samples", "32", "--patch", "8", "--device", "cpu",
            "--model-args", json.dumps(TINY_ENCODER)]
    code = main.main(args + [item.replace("{tmp}", str(tmp_path)) for item in mistake])
    err = capsys.readouterr().err
    assert code == 2
    assert len(err.splitlines()) == 1 and err.startswith("train: " + message.replace("{tmp}", str(tmp_path)))
    assert not (tmp_path / "runs").exists(), "nothing may be trained for a bad argument"
    assert not any((tmp_path / "weights").iterdir())

def test_shards_split_the_data_into_disjoint_balanced_parts(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    root = tmp_path / "data"
    root.mkdir()
    for i in range(11):
        (root / f"f{i:02d}.png").write_bytes(bytes(int(rng.integers(100, 5000))))
    paths = list_images(root)
    n = shards_needed(paths, max_bytes=12_000)
    parts = [shard(paths, k, n) for k in range(n)]
    assert sorted(p for part in parts for p in part) == paths
    assert all(sum(p.stat().st_size for p in part) <= 12_000 for part in parts)
    assert shard(list(reversed(paths)), 1, n) == parts[1] and shard(paths, 1 + n, n) == parts[1]


def test_make_shard_copies_one_shard_with_its_manifest(images: Path, tmp_path: Path) -> None:
    dest = tmp_path / "data_shard"
    code = main.main(["train", "--data", str(images), "--shard", "1", "--shards", "2", "--make-shard", str(dest)])
    assert code == 0
    expected = [p.relative_to(images) for p in shard(list_images(images), 1, 2)]
    assert [p.relative_to(dest) for p in list_images(dest)] == expected
    copied = select(dest)
    assert (copied.shard_index, copied.shard_count) == (1, 2) and copied.source == images.as_posix()
    assert "shard 1 of 2" in copied.description


def smooth_pool(tmp_path: Path) -> ImagePool:
    yy, xx = np.mgrid[0:200, 0:240]
    img = np.stack([0.5 + 0.4 * np.sin(xx / 23 + yy / 41), 0.5 + 0.4 * np.cos(yy / 17),
                    0.1 + 0.8 * xx / 240 + 0 * yy], -1)
    Image.fromarray((img * 255).round().astype(np.uint8)).save(tmp_path / "smooth.png")
    return ImagePool([tmp_path / "smooth.png"], torch.device("cpu"))


def test_point_batches_pair_each_target_with_its_place_in_the_lr(tmp_path: Path) -> None:
    sampler = Sampler(smooth_pool(tmp_path), seed=3)
    scales = [1.0, 1.7, 2.5, 3.3, 4.0]
    batch = sampler.points(len(scales), scales, lr_size=48, samples=400)
    assert batch.lr.shape == (5, 3, 48, 48) and batch.target.shape == (5, 400, 3)
    for i, s in enumerate(scales):
        assert batch.cell[i, 0, 0].item() == pytest.approx(48 / round(48 * s))
        coord = batch.coord[i]

        def lr_at(yx: torch.Tensor, lr: torch.Tensor = batch.lr[i:i + 1]) -> torch.Tensor:
            grid = (yx.flip(-1) / 48 * 2 - 1)[None, None]
            return F.grid_sample(lr, grid, mode="bicubic", align_corners=False, padding_mode="border")[0, :, 0].t()

        # A smooth image: the LR, interpolated at a target's coordinate, is the target.
        assert (lr_at(coord) - batch.target[i]).abs().mean() < 0.02
        assert (lr_at(coord.flip(-1)) - batch.target[i]).abs().mean() > 0.1


def test_lr_is_antialiased_and_8_bit(tmp_path: Path) -> None:
    noise = (np.random.default_rng(0).random((200, 200, 3)) * 255).astype(np.uint8)
    Image.fromarray(noise).save(tmp_path / "noise.png")
    sampler = Sampler(ImagePool([tmp_path / "noise.png"], torch.device("cpu")), seed=0)
    lr = sampler.points(2, [4.0, 4.0], lr_size=48, samples=64).lr * 0.5 + 0.5
    # Averaging over the 4x4 footprint tames the noise; point-sampling bicubic would not.
    assert lr.std() < 0.1
    torch.testing.assert_close(lr * 255, (lr * 255).round(), rtol=0, atol=1e-4)


def test_lattice_batches_use_the_evaluation_size_rule(tmp_path: Path) -> None:
    sampler = Sampler(smooth_pool(tmp_path), seed=0)
    for s, lr_side, hr_side in [(2.0, 96, 192), (2.5, 76, 190), (3.5, 54, 189), (4.0, 48, 192)]:
        batch = sampler.lattice(2, s, 192)
        assert batch.lr.shape == (2, 3, lr_side, lr_side) and batch.hr.shape == (2, 3, hr_side, hr_side)
        assert batch.scale == pytest.approx(s)


def test_recipes_follow_the_papers_schedules() -> None:
    liif, siren = recipe_for("liif"), recipe_for("liif-siren")
    assert learning_rate(liif, 199_999) == 1e-4 and learning_rate(liif, 200_000) == 5e-5
    assert learning_rate(siren, 120_000) == 5e-5 and learning_rate(liif, 400_000) == 2.5e-5
    assert recipe_for("a-liif").batch == 8 and recipe_for("diinn").scales == (2.0, 3.0, 4.0)
    assert recipe_for("diif").target == "lattice" and recipe_for("diif").hr_crop == 192


@pytest.mark.gpu
@pytest.mark.parametrize("amp", ["bf16", "fp16"])
def test_cuda_training_with_mixed_precision_resumes_a_cpu_run(amp: str, images: Path, tmp_path: Path) -> None:
    quiet = {"say": lambda _line: None}
    train([tiny_config("liif", tmp_path / "g")], select(images), Budget(steps=2), device="cpu", **quiet)
    (run,) = train([tiny_config("liif", tmp_path / "g")], select(images), Budget(steps=5, log_every=1),
                   device="cuda", amp=amp, **quiet)
    assert run.step == 5 and np.isfinite(run.last_loss)
    assert run.devices == ["CPU", run.devices[1]] and run.devices[1].startswith("CUDA")
    up = load_upscaler("liif", "cuda", weights=export(tmp_path / "g", tmp_path / "w.safetensors"))
    assert up.weights.trained and "CUDA" in up.weights.provenance["device"]
