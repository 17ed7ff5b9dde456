"""`motionbridge status`: what a running daemon is doing (torch-free: it only talks to the daemon)."""

from __future__ import annotations

import argparse
import json
import os
import sys

from bridge.client import DEFAULT_URL, TOKEN_ENV


def configure_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--url", default=DEFAULT_URL, help=f"daemon (default {DEFAULT_URL})")
    parser.add_argument("--token", default=os.environ.get(TOKEN_ENV), help=f"daemon token (default ${TOKEN_ENV})")
    parser.add_argument("--json", action="store_true", help="print the raw status object")


def run(args: argparse.Namespace) -> int:
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
