"""Checkpoints that describe themselves.

The project's format is one `.safetensors` file: the weights, plus a metadata
header holding JSON for the method, its architecture arguments, provenance
(training data, steps, time, device) and measured metrics. Loading builds the
model from the registry with those arguments and refuses weights that do not
fit, naming the tensor.

The public LIIF checkpoints (`edsr-baseline-liif.pth`, `rdn-liif.pth`) are
imported with `torch.load(weights_only=True)`: no arbitrary unpickling.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import pickle
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load as safetensors_load
from safetensors.torch import save as safetensors_bytes
from torch import nn

from . import registry
from .errors import first_line
from .files import reading_problem
from .imageio.atomic import atomic_file
from .methods.base import ImplicitSR
from .methods.liif import NAME as LIIF

FORMAT = "implicit-zoom/1"
# A shared encoder's file: the weights of `encoder.*` alone, stored once for
# every decoder trained on it (frozen), so the repository holds it one time.
ENCODER_FORMAT = "implicit-zoom-encoder/1"
ENCODER_PREFIX = "encoder."

# Bounds on what a checkpoint may declare, checked before anything is built
# (even on the meta device, where a billion declared blocks still take minutes
# and gigabytes of Python objects). Each is far above any published model:
# counts of repeated blocks or layers, by argument name ...
MAX_COUNTS = {"n_resblocks": 256, "n_blocks": 256, "n_convs": 64, "depth": 64, "bases": 256,
              "frequencies": 64, "slice_multiple": 64}
# ... every other integer (a width), the length of a list of widths, how deep
# the arguments nest, and a string's length.
MAX_WIDTH = 4096
MAX_LAYERS = 64
MAX_NESTING = 4
MAX_TEXT = 200
# Weights and metrics beyond these are damage, not training: shipped weights
# have |w| < 2, and no metric this project records (PSNR, SSIM, seconds,
# steps) comes near a million.
MAX_WEIGHT = 1e4
MAX_METRIC = 1e6
# The probe decode after loading: an output beyond PROBE_OUTPUT (an image is
# 0 to 1) is garbage; the first layer whose activations pass PROBE_ACTIVATION
# is named as where it starts.
PROBE_OUTPUT = 1e3
PROBE_ACTIVATION = 1e12
# Tensor types a checkpoint may hold: real floating point that torch computes
# with on every device (an int, bool or float8 tensor cast to float would
# run, silently wrong).
FLOAT_DTYPES = (torch.float16, torch.bfloat16, torch.float32, torch.float64)


class CheckpointError(ValueError):
    """A checkpoint that cannot be used; the message says why."""


@dataclass
class Checkpoint:
    method: str
    args: dict[str, Any]
    state_dict: dict[str, torch.Tensor]
    provenance: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)

    def build(self) -> ImplicitSR:
        """The model with these weights, after checking they fit: first on
        torch's shape-only "meta" device, so that arguments declaring a huge
        model are refused before any memory is taken for it."""
        if not isinstance(self.args, dict):
            raise CheckpointError(f"the arguments do not fit method {self.method!r}: "
                                  f"expected a JSON object, got {type(self.args).__name__}")
        check_declared_sizes(self.args)
        check_tensor_types(self.state_dict)
        with torch.device("meta"):
            check_fits(self._construct(), self.state_dict)
        model = self._construct()
        check_fits(model, self.state_dict)
        check_tensor_values(self.state_dict)
        model.load_state_dict({k: v.float() for k, v in self.state_dict.items()})
        probe_decode(model)
        return model

    def _construct(self) -> ImplicitSR:
        try:
            return registry.build(self.method, **self.args)
        except KeyError as error:
            raise CheckpointError(f"checkpoint names an unknown method: {error.args[0]}") from None
        except Exception as error:  # noqa: BLE001 - the arguments come from the file: any failure is the file's
            raise CheckpointError(f"the arguments do not fit method {self.method!r}: "
                                  f"{first_line(error)}") from None


def probe_decode(model: nn.Module) -> None:
    """Decode a tiny patterned image: weights each within bounds can still
    overflow together inside the network, and would then give a flat or NaN
    image with no warning. The first layer whose output is not finite is
    named. Only the weights are judged: a probe that cannot run at all (an
    architecture wanting other inputs) is left to the real decode."""
    bad: list[str] = []

    def watch(name: str) -> Any:
        def hook(_module: nn.Module, _inputs: Any, output: Any) -> None:
            if not bad and isinstance(output, torch.Tensor) and output.is_floating_point() and output.numel() \
                    and not float(output.detach().abs().max()) <= PROBE_ACTIVATION:
                bad.append(name)
        return hook

    handles = [module.register_forward_hook(watch(name)) for name, module in model.named_modules()
               if name and any(True for _ in module.parameters(recurse=False))]
    was_training = model.training
    try:
        model.eval()
        lr = (torch.arange(3 * 8 * 8, dtype=torch.float32).reshape(1, 3, 8, 8) % 7) / 6  # not flat: not all zero
        ys, xs = torch.meshgrid(torch.tensor([-0.6, 0.2]), torch.tensor([-0.2, 0.6]), indexing="ij")
        coord = torch.stack([ys.reshape(-1), xs.reshape(-1)], -1)[None]
        cell = torch.full_like(coord, 2 / 16)
        with torch.no_grad():
            out = model(lr, coord, cell)
    except Exception:  # noqa: BLE001 - not a judgement on the weights
        return
    finally:
        for handle in handles:
            handle.remove()
        model.train(was_training)
    largest = float(out.detach().abs().max()) if out.numel() else 0.0
    if not largest <= PROBE_OUTPUT:  # NaN included
        where = f"; it starts at layer {bad[0]!r} (tensor {bad[0] + '.weight'!r})" if bad else ""
        shown = "infinity or NaN" if not math.isfinite(largest) else f"values of magnitude {largest:.3g}"
        raise CheckpointError(f"the weights overflow inside the network: a test image decodes to {shown} "
                              f"(an image is 0 to 1){where}; a damaged checkpoint")


def check_declared_sizes(args: Any, key: str = "arguments", nesting: int = 0) -> None:
    """Refuse arguments that declare an absurd model (a billion blocks, a
    200000-entry layer list, a 5000-digit width) in microseconds, before
    anything is built: see MAX_COUNTS and the bounds beside it."""
    if nesting > MAX_NESTING:
        raise CheckpointError(f"the arguments nest deeper than {MAX_NESTING} levels (at {key!r})")
    if isinstance(args, dict):
        for name, value in args.items():
            if not isinstance(name, str) or len(name) > MAX_TEXT:
                raise CheckpointError(f"the arguments hold a key that is not a short name: {str(name)[:40]!r}")
            check_declared_sizes(value, name, nesting + 1)
    elif isinstance(args, list):
        if len(args) > MAX_LAYERS:
            raise CheckpointError(f"argument {key!r} lists {len(args)} entries, over the limit of {MAX_LAYERS}")
        for value in args:
            check_declared_sizes(value, key, nesting + 1)
    elif isinstance(args, bool) or args is None:
        pass
    elif isinstance(args, int):
        limit = MAX_COUNTS.get(key, MAX_WIDTH)
        if args > limit:
            shown = str(args) if args < 10**12 else f"a {len(str(args))}-digit number"
            raise CheckpointError(f"argument {key!r} is {shown}, over the limit of {limit}; "
                                  "a model that large is refused before it is built")
    elif isinstance(args, float):
        if not math.isfinite(args) or abs(args) > 1e6:
            raise CheckpointError(f"argument {key!r} is {args!r}, not a usable number")
    elif isinstance(args, str):
        if len(args) > MAX_TEXT:
            raise CheckpointError(
                f"argument {key!r} is a string of {len(args)} characters, over the limit of {MAX_TEXT}")
    else:
        raise CheckpointError(f"argument {key!r} is a {type(args).__name__}, not a number, string, list or object")


def check_tensor_types(state_dict: Any) -> None:
    """Names that are strings and values that are real-valued tensors (a
    complex tensor would lose its imaginary part, with only a warning)."""
    if not isinstance(state_dict, dict):
        raise CheckpointError(f"the weights are a {type(state_dict).__name__}, not a mapping of names to tensors")
    for name, value in state_dict.items():
        if not isinstance(name, str):
            raise CheckpointError(f"the weights hold a key {name!r} that is not a tensor name")
        if not isinstance(value, torch.Tensor):
            raise CheckpointError(f"weight {name!r} is a {type(value).__name__}, not a tensor")
        if value.is_complex():
            raise CheckpointError(f"tensor {name!r} holds complex numbers ({value.dtype}); weights must be real")
        if value.dtype not in FLOAT_DTYPES:
            raise CheckpointError(f"tensor {name!r} holds {str(value.dtype).removeprefix('torch.')} values, "
                                  "not floating point (float16, bfloat16, float32 or float64); refused rather "
                                  "than cast")


def check_tensor_values(state_dict: dict[str, torch.Tensor]) -> None:
    """Every weight finite and within MAX_WEIGHT: a NaN, an infinity or a 1e30
    bias would turn every output into a flat or undefined image."""
    for name, value in state_dict.items():
        if not value.numel():
            continue
        if not torch.isfinite(value).all():
            raise CheckpointError(f"tensor {name!r} holds NaN or infinite values (a diverged or damaged checkpoint)")
        largest = float(value.abs().max())
        if largest > MAX_WEIGHT:
            raise CheckpointError(f"tensor {name!r} holds a weight of magnitude {largest:.3g}, beyond any trained "
                                  f"model (limit {MAX_WEIGHT:g}): a damaged checkpoint")


def check_metrics(metrics: Any, key: str = "metrics", nesting: int = 0) -> None:
    """Recorded metrics are finite numbers of sane size (or text), nested shallowly."""
    if nesting > MAX_NESTING:
        raise CheckpointError(f"the metrics nest deeper than {MAX_NESTING} levels (at {key!r})")
    if isinstance(metrics, dict):
        for name, value in metrics.items():
            check_metrics(value, str(name)[:80], nesting + 1)
    elif isinstance(metrics, list):
        for value in metrics:
            check_metrics(value, key, nesting + 1)
    elif isinstance(metrics, bool) or metrics is None:
        pass
    elif isinstance(metrics, (int, float)):
        if isinstance(metrics, int) and abs(metrics) > MAX_METRIC:
            shown = str(metrics) if abs(metrics) < 10**12 else f"a {len(str(abs(metrics)))}-digit number"
            raise CheckpointError(f"metric {key!r} is {shown}, not a plausible measurement")
        if not math.isfinite(metrics) or abs(metrics) > MAX_METRIC:
            raise CheckpointError(f"metric {key!r} is {metrics!r}, not a plausible measurement")
    elif isinstance(metrics, str):
        if len(metrics) > MAX_TEXT:
            raise CheckpointError(f"metric {key!r} is a string of {len(metrics)} characters, "
                                  f"over the limit of {MAX_TEXT}")
    else:
        raise CheckpointError(f"metric {key!r} is a {type(metrics).__name__}, not a number")


def check_fits(model: nn.Module, state_dict: dict[str, torch.Tensor]) -> None:
    expected = model.state_dict()
    missing = [k for k in expected if k not in state_dict]
    extra = [k for k in state_dict if k not in expected]
    if missing:
        raise CheckpointError(f"weights do not fit the declared architecture: tensor {missing[0]!r} is missing"
                              + (f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""))
    if extra:
        raise CheckpointError(f"weights do not fit the declared architecture: unexpected tensor {extra[0]!r}"
                              + (f" (and {len(extra) - 1} more)" if len(extra) > 1 else ""))
    for key, ref in expected.items():
        if tuple(state_dict[key].shape) != tuple(ref.shape):
            raise CheckpointError(f"weights do not fit the declared architecture: tensor {key!r} has shape "
                                  f"{tuple(state_dict[key].shape)}, expected {tuple(ref.shape)}")


def _stored(tensors: dict[str, torch.Tensor], half: bool) -> dict[str, torch.Tensor]:
    return {k: (v.half() if half and v.is_floating_point() else v).detach().cpu().contiguous()
            for k, v in tensors.items()}


def save(path: str | Path, model: nn.Module, method: str, args: dict[str, Any], *,
         provenance: dict[str, Any] | None = None, metrics: dict[str, Any] | None = None,
         half: bool = False, encoder_file: str | Path | None = None) -> None:
    """Write atomically (temporary file, then rename).

    With `encoder_file` (a file written by `save_encoder`, in the same folder),
    only the decoder is stored, with a reference to that file by name and
    sha256; the model's encoder must hold exactly that file's weights."""
    path = Path(path)
    tensors = _stored(model.state_dict(), half)
    meta = {"format": FORMAT, "method": method, "args": json.dumps(args),
            "provenance": json.dumps(provenance or {}), "metrics": json.dumps(metrics or {})}
    if encoder_file is not None:
        encoder_file = Path(encoder_file)
        if encoder_file.resolve().parent != path.resolve().parent:
            raise CheckpointError(f"{encoder_file}: a shared encoder must sit in the same folder as {path.name}")
        shared = _read_encoder(encoder_file)
        mine = {k[len(ENCODER_PREFIX):]: v for k, v in tensors.items() if k.startswith(ENCODER_PREFIX)}
        if mine.keys() != shared.tensors.keys() or any(
                not _equal_as_stored(mine[k], shared.tensors[k]) for k in mine):
            raise CheckpointError(f"{path.name}: the model's encoder differs from {encoder_file.name}; "
                                  f"only a decoder trained on that frozen encoder can reference it")
        tensors = {k: v for k, v in tensors.items() if not k.startswith(ENCODER_PREFIX)}
        meta["encoder"] = json.dumps({"file": encoder_file.name, "sha256": shared.sha256})
    path.parent.mkdir(parents=True, exist_ok=True)
    save_safetensors_atomic(tensors, path, meta)


def _equal_as_stored(a: torch.Tensor, b: torch.Tensor) -> bool:
    """Equal in the narrower of the two dtypes (an fp16 export of an encoder that
    trained from the fp32 file, or an fp32 run of the fp16 file, both match)."""
    narrow = a.dtype if a.element_size() <= b.element_size() else b.dtype
    return a.shape == b.shape and torch.equal(a.to(narrow), b.to(narrow))


@dataclass
class SharedEncoder:
    """A shared encoder file: its spec, weights (keys without `encoder.`),
    provenance, and the sha256 of the file's bytes (what decoders reference)."""

    spec: dict[str, Any]
    tensors: dict[str, torch.Tensor]
    provenance: dict[str, Any]
    sha256: str


def save_encoder(path: str | Path, model: nn.Module, spec: dict[str, Any], *,
                 provenance: dict[str, Any] | None = None, half: bool = False) -> str:
    """Write the encoder of `model` alone; returns the file's sha256."""
    path = Path(path)
    tensors = _stored({k[len(ENCODER_PREFIX):]: v for k, v in model.state_dict().items()
                       if k.startswith(ENCODER_PREFIX)}, half)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_safetensors_atomic(tensors, path, {"format": ENCODER_FORMAT, "encoder_spec": json.dumps(spec),
                                            "provenance": json.dumps(provenance or {})})
    return file_sha256(path)


def file_sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _read_safetensors(path: Path) -> tuple[dict[str, str], dict[str, torch.Tensor]]:
    """Metadata and tensors of a safetensors file, or a CheckpointError saying
    it is not one. The bytes are read first and parsed in memory: a
    memory-mapped file that shrinks while it is read kills the process with
    SIGBUS, where a short read here is just a damaged file."""
    try:
        with open(path, "rb") as handle:
            data = handle.read()
        return _metadata_of(data, len(data)), safetensors_load(data)
    except MemoryError:
        raise CheckpointError(f"{path.name}: not enough memory to read this checkpoint") from None
    except Exception as error:  # noqa: BLE001 - safetensors' errors vary by version; all mean the same
        raise CheckpointError(f"{path.name}: not a readable safetensors file "
                              f"({first_line(error)})") from None


def _read_encoder(path: Path) -> SharedEncoder:
    problem = reading_problem(path)
    if problem == "no such file":
        raise CheckpointError(f"{path.name}: the shared encoder file is missing (expected at {path})")
    if problem:
        raise CheckpointError(f"{path}: {problem}")
    meta, tensors = _read_safetensors(path)
    if meta.get("format") != ENCODER_FORMAT:
        raise CheckpointError(f"{path.name}: not an Implicit Zoom encoder file "
                              f"(metadata format is {meta.get('format')!r})")
    spec = json_object(path, meta, "encoder_spec")
    provenance = json_object(path, meta, "provenance")
    try:
        check_declared_sizes(spec)
        check_tensor_types(tensors)
        check_tensor_values(tensors)
    except CheckpointError as error:
        raise CheckpointError(f"{path.name}: {error}") from None
    return SharedEncoder(spec, tensors, provenance, file_sha256(path))


def load_encoder(path: str | Path) -> SharedEncoder:
    """A shared encoder file, or the encoder inside any checkpoint (a full one,
    a decoder referencing a shared file, or a public LIIF `.pth`)."""
    path = Path(path)
    if path.suffix not in (".pth", ".pt") and path.is_file():
        try:
            if read_metadata(path).get("format") == ENCODER_FORMAT:
                return _read_encoder(path)
        except (SafetensorError, OSError, ValueError, RuntimeError):
            pass  # load() below says what is wrong with it
    ck = load(path)
    spec = ck.args.get("encoder_spec") if isinstance(ck.args, dict) else None
    tensors = {k[len(ENCODER_PREFIX):]: v for k, v in ck.state_dict.items() if k.startswith(ENCODER_PREFIX)}
    if not tensors:
        raise CheckpointError(f"{path.name}: holds no encoder weights")
    return SharedEncoder(dict(spec or {"name": "edsr-baseline", "args": {}}), tensors, ck.provenance,
                         file_sha256(path))


def save_safetensors_atomic(tensors: dict[str, torch.Tensor], path: Path, metadata: dict[str, str]) -> None:
    """Written through the project's one atomic write (the images' too):
    temporary file, fsync, rename; never a half-written file, an existing
    file keeps its mode and a new one gets the umask's."""
    data = safetensors_bytes(tensors, metadata=metadata)
    with atomic_file(Path(path)) as handle:
        handle.write(data)


# A safetensors header is JSON of at most this many bytes (safetensors' own limit).
_MAX_HEADER = 100_000_000


def _metadata_of(head: bytes, file_size: int) -> dict[str, str]:
    """The `__metadata__` of a safetensors file from its first bytes (the
    8-byte header length, then the JSON header); ValueError when malformed."""
    if len(head) < 8:
        raise ValueError("the file is shorter than a safetensors header")
    length = int.from_bytes(head[:8], "little")
    if length > _MAX_HEADER or 8 + length > file_size or len(head) < 8 + length:
        raise ValueError("the header length does not fit the file")
    header = json.loads(head[8:8 + length])
    if not isinstance(header, dict):
        raise ValueError("the header is not a JSON object")
    meta = header.get("__metadata__") or {}
    if not isinstance(meta, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in meta.items()):
        raise ValueError("the metadata is not a mapping of strings")
    return dict(meta)


def read_metadata(path: str | Path) -> dict[str, str]:
    """A safetensors file's metadata, read (not memory-mapped) from its header
    alone; ValueError or OSError when the file is not one."""
    with open(path, "rb") as handle:
        size = os.fstat(handle.fileno()).st_size
        head = handle.read(8)
        if len(head) == 8:
            length = int.from_bytes(head, "little")
            if length <= min(_MAX_HEADER, size):
                head += handle.read(length)
        return _metadata_of(head, size)


def load(path: str | Path) -> Checkpoint:
    """Read a checkpoint of either format; raises CheckpointError with a
    message that names the file and says what is wrong."""
    path = Path(path)
    problem = reading_problem(path)
    if problem:
        raise CheckpointError(f"{path}: {problem}")
    if path.suffix == ".pth" or path.suffix == ".pt":
        return import_liif(path)
    meta, tensors = _read_safetensors(path)
    if meta.get("format") != FORMAT:
        raise CheckpointError(f"{path.name}: not an Implicit Zoom checkpoint "
                              f"(metadata format is {meta.get('format')!r})")
    fields = {key: json_object(path, meta, key) for key in ("args", "provenance", "metrics")}
    encoder_ref = json_object(path, meta, "encoder") if "encoder" in meta else None
    try:
        check_declared_sizes(fields["args"])
        check_metrics(fields["metrics"])
    except CheckpointError as error:
        raise CheckpointError(f"{path.name}: {error}") from None
    provenance = fields["provenance"]
    if encoder_ref is not None:
        tensors = _with_shared_encoder(path, encoder_ref, tensors)
        provenance = {**provenance, "encoder_file": encoder_ref["file"]}
    try:
        check_tensor_types(tensors)
        check_tensor_values(tensors)
    except CheckpointError as error:
        raise CheckpointError(f"{path.name}: {error}") from None
    return Checkpoint(str(meta.get("method", "")), fields["args"], tensors, provenance, fields["metrics"])


def json_object(path: Path, meta: dict[str, str], key: str) -> dict[str, Any]:
    """Metadata field `key` (JSON text) as a dict; anything else (invalid JSON,
    nesting deep enough to exhaust the parser, a 5000-digit integer, a list
    or a string where an object belongs) is a CheckpointError naming the file."""
    try:
        value = json.loads(meta.get(key, "{}"))
    except RecursionError:
        raise CheckpointError(f"{path.name}: corrupt metadata ({key!r} is nested too deeply)") from None
    except ValueError as error:  # JSONDecodeError, and an integer of thousands of digits
        raise CheckpointError(f"{path.name}: corrupt metadata ({key!r}: {str(error).splitlines()[0]})") from None
    if not isinstance(value, dict):
        raise CheckpointError(f"{path.name}: corrupt metadata ({key!r} should be a JSON object, "
                              f"not a {type(value).__name__})")
    return value


def _with_shared_encoder(path: Path, ref: Any, tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The decoder's tensors plus the encoder it references, after checking
    that the encoder file is the very one the decoder was trained on."""
    if not (isinstance(ref, dict) and isinstance(ref.get("file"), str) and isinstance(ref.get("sha256"), str)
            and Path(ref["file"]).name == ref["file"]):
        raise CheckpointError(f"{path.name}: corrupt metadata (the encoder reference must name a file in the "
                              f"same folder and its sha256)")
    encoder = _read_encoder(path.parent / ref["file"])
    if encoder.sha256 != ref["sha256"]:
        raise CheckpointError(f"{path.name}: was trained on encoder {ref['file']} with sha256 "
                              f"{ref['sha256'][:12]}…, but the file there has {encoder.sha256[:12]}…: "
                              f"refusing a decoder on an encoder it was not trained with")
    if any(k.startswith(ENCODER_PREFIX) for k in tensors):
        raise CheckpointError(f"{path.name}: holds encoder weights and also references {ref['file']}")
    return {**{ENCODER_PREFIX + k: v for k, v in encoder.tensors.items()}, **tensors}


_LIIF_ENCODERS: dict[str, tuple[str, dict[str, Any]]] = {"edsr-baseline": ("edsr-baseline", {}), "rdn": ("rdn", {})}


def import_liif(path: str | Path) -> Checkpoint:
    """A public LIIF `.pth` (layout in methods.md), loaded weights-only; every
    part of the layout is checked for its type before it is used."""
    path = Path(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch's notes on legacy formats are not the user's business
            raw = torch.load(str(path), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        raise CheckpointError(f"{path.name}: refused: it holds objects other than weights, and only "
                              f"weights-only loading is allowed ({str(error).splitlines()[0]})") from None
    except RecursionError:
        raise CheckpointError(f"{path.name}: not a readable torch checkpoint (nested too deeply)") from None
    except Exception as error:  # noqa: BLE001 - torch's loader fails in many ways on a damaged file
        text = first_line(error)
        raise CheckpointError(f"{path.name}: not a readable torch checkpoint ({text})") from None
    layout = f"{path.name}: not in the public LIIF layout {{'model': {{'name', 'args', 'sd'}}}}"
    model = raw.get("model") if isinstance(raw, dict) else None
    if not isinstance(model, dict) or not all(k in model for k in ("name", "args", "sd")):
        raise CheckpointError(layout)
    name, margs, sd = model["name"], model["args"], model["sd"]
    if name != "liif":
        raise CheckpointError(f"{path.name}: model {str(name)[:80]!r} is not LIIF")
    encoder_spec = margs.get("encoder_spec") if isinstance(margs, dict) else None
    enc_name = encoder_spec.get("name") if isinstance(encoder_spec, dict) else None
    if not isinstance(enc_name, str):
        raise CheckpointError(f"{layout} (model.args.encoder_spec.name should be a string)")
    if enc_name not in _LIIF_ENCODERS:
        raise CheckpointError(f"{path.name}: unknown encoder {enc_name[:80]!r}")
    encoder, encoder_args = _LIIF_ENCODERS[enc_name]
    imnet_spec = margs.get("imnet_spec", {})
    imnet_args = imnet_spec.get("args", {}) if isinstance(imnet_spec, dict) else None
    hidden = imnet_args.get("hidden_list", [256, 256, 256, 256]) if isinstance(imnet_args, dict) else None
    if not isinstance(hidden, list) or not all(isinstance(h, int) and not isinstance(h, bool) for h in hidden):
        raise CheckpointError(f"{layout} (model.args.imnet_spec.args.hidden_list should be a list of layer widths)")
    args = {"encoder_spec": {"name": encoder, "args": encoder_args}, "hidden": list(hidden)}
    try:
        check_declared_sizes(args)
        check_tensor_types(sd)
        check_tensor_values(sd)
    except CheckpointError as error:
        raise CheckpointError(f"{path.name}: {error}") from None
    # Mean-shift layers of the original EDSR/RDN are unused without an upsampler.
    weights = {k: v for k, v in sd.items() if "sub_mean" not in k and "add_mean" not in k}
    provenance = {"source": path.name, "data": "DIV2K (public LIIF release)",
                  "epoch": raw.get("epoch") if isinstance(raw.get("epoch"), int) else None}
    return Checkpoint(LIIF, args, weights, provenance, {})
