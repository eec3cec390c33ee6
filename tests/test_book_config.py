"""The website names a repository only when the build is given one."""
import subprocess
import sys

import pytest
import yaml

from tests.notebook_utils import REPO

sys.path.insert(0, str(REPO / "tools"))
from book_config import with_repository  # noqa: E402


def base() -> dict:
    return yaml.safe_load((REPO / "_config.yml").read_text(encoding="utf-8"))


def test_plain_config_has_no_repository_and_no_launch_buttons():
    config = base()
    assert "repository" not in config and "launch_buttons" not in config
    assert config["html"]["use_repository_button"] is False


def test_repo_url_adds_the_link_and_the_buttons():
    out = subprocess.run([sys.executable, str(REPO / "tools" / "book_config.py"), "https://example.org/me/course/"],
                         capture_output=True, text=True, check=True).stdout
    config = yaml.safe_load(out)
    assert config["repository"] == {"url": "https://example.org/me/course", "branch": "main"}
    assert config["html"]["use_repository_button"] is True
    assert config["launch_buttons"]["binderhub_url"] == "https://mybinder.org"
    assert config["execute"] == base()["execute"]  # everything else unchanged
    with pytest.raises(ValueError, match="REPO_URL must be an http"):
        with_repository(base(), "github.com/me/course")
