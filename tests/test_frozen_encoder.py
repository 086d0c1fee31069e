"""Decoders trained on one frozen, shared encoder: the encoder is stored once
and referenced by sha256, training leaves it untouched and runs it without a
graph, warm starts copy exactly the LIIF layers that correspond, and the public
LIIF release converts only when it is the release."""

from __future__ import annotations

import json
import os
import signal
import threading
from pathlib import Path

import numpy as np
import pytest
import torch

import main
from inference import checkpoint, registry
from inference.catalog import load_upscaler
from inference.checkpoint import CheckpointError
from inference.release import LIIF_RELEASE, import_liif_release
from tests.test_train import TINY_ENCODER, images, textured, tiny_config  # noqa: F401  (fixture)
from training.data import select
from training.export import export
from training.recipes import RECIPES, learning_rate, recipe_for
from training.run_state import MODEL_FILE
from training.train import Budget, train


def tiny_liif(seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    return registry.build("liif", **TINY_ENCODER)


def write_shared_pair(folder: Path, seed: int = 0) -> tuple[Path, Path]:
    model = tiny_liif(seed)
    encoder = folder / "enc.safetensors"
    checkpoint.save_encoder(encoder, model, TINY_ENCODER["encoder_spec"], provenance={"source": "test"})
    decoder = folder / "liif.safetensors"
    checkpoint.save(decoder, model, "liif", dict(TINY_ENCODER), provenance={"data": "test"}, encoder_file=encoder)
    return encoder, decoder


def test_a_decoder_file_holds_no_encoder_and_loads_with_the_shared_one(tmp_path: Path) -> None:
    encoder, decoder = write_shared_pair(tmp_path)
    header = json.loads(decoder.read_bytes()[8:8 + int.from_bytes(decoder.read_bytes()[:8], "little")])
    assert not any(k.startswith("encoder.") for k in header if k != "__metadata__")
    ref = json.loads(header["__metadata__"]["encoder"])
    assert ref == {"file": "enc.safetensors", "sha256": checkpoint.file_sha256(encoder)}
    # The same pixels as the model it was written from.
    image = textured(9, 11, 1).astype(np.float32) / 255
    full = tmp_path / "full"
    full.mkdir()
    checkpoint.save(full / "liif.safetensors", tiny_liif(), "liif", dict(TINY_ENCODER))
    split_up = load_upscaler("liif", "cpu", weights=decoder)
    full_up = load_upscaler("liif", "cpu", weights=full / "liif.safetensors")
    np.testing.assert_array_equal(split_up.upscale(image, 2.5), full_up.upscale(image, 2.5))
    assert os.stat(decoder).st_mode & 0o777 == 0o666 & ~_umask()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_a_decoder_is_refused_on_an_encoder_it_was_not_trained_with(tmp_path: Path) -> None:
    encoder, decoder = write_shared_pair(tmp_path)
    # Another encoder under the same name: same shapes, other weights.
    checkpoint.save_encoder(encoder, tiny_liif(seed=1), TINY_ENCODER["encoder_spec"])
    with pytest.raises(CheckpointError, match="not trained with"):
        checkpoint.load(decoder)
    encoder.unlink()
    with pytest.raises(CheckpointError, match="encoder file is missing"):
        checkpoint.load(decoder)
    # Writing a reference to an encoder the model does not hold is refused too.
    checkpoint.save_encoder(encoder, tiny_liif(seed=1), TINY_ENCODER["encoder_spec"])
    with pytest.raises(CheckpointError, match=r"differs from enc\.safetensors"):
        checkpoint.save(tmp_path / "x.safetensors", tiny_liif(seed=0), "liif", dict(TINY_ENCODER),
                        encoder_file=encoder)


def test_the_release_converter_checks_the_sha256(tmp_path: Path) -> None:
    fake = tmp_path / LIIF_RELEASE.filename
    fake.write_bytes(b"not the release")
    with pytest.raises(CheckpointError, match="sha256"):
        import_liif_release(fake, tmp_path / "out")
    assert not (tmp_path / "out").exists()
    assert main.main(["import-liif", str(fake), "--out", str(tmp_path / "out")]) == 1


def test_frozen_encoder_training_changes_only_the_decoder(images: Path, tmp_path: Path) -> None:  # noqa: F811
    encoder, _ = write_shared_pair(tmp_path)
    config = tiny_config("ipe-liif", tmp_path / "run")
    config.encoder_from = encoder
    (run,) = train([config], select(images), Budget(steps=3), device="cpu", say=lambda _l: None)
    trained = {n for group in run.optimizer.param_groups for n in map(id, group["params"])}
    assert all(id(p) not in trained for p in run.model.encoder.parameters())
    saved = checkpoint.load(tmp_path / "run" / MODEL_FILE)
    shared = checkpoint.load_encoder(encoder)
    for key, value in shared.tensors.items():
        assert torch.equal(saved.state_dict["encoder." + key], value)
    start = registry.build("ipe-liif", **TINY_ENCODER).state_dict()
    assert any(not torch.equal(v, start[k]) for k, v in saved.state_dict.items() if not k.startswith("encoder."))
    assert saved.provenance["encoder"]["sha256"] == shared.sha256
    # Exported beside the encoder, the decoder references it and loads as trained.
    path = export(tmp_path / "run", tmp_path / "ipe-liif.safetensors", {"psnr_y/Set5/x4": 1.0})
    assert "encoder" in checkpoint.read_metadata(path)
    weights = load_upscaler("ipe-liif", "cpu", weights=path).weights
    # 1 dB on Set5 x4 is far below the floor: labelled in training, with its own figures.
    assert not weights.trained and weights.in_training
    assert "3 steps" in weights.summary and "1.00 dB on Set5 x4" in weights.summary
    # Resuming without the frozen encoder would train it: refused.
    config.encoder_from = None
    with pytest.raises(RuntimeError, match="--encoder-from"):
        train([config], select(images), Budget(steps=4), device="cpu", say=lambda _l: None)


def test_a_frozen_run_continues_with_its_encoder_fine_tuned(images: Path, tmp_path: Path) -> None:  # noqa: F811
    """--encoder-lr continues a decoder-only run with the encoder training
    beside it at its own rate; the export then carries that encoder, and the
    run can no longer be resumed as frozen."""
    encoder, _ = write_shared_pair(tmp_path)
    config = tiny_config("diif", tmp_path / "run", warmup=10)
    config.encoder_from = encoder
    train([config], select(images), Budget(steps=2), device="cpu", say=lambda _l: None)
    config.encoder_lr = 1e-3
    (run,) = train([config], select(images), Budget(steps=5), device="cpu", say=lambda _l: None)
    decoder_group, encoder_group = run.optimizer.param_groups
    assert {id(p) for p in encoder_group["params"]} == {id(p) for p in run.model.encoder.parameters()}
    # Ramped up from the step the tuning started (2), at its own rate.
    assert encoder_group["lr"] == pytest.approx(1e-3 * 3 / run.recipe.warmup)
    assert decoder_group["lr"] != encoder_group["lr"]
    saved = checkpoint.load(tmp_path / "run" / MODEL_FILE)
    shared = checkpoint.load_encoder(encoder)
    assert any(not torch.equal(saved.state_dict["encoder." + k], v) for k, v in shared.tensors.items())
    tuned = saved.provenance["encoder"]
    assert tuned["frozen"] is False and tuned["sha256"] == shared.sha256
    assert tuned["tuned"] == {"learning_rate": 1e-3, "from_step": 2}
    assert saved.provenance["recipe"].endswith("from step 2 the encoder fine-tuned with it at 0.001")
    path = export(tmp_path / "run", tmp_path / "diif.safetensors", {"psnr_y/Set5/x4": 1.0})
    assert "encoder" not in checkpoint.read_metadata(path)  # holds its own encoder
    shipped = checkpoint.load(path).state_dict
    for key, value in saved.state_dict.items():
        if key.startswith("encoder."):
            assert torch.equal(shipped[key].float(), value.half().float())
    assert load_upscaler("diif", "cpu", weights=path).weights.in_training
    config.encoder_lr = None
    with pytest.raises(RuntimeError, match="--encoder-lr"):
        train([config], select(images), Budget(steps=6), device="cpu", say=lambda _l: None)


def test_encoder_rates_are_refused_for_methods_not_trained_or_without_an_encoder(
        images: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:  # noqa: F811
    encoder, _ = write_shared_pair(tmp_path)
    common = ["train", "--method", "diif", "--data", str(images), "--out", str(tmp_path / "run"), "--steps", "1"]
    assert main.main([*common, "--encoder-from", str(encoder), "--encoder-lr", "ipe-liif=1e-5"]) == 2
    assert "ipe-liif" in capsys.readouterr().err
    assert main.main([*common, "--encoder-lr", "1e-5"]) == 2
    assert "--encoder-from" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("method", ["ipe-liif", "a-liif", "diinn"])
def test_warm_start_copies_the_layers_that_correspond_to_liifs(method: str) -> None:
    liif = {k: v for k, v in tiny_liif().state_dict().items() if k.startswith("imnet.")}
    torch.manual_seed(3)
    model = registry.build(method, **TINY_ENCODER)
    taken = model.warm_start_from_liif(liif)
    own = model.state_dict()
    assert taken
    if method == "a-liif":
        for i in (0, 2, 4, 6):
            assert torch.equal(own[f"expansion.layers.{i}.weight"], liif[f"imnet.layers.{i}.weight"])
    elif method == "diinn":
        latent = model.latent_dim
        assert torch.equal(own["modulation.0.weight"], liif["imnet.layers.0.weight"][:, :latent])
    else:
        latent = model.latent_dim
        assert torch.equal(own["layers.0.weight"][:, :latent], liif["imnet.layers.0.weight"][:, :latent])
        assert torch.equal(own["layers.1.weight"][:, :256], liif["imnet.layers.2.weight"])
        assert not own["layers.1.weight"][:, 256:].any()  # skip columns start at zero
        assert torch.equal(own["out.weight"], liif["imnet.layers.8.weight"])
    assert registry.build("diif", **TINY_ENCODER).warm_start_from_liif(liif) == []


def test_decoder_only_schedule_warms_up_then_halves() -> None:
    recipe = recipe_for("a-liif", frozen_encoder=True)
    assert recipe.batch == recipe_for("a-liif").batch  # the paper's batch and sampling stay
    assert learning_rate(recipe, 0) == pytest.approx(recipe.learning_rate / recipe.warmup)
    assert learning_rate(recipe, recipe.warmup - 1) == pytest.approx(recipe.learning_rate)
    assert learning_rate(recipe, recipe.halve_every) == pytest.approx(recipe.learning_rate / 2)
    assert recipe_for("diif", frozen_encoder=True).hr_crop < recipe_for("diif").hr_crop


@pytest.mark.parametrize("method", sorted(RECIPES))
def test_every_method_has_a_decoder_only_recipe(method: str) -> None:
    recipe = recipe_for(method, frozen_encoder=True)
    assert recipe.total_steps > recipe.halve_every > recipe.warmup > 0
    # Sine layers take a smaller rate than the ReLU decoders (measured: 5e-4 diverged).
    if method == "liif-siren":
        assert recipe.learning_rate < recipe_for("liif", frozen_encoder=True).learning_rate


def test_a_stop_signal_ends_the_run_after_a_step_with_everything_saved(images: Path,  # noqa: F811
                                                                         tmp_path: Path) -> None:
    lines: list[str] = []

    def say(line: str) -> None:
        lines.append(line)
        if " step 2/" in line:
            os.kill(os.getpid(), signal.SIGTERM)

    assert threading.current_thread() is threading.main_thread()
    (run,) = train([tiny_config("liif", tmp_path / "s")], select(images), Budget(steps=50, log_every=1),
                   device="cpu", say=say)
    assert run.step == 2
    assert checkpoint.load(tmp_path / "s" / MODEL_FILE).provenance["steps"] == 2
    assert "stop signal" in lines[-1]
    # The handler is gone again: the default action is back.
    assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL
