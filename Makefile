# Set-up, tests and notebook execution for the regularization course.
# GNU make. Everything runs inside the virtual environment .venv.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# install, lab and test are course.py's (also the route without make, on any system); the rest is here.
COURSE := $(PYTHON) course.py

# One environment for every notebook run, so that the outputs stored by `make execute` come from exactly the
# settings `make test` compares against; course.py holds both sets.
NB_ENV := $(shell $(COURSE) print-env notebook)
PORTABILITY_ENV := $(shell $(COURSE) print-env portability)

PORT ?= 8888
TOKEN ?=
# make book: Jupyter Book 1.x from the notebooks' stored outputs, warnings as errors.
BOOK_OUTPUT ?= book
TIMINGS := instructor/timings.json

.PHONY: help install lab print-lab-args test execute bench reproduce margins compat lock data clean distclean \
	learner book guide links hub hub-install hub-load

help:
	@echo "make install    create .venv and install the course with its test tools"
	@echo "make lab        start JupyterLab on 127.0.0.1:$(PORT) at my-work/00_start_here.ipynb (your own copies)"
	@echo "make test       unit tests, then every notebook checked with nbval (offline, two settings)"
	@echo "make execute    re-run every notebook in place and store its outputs"
	@echo "make bench      time the training loops"
	@echo "make reproduce  the MNIST-1D paper's baselines under its protocol, against its Table 1"
	@echo "make compat     run every notebook with the newest releases pyproject.toml allows (not the lock); check every claim"
	@echo "make margins    re-run copies of the notebooks elsewhere (2 threads, generic CPU code; data draws 1 and 2) and check every claim"
	@echo "make data       regenerate data/mnist1d.npz (needs the [data] extra)"
	@echo "make lock       rewrite constraints.txt (and the package's locked runtime versions) from the installed versions"
	@echo "make learner    regenerate learner/ (notebooks without solutions or outputs)"
	@echo "make book       build the HTML book into book/_build/html from the stored outputs"
	@echo "make links      rewrite the Colab badges and install cells from pyproject.toml's repository URL"
	@echo "make guide      rewrite the agendas of instructor/GUIDE.md from $(TIMINGS)"
	@echo "make hub       JupyterHub for a workshop on 127.0.0.1:$(HUB_PORT) (set HUB_PASSWORD; see hub/jupyterhub_config.py)"
	@echo "make hub-load  load test: N simulated learners (default $(N)) on a hub of their own; JSON report in build/"
	@echo "make clean      remove build artefacts and caches (keeps .venv)"
	@echo "make distclean  clean, and remove .venv too"

install: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	$(COURSE) install

lab:
	$(COURSE) lab --port $(PORT) $(if $(TOKEN),--token $(TOKEN))

print-lab-args:
	@$(COURSE) print-lab-args --port $(PORT) --token $(or $(TOKEN),TOKEN)

# Every test runs offline: unit tests, every learner notebook unanswered, then nbval over every notebook with
# the reference settings and again with the portability settings (course.py test_steps lists them).
test:
	$(COURSE) test

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
	$(BIN)/python scripts/make_exercise_index.py
	$(BIN)/python scripts/make_api_page.py
	$(BIN)/jupyter-book build book -W --path-output $(BOOK_OUTPUT)
	@echo "Book: $(BOOK_OUTPUT)/_build/html/index.html"

# Badges and install cells from pyproject.toml's [project.urls] Repository, the one place it is set.
links: $(STAMP)
	$(BIN)/python scripts/make_links.py

guide: $(STAMP)
	$(BIN)/python scripts/make_guide_agenda.py

bench: $(STAMP)
	$(NB_ENV) $(BIN)/python benchmarks/bench_sweep.py
	$(NB_ENV) $(BIN)/python benchmarks/bench_engines.py

reproduce: $(STAMP)
	$(NB_ENV) $(BIN)/python benchmarks/reproduce_mnist1d.py

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

# Not part of make test: it installs the newest releases (torch included) into build/compat/venv.
compat:
	$(COURSE) compat

# JupyterHub for a workshop: the [hub] extra (JupyterHub, nbgitpuller, the idle culler) and the proxy from npm.
# HUB_PASSWORD, the shared password, comes from the environment; HUB_REPO is the repository the printed
# nbgitpuller link pulls (default: pyproject.toml's Repository URL; a local path works for a trial).
HUB_PORT ?= 8000
HUB_REPO ?=
N ?= 8
HUB_STAMP := $(VENV)/.hub-installed

hub-install: $(HUB_STAMP) hub/node_modules/.package-lock.json

$(HUB_STAMP): $(STAMP)
	$(BIN)/pip install -c constraints.txt -e ".[hub]"
	touch $@

hub/node_modules/.package-lock.json: hub/package-lock.json
	npm ci --prefix hub --no-audit --no-fund

hub: hub-install
	@test -n "$${HUB_PASSWORD:-}" || { echo "Set HUB_PASSWORD (8 characters or more), e.g. HUB_PASSWORD=... make hub"; exit 1; }
	@echo "Learners open: $$($(BIN)/python hub/nbgitpuller_link.py --hub http://127.0.0.1:$(HUB_PORT) $(if $(HUB_REPO),--repo $(HUB_REPO)))"
	HUB_PORT=$(HUB_PORT) $(BIN)/jupyterhub -f hub/jupyterhub_config.py

hub-load: hub-install
	$(BIN)/python hub/load_test.py --learners $(N)

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
	$(BIN)/python scripts/write_locked_versions.py

clean:
	rm -rf build dist _build book/_build .pytest_cache .hypothesis .coverage htmlcov *.egg-info
	find . -path ./$(VENV) -prune -o \
		\( -name __pycache__ -o -name .ipynb_checkpoints -o -name '*.egg-info' \) \
		-type d -prune -exec rm -rf {} +

distclean: clean
	rm -rf $(VENV)
