"""The website: builds with warnings as errors, hides every solution, renders math offline, in a real browser."""
from __future__ import annotations

import functools
import html as html_lib
import http.server
import os
import re
import shutil
import socketserver
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from tests.notebook_utils import IDS, REPO, secret_lines

pytestmark = pytest.mark.slow
ARTIFACTS = REPO / "test-artifacts" / "screenshots"
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--hide-scrollbars"]


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    assert (REPO / "_vendor" / "mathjax" / "tex-chtml.js").exists(), "run `make mathjax` (make test does it)"
    out = tmp_path_factory.mktemp("book")
    env = dict(os.environ, PATH=str(Path(sys.executable).parent) + os.pathsep + os.environ["PATH"])
    proc = subprocess.run([str(Path(sys.executable).parent / "jupyter-book"), "build", str(REPO), "-W",
                           "--keep-going", "--path-output", str(out)], capture_output=True, text=True, env=env)
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, "jupyter-book build -W failed:\n" + "\n".join(
        line for line in log.splitlines() if "WARNING" in line or "ERROR" in line or "Error" in line)[-5000:]
    return out / "_build" / "html"


def chapter_pages(site: Path) -> list[Path]:
    return [site / "chapters" / aid / f"{aid}.html" for aid in IDS]


def test_every_chapter_and_page_is_built(site):
    for page in chapter_pages(site) + [site / "intro.html", site / "glossary.html", site / "references.html"]:
        assert page.exists(), page


def test_no_solution_or_hidden_test_reaches_students(site):
    secrets = secret_lines()
    html_text = {p: html_lib.unescape(re.sub(r"<[^>]+>", "", p.read_text(encoding="utf-8")))
                 for p in site.rglob("*.html")}
    for aid, lines in secrets.items():
        released = (REPO / "chapters" / aid / f"{aid}.ipynb").read_text(encoding="utf-8")
        assert lines, f"{aid}: found no solution lines to look for"
        for line in lines:
            assert line not in released, f"chapters/{aid}: solution line leaked: {line!r}"
            for page, text in html_text.items():
                assert line not in text, f"{page.name}: solution line leaked: {line!r}"
    for marker in ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "autograder.checks"):
        for page, text in html_text.items():
            assert marker not in text, f"{page}: {marker!r}"
        for aid in IDS:
            assert marker not in (REPO / "chapters" / aid / f"{aid}.ipynb").read_text(), (aid, marker)


def test_exercise_cells_are_shown_but_not_executed(site):
    text = (site / "chapters" / "04_lstm" / "04_lstm.html").read_text(encoding="utf-8")
    assert "NotImplementedError" in text  # the stub is visible …
    assert "Traceback" not in text and "output traceback" not in text  # … but never ran


def test_math_is_served_locally(site):
    for page in chapter_pages(site):
        text = page.read_text(encoding="utf-8")
        assert "_static/mathjax/tex-chtml.js" in text, page.name
        assert not re.search(r"https?://[^\"']*mathjax", text, re.I), f"{page.name} loads MathJax from the internet"
    assert (site / "_static" / "mathjax" / "tex-chtml.js").exists()


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def server(site):
    httpd = socketserver.ThreadingTCPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=str(site)))
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


def chromium(*args: str, profile: Path) -> subprocess.CompletedProcess:
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    assert exe, "headless Chromium is needed for this test: apt-get install chromium (make test installs it)"
    return subprocess.run([exe, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args],
                          capture_output=True, text=True, timeout=180)


@pytest.mark.parametrize("aid", IDS)
def test_chapter_in_a_real_browser(aid, site, server, tmp_path):
    url = f"{server}/chapters/{aid}/{aid}.html"
    dom = chromium("--virtual-time-budget=20000", "--dump-dom", url, profile=tmp_path / "p1").stdout
    assert dom.count("<mjx-container") > 3, f"{aid}: equations were not typeset"
    body = re.sub(r"<(script|style)[^>]*>.*?</\1>", "", dom, flags=re.S)
    visible = html_lib.unescape(re.sub(r"<[^>]+>", "", body))
    assert "$$" not in visible, f"{aid}: raw $$ left on the page"
    images = re.findall(r'<img[^>]+src="([^"]+)"', dom)
    assert images, f"{aid}: no figures on the page"
    for src in images:
        if src.startswith("data:"):
            continue
        target = (site / "chapters" / aid / src.split("?")[0]).resolve()
        assert target.exists(), f"{aid}: broken image {src}"
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shot = ARTIFACTS / f"{aid}.png"
    chromium("--virtual-time-budget=20000", "--window-size=1280,2400", f"--screenshot={shot}", url,
             profile=tmp_path / "p2")
    assert shot.exists() and shot.stat().st_size > 20_000, f"{aid}: no screenshot"
