"""`evaluate` and `bench` read `--methods` and `--weights METHOD=PATH` through
one parser each: the same mistake gets the same one-line message and exit code
in both commands, before any work starts."""

from __future__ import annotations

from pathlib import Path

import pytest

import main
from cli.common import EXIT_USAGE, UsageError, parse_method_paths, parse_methods
from inference.catalog import all_methods

KNOWN = ["bicubic", "liif", "diif"]


def run(*argv: str) -> int:
    try:
        return main.main(list(argv))
    except SystemExit as exit_:
        return int(exit_.code or 0)


def test_methods_all_is_every_method_in_order_and_names_are_checked() -> None:
    assert parse_methods("all", KNOWN) == KNOWN
    assert parse_methods(" diif , bicubic ", KNOWN) == ["diif", "bicubic"]
    with pytest.raises(UsageError, match="unknown method warp; known: bicubic, liif, diif"):
        parse_methods("liif,warp", KNOWN)
    with pytest.raises(UsageError, match="names no method"):
        parse_methods(" , ", KNOWN)


def test_method_paths_want_a_known_method_and_a_path() -> None:
    assert parse_method_paths(["liif = runs/a.safetensors", "diif=b.pth"], KNOWN) == {
        "liif": "runs/a.safetensors", "diif": "b.pth"}
    for bad in ("liif", "=x.pth", "liif="):
        with pytest.raises(UsageError, match="wants METHOD=PATH"):
            parse_method_paths([bad], KNOWN)
    with pytest.raises(UsageError, match="unknown method 'warp'"):
        parse_method_paths(["warp=x.pth"], KNOWN)


@pytest.mark.parametrize(("mistake", "message"), [
    (["--methods", "bicubic,warp"], "unknown method warp; known: " + ", ".join(all_methods())),
    (["--methods", "liif", "--weights", "liif"], "--weights wants METHOD=PATH, got 'liif'"),
    (["--methods", "liif", "--weights", "warp=x.safetensors"],
     "--weights: unknown method 'warp'; known: " + ", ".join(all_methods())),
])
@pytest.mark.parametrize("command", ["evaluate", "bench"])
def test_the_same_mistake_gets_the_same_answer_from_evaluate_and_bench(
        command: str, mistake: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    code = run(command, *mistake, "--data", str(tmp_path), "--out", str(tmp_path / "out"))
    err = capsys.readouterr().err
    assert code == EXIT_USAGE
    assert err.splitlines() == [f"{command}: {message}"]
    assert not any(tmp_path.iterdir()), "nothing may be written for a bad argument"
