# cllm: the two entry points are `make run` and `make test`.
# Both first install what is missing: system packages through apt-get (QEMU, GRUB,
# xorriso, mtools, OVMF) and a virtualenv in .venv with the cllm package.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
APT_PACKAGES := qemu-system-x86 grub-pc-bin grub-efi-amd64-bin grub-efi-ia32-bin \
                grub-common xorriso mtools ovmf iproute2 curl \
                bible-kjv bible-kjv-text
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
PYTEST_ARGS ?=

.PHONY: all setup system-deps run build test train clean

all: build

system-deps:
	@missing=""; \
	for p in $(APT_PACKAGES); do \
	    dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	    echo "installing system packages:$$missing"; \
	    $(SUDO) apt-get update -qq && \
	    DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing; \
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

# The default model (models/default.gguf): ~30 min on 2 cores, niced; see train/README.md.
TRAIN_OUT ?= models
train: setup
	nice -n 10 $(BIN)/python train/train.py --out $(TRAIN_OUT)

clean:
	rm -rf build
