# Two commands do everything on a fresh machine:
#   make book   – create .venv from the pinned requirements if needed, build the website
#                 (REPO_URL=https://github.com/OWNER/REPO adds the repository link and launch buttons)
#   make test   – the same set-up, then the whole test suite
# Also: make lab (students' JupyterLab on the chapters), make lab-instructor (with the formgrader), make grade SUBMISSIONS=dir OUT=dir, make bench.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
REPO_URL ?=
SUBMISSIONS ?= submissions
OUT    ?= grading-out
export MPLBACKEND := Agg

.PHONY: venv book test lab lab-instructor postgres grade report release bench browser mathjax clean

$(STAMP): requirements.txt pyproject.toml
	@test -x $(BIN)/python || { $(PYTHON) -c 'import sys; sys.exit(sys.version_info[:3] < (3, 11, 5))' || { \
	  echo "rnncourse needs Python 3.11.5 or newer; $(PYTHON) is $$($(PYTHON) --version 2>&1). Run make PYTHON=/path/to/python3.11 …" >&2; \
	  exit 1; }; $(PYTHON) -m venv $(VENV); }
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

# PostgreSQL for the test of a gradebook shared by several grading hosts (Debian's package; needs root to install).
postgres:
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null) \
	      || echo "warning: could not install postgresql; the shared-gradebook tests will be skipped"; \
	  else echo "warning: postgresql is missing (apt-get install postgresql); its tests will be skipped"; fi; }

book: venv mathjax
ifeq ($(strip $(REPO_URL)),)
	$(BIN)/jupyter-book build . -W --keep-going
else
	$(BIN)/python tools/book_config.py "$(REPO_URL)" > .book_config.yml
	$(BIN)/jupyter-book build . -W --keep-going --config .book_config.yml
endif

# The suite runs on TEST_WORKERS processes, a test file per process at a time (its module fixtures are built once).
TEST_WORKERS ?= 2

test: venv mathjax browser postgres
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadfile --durations=15

# Students: JupyterLab on the chapters, with nbgrader's assignment list and Validate, without the instructor tools.
lab: venv
	JUPYTER_CONFIG_DIR=$(CURDIR)/tools/jupyter-student PATH=$(CURDIR)/$(BIN):$$PATH \
	  $(BIN)/jupyter lab chapters $$( [ "$$(id -u)" = 0 ] && echo --allow-root )

# Instructors: JupyterLab at the repository root, so nbgrader_config.py applies; the formgrader is in the Nbgrader menu.
lab-instructor: venv
	PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/jupyter lab $$( [ "$$(id -u)" = 0 ] && echo --allow-root )

release: venv
	$(BIN)/python -m autograder release

grade: venv
	$(BIN)/python -m autograder grade $(SUBMISSIONS) --out $(OUT)
	$(BIN)/python -m autograder report $(OUT)

bench: venv
	$(BIN)/python benchmarks/cells.py
	$(BIN)/python benchmarks/lm.py
	$(BIN)/python benchmarks/grading.py
	$(BIN)/python benchmarks/captioning.py

clean:
	rm -rf _build test-artifacts
