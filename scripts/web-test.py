#!/usr/bin/env python3
"""The web page, tested in headless Chromium on its SwiftShader WebGPU.

Serves the built page (scripts/web-build.sh → target/web) on 127.0.0.1,
drives Debian's Chromium through chromedriver (the W3C WebDriver protocol,
plain HTTP and JSON, so nothing beyond Python's standard library), and:

1. runs a short quickstart in the page and holds its held-out figures
   (`analysis.heldout`) to the native CLI's for the same TOML, within f32
   tolerance (the two adapters round differently);
2. checks that a bad key is refused in the page with the CLI's message,
   naming the key;
3. saves a screenshot of the page after the run (--screenshot).

Usage: scripts/web-test.py --occam target/release/occam [--web target/web]
       [--screenshot target/web-test/page.png]
Exit status 0 when every check passes; what it measured goes to stdout.
"""

import argparse
import base64
import functools
import http.server
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

# A few meta-steps of a small quickstart: seconds natively, a minute or two
# on SwiftShader with a cold shader cache.
SETTINGS = {
    "meta_steps": 4,
    "meta_learner.hidden": "[16]",
    "learner.steps": 5,
    "data.test": 20,
    "data.samples": 20,
    "analysis.heldout_tasks": 2,
    "analysis.eval_points": 500,
}
# Relative difference allowed between the page's held-out figures and the
# CLI's: both are f32 computations of the same steps, on different adapters.
TOLERANCE = 1e-3

CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-dev-shm-usage",
    "--enable-unsafe-webgpu",
    "--enable-features=Vulkan",
    "--use-vulkan=swiftshader",
    "--use-webgpu-adapter=swiftshader",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1200,1100",
]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def request(method, url, body=None, timeout=60):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return json.loads(r.read() or b"null")


class Browser:
    """One Chromium session through chromedriver."""

    def __init__(self, chromium, chromedriver):
        self.port = free_port()
        self.profile = tempfile.mkdtemp(prefix="occam-web-test-profile-")
        self.driver = subprocess.Popen(
            [chromedriver, f"--port={self.port}"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        self.base = f"http://127.0.0.1:{self.port}"
        for _ in range(100):
            try:
                if request("GET", self.base + "/status")["value"]["ready"]:
                    break
            except OSError:
                pass
            time.sleep(0.1)
        caps = {
            "capabilities": {
                "alwaysMatch": {
                    "browserName": "chrome",
                    "goog:chromeOptions": {
                        "binary": chromium,
                        "args": CHROMIUM_ARGS + [f"--user-data-dir={self.profile}"],
                    },
                    "timeouts": {"script": 600000, "pageLoad": 120000},
                }
            }
        }
        self.session = request("POST", self.base + "/session", caps, timeout=120)["value"]["sessionId"]
        self.url = f"{self.base}/session/{self.session}"

    def go(self, url):
        request("POST", self.url + "/url", {"url": url}, timeout=120)

    def js(self, script, *args):
        return request("POST", self.url + "/execute/sync", {"script": script, "args": list(args)}, timeout=120)["value"]

    def screenshot(self, path):
        png = base64.b64decode(request("GET", self.url + "/screenshot")["value"])
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        with open(path, "wb") as f:
            f.write(png)

    def close(self):
        try:
            request("DELETE", self.url)
        except OSError:
            pass
        self.driver.terminate()
        self.driver.wait()
        shutil.rmtree(self.profile, ignore_errors=True)


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def serve(folder):
    handler = functools.partial(QuietHandler, directory=folder)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def start_run(browser, toml_text, every=None, experiment=None):
    """Puts `toml_text` in the page's editor and clicks Run."""
    browser.js(
        "if (arguments[2]) document.getElementById('experiment').value = arguments[2];"
        "if (arguments[1]) document.getElementById('every').value = arguments[1];"
        "document.getElementById('toml').value = arguments[0];"
        "document.getElementById('run').click();",
        toml_text, str(every) if every else None, experiment,
    )


def wait_for(browser, statuses, timeout):
    start = time.time()
    while time.time() - start < timeout:
        state = browser.js("return window.occamState || null")
        if state and state["status"] in statuses:
            return state, time.time() - start
        time.sleep(0.5)
    raise SystemExit(f"web-test: the page did not reach {statuses} in {timeout} s: {state}")


def edited(toml_text, settings):
    """The TOML with `settings` (dotted keys) set, as --set would."""
    lines = toml_text.splitlines()
    out, table = [], ""
    pending = dict(settings)
    for line in lines:
        stripped = line.strip()
        if stripped.startswith("[") and stripped.endswith("]"):
            # Keys of the table being left that were not in the file.
            for k in [k for k in pending if k.rpartition(".")[0] == table]:
                out.append(f"{k.rpartition('.')[2]} = {pending.pop(k)}")
            table = stripped.strip("[]")
        elif "=" in stripped and not stripped.startswith("#"):
            key = stripped.split("=", 1)[0].strip()
            full = f"{table}.{key}" if table else key
            if full in pending:
                line = f"{key} = {pending.pop(full)}"
        out.append(line)
    for k in [k for k in pending if k.rpartition(".")[0] == table]:
        out.append(f"{k.rpartition('.')[2]} = {pending.pop(k)}")
    if pending:
        raise SystemExit(f"web-test: keys not placed: {pending}")
    return "\n".join(out) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--occam", required=True, help="the native occam binary")
    ap.add_argument("--web", default="target/web", help="the built page")
    ap.add_argument("--experiment", default="experiments/quickstart.toml")
    ap.add_argument("--screenshot", default="target/web-test/page.png")
    ap.add_argument("--chromium", default="/usr/bin/chromium")
    ap.add_argument("--chromedriver", default="/usr/bin/chromedriver")
    ap.add_argument("--timeout", type=float, default=900)
    ap.add_argument("--images", default=None, metavar="PNG",
                    help="also run a small mnist01 in the page (the image set from the page's memory) "
                         "and save a screenshot of its image grid here")
    ap.add_argument("--time-steps", type=int, default=0,
                    help="also time the experiment as shipped, with this many meta-steps, "
                         "in the page and in the CLI (reported, not checked)")
    a = ap.parse_args()

    toml_text = edited(open(a.experiment).read(), SETTINGS)
    work = tempfile.mkdtemp(prefix="occam-web-test-")
    exp = os.path.join(work, "quickstart.toml")
    with open(exp, "w") as f:
        f.write(toml_text)

    # The native CLI on the same TOML.
    t0 = time.time()
    subprocess.run([a.occam, "run", exp, "--out", os.path.join(work, "cli")], check=True, capture_output=True)
    cli_s = time.time() - t0
    cli = json.load(open(os.path.join(work, "cli", "summary.json")))

    server = serve(a.web)
    browser = Browser(a.chromium, a.chromedriver)
    failures = []
    try:
        browser.go(f"http://127.0.0.1:{server.server_address[1]}/index.html")
        state, _ = wait_for(browser, {"ready", "error"}, 120)
        if state["status"] == "error":
            raise SystemExit(f"web-test: the page failed to start: {state['error']}")
        start_run(browser, toml_text, every=2)
        state, page_s = wait_for(browser, {"done", "error", "stopped"}, a.timeout)
        print(f"web-test: adapter in the page: {state['adapter']}")
        print(f"web-test: quickstart ({SETTINGS['meta_steps']} meta-steps, small) in the page: {page_s:.1f} s; "
              f"native CLI (`occam run`, {cli['adapter']['name']}): {cli_s:.1f} s, "
              f"of which meta-learning {cli['wall_s']:.2f} s")
        if state["status"] != "done":
            raise SystemExit(f"web-test: the run ended {state['status']}: {state['error']}")
        browser.screenshot(a.screenshot)
        print(f"web-test: screenshot {a.screenshot}")
        for key in ["initial_meta_loss", "final_meta_loss", "generalisation_mse"]:
            page, native = state["heldout"][key], cli["analysis"]["heldout"][key]
            rel = abs(page - native) / abs(native)
            ok = rel <= TOLERANCE
            print(f"web-test: analysis.heldout.{key}: page {page:.7g}, CLI {native:.7g}, "
                  f"relative difference {rel:.2e} ({'ok' if ok else 'FAIL'}, tolerance {TOLERANCE:g})")
            if not ok:
                failures.append(key)
        if state["step"] != SETTINGS["meta_steps"]:
            failures.append(f"step {state['step']}")
        downloads = browser.js("return [...document.querySelectorAll('#downloads a')].map(a => a.download)")
        print(f"web-test: downloads offered: {', '.join(downloads)}")
        if sorted(downloads) != sorted(["function.npy", "theta.npy", "eval_inputs.npy", "summary.json", "config.toml"]):
            failures.append("downloads")

        # A bad key: refused in the page with the CLI's message.
        bad = toml_text.replace("[learner]", "[learner]\nnonsense_key = 1")
        start_run(browser, bad)
        state, _ = wait_for(browser, {"error", "done"}, 120)
        cli_bad = os.path.join(work, "bad.toml")
        with open(cli_bad, "w") as f:
            f.write(bad)
        native = subprocess.run([a.occam, "run", cli_bad, "--out", os.path.join(work, "bad")],
                                capture_output=True, text=True)
        print(f"web-test: a bad key in the page: {state['error']!r}; the CLI (exit {native.returncode}): "
              f"{native.stderr.strip().splitlines()[-1]!r}")
        if state["status"] != "error" or "nonsense_key" not in (state["error"] or ""):
            failures.append("bad key")

        if a.images:
            small = edited(open("experiments/mnist01.toml").read(), {
                "meta_steps": 2, "inputs.count": 32, "data.train": 10, "data.test": 22,
                "learner.steps": 5, "learner.batch": 5, "analysis.heldout_tasks": 1,
            })
            start_run(browser, small, every=1, experiment="mnist01.toml")
            state, images_s = wait_for(browser, {"done", "error"}, a.timeout)
            print(f"web-test: mnist01 (2 meta-steps, 32 images) in the page: {state['status']} in {images_s:.1f} s"
                  + (f": {state['error']}" if state["error"] else ""))
            browser.screenshot(a.images)
            print(f"web-test: screenshot {a.images}")
            if state["status"] != "done":
                failures.append("images")

        if a.time_steps:
            timed_text = edited(open(a.experiment).read(), {"meta_steps": a.time_steps})
            timed = os.path.join(work, "timed.toml")
            with open(timed, "w") as f:
                f.write(timed_text)
            t0 = time.time()
            subprocess.run([a.occam, "run", timed, "--out", os.path.join(work, "timed")],
                           check=True, capture_output=True)
            cli_s = time.time() - t0
            cli = json.load(open(os.path.join(work, "timed", "summary.json")))
            start_run(browser, timed_text, every=5)
            state, page_s = wait_for(browser, {"done", "error"}, a.timeout)
            if state["status"] != "done":
                raise SystemExit(f"web-test: the timed run failed: {state['error']}")
            rel = abs(state["heldout"]["final_meta_loss"] - cli["analysis"]["heldout"]["final_meta_loss"]) \
                / abs(cli["analysis"]["heldout"]["final_meta_loss"])
            print(f"web-test: {os.path.basename(a.experiment)} as shipped, {a.time_steps} meta-steps: "
                  f"page {page_s:.1f} s (click to held-out figures, redrawing every 5 meta-steps); "
                  f"CLI {cli_s:.1f} s (the whole command: start, kernels, run, analyses, plots; "
                  f"meta-learning {cli['wall_s']:.2f} s, {cli['unroll']}); "
                  f"final held-out meta-loss differs by {rel:.2e} relative")
    finally:
        browser.close()
        server.shutdown()
        shutil.rmtree(work, ignore_errors=True)
    if failures:
        print(f"web-test: FAILED: {', '.join(failures)}")
        return 1
    print("web-test: ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
