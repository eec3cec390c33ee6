"""Print the website's configuration with a repository link and launch buttons for a repository.

    python tools/book_config.py https://github.com/OWNER/REPO [BRANCH] > .book_config.yml
    jupyter-book build . --config .book_config.yml

``_config.yml`` itself names no repository, so a plain build shows no
repository button and no Binder/Colab buttons (they would point nowhere).
``make book REPO_URL=…`` runs this script and builds with its output.
"""
from __future__ import annotations

import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent


def with_repository(config: dict, url: str, branch: str = "main") -> dict:
    """``config`` plus the repository link and the Binder/Colab launch buttons for ``url``."""
    url = url.strip().rstrip("/")
    if not url.startswith(("https://", "http://")):
        raise ValueError(f"REPO_URL must be an http(s) address, got {url!r}")
    out = dict(config)
    out["repository"] = {"url": url, "branch": branch}
    out["html"] = {**config.get("html", {}), "use_repository_button": True}
    out["launch_buttons"] = {"notebook_interface": "jupyterlab", "binderhub_url": "https://mybinder.org",
                             "colab_url": "https://colab.research.google.com"}
    return out


def main(argv: list[str]) -> int:
    if not 1 <= len(argv) <= 2:
        print(__doc__, file=sys.stderr)
        return 2
    config = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))
    print(yaml.safe_dump(with_repository(config, *argv), sort_keys=False, allow_unicode=True), end="")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
