"""`motionbridge` command line: serve, generate and status here, every other command dispatched by a table.

A module that provides a command exposes `configure_parser(parser)` and `run(args) -> int`. Only the module
of the command being run is imported (so `motionbridge status` never loads torch models), and a command
whose module is not part of this installation is simply not offered.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import importlib.util
import inspect
import json
import logging
import os
import signal
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DEFAULT_URL = "ws://127.0.0.1:8747/v1"
TOKEN_ENV = "MOTIONBRIDGE_TOKEN"


@dataclass(frozen=True)
class Command:
    """One entry of the dispatch table: `motionbridge <words...>` → module."""

    words: tuple[str, ...]
    module: str
    help: str


COMMANDS: tuple[Command, ...] = (
    Command(("serve",), "bridge.cli", "run the daemon (WebSocket protocol v1, model kept warm)"),
    Command(("generate",), "bridge.cli", "generate a motion from a prompt (daemon at --url, else in-process)"),
    Command(("status",), "bridge.cli", "show a running daemon's status"),
    Command(("bench", "bridge"), "bridge.bench", "benchmark the daemon with a zero-cost model"),
    Command(("bench", "engine"), "engine.commands.bench", "benchmark the model"),
    Command(("bench", "threads"), "engine.commands.bench_threads", "time the model per CPU thread layout and count"),
    Command(("bench", "startup"), "bridge.bench_startup", "time serve from launch to healthy to the first clip"),
    Command(
        ("bench", "gpu"), "engine.commands.bench_gpu", "every GPU figure the docs list, as one JSON + markdown report"
    ),
    Command(("fetch-weights",), "engine.io.hymotion_download", "download model weights"),
    Command(("convert",), "engine.io.checkpoint_convert", "convert a checkpoint"),
    Command(("dataset", "build"), "engine.train.dataset", "build the training dataset"),
    Command(("train",), "engine.train.training", "train the embedded model"),
    Command(("eval",), "engine.train.evaluation", "evaluate a model"),
    Command(("retrieval",), "engine.train.retrieval", "train the text–motion evaluator / score R-precision and FID"),
    Command(("export",), "engine.commands.export", "export a motion to npz/BVH/glTF"),
    Command(("worker",), "bridge.mqtt_worker", "serve jobs from an MQTT broker as a worker"),
)


def _module_available(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def available_commands() -> list[Command]:
    return [c for c in COMMANDS if _module_available(c.module)]


# ---------------------------------------------------------------------------------------------- serve


def load_model_spec(spec: str, device: str | None, dtype: str | None) -> Any:
    """`tiny`, a HY-Motion folder, an embedded .safetensors, `random:<config>`, or `package.module:factory`.

    The factory form builds any MotionModel (custom backends, test models); device is passed if it takes one.
    """
    head, sep, tail = spec.partition(":")
    if sep and head != "random" and "." in head and not Path(spec).exists():
        try:
            module = importlib.import_module(head)
        except ImportError as exc:
            raise SystemExit(f"error: cannot import model factory module {head!r}: {exc}") from None
        factory = getattr(module, tail, None)
        if factory is None or not callable(factory):
            raise SystemExit(f"error: {head} has no callable {tail!r} to build a model")
        kwargs = {"device": device} if device and "device" in inspect.signature(factory).parameters else {}
        return factory(**kwargs)
    import engine

    try:
        return engine.load_model(spec, device=device, dtype=dtype)
    except (OSError, ValueError, RuntimeError) as exc:
        # Checkpoint, model-not-found and device errors all say what to do; no traceback for them.
        raise SystemExit(f"error: cannot load model {spec!r}: {exc}") from None


def load_on_model_thread(spec: str, device: str | None, dtype: str | None, threads: int | None) -> tuple[Any, Any]:
    """Start the model thread (`engine.model.threads.ModelThread`, `threads` intra-op threads) and load the model on
    it, so that loading and every later batch share one torch thread team; returns (model, thread)."""
    from engine.model.threads import ModelThread

    thread = ModelThread(threads)
    try:
        return thread.call(load_model_spec, spec, device, dtype), thread
    except BaseException:
        thread.shutdown(wait=False)
        raise


def add_model_arguments(parser: argparse.ArgumentParser) -> None:
    """--model, --device, --dtype, --threads: how every model-hosting command (serve, worker) runs its model."""
    parser.add_argument(
        "--model",
        default="tiny",
        help="tiny (embedded default), a HY-Motion folder, an embedded .safetensors, random:<config>, "
        "or package.module:factory",
    )
    parser.add_argument("--device", default=None, help="cpu, cuda, cuda:N, mps (default: best available)")
    parser.add_argument("--dtype", default=None, help="float32, float16, bfloat16 (default: per device)")
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="CPU threads for the model (default: half the cores; see `motionbridge bench threads`)",
    )


def _configure_serve(parser: argparse.ArgumentParser) -> None:
    from bridge.protocol import Limits
    from bridge.server import DEFAULT_HOST, DEFAULT_MAX_CONNECTIONS, DEFAULT_PORT

    limits = Limits()
    parser.add_argument("--host", default=DEFAULT_HOST, help=f"address to bind (default {DEFAULT_HOST})")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT}; 0 = any free)")
    add_model_arguments(parser)
    parser.add_argument(
        "--token",
        default=os.environ.get(TOKEN_ENV),
        help=f"secret clients must send in identify (default ${TOKEN_ENV}); required off loopback",
    )
    parser.add_argument("--max-batch", type=int, default=4, help="samples sampled together at most (default 4)")
    parser.add_argument(
        "--max-queue",
        type=int,
        default=limits.max_queue,
        help=f"jobs waiting at most before busy (default {limits.max_queue})",
    )
    parser.add_argument(
        "--max-inflight",
        type=int,
        default=limits.max_inflight,
        help=f"requests in flight per connection (default {limits.max_inflight})",
    )
    parser.add_argument(
        "--max-connections",
        type=int,
        default=DEFAULT_MAX_CONNECTIONS,
        help=f"WebSocket connections at once; more get HTTP 503 (default {DEFAULT_MAX_CONNECTIONS})",
    )
    parser.add_argument(
        "--output-dir", default=str(_default_output_dir()), help="where finished jobs are stored (default %(default)s)"
    )
    parser.add_argument("--max-seconds", type=float, default=None, help="longest clip served (default: the model's)")
    parser.add_argument("--keep-jobs", type=int, default=500, help="retention: jobs kept in --output-dir (default 500)")
    parser.add_argument("--cache-size", type=int, default=128, help="identical requests cached in memory (default 128)")
    parser.add_argument(
        "--shutdown-timeout",
        type=float,
        default=10.0,
        help="seconds running jobs get to finish on SIGINT/SIGTERM (default 10)",
    )
    parser.add_argument(
        "--allow-origin",
        action="append",
        default=[],
        metavar="ORIGIN",
        help="browser origin allowed besides the daemon's own page (repeatable)",
    )
    parser.add_argument("--mqtt", default=None, metavar="URL", help="publish status and job events to an MQTT broker")
    parser.add_argument(
        "--workers",
        default=None,
        metavar="URL",
        help="gateway mode: no local model, jobs go to `motionbridge worker`s on this MQTT broker",
    )
    parser.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])


def model_threads(args: argparse.Namespace) -> int:
    """--threads, or the default (`engine.model.threads.default_threads`)."""
    from engine.model.threads import default_threads

    return args.threads or default_threads()


def _default_output_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "motionbridge" / "jobs"


def _run_serve(args: argparse.Namespace) -> int:
    from bridge.protocol import Limits
    from bridge.server import InsecureBind, MotionBridgeServer, ServerConfig, check_bind
    from bridge.store import StoreError

    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for name, value in (
        ("--max-batch", args.max_batch),
        ("--max-queue", args.max_queue),
        ("--max-inflight", args.max_inflight),
        ("--max-connections", args.max_connections),
        ("--keep-jobs", args.keep_jobs),
    ):
        if value < 1:
            print(f"error: {name} must be at least 1, got {value}", file=sys.stderr)
            return 2
    try:
        check_bind(args.host, args.token)
    except InsecureBind as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    config = ServerConfig(
        host=args.host,
        port=args.port,
        token=args.token,
        allow_origins=tuple(args.allow_origin),
        limits=Limits(max_queue=args.max_queue, max_inflight=args.max_inflight),
        max_seconds=args.max_seconds,
        max_batch=args.max_batch,
        output_dir=args.output_dir,
        retention=args.keep_jobs,
        cache_size=args.cache_size,
        shutdown_timeout=args.shutdown_timeout,
        max_connections=args.max_connections,
    )
    if args.workers:
        try:
            from bridge.mqtt_gateway import serve_workers
        except ImportError as exc:
            print(f"error: --workers needs the MQTT extra (pip install 'motionbridge[mqtt]'): {exc}", file=sys.stderr)
            return 2
        return serve_workers(args.workers, config, events_url=args.mqtt)
    if args.threads is not None and args.threads < 1:
        print(f"error: --threads must be at least 1, got {args.threads}", file=sys.stderr)
        return 2
    print(f"loading model {args.model!r} ...", file=sys.stderr)
    model, model_thread = load_on_model_thread(args.model, args.device, args.dtype, model_threads(args))

    async def main() -> int:
        try:
            server = MotionBridgeServer(model, config, model_thread=model_thread)
        except StoreError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        describe = f"model {model.name}, device {getattr(model, 'device', 'cpu')}"
        return await serve_until_signal(server, describe, events_url=args.mqtt)

    return asyncio.run(main())


async def serve_until_signal(server: Any, describe: str, events_url: str | None = None) -> int:
    """Start `server`, publish its events to `events_url` if given, serve until SIGINT/SIGTERM, stop cleanly.

    Shared by the daemon and the MQTT gateway (`serve --workers`), whose job backends differ.
    """
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await server.start()
    except OSError as exc:
        host, port = server.config.host, server.config.port
        print(
            f"error: cannot listen on {host}:{port}: {exc.strerror or exc} "
            "(is another daemon running? pick another --port)",
            file=sys.stderr,
        )
        await server.scheduler.shutdown(0)
        return 1
    publisher = await _start_mqtt(events_url, server) if events_url else None
    print(
        f"MotionBridge ready: {server.url}  (health: {server.http_url}/health, {describe}); Ctrl+C stops",
        file=sys.stderr,
        flush=True,
    )
    await stop.wait()
    print("shutting down: finishing running jobs ...", file=sys.stderr, flush=True)
    await server.shutdown()
    if publisher is not None:
        await publisher.stop()
    return 0


async def _start_mqtt(url: str, server: Any) -> Any:
    try:
        from bridge.mqtt import EventPublisher
    except ImportError as exc:
        raise SystemExit(f"error: --mqtt needs the MQTT extra (pip install 'motionbridge[mqtt]'): {exc}") from None
    publisher = EventPublisher(url, source=server.status_snapshot)
    server.job_listeners.append(publisher.job_event)
    await publisher.start()
    return publisher


# ---------------------------------------------------------------------------------------------- generate


def _configure_generate(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("prompt", help="what the character does, e.g. 'a person walks forward'")
    parser.add_argument("--seconds", type=float, default=5.0, help="clip length (default 5)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--samples", type=int, default=1, help="variations with seeds seed, seed+1, ...")
    parser.add_argument("--steps", type=int, default=None, help="sampler steps (default: the model's)")
    parser.add_argument("--cfg", type=float, default=None, help="guidance scale (default: the model's)")
    parser.add_argument("--loop", action="store_true", help="make the clip loop")
    parser.add_argument("--in-place", action="store_true", help="remove horizontal root travel")
    parser.add_argument(
        "-o",
        "--output",
        default="motion.npz",
        help="output file: .npz (SMPL-H), .bvh or .glb; several samples get _<k> suffixes",
    )
    parser.add_argument("--target", default="smplh", help="skeleton for .bvh/.glb: smplh, unity, unreal, mixamo")
    parser.add_argument(
        "--url", default=None, help=f"daemon to use (default {DEFAULT_URL} if one is running, else generate in-process)"
    )
    parser.add_argument("--token", default=os.environ.get(TOKEN_ENV), help=f"daemon token (default ${TOKEN_ENV})")
    parser.add_argument("--in-process", action="store_true", help="never use a daemon; load the model here")
    parser.add_argument("--model", default="tiny", help="model for in-process generation (as for serve)")
    parser.add_argument("--device", default=None)


class ProgressBar:
    """A one-line progress bar on stderr."""

    def __init__(self, stream: Any = None, width: int = 30) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.width = width
        self.drawn = False

    def update(self, step: int, steps: int, eta_ms: float | None = None) -> None:
        filled = int(self.width * step / max(1, steps))
        eta = f"  eta {eta_ms / 1000:.1f}s" if eta_ms is not None else ""
        self.stream.write(f"\r[{'#' * filled}{'.' * (self.width - filled)}] {step}/{steps} steps{eta}   ")
        self.stream.flush()
        self.drawn = True

    def finish(self, text: str) -> None:
        if self.drawn:
            self.stream.write("\n")
        self.stream.write(text + "\n")
        self.stream.flush()


def _output_paths(output: str, samples: int) -> list[Path]:
    path = Path(output)
    if samples == 1:
        return [path]
    return [path.with_name(f"{path.stem}_{k}{path.suffix}") for k in range(samples)]


def _write_motions(motions: list[Any], output: str, target: str) -> list[Path]:
    fmt = Path(output).suffix.lower().lstrip(".")
    if fmt not in ("npz", "bvh", "glb"):
        raise SystemExit(f"error: output must end in .npz, .bvh or .glb, got {output!r}")
    paths = _output_paths(output, len(motions))
    for path, motion in zip(paths, motions, strict=True):
        path.parent.mkdir(parents=True, exist_ok=True)
        if fmt == "npz":
            motion.save_npz(path)
            continue
        from bridge.server import _export_bytes

        export = _export_bytes()
        if export is None:
            raise SystemExit(f"error: {fmt} export is not available in this build; use -o file.npz")
        path.write_bytes(export(motion, fmt, target))
    return paths


def _daemon_reachable(url: str) -> bool:
    import socket
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 80), timeout=0.5):
            return True
    except OSError:
        return False


def _run_generate(args: argparse.Namespace) -> int:
    from engine.core.targets import TARGETS

    if args.target not in (*TARGETS, "mixamo"):
        print(f"error: unknown --target {args.target!r}: use smplh, unity, unreal or mixamo", file=sys.stderr)
        return 2
    if Path(args.output).suffix.lower() == ".npz" and args.target != "smplh":
        print("note: .npz files are always SMPL-H (upstream format); --target applies to .bvh/.glb", file=sys.stderr)
    if Path(args.output).suffix.lower() not in (".npz", ".bvh", ".glb"):
        print(f"error: output must end in .npz, .bvh or .glb, got {args.output!r}", file=sys.stderr)
        return 2
    if args.in_process and args.url:
        print("error: --in-process and --url exclude each other", file=sys.stderr)
        return 2
    url = args.url
    if url is None and not args.in_process and _daemon_reachable(DEFAULT_URL):
        url = DEFAULT_URL
    bar = ProgressBar()
    start = time.perf_counter()
    if url is not None:
        motions, where = _generate_with_daemon(args, url, bar), f"daemon {url}"
    else:
        motions, where = _generate_in_process(args, bar), f"in-process model {args.model}"
    paths = _write_motions(motions, args.output, args.target)
    seconds = time.perf_counter() - start
    bar.finish(
        f"{len(motions)} motion(s) of {motions[0].frames} frames from {where} in {seconds:.1f} s → "
        + ", ".join(str(p) for p in paths)
    )
    return 0


def _generation_params(args: argparse.Namespace) -> dict[str, Any]:
    return {"seconds": args.seconds, "seed": args.seed, "samples": args.samples, "steps": args.steps, "cfg": args.cfg}


def _generate_with_daemon(args: argparse.Namespace, url: str, bar: ProgressBar) -> list[Any]:
    from bridge.client import ConnectionLost, HandshakeRefused, MotionBridgeError, MotionBridgeSyncClient

    def on_event(event: dict[str, Any]) -> None:
        if event.get("op") == "progress":
            bar.update(event["step"], event["steps"], event.get("eta_ms"))

    try:
        with MotionBridgeSyncClient(url, token=args.token, client_name="motionbridge-cli", connect_retries=2) as client:
            result = client.generate(
                args.prompt,
                on_event=on_event,
                loop=args.loop or None,
                in_place=args.in_place or None,
                target="smplh",
                **_generation_params(args),
            )
            model = str(client.hello.get("model", {}).get("name", ""))
    except HandshakeRefused as exc:
        raise SystemExit(f"error: the daemon at {url} refused the connection: {exc}") from None
    except ConnectionLost as exc:
        raise SystemExit(f"error: {exc.message}") from None
    except MotionBridgeError as exc:
        raise SystemExit(f"error: the daemon refused the request ({exc.code}): {exc.message}") from None
    return [s.to_motion(text=args.prompt, model=model) for s in result.samples]


def _generate_in_process(args: argparse.Namespace, bar: ProgressBar) -> list[Any]:
    from engine.model.generation import GenerationError

    print(f"generating in-process: loading model {args.model!r} ...", file=sys.stderr)
    model = load_model_spec(args.model, args.device, None)
    params = _generation_params(args)
    if not 0 < args.seconds <= model.max_seconds:
        raise SystemExit(f"error: --seconds must be in (0, {model.max_seconds:g}]")
    try:
        return model.generate(
            args.prompt,
            on_step=lambda ev: bar.update(ev.step, ev.steps),
            in_place=args.in_place,
            loop=args.loop,
            **params,
        )
    except GenerationError as exc:
        raise SystemExit(f"error: {exc}") from None


# ---------------------------------------------------------------------------------------------- status


def _configure_status(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--url", default=DEFAULT_URL, help=f"daemon (default {DEFAULT_URL})")
    parser.add_argument("--token", default=os.environ.get(TOKEN_ENV), help=f"daemon token (default ${TOKEN_ENV})")
    parser.add_argument("--json", action="store_true", help="print the raw status object")


def _run_status(args: argparse.Namespace) -> int:
    from bridge.client import ConnectionLost, HandshakeRefused, MotionBridgeSyncClient

    try:
        with MotionBridgeSyncClient(
            args.url, token=args.token, client_name="motionbridge-cli", connect_retries=0
        ) as client:
            status = client.status()
            hello = client.hello
    except ConnectionLost:
        print(f"no daemon at {args.url}: start one with `motionbridge serve`", file=sys.stderr)
        return 1
    except HandshakeRefused as exc:
        print(f"error: the daemon at {args.url} refused the connection: {exc}", file=sys.stderr)
        return 1
    status = {k: v for k, v in status.items() if k not in ("op", "id")}
    if args.json:
        print(json.dumps({"server": hello.get("server"), **status, "model": hello.get("model")}, indent=1))
        return 0
    model = hello.get("model", {})
    print(f"{hello.get('server')} at {args.url}")
    print(
        f"  model      {model.get('name')} on {status.get('device')} ({model.get('fps')} fps, "
        f"max {model.get('max_seconds')} s, {model.get('default_steps')} steps)"
    )
    print(f"  queue      {status.get('queue')} waiting, {status.get('running')} running")
    print(f"  clients    {status.get('connections')}, jobs done {status.get('jobs_done')}")
    print(f"  uptime     {status.get('uptime', 0):.0f} s")
    return 0


LOCAL: dict[str, tuple[Callable[[argparse.ArgumentParser], None], Callable[[argparse.Namespace], int]]] = {
    "serve": (_configure_serve, _run_serve),
    "generate": (_configure_generate, _run_generate),
    "status": (_configure_status, _run_status),
}


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
    if command.module == "bridge.cli":
        LOCAL[command.words[0]][0](parser)
        return
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
        if command.module == "bridge.cli":
            return LOCAL[command.words[0]][1](args)
        return int(_import_command(command).run(args) or 0)
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
