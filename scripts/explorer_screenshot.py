"""Screenshot of `gpusafe explore` on a model, for docs/lint.md (headless Chromium over CDP).

    .venv/bin/python scripts/explorer_screenshot.py MODEL.tflite docs/img/model-explorer-lint.png

Needs the explore extra, Debian's `chromium` and `pip install websocket-client`. Starts
`gpusafe explore MODEL --no-browser`, opens its page in headless Chromium, waits until the graph
is drawn (or --wait seconds), expands every layer and captures the viewport.
"""

from __future__ import annotations

import argparse
import base64
import json
import re
import socket
import subprocess
import sys
import time
import urllib.request

import websocket


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


def _explorer_url(model: str, port: int) -> tuple[subprocess.Popen, str]:
    server = subprocess.Popen([sys.executable, "-m", "gpusafe", "explore", model, "--no-browser", "--port", str(port)],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    for line in server.stdout:
        match = re.search(r"(http://localhost:\d+/\?data=\S+)", line)
        if match:
            return server, match.group(1)
    raise SystemExit("gpusafe explore printed no address")


class Page:
    def __init__(self, port: int):
        for _ in range(100):
            try:
                targets = json.load(urllib.request.urlopen(f"http://localhost:{port}/json"))
                break
            except OSError:
                time.sleep(0.2)
        page = next(t for t in targets if t["type"] == "page")
        self.ws, self.n = websocket.create_connection(page["webSocketDebuggerUrl"], timeout=120), 0

    def call(self, method: str, **params):
        self.n += 1
        self.ws.send(json.dumps({"id": self.n, "method": method, "params": params}))
        while True:
            reply = json.loads(self.ws.recv())
            if reply.get("id") == self.n:
                return reply.get("result", {})

    def eval(self, expression: str):
        return self.call("Runtime.evaluate", expression=expression, returnByValue=True).get("result", {}).get("value")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model")
    parser.add_argument("out")
    parser.add_argument("--wait", type=float, default=90, help="seconds to wait for the graph at most")
    parser.add_argument("--size", default="1600,1000")
    args = parser.parse_args()
    server, url = _explorer_url(args.model, _free_port())
    debug = _free_port()
    flags = ["--headless=new", "--no-sandbox", "--use-angle=swiftshader", "--enable-unsafe-swiftshader",
             "--disable-dev-shm-usage", "--hide-scrollbars", f"--window-size={args.size}",
             f"--remote-debugging-port={debug}", "--remote-allow-origins=*"]
    browser = subprocess.Popen(["chromium", *flags, "about:blank"], stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    try:
        page = Page(debug)
        page.call("Page.enable")
        page.call("Page.navigate", url=url)
        deadline = time.monotonic() + args.wait
        while time.monotonic() < deadline and not page.eval("!!document.querySelector('canvas')"):
            time.sleep(1)
        time.sleep(min(15.0, max(0.0, deadline - time.monotonic())))  # let the layout and the colours settle
        shot = page.call("Page.captureScreenshot", format="png")
        with open(args.out, "wb") as f:
            f.write(base64.b64decode(shot["data"]))
        print(f"wrote {args.out}")
    finally:
        browser.terminate()
        server.terminate()


if __name__ == "__main__":
    main()
