# Two commands do everything on a fresh machine:
#   make book   – create .venv from the pinned requirements if needed, build the website
#                 (REPO_URL=https://github.com/OWNER/REPO adds the repository link and launch buttons)
#   make test   – the same set-up, then the whole test suite
# Also: make lab (JupyterLab on the chapters), make grade SUBMISSIONS=dir OUT=dir, make bench.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
REPO_URL ?=
SUBMISSIONS ?= submissions
OUT    ?= grading-out
export MPLBACKEND := Agg

.PHONY: venv book test lab grade report release bench browser mathjax clean

$(STAMP): requirements.txt pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.txt
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	@touch $(STAMP)

venv: $(STAMP)

mathjax:
	@bash tools/fetch_mathjax.sh

# Headless Chromium for the browser test of the website (Debian's package; needs root to install).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
	      || echo "warning: could not install chromium; the browser test will fail"; \
	  else echo "warning: chromium is missing (apt-get install chromium); the browser test will fail"; fi; }

book: venv mathjax
ifeq ($(strip $(REPO_URL)),)
	$(BIN)/jupyter-book build . -W --keep-going
else
	$(BIN)/python tools/book_config.py "$(REPO_URL)" > .book_config.yml
	$(BIN)/jupyter-book build . -W --keep-going --config .book_config.yml
endif

test: venv mathjax browser
	$(BIN)/python -m pytest

lab: venv
	$(BIN)/jupyter lab chapters $$( [ "$$(id -u)" = 0 ] && echo --allow-root )

release: venv
	$(BIN)/python -m autograder release

grade: venv
	$(BIN)/python -m autograder grade $(SUBMISSIONS) --out $(OUT)
	$(BIN)/python -m autograder report $(OUT)

bench: venv
	$(BIN)/python benchmarks/cells.py
	$(BIN)/python benchmarks/lm.py
	$(BIN)/python benchmarks/grading.py

clean:
	rm -rf _build test-artifacts
