#!/bin/sh
# Run the connector's unit tests natively, with CPython and a fake host.
set -eu
cd "$(dirname "$0")"
PYTHONPATH=".:../../sdk-python" exec python3 -m unittest -v "$@"
