# Set-up, tests and notebook execution for the regularization course.
# GNU make. Everything runs inside the virtual environment .venv.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

# One environment for every notebook run, so that the outputs stored by
# `make execute` come from exactly the settings `make test` compares against.
NB_ENV := PYTHONHASHSEED=0 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 PYDEVD_DISABLE_FILE_VALIDATION=1

PORT ?= 8888
# Computed once per make run (:=), so the echoed URL and the server agree.
ifndef TOKEN
TOKEN := $(shell $(PYTHON) -c "import secrets; print(secrets.token_hex(16))")
endif
# JupyterLab refuses to run as root without this flag.
ALLOW_ROOT := $(if $(filter 0,$(shell id -u)),--allow-root,)
START_PAGE := notebooks/00_start_here.ipynb
# The flags of `make lab`, in one place: tests/test_lab.py reads them with
# `make -s print-lab-args` and starts the server exactly this way.
LAB_ARGS = --ip=127.0.0.1 --port=$(PORT) --ServerApp.port_retries=0 \
	--ServerApp.root_dir="$(CURDIR)" \
	--LabApp.default_url=/lab/tree/$(START_PAGE) \
	--IdentityProvider.token=$(TOKEN) $(ALLOW_ROOT)
# make book: Jupyter Book 1.x from the notebooks' stored outputs, warnings as errors.
BOOK_OUTPUT ?= book
TIMINGS := instructor/timings.json

.PHONY: help install lab print-lab-args test execute bench margins lock data clean distclean \
	learner book guide

help:
	@echo "make install    create .venv and install the course with its test tools"
	@echo "make lab        start JupyterLab on 127.0.0.1:$(PORT) at $(START_PAGE)"
	@echo "make test       unit tests, then every notebook checked with nbval (offline, two settings)"
	@echo "make execute    re-run every notebook in place and store its outputs"
	@echo "make bench      time the training loops"
	@echo "make margins    re-run copies of the notebooks elsewhere (2 threads, generic CPU code; data draws 1 and 2) and check every claim"
	@echo "make data       regenerate data/mnist1d.npz (needs the [data] extra)"
	@echo "make lock       rewrite constraints.txt from the installed versions"
	@echo "make learner    regenerate learner/ (notebooks without solutions or outputs)"
	@echo "make book       build the HTML book into book/_build/html from the stored outputs"
	@echo "make guide      rewrite the agendas of instructor/GUIDE.md from $(TIMINGS)"
	@echo "make clean      remove build artefacts and caches (keeps .venv)"
	@echo "make distclean  clean, and remove .venv too"

install: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade pip
	$(BIN)/pip install -c constraints.txt -e ".[test]"
	# nbgrader is here only for its preprocessors (make learner): keep its menus
	# and server extensions out of the learners' JupyterLab.
	$(BIN)/jupyter labextension disable --level=sys_prefix @jupyter/nbgrader > /dev/null
	for extension in formgrader validate_assignment assignment_list course_list; do \
		$(BIN)/jupyter server extension disable --sys-prefix nbgrader.server_extensions.$$extension > /dev/null 2>&1; \
	done
	touch $@

lab: $(STAMP)
	@echo "JupyterLab: http://127.0.0.1:$(PORT)/lab/tree/$(START_PAGE)?token=$(TOKEN)"
	$(BIN)/jupyter lab $(LAB_ARGS)

print-lab-args:
	@echo '$(LAB_ARGS)'

NBVAL := $(BIN)/python -m pytest --nbval --nbval-current-env --nbval-sanitize-with tests/nbval_sanitize.cfg \
	-p no:cacheprovider -n 2 --dist loadfile notebooks
# The stored outputs must also come out under two threads and the lowest CPU
# code path (as on an older or different processor): a cell that differs there
# prints a float it should not.
PORTABILITY_ENV := OMP_NUM_THREADS=2 MKL_NUM_THREADS=2 ATEN_CPU_CAPABILITY=default

# Every test runs offline (scripts/offline): unit tests, then nbval over every
# notebook with the reference settings, then again with the portability settings.
# The learner notebooks run in a step of their own, one test per notebook spread
# over both workers (--dist loadfile would keep them all on one).
test: $(STAMP)
	$(NB_ENV) scripts/offline $(BIN)/python -m pytest -n 2 --dist loadfile -m "not learner_run" tests
	$(NB_ENV) scripts/offline $(BIN)/python -m pytest -n 2 --dist load -p no:cacheprovider -m learner_run \
		tests/test_learner_notebooks.py || test $$? -eq 5  # 5: no notebooks yet, so nothing to run
	$(NB_ENV) scripts/offline $(NBVAL)
	$(NB_ENV) $(PORTABILITY_ENV) scripts/offline $(NBVAL)

execute: $(STAMP)
	$(NB_ENV) $(BIN)/python scripts/execute_notebooks.py --timings-file $(TIMINGS) notebooks/*.ipynb
	$(BIN)/python scripts/make_guide_agenda.py
	$(BIN)/python scripts/make_learner_notebooks.py

learner: $(STAMP)
	$(BIN)/python scripts/make_learner_notebooks.py

# book/notebooks is a link to notebooks/, so the book and the course share one copy.
book: $(STAMP)
	ln -sfn ../notebooks book/notebooks
	$(BIN)/python scripts/make_claims_page.py
	$(BIN)/jupyter-book build book -W --path-output $(BOOK_OUTPUT)
	@echo "Book: $(BOOK_OUTPUT)/_build/html/index.html"

guide: $(STAMP)
	$(BIN)/python scripts/make_guide_agenda.py

bench: $(STAMP)
	$(NB_ENV) $(BIN)/python benchmarks/bench_sweep.py

# Copies of the notebooks run with the portability settings and on other data draws (COURSE_DATA_DRAW), in explore
# mode so that every verdict is recorded; then each claim is checked in every copy.
MARGINS_DIR := build/margins
MARGIN_DRAWS := 1 2
margins: $(STAMP)
	rm -rf $(MARGINS_DIR)
	for run in portable $(addprefix draw-,$(MARGIN_DRAWS)); do \
		mkdir -p $(MARGINS_DIR)/$$run && cp notebooks/[0-9][0-9]_*.ipynb $(MARGINS_DIR)/$$run/; \
	done
	$(NB_ENV) $(PORTABILITY_ENV) COURSE_EXPLORE=1 $(BIN)/python scripts/execute_notebooks.py $(MARGINS_DIR)/portable/*.ipynb
	for draw in $(MARGIN_DRAWS); do \
		$(NB_ENV) COURSE_EXPLORE=1 COURSE_DATA_DRAW=$$draw $(BIN)/python scripts/execute_notebooks.py \
			$(MARGINS_DIR)/draw-$$draw/*.ipynb; \
	done
	$(BIN)/python scripts/claim_margins.py notebooks $(MARGINS_DIR)/portable $(addprefix $(MARGINS_DIR)/draw-,$(MARGIN_DRAWS))

data: $(STAMP)
	$(BIN)/pip install -c constraints.txt -e ".[data]"
	$(BIN)/python scripts/make_mnist1d.py

# Local version labels such as +cpu are dropped: they name one machine's
# build, and the same release installs under its plain version elsewhere.
lock:
	@test -x $(BIN)/python || { echo "No $(VENV): run make install first."; exit 1; }
	{ \
		echo "# Lock of every transitive version in the course environment."; \
		echo "# Generated by make lock from pip freeze; do not edit by hand."; \
		echo "# Used as: pip install -c constraints.txt -e \".[test]\""; \
		$(BIN)/python -m pip freeze --exclude-editable \
			--exclude pip --exclude setuptools --exclude wheel \
			--exclude regularization-course \
		| sed -E 's/^([^=]+==[^+]+)\+.*$$/\1/'; \
	} > constraints.txt.tmp
	mv constraints.txt.tmp constraints.txt

clean:
	rm -rf build dist _build book/_build .pytest_cache .hypothesis .coverage htmlcov *.egg-info
	find . -path ./$(VENV) -prune -o \
		\( -name __pycache__ -o -name .ipynb_checkpoints -o -name '*.egg-info' \) \
		-type d -prune -exec rm -rf {} +

distclean: clean
	rm -rf $(VENV)
