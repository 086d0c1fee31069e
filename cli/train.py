"""`main.py train`: train one or several methods, resumable, in time-limited segments.

    python main.py train --method liif --data ../shared/data/train --out runs/liif --minutes 9
    python main.py train --method liif,diif --data data_shard --minutes 9          # runs/liif, runs/diif
    python main.py train --data ../shared/data/train --shard 0 --make-shard data_shard
    python main.py train --method liif --export-only --export resources/weights/liif.safetensors \\
        --metrics-from benchmarks/results/eval.json

Re-running a command continues each run from its last saved step.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

from cli.arg_checks import file_in_the_way
from inference.registry import DEFAULT_METHOD

DEFAULT_OUT = "runs/{method}"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = __doc__.split("\n", 2)[2]
    parser.add_argument("--method", default=DEFAULT_METHOD,
                        help="method name, several separated by commas (trained interleaved on one device), or 'all'")
    parser.add_argument("--data", default="../shared/data/train",
                        help="folder of training images (searched recursively)")
    parser.add_argument("--out", default=DEFAULT_OUT,
                        help="run folder; '{method}' is replaced by the method name; with several methods and "
                             "no '{method}', each run goes to OUT/<method> (default: %(default)s)")
    parser.add_argument("--minutes", type=float, default=None,
                        help="wall-clock budget of this segment, loading included; stops early enough to save")
    parser.add_argument("--steps", type=int, default=None,
                        help="total steps to reach (default: the recipe's full schedule, e.g. 1,000,000 for LIIF)")
    parser.add_argument("--batch", type=int, default=None, help="override the recipe's batch size")
    parser.add_argument("--samples", type=int, default=None, help="override the target pixels per sample (2304)")
    parser.add_argument("--patch", type=int, default=None, help="override the LR patch side (48)")
    parser.add_argument("--hr-crop", type=int, default=None, help="override the HR crop side of lattice recipes (192)")
    parser.add_argument("--encoder-from", metavar="CHECKPOINT", default=None,
                        help="take the encoder from this checkpoint or shared encoder file and freeze it (no "
                             "gradients, run once per batch without a graph); switches to the decoder-only "
                             "schedule (training/recipes.py DECODER_ONLY)")
    parser.add_argument("--encoder-lr", default=None, metavar="RATE",
                        help="with --encoder-from: fine-tune that encoder with the decoder at this constant rate "
                             "(ramped up over the warm-up) instead of freezing it, for every method or, as "
                             "METHOD=RATE[,METHOD=RATE], for those named; the exported file then carries its own "
                             "encoder")
    parser.add_argument("--warm-start", metavar="LIIF_CHECKPOINT", default=None,
                        help="start each decoder's layers that match LIIF's MLP from this LIIF checkpoint "
                             "(only when a run starts; recorded in the provenance)")
    parser.add_argument("--continue-from", metavar="CHECKPOINT", default=None,
                        help="when a run folder is empty, continue from this exported checkpoint of the same "
                             "method (its weights and step count; the optimizer starts afresh), e.g. the "
                             "shipped resources/weights/{method}.safetensors on a fresh machine; "
                             "'{method}' is replaced by the method name")
    parser.add_argument("--lr", type=float, default=None, help="override the peak learning rate")
    parser.add_argument("--halve-every", type=int, default=None, help="override the steps between rate halvings")
    parser.add_argument("--warmup", type=int, default=None, help="override the linear warm-up steps")
    parser.add_argument("--model-args", default="{}",
                        help="JSON arguments for the model builder (default: the paper's)")
    parser.add_argument("--device", default="auto", help="auto (CUDA if available), cpu, cuda, cuda:1 ...")
    parser.add_argument("--amp", default="auto", choices=["auto", "bf16", "fp16", "off"],
                        help="mixed precision; auto = bf16 where the device has it natively (CUDA Ampere+, "
                             "CPUs with AVX512-BF16/AMX), else off")
    parser.add_argument("--threads", type=int, default=None,
                        help="CPU threads for torch (default: torch's own). On a shared CPU, one process per core "
                             "with --threads 1 each trains more steps per hour than one process with all cores: "
                             "measured on 2 busy cores, a LIIF step took 1.7 CPU-s with 1 thread, 4.4 with 2")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--log-every", type=int, default=100, help="steps between progress lines and log.csv rows")
    parser.add_argument("--save-every", type=float, default=2.0, help="minutes between safety saves")
    parser.add_argument("--shard", type=int, default=None,
                        help="use shard K (mod N) of the data: a deterministic subset of about --shard-mb")
    parser.add_argument("--shards", type=int, default=None,
                        help="number of shards N (default: as needed for --shard-mb)")
    parser.add_argument("--shard-mb", type=float, default=35.0, help="largest shard, MB of files (default 35)")
    parser.add_argument("--make-shard", metavar="DIR", default=None,
                        help="copy shard --shard of --data into DIR (with a manifest) and exit")
    parser.add_argument("--export", metavar="PATH", default=None,
                        help="after training, write the fp16 shipped checkpoint here ('{method}' replaced; a folder "
                             "gets <method>.safetensors)")
    parser.add_argument("--export-only", action="store_true", help="export the run(s) as they are, without training")
    parser.add_argument("--metric", action="append", default=[], metavar="KEY=VALUE",
                        help="a measured metric to store in the exported checkpoint, e.g. psnr_y/Set5/x4=31.9")
    parser.add_argument("--metrics-from", metavar="JSON", action="append", default=[],
                        help="store this method's PSNR/SSIM from an evaluation JSON in the exported checkpoint "
                             "(repeatable: one JSON per evaluation run)")


def _methods(text: str) -> list[str]:
    from training.recipes import RECIPES

    names = list(RECIPES) if text.strip() == "all" else [m.strip() for m in text.split(",") if m.strip()]
    if not names:
        raise ValueError("no method given")
    return names


def _encoder_rates(text: str | None, methods: list[str]) -> dict[str, float]:
    """--encoder-lr: '1e-5' for every method, or 'diif=1e-5,...' for some."""
    if text is None:
        return {}
    if "=" not in text:
        return dict.fromkeys(methods, float(text))
    rates = {}
    for item in text.split(","):
        method, _, rate = item.partition("=")
        if method.strip() not in methods:
            raise ValueError(f"--encoder-lr names {method.strip()!r}, which is not among --method")
        rates[method.strip()] = float(rate)
    return rates


def _run_dir(template: str, method: str, several: bool) -> Path:
    if "{method}" in template:
        return Path(template.replace("{method}", method))
    return Path(template) / method if several else Path(template)


def _export_path(template: str, method: str, several: bool) -> Path:
    if "{method}" in template:
        return Path(template.replace("{method}", method))
    if template.endswith(".safetensors") and not several:
        return Path(template)
    return Path(template) / f"{method}.safetensors"


def _metrics(args: argparse.Namespace, method: str) -> dict[str, float]:
    from training.export import metrics_from_report

    out: dict[str, float] = {}
    for report in args.metrics_from:
        out.update(metrics_from_report(report, method))
    for item in args.metric:
        key, sep, value = item.partition("=")
        if not sep:
            raise ValueError(f"--metric wants KEY=VALUE, got {item!r}")
        out[key.strip()] = float(value)
        if not math.isfinite(out[key.strip()]):
            raise ValueError(f"--metric {key.strip()}: {value.strip()} is not a measured figure")
    return out


def _check_values(args: argparse.Namespace) -> None:
    """Values no run can use, refused before any work starts (ValueError: one line, exit code 2)."""
    if args.steps is not None and args.steps < 1:
        raise ValueError(f"--steps must be at least 1, got {args.steps}")
    if args.minutes is not None and not args.minutes > 0:
        raise ValueError(f"--minutes must be a positive number, got {args.minutes:g}")
    if args.halve_every is not None and args.halve_every < 1:
        raise ValueError(f"--halve-every must be at least 1 step, got {args.halve_every}")


def _check_paths(args: argparse.Namespace, outs: dict[str, Path]) -> None:
    """Run folders that are files, and --continue-from files that are not
    there, refused before any work starts (a run would otherwise fail after
    loading its data, or silently start from step 0)."""
    for method, out in outs.items():
        if (blocker := file_in_the_way(out)) is not None:
            raise ValueError(f"--out: {blocker} is a file, not a run folder")
        if args.continue_from and not args.export_only:
            source = Path(args.continue_from.replace("{method}", method))
            if not source.is_file():
                raise ValueError(f"--continue-from: {source} is {'a folder' if source.is_dir() else 'not there'}, "
                                 f"not a checkpoint of {method}")


def run(args: argparse.Namespace) -> int:
    started = time.monotonic()
    from training import data as data_mod
    from training import export, recipes
    from training import run as run_mod
    from training import train as train_mod

    if args.threads is not None:
        import torch

        if args.threads < 1:
            print("train: --threads must be at least 1", file=sys.stderr)
            return 2
        torch.set_num_threads(args.threads)
    try:
        if args.make_shard:
            if args.shard is None:
                raise ValueError("--make-shard needs --shard K")
            made = data_mod.make_shard(args.data, args.make_shard, args.shard, args.shards,
                                       int(args.shard_mb * 1e6))
            size = sum(p.stat().st_size for p in made.paths)
            print(f"wrote shard {made.shard_index} of {made.shard_count} ({len(made.paths)} images, "
                  f"{size / 1e6:.1f} MB) to {args.make_shard}")
            return 0
        _check_values(args)
        methods = _methods(args.method)
        several = len(methods) > 1
        outs = {m: _run_dir(args.out, m, several) for m in methods}
        _check_paths(args, outs)
        exporting = bool(args.export or args.export_only)
        if exporting and not args.export:
            raise ValueError("--export-only needs --export PATH")
        # Read (and checked) before training, not after it.
        metrics = {m: _metrics(args, m) for m in methods} if exporting else {}
        if not args.export_only:
            model_args = json.loads(args.model_args)
            if not isinstance(model_args, dict):
                raise ValueError("--model-args must be a JSON object")
            selection = data_mod.select(args.data, args.shard, args.shards, int(args.shard_mb * 1e6))
            frozen = args.encoder_from is not None
            encoder_rates = _encoder_rates(args.encoder_lr, methods)
            if encoder_rates and not frozen:
                raise ValueError("--encoder-lr fine-tunes the encoder of --encoder-from: give both")
            configs = [run_mod.TrainConfig(
                method=m, out_dir=outs[m], model_args=model_args, seed=args.seed,
                encoder_from=Path(args.encoder_from) if frozen else None, encoder_lr=encoder_rates.get(m),
                warm_start=Path(args.warm_start) if args.warm_start else None,
                continue_from=Path(args.continue_from.replace("{method}", m)) if args.continue_from else None,
                recipe=recipes.with_overrides(recipes.recipe_for(m, frozen_encoder=frozen), batch=args.batch,
                                              samples=args.samples, lr_patch=args.patch, hr_crop=args.hr_crop,
                                              learning_rate=args.lr, halve_every=args.halve_every,
                                              warmup=args.warmup))
                for m in methods]
            budget = train_mod.Budget(steps=args.steps, seconds=None if args.minutes is None else args.minutes * 60,
                                      started=started, save_every=args.save_every * 60,
                                      log_every=max(1, args.log_every))
            train_mod.train(configs, selection, budget, device=args.device, amp=args.amp,
                            say=lambda line: print(line, flush=True))
        if exporting:
            for m in methods:
                dest = _export_path(args.export, m, several)
                written = export.export(outs[m], dest, metrics[m])
                print(f"exported {m} to {written}")
    except FloatingPointError as error:
        print(f"train: {error}; the last saved state is kept (try --amp off or a lower learning rate)",
              file=sys.stderr)
        return 3
    except (ValueError, KeyError, FileNotFoundError, RuntimeError, NotImplementedError) as error:
        print(f"train: {error}", file=sys.stderr)
        return 2
    return 0
