"""`motionbridge` command line: it parses and dispatches, through a table, to one module per command.

A module that provides a command exposes `configure_parser(parser)` and `run(args) -> int`. Only the module
of the command being run is imported (so `motionbridge status` never loads torch models), and a command
whose module is not part of this installation is simply not offered.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Command:
    """One entry of the dispatch table: `motionbridge <words...>` → module."""

    words: tuple[str, ...]
    module: str
    help: str


COMMANDS: tuple[Command, ...] = (
    Command(("serve",), "bridge.commands.serve", "run the daemon (WebSocket protocol v1, model kept warm)"),
    Command(
        ("generate",), "bridge.commands.generate", "generate a motion from a prompt (daemon at --url, else in-process)"
    ),
    Command(("status",), "bridge.commands.status", "show a running daemon's status"),
    Command(("live",), "bridge.commands.live", "record a live session (prompt changes as it runs) to a file"),
    Command(("bench", "bridge"), "bridge.bench", "benchmark the daemon with a zero-cost model"),
    Command(("bench", "engine"), "engine.commands.bench", "benchmark the model"),
    Command(("bench", "threads"), "engine.commands.bench_threads", "time the model per CPU thread layout and count"),
    Command(("bench", "directing"), "engine.commands.bench_directing", "measure the directing constraints' bars"),
    Command(("bench", "live"), "bridge.bench_live", "measure live mode at the client: speed, latency, pauses, joins"),
    Command(("bench", "startup"), "bridge.bench_startup", "time serve from launch to healthy to the first clip"),
    Command(
        ("bench", "gpu"), "engine.commands.bench_gpu", "every GPU figure the docs list, as one JSON + markdown report"
    ),
    Command(("fetch-weights",), "engine.io.hymotion_download", "download model weights"),
    Command(("convert",), "engine.io.checkpoint_convert", "convert a checkpoint"),
    Command(("dataset", "build"), "engine.train.dataset", "build the training dataset"),
    Command(("dataset", "focus"), "engine.train.focus", "cut a training set down to base clips + everyday actions"),
    Command(("dataset", "pack"), "engine.train.packing", "pack a built training set into one small file"),
    Command(("dataset", "unpack"), "engine.train.packing", "rebuild a training set folder from a pack"),
    Command(("train",), "engine.train.training", "train the embedded model"),
    Command(("eval",), "engine.train.evaluation", "evaluate a model"),
    Command(("retrieval",), "engine.train.retrieval", "train the text–motion evaluator / score R-precision and FID"),
    Command(("export",), "engine.commands.export", "export a motion to npz/BVH/glTF"),
    Command(("worker",), "bridge.mqtt.worker", "serve jobs from an MQTT broker as a worker"),
)


def _module_available(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def available_commands() -> list[Command]:
    return [c for c in COMMANDS if _module_available(c.module)]


# ---------------------------------------------------------------------------------------------- dispatch


def _selected(argv: Sequence[str], commands: list[Command]) -> Command | None:
    words = [a for a in argv if not a.startswith("-")]
    for command in commands:
        if tuple(words[: len(command.words)]) == command.words:
            return command
    return None


def build_parser(argv: Sequence[str]) -> argparse.ArgumentParser:
    """The parser with every available command listed and only the selected one fully configured."""
    commands = available_commands()
    chosen = _selected(argv, commands)
    parser = argparse.ArgumentParser(
        prog="motionbridge", description="Text-to-motion daemon for Unity, Unreal and the browser."
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    groups: dict[str, argparse._SubParsersAction] = {}
    for command in commands:
        if len(command.words) == 1:
            p = sub.add_parser(command.words[0], help=command.help, description=command.help)
        else:
            head, tail = command.words
            if head not in groups:
                group_parser = sub.add_parser(head, help=f"{head} commands")
                groups[head] = group_parser.add_subparsers(dest="subcommand", metavar="SUBCOMMAND")
            p = groups[head].add_parser(tail, help=command.help, description=command.help)
        p.set_defaults(_command=command)
        if command is chosen:
            _configure(command, p)
    return parser


def _configure(command: Command, parser: argparse.ArgumentParser) -> None:
    module = _import_command(command)
    module.configure_parser(parser)


def _import_command(command: Command) -> Any:
    try:
        return importlib.import_module(command.module)
    except ImportError as exc:
        raise SystemExit(
            f"error: `motionbridge {' '.join(command.words)}` is unavailable: {exc} "
            "(install the missing package or extra)"
        ) from None


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(argv)
    args = parser.parse_args(argv)
    command: Command | None = getattr(args, "_command", None)
    if command is None:
        parser.print_help()
        return 2
    try:
        return int(_import_command(command).run(args) or 0)
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
