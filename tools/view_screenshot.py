"""A PNG of an episode in rerun's web viewer, taken with headless Chromium (docs/view_episode.png).

    apt-get install chromium-headless-shell          # Debian 12 package
    python -m tools.view_screenshot BAG_OR_DATASET --out docs/view_episode.png [--wait 60]

Serves the episode with `bag_to_dataset view --web`, opens the web viewer in
chromium-headless-shell (WebGL on SwiftShader; its software WebGPU cannot allocate the viewer's
buffers), waits until it has rendered, and takes the screenshot over the DevTools protocol. Both
processes are stopped afterwards.
"""
from __future__ import annotations

import argparse
import base64
import json
import shutil
import signal
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

GRPC_URI = "rerun+http://127.0.0.1:{port}/proxy"


def _devtools_page(port: int, timeout: float = 30.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=2) as r:
                pages = [p for p in json.load(r) if p.get("type") == "page"]
            if pages:
                return pages[0]["webSocketDebuggerUrl"]
        except OSError:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"no DevTools page on port {port} after {timeout:g} s")


def capture(ws_url: str, out: Path) -> None:
    from websockets.sync.client import connect

    with connect(ws_url, max_size=None) as ws:
        ws.send(json.dumps({"id": 1, "method": "Page.captureScreenshot", "params": {"format": "png"}}))
        while True:
            reply = json.loads(ws.recv())
            if reply.get("id") == 1:
                break
    if "result" not in reply:
        raise RuntimeError(f"screenshot failed: {reply.get('error')}")
    out.write_bytes(base64.b64decode(reply["result"]["data"]))


def _stop(proc: subprocess.Popen, sig: int = signal.SIGINT) -> None:
    """Stop a process started in its own session, and everything it started (Chromium's helpers)."""
    import os

    try:
        os.killpg(proc.pid, sig)
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    except ProcessLookupError:
        pass


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m tools.view_screenshot", description=__doc__.split("\n\n")[0])
    ap.add_argument("path", help="bag folder, session or LeRobot dataset (as for bag_to_dataset view)")
    ap.add_argument("--out", default="docs/view_episode.png")
    ap.add_argument("--episode", type=int, default=0)
    ap.add_argument("--wait", type=float, default=60.0, help="seconds the viewer gets to load and render")
    ap.add_argument("--size", default="1600,900", help="window size W,H")
    ap.add_argument("--web-port", type=int, default=19092)
    ap.add_argument("--devtools-port", type=int, default=19222)
    ap.add_argument("--grpc-port", type=int, default=19876)
    args = ap.parse_args(argv)
    browser = shutil.which("chromium-headless-shell") or shutil.which("chromium")
    if browser is None:
        print("view_screenshot: no chromium-headless-shell or chromium; apt-get install chromium-headless-shell",
              file=sys.stderr)
        return 2
    server = subprocess.Popen([sys.executable, "-m", "bag_to_dataset.view_cli", args.path, "--episode",
                               str(args.episode), "--web", "--web-port", str(args.web_port),
                               "--grpc-port", str(args.grpc_port)],
                              stdout=subprocess.PIPE, text=True, start_new_session=True)
    chrome = None
    try:
        line = server.stdout.readline()   # "showing ...": the data is in the served recording
        if not line.startswith("showing"):
            print(f"view_screenshot: the viewer did not start: {line.strip()}", file=sys.stderr)
            return 2
        stream = urllib.parse.quote(GRPC_URI.format(port=args.grpc_port), safe="")
        url = f"http://127.0.0.1:{args.web_port}/?url={stream}&renderer=webgl"
        chrome = subprocess.Popen([browser, "--no-sandbox", "--disable-dev-shm-usage", "--use-angle=swiftshader",
                                   "--enable-unsafe-swiftshader",
                                   "--disable-features=WebGPU",
                                   f"--window-size={args.size}", f"--remote-debugging-port={args.devtools_port}",
                                   url], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                  start_new_session=True)
        ws = _devtools_page(args.devtools_port)
        time.sleep(args.wait)
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        capture(ws, out)
        print(f"{out}: screenshot of {args.path} in rerun's web viewer")
        return 0
    finally:
        if chrome is not None:
            _stop(chrome, signal.SIGTERM)
        _stop(server)


if __name__ == "__main__":
    sys.exit(main())
