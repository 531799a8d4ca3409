#!/usr/bin/env bash
# Set up automl-fashion on a fresh Debian/Ubuntu machine with Python 3.11+:
# the Fashion-MNIST files (Debian package), a virtual environment in .venv, PyTorch's CPU
# build, then this package with its test tools. Safe to run again: it skips what is there.
set -euo pipefail
cd "$(dirname "$0")"

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

if [ ! -f /usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz ]; then
    echo "setup: installing the Debian package dataset-fashion-mnist"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dataset-fashion-mnist
fi

PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    echo "setup: creating .venv with $($PYTHON --version)"
    "$PYTHON" -m venv .venv
fi
PIP=(.venv/bin/python -m pip --disable-pip-version-check -q)

# torch first, pinned: an unpinned torch requirement would pull a multi-GB CUDA build.
# (On your own machine: add --index-url https://download.pytorch.org/whl/cpu for the CPU
# wheel, or leave it out to get CUDA.)
if ! .venv/bin/python -c "import torch" 2>/dev/null; then
    echo "setup: installing torch 2.13.0"
    "${PIP[@]}" install "torch==2.13.0"
fi
echo "setup: installing automl-fashion and its dependencies"
"${PIP[@]}" install -e ".[dev]"
.venv/bin/automl-fashion --version
