#!/bin/sh
# Run the connector's unit tests natively, with CPython and a fake host.
set -eu
cd "$(dirname "$0")"
ferry_src="${FERRY_SRC:-{{ferry_src}}}"
PYTHONPATH=".:$ferry_src/plugins/sdk-python" exec python3 -m unittest -v "$@"
