# Two commands: `make demo` (set up everything, run the main job) and `make test` (run the test suite).
# `make test-fast` skips the tests marked slow (each over ~5 s alone): the developer's quick loop.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.adaspike-installed

.PHONY: setup demo test test-fast bench docs screenshots clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	@bash scripts/system-packages.sh
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet torch==2.13.0 -e ".[all]"
	@# norse/spikingjelly pull torchvision/torchaudio builds that do not load beside this torch; nothing uses them
	$(BIN)/pip uninstall --quiet -y torchvision torchaudio || true
	@# torchvision 0.28.0 is the release paired with torch 2.13.0, for the conversion zoo only (benchmarks/convert_zoo.py):
	@# PyPI's wheel is built against CUDA torch, so its C++ ops (nms, roi_align) do not load beside the CPU torch and
	@# `import torchvision` fails. So it goes beside the venv, not into it (a peer that tries `import torchvision` must
	@# not meet a broken one); benchmarks.convert_zoo.load_torchvision_models imports its pure-Python models from there
	$(BIN)/pip install --quiet --no-deps --upgrade --target $(VENV)/torchvision torchvision==0.28.0
	@# Sinabs pins nir<=1.0.4 (we need 1.0.8), yet its NIR code runs on 1.0.8: it goes beside the venv, without its
	@# dependencies (samna: chip drivers), for the Sinabs interop test only (tests/interop/test_interop_sinabs.py)
	$(BIN)/pip install --quiet --no-deps --upgrade --target $(VENV)/sinabs sinabs==3.1.3 pbr==7.1.3
	@# ccexam ships pretrained MNIST/USPS/SVHN CNNs in its wheel (benchmarks/convert_pretrained.py); --no-deps, or its
	@# unpinned torchvision would replace torch 2.13.0 (CPU) by a newer CUDA build
	$(BIN)/pip install --quiet --no-deps ccexam==1.0.0
	@touch $(STAMP)

demo: setup
	$(BIN)/adaspike demo

test: setup
	$(BIN)/python -m pytest -n 2 -q --durations=25

test-fast: setup
	$(BIN)/python -m pytest -n 2 -q -m "not slow"

bench: setup
	$(BIN)/python -m benchmarks.run

docs: setup
	$(BIN)/python docs/build.py --site site

# PNGs of the site's main pages in headless Chromium (no network) -> docs/screenshots/
screenshots: docs
	$(BIN)/python docs/site_screenshots.py site

clean:
	rm -rf $(VENV) runs .pytest_cache
