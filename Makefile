# energykit: every target does its own set-up from a fresh clone.
#   make test   venv + install + ruff + mypy + pytest + strict docs build (what CI runs)
#   make smoke  the ImageNet-256 pipeline, tiny, on CPU (~25 s): latents, torchrun, sampling, FID
#   make demo   venv + install + EqM vs flow matching on 8x8 digits (2-4 min CPU), runs/demo/report.md
#   make mnist-demo  EqM vs flow matching on MNIST-5k, U-Net backbone (training ~13 min + sampling ~10)
#   make tasks  denoising, OOD, composition, inpainting on digits and MNIST-5k (~8 min on 2 cores)
#   make study  the small-scale study behind docs/study.md (about 75 min on 2 cores, plus about 4 h for the MNIST U-Net part; resumable)
#   make fewstep  few-evaluation sampling on digits, 3 seeds, training included (docs/fewstep.md)
PYTHON ?= python3
VENV ?= .venv
# GPU users: make test TORCH_SPEC="torch==2.13.0 --index-url <your CUDA index>"
# (the install runs once per .venv; delete .venv to reinstall with another TORCH_SPEC)
TORCH_SPEC ?= torch==2.13.0
PY := $(VENV)/bin/python
STAMP := $(VENV)/.energykit-installed
# Two shared cores: more than one BLAS/OpenMP thread makes torch far slower here.
export OMP_NUM_THREADS ?= 1
export MKL_NUM_THREADS ?= 1
export NO_MKDOCS_2_WARNING ?= 1

.PHONY: test smoke tasks demo mnist-demo toy-demo study fewstep study-tables lint typecheck pytest docs bench bench-dit bench-memory clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	-$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q $(TORCH_SPEC)
	$(PY) -m pip install -q -e ".[dev]"
	touch $(STAMP)

lint: $(STAMP)
	$(VENV)/bin/ruff check energykit tests benchmarks recipes
	$(VENV)/bin/ruff format --check energykit tests benchmarks recipes

typecheck: $(STAMP)
	$(VENV)/bin/mypy

pytest: $(STAMP)
	$(PY) -m pytest

# The docs need only the `docs` extra (mkdocstrings reads the sources without importing them):
# no torch, no package install.
DOCS_STAMP := $(VENV)/.energykit-docs
$(DOCS_STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -c "import tomllib; print('\\n'.join(tomllib.load(open('pyproject.toml', 'rb'))\
		['project']['optional-dependencies']['docs']))" > $(VENV)/docs-requirements.txt
	$(PY) -m pip install -q -r $(VENV)/docs-requirements.txt
	touch $(DOCS_STAMP)

docs: $(DOCS_STAMP)
	$(VENV)/bin/mkdocs build --strict --site-dir site

test: lint typecheck pytest docs

demo: $(STAMP)
	$(PY) recipes/demo/digits.py --out runs/demo

mnist-demo: $(STAMP)
	$(PY) recipes/demo/mnist.py --out runs/mnist-demo

smoke: $(STAMP)
	$(PY) recipes/imagenet256/smoke.py --work runs/smoke

toy-demo: $(STAMP)
	$(PY) recipes/demo/toy2d.py --out runs/toy-demo

clean:
	rm -rf site runs .pytest_cache .mypy_cache .hypothesis

# Long studies live behind their own targets; `make test` never runs them.
bench: $(STAMP)
	$(PY) -m pip install -q "torchebm==0.8.9"
	$(PY) -m benchmarks

bench-dit: $(STAMP)
	$(PY) benchmarks/dit_step.py

# The GPU table (docs/performance.md, "GPU"); no install step: run it where torch sees the GPU.
bench-gpu:
	PYTHONPATH=. $(PYTHON) benchmarks/gpu.py --out gpu.md

bench-memory: $(STAMP)
	$(PY) benchmarks/train_memory.py --presets EqM-B/2 --kinds eqm eqm-dot --batches 2 8
	$(PY) benchmarks/train_memory.py --presets EqM-XL/2 --kinds eqm --batches 1 3
	$(PY) benchmarks/train_memory.py --presets EqM-XL/2 --kinds eqm-dot --batches 1 2

fewstep: $(STAMP)
	$(PY) recipes/fewstep/run.py --out runs/fewstep

tasks: $(STAMP)
	$(PY) recipes/tasks/run_tasks.py --out runs/tasks --jobs 2

study: $(STAMP)
	$(PY) recipes/study/run_study.py --out runs/study --jobs 2
	$(PY) recipes/study/tables.py runs/study
	$(PY) recipes/study/memorization.py runs/study
	$(PY) recipes/study/figures.py runs/study

study-tables: $(STAMP)
	$(PY) recipes/study/tables.py runs/study
