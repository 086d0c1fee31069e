"""A run's folder and the state that survives segments.

A run lives in one folder (`runs/<method>`):

- `last.safetensors`: the model in the project's checkpoint format
  (inference/checkpoint.py), fp32, with provenance (data, steps, minutes, device);
- `train_state.safetensors`: Adam's moment tensors and the samplers' random
  states as plain tensors, and everything else (step, training seconds, data
  seen, devices, loss scaler) as JSON in the file's metadata: no pickle;
- `log.csv`: step, loss, lr, seconds, images_per_s.

Running the same command again continues from the saved step. A run whose
folder is empty may continue from an exported checkpoint of its method
(`TrainConfig.continue_from`, e.g. the shipped file on a fresh machine) with
its weights and step count and a fresh optimizer.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from safetensors import safe_open

from inference import checkpoint
from inference.upscaler import device_label

if TYPE_CHECKING:
    from .run import MethodRun

STATE_FORMAT = "implicit-zoom-train/1"
MODEL_FILE = "last.safetensors"
STATE_FILE = "train_state.safetensors"
LOG_FILE = "log.csv"
LOG_COLUMNS = ("step", "loss", "lr", "seconds", "images_per_s")


def note_segment(run: MethodRun) -> None:
    """Count a new segment of the run, with the device and data it trains on."""
    run.segments += 1
    label = device_label(run.device)
    if label not in run.devices:
        run.devices.append(label)
    entry = {"source": run.data.source, "shard": run.data.shard_index, "shards": run.data.shard_count,
             "images": len(run.data.paths)}
    if entry not in run.data_seen:
        run.data_seen.append(entry)


def data_description(data_seen: list[dict[str, Any]]) -> str:
    """E.g. 'shared/data/train shards 0, 1 of 3 (247 images)'."""
    parts = []
    for source in dict.fromkeys(e["source"] for e in data_seen):
        entries = [e for e in data_seen if e["source"] == source]
        whole = [e["images"] for e in entries if not e["shards"]]
        if whole:  # the whole set was used at some point
            parts.append(f"{source} ({max(whole)} images)")
            continue
        # Shards of one split are disjoint: their images add up.
        shards = sorted({(e["shards"], e["shard"]): e["images"] for e in entries}.items())
        names = ", ".join(f"{k} of {n}" for (n, k), _ in shards)
        parts.append(f"{source} shard{'s' if len(shards) > 1 else ''} {names} "
                     f"({sum(count for _, count in shards)} images)")
    return "; ".join(parts)


def provenance(run: MethodRun) -> dict[str, Any]:
    """What the model checkpoint records of how it was trained."""
    recipe = run.recipe.paper
    if run.encoder_tuned:
        assert run.encoder_info is not None
        tuned = run.encoder_info["tuned"]
        recipe += f"; from step {tuned['from_step']} the encoder fine-tuned with it at {tuned['learning_rate']:g}"
    return {"data": data_description(run.data_seen), "steps": run.step, "minutes": round(run.seconds / 60.0, 2),
            "device": ", ".join(run.devices), "recipe": recipe,
            "batch": run.recipe.batch, "amp": {None: "off", torch.bfloat16: "bf16",
                                                  torch.float16: "fp16"}[run.amp],
            "segments": run.segments,
            "learning_rate": {"peak": run.recipe.learning_rate, "warmup": run.recipe.warmup,
                              "halve_every": run.recipe.halve_every},
            **({"encoder": run.encoder_info} if run.encoder_info else {}),
            **({"warm_start": {"from": run.warm_start_source, "tensors": run.warm_started}}
               if run.warm_started else {})}


def save(run: MethodRun) -> None:
    """Model checkpoint, then optimizer/RNG state (each written atomically)."""
    run.out_dir.mkdir(parents=True, exist_ok=True)
    checkpoint.save(run.out_dir / MODEL_FILE, run.model, run.method, run.config.model_args,
                    provenance=provenance(run))
    tensors: dict[str, torch.Tensor] = {}
    for index, slots in run.optimizer.state_dict()["state"].items():
        for key, value in slots.items():
            tensors[f"optimizer.{index}.{key}"] = torch.as_tensor(value).detach().cpu().contiguous()
    for key, value in run.sampler.state().items():
        tensors[f"rng.{key}"] = value.cpu().contiguous()
    info = {"format": STATE_FORMAT, "method": run.method, "model_args": run.config.model_args,
            "step": run.step, "fresh_optimizer_at": run.fresh_optimizer_at,
            "seconds": run.seconds, "segments": run.segments,
            "devices": run.devices, "data_seen": run.data_seen, "rng_device": run.device.type,
            "recipe": asdict(run.recipe),
            "scaler": run.scaler.state_dict() if run.scaler is not None else None}
    checkpoint.save_safetensors_atomic(tensors, run.out_dir / STATE_FILE, {"state": json.dumps(info)})


def resume(run: MethodRun) -> None:
    """Load the run's saved state from its folder (or, when that is empty, from
    `continue_from`); a fresh run keeps step 0."""
    model_path, state_path = run.out_dir / MODEL_FILE, run.out_dir / STATE_FILE
    if not model_path.is_file():
        if state_path.is_file():
            raise RuntimeError(f"{state_path} exists without {MODEL_FILE}: remove it to start afresh")
        if run.config.continue_from is None:
            return
        if not Path(run.config.continue_from).is_file():
            raise FileNotFoundError(f"{run.config.continue_from}: no checkpoint to continue {run.method} from")
        # A fresh machine has no runs/: continue from the exported (shipped)
        # weights and their step count rather than from step 0.
        model_path = Path(run.config.continue_from)
    ck = checkpoint.load(model_path)
    if ck.method != run.method:
        raise RuntimeError(f"{run.out_dir} holds a {ck.method!r} run, not {run.method!r}: use another --out")
    if ck.args != run.config.model_args:
        raise RuntimeError(f"{run.out_dir} was trained with model arguments {ck.args}, not "
                           f"{run.config.model_args}: use the same ones or another --out")
    checkpoint.check_fits(run.model, ck.state_dict)
    run.model.load_state_dict({k: v.float() for k, v in ck.state_dict.items()})
    model_steps = int(ck.provenance.get("steps", 0))
    info: dict[str, Any] = {}
    tensors: dict[str, torch.Tensor] = {}
    if state_path.is_file():
        with safe_open(str(state_path), "pt") as handle:
            info = json.loads((handle.metadata() or {}).get("state", "{}"))
            tensors = {k: handle.get_tensor(k) for k in handle.keys()}  # noqa: SIM118 - safe_open is not a mapping
        if info.get("format") != STATE_FORMAT:
            raise RuntimeError(f"{state_path}: not a training state file")
    if run.encoder_info is not None:
        frozen = ck.provenance.get("encoder") or {}
        if frozen.get("sha256") != run.encoder_info["sha256"]:
            raise RuntimeError(f"{run.out_dir} was trained with encoder {frozen.get('file', 'its own')}, not "
                               f"{run.encoder_info['file']}: use the same --encoder-from or another --out")
        if run.encoder_frozen and frozen.get("frozen") is False:
            raise RuntimeError(f"{model_path} was trained with its encoder fine-tuned: resume with "
                               f"--encoder-lr or use another --out")
        if run.encoder_tuned:
            # The rate of this segment is the one recorded; where the
            # tuning started survives resumes.
            earlier = frozen.get("tuned") or {}
            run.encoder_info["tuned"]["from_step"] = int(earlier.get("from_step", model_steps))
    elif ck.provenance.get("encoder"):
        raise RuntimeError(f"{run.out_dir} was trained on the frozen encoder {ck.provenance['encoder']['file']}: "
                           f"resume with --encoder-from")
    run.warm_started = list((ck.provenance.get("warm_start") or {}).get("tensors", []))
    run.warm_start_source = (ck.provenance.get("warm_start") or {}).get("from")
    run.seconds = float(info.get("seconds", ck.provenance.get("minutes", 0.0) * 60.0))
    run.segments = int(info.get("segments", ck.provenance.get("segments", 0)))
    run.devices = list(info.get("devices", []))
    run.data_seen = list(info.get("data_seen", []))
    if int(info.get("step", -1)) != model_steps:
        # Interrupted between the two writes (or the state file is gone, or
        # this continues an exported file): keep the weights, start the
        # optimizer afresh and ramp its rate up again (see fresh_optimizer_at).
        if model_path == Path(run.config.continue_from or ""):
            run.say(f"{run.method}: continuing from {model_path.name} at step {model_steps} "
                     f"with a fresh optimizer")
        else:
            run.say(f"{run.method}: training state does not match the checkpoint ({info.get('step')} vs "
                     f"{model_steps} steps): continuing from the weights with a fresh optimizer")
        run.step = model_steps
        run.fresh_optimizer_at = model_steps
        return
    run.step = model_steps
    run.fresh_optimizer_at = int(info.get("fresh_optimizer_at", 0))
    optimizer_state: dict[int, dict[str, torch.Tensor]] = {}
    for key, value in tensors.items():
        if key.startswith("optimizer."):
            _, index, slot = key.split(".", 2)
            optimizer_state.setdefault(int(index), {})[slot] = value
    if optimizer_state:
        current = run.optimizer.state_dict()
        run.optimizer.load_state_dict({"state": optimizer_state, "param_groups": current["param_groups"]})
    rng = {k.split(".", 1)[1]: v for k, v in tensors.items() if k.startswith("rng.")}
    if rng and info.get("rng_device") == run.device.type:
        run.sampler.set_state(rng)
    else:
        # Another kind of device: its generator state does not transfer.
        # Reseed from the step so the data differ from the first segment's.
        run.sampler.host.manual_seed(run.config.seed * 7919 + run.step)
        run.sampler.on_device.manual_seed(run.config.seed * 7919 + run.step + 1)
    if run.scaler is not None and info.get("scaler"):
        run.scaler.load_state_dict(info["scaler"])


def append_log_row(out_dir: Path, row: Sequence[object]) -> None:
    """One row of `log.csv` (with the header when the file is new)."""
    path = out_dir / LOG_FILE
    new = not path.is_file()
    out_dir.mkdir(parents=True, exist_ok=True)
    with path.open("a", newline="") as handle:
        writer = csv.writer(handle)
        if new:
            writer.writerow(LOG_COLUMNS)
        writer.writerow(row)


def trim_log(out_dir: Path, step: int) -> None:
    """Drop log rows past the resumed `step` (written after the last save)."""
    path = out_dir / LOG_FILE
    if not path.is_file():
        return
    with path.open(newline="") as handle:
        rows = list(csv.reader(handle))
    if not rows:
        return
    kept = [rows[0]] + [row for row in rows[1:] if row and int(row[0]) <= step]
    if len(kept) != len(rows):
        with path.open("w", newline="") as handle:
            csv.writer(handle).writerows(kept)
