# cllm: the two entry points are `make run` and `make test`.
# Both first install what is missing: system packages through apt-get (only those not
# installed yet) and a virtualenv in .venv with the cllm package and its test extras.
# `make test` runs the whole pytest suite and fails when any test fails.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# qemu-system-x86 provides qemu-system-i386; grub/xorriso/mtools make ISOs; gcc builds
# the host unit tests of the portable kernel C (with ASan/UBSan).
APT_PACKAGES := python3 python3-venv python3-pip qemu-system-x86 grub-pc-bin grub-efi-amd64-bin \
                grub-efi-ia32-bin grub-common xorriso mtools ovmf gcc libc6-dev iproute2 curl \
                bible-kjv bible-kjv-text chromium chromium-driver
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
PYTEST_ARGS ?=

.PHONY: all setup system-deps run build test lint bench train clean

all: build

system-deps:
	@if ! command -v dpkg-query >/dev/null 2>&1; then \
	    echo "not a Debian system: install by hand: $(APT_PACKAGES)"; exit 0; \
	fi; \
	missing=""; \
	for p in $(APT_PACKAGES); do \
	    dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	    echo "installing system packages:$$missing"; \
	    $(SUDO) apt-get update -qq && \
	    DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $$missing; \
	fi

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test,train]'
	touch $@

setup: system-deps $(STAMP)

build: setup
	$(BIN)/cllm build

run: build
	$(BIN)/cllm run

test: setup
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: setup
	$(BIN)/pip install -q -e '.[lint]'
	$(BIN)/ruff check cllm_build tests bench
	$(BIN)/mypy cllm_build

bench: setup
	$(BIN)/python bench/build_bench.py

# The default model (models/default.gguf): ~20 min on 2 cores, niced; see train/README.md.
# bible-kjv prints the training corpus; torch (the train extra) trains it.
TRAIN_OUT ?= models
train: setup
	nice -n 10 $(BIN)/python train/train.py --out $(TRAIN_OUT)

clean:
	rm -rf build
