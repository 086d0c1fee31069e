"""Self-describing checkpoints, and import of the public LIIF layout."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
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
        def __reduce__(self):
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


@pytest.mark.parametrize(("change", "message"), [
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


# ---------------------------------------------------------------- reliability, round two

def _nested(levels: int) -> str:
    return "[" * levels + "]" * levels


TINY = {"encoder_spec": {"name": "edsr-baseline", "args": {"n_resblocks": 1, "n_feats": 8}}, "hidden": [16]}


def _tiny_args(**changes) -> str:
    args = json.loads(json.dumps(TINY))
    args["encoder_spec"]["args"].update({k: v for k, v in changes.items() if k != "hidden"})
    if "hidden" in changes:
        args["hidden"] = changes["hidden"]
    return json.dumps(args)


# case -> (metadata or tensor change, words of the message)
HOSTILE_SAFETENSORS = {
    "args nested 10000 levels": (lambda t, m: (t, {**m, "args": _nested(10000)}), "nested too deeply"),
    "provenance nested 10000 levels": (lambda t, m: (t, {**m, "provenance": _nested(10000)}), "nested too deeply"),
    "provenance a list": (lambda t, m: (t, {**m, "provenance": "[1, 2]"}), "'provenance' should be a JSON object"),
    "provenance a string": (lambda t, m: (t, {**m, "provenance": '"DIV2K"'}), "'provenance' should be a JSON object"),
    "metrics a list": (lambda t, m: (t, {**m, "metrics": "[30.1]"}), "'metrics' should be a JSON object"),
    "5000-digit integer": (lambda t, m: (t, {**m, "args": '{"hidden": [' + "9" * 5000 + "]}"}), "corrupt metadata"),
    "a billion blocks": (lambda t, m: (t, {**m, "args": _tiny_args(n_resblocks=10**9)}), "'n_resblocks' is 1000000000"),
    "200k blocks": (lambda t, m: (t, {**m, "args": _tiny_args(n_resblocks=200_000)}), "over the limit of 256"),
    "200k hidden layers": (lambda t, m: (t, {**m, "args": _tiny_args(hidden=[16] * 200_000)}), "lists 200000 entries"),
    "width of 10^30": (lambda t, m: (t, {**m, "args": _tiny_args(n_feats=10**30)}), "31-digit number"),
    "NaN scale": (lambda t, m: (t, {**m, "args": _tiny_args(res_scale=float("nan"))}), "not a usable number"),
    "args nested 6 objects": (lambda t, m: (t, {**m, "args": json.dumps({"a": {"b": {"c": {"d": {"e": {}}}}}})}),
                              "nest deeper"),
    "complex tensor": (lambda t, m: ({**t, "imnet.layers.0.bias": t["imnet.layers.0.bias"].to(torch.complex64)}, m),
                       "complex numbers"),
}


@pytest.mark.parametrize("case", list(HOSTILE_SAFETENSORS))
def test_hostile_metadata_is_refused_naming_the_file_before_anything_is_built(
        case: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    good = tmp_path / "good.safetensors"
    checkpoint.save(good, registry.build("liif", **TINY), "liif", TINY)
    bad = tmp_path / "hostile.safetensors"
    change, words = HOSTILE_SAFETENSORS[case]
    _tamper(good, bad, change)

    def no_build(*args, **kwargs):
        raise AssertionError("a model was built from hostile arguments")

    monkeypatch.setattr(registry, "build", no_build)
    with _no_warnings(), pytest.raises(CheckpointError) as info:
        load_upscaler("liif", "cpu", weights=bad)
    message = str(info.value)
    assert words in message and "hostile.safetensors" in message and "\n" not in message
    assert len(message) < 400


class _no_warnings:
    """Asserts that nothing was warned inside the block (a warning is an extra line on stderr)."""

    def __enter__(self) -> None:
        import warnings

        self._catcher = warnings.catch_warnings(record=True)
        self.caught = self._catcher.__enter__()
        warnings.simplefilter("always")

    def __exit__(self, *exc) -> None:
        self._catcher.__exit__(*exc)
        assert not self.caught, [str(w.message) for w in self.caught]


def _public_liif(path: Path, change) -> Path:
    ck = {"model": {"name": "liif",
                    "args": {"encoder_spec": {"name": "edsr-baseline", "args": {}},
                             "imnet_spec": {"name": "mlp", "args": {"out_dim": 3, "hidden_list": [256] * 4}}},
                    "sd": {"encoder.head.0.bias": torch.zeros(64)}}}
    change(ck)
    torch.save(ck, path)
    return path


def _set(path: tuple, value) -> Callable:
    def change(ck: dict) -> None:
        node = ck
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value
    return change


HOSTILE_PTH = {
    "sd a list": (_set(("model", "sd"), [torch.zeros(3)]), "not a mapping of names to tensors"),
    "sd value an int": (_set(("model", "sd", "encoder.head.0.bias"), 5), "is a int, not a tensor"),
    "sd value a string": (_set(("model", "sd", "encoder.head.0.bias"), "w"), "is a str, not a tensor"),
    "int key in sd": (_set(("model", "sd", 7), torch.zeros(1)), "key 7 that is not a tensor name"),
    "imnet_spec a list": (_set(("model", "args", "imnet_spec"), [1, 2]), "hidden_list should be a list"),
    "hidden_list 5": (_set(("model", "args", "imnet_spec", "args", "hidden_list"), 5), "hidden_list should be a list"),
    "encoder name a list": (_set(("model", "args", "encoder_spec", "name"), ["edsr"]), "name should be a string"),
    "model a list": (_set(("model",), [1]), "not in the public LIIF layout"),
    "args a string": (_set(("model", "args"), "x"), "name should be a string"),
    "hidden_list of 10^9": (_set(("model", "args", "imnet_spec", "args", "hidden_list"), [10**9]),
                            "over the limit of 4096"),
    "complex weights": (_set(("model", "sd", "encoder.head.0.bias"), torch.zeros(64, dtype=torch.complex64)),
                        "complex numbers"),
}


@pytest.mark.parametrize("case", list(HOSTILE_PTH))
def test_public_liif_files_of_the_wrong_structure_are_refused_in_one_line(case: str, tmp_path: Path) -> None:
    change, words = HOSTILE_PTH[case]
    path = _public_liif(tmp_path / "odd.pth", change)
    with _no_warnings(), pytest.raises(CheckpointError) as info:
        load_upscaler("liif", "cpu", weights=path)
    assert words in str(info.value) and "odd.pth" in str(info.value), str(info.value)


def test_a_raw_pickle_pth_is_refused_without_extra_lines(tmp_path: Path) -> None:
    import pickle

    for protocol in (2, pickle.HIGHEST_PROTOCOL):
        path = tmp_path / f"raw{protocol}.pth"
        with open(path, "wb") as handle:
            pickle.dump({"model": {"name": "liif"}}, handle, protocol=protocol)
        with _no_warnings(), pytest.raises(CheckpointError, match=f"raw{protocol}.pth"):
            checkpoint.load(path)


@pytest.mark.parametrize(("case", "words"), [
    ("folder", "is a folder"),
    ("fifo", "named pipe"),
    ("/dev/zero", "character device"),
    ("unreadable", "not readable"),
    ("long name", "too long"),
    ("empty name", "empty"),
])
def test_paths_that_are_not_checkpoint_files_say_what_they_are(case: str, words: str, tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    path: Path | str = {"folder": tmp_path, "/dev/zero": Path("/dev/zero"),
                        "long name": tmp_path / ("w" * 300 + ".safetensors"), "empty name": ""}.get(case, tmp_path)
    if case == "fifo":
        path = tmp_path / "pipe.safetensors"
        os.mkfifo(path)  # opening it would block: it must not be opened
    elif case == "unreadable":
        path = tmp_path / "locked.safetensors"
        checkpoint.save(path, registry.build("liif", **TINY), "liif", TINY)
        monkeypatch.setattr(os, "access", lambda p, mode, **k: False)
    with pytest.raises(CheckpointError, match=words) as info:
        load_upscaler("liif", "cpu", weights=path)
    assert "No such file" not in str(info.value) and (case == "empty name" or "no such file" not in str(info.value))


def test_checkpoint_saves_through_the_one_atomic_write(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A checkpoint written over an existing one keeps that file's mode, is
    fsynced before the rename, and a failed write leaves the old file whole
    and no temporary file behind (the images' atomic write)."""
    from inference.imageio import atomic

    path = tmp_path / "w.safetensors"
    first = {"a": torch.zeros(3)}
    checkpoint.save_safetensors_atomic(first, path, {"k": "1"})
    os.chmod(path, 0o600)
    synced: list[int] = []
    real_fsync = os.fsync
    monkeypatch.setattr(atomic.os, "fsync", lambda fd: (synced.append(fd), real_fsync(fd))[1])
    checkpoint.save_safetensors_atomic({"a": torch.ones(3)}, path, {"k": "2"})
    assert path.stat().st_mode & 0o777 == 0o600 and synced
    assert checkpoint.read_metadata(path)["k"] == "2"
    before = path.read_bytes()

    def no_fsync(fd: int) -> None:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(atomic.os, "fsync", no_fsync)
    with pytest.raises(OSError, match="Input/output error"):
        checkpoint.save_safetensors_atomic({"a": torch.full((3,), 2.0)}, path, {"k": "3"})
    assert path.read_bytes() == before and [p.name for p in tmp_path.iterdir()] == [path.name]
