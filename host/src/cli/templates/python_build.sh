#!/bin/sh
# Build {{snake}}.wasm, a WebAssembly component, with componentize-py:
#   pip install componentize-py=={{componentize_py_version}}
# (or let Ferry's scripts/build-plugins install it into target/python/venv).
set -eu
cd "$(dirname "$0")"
ferry_src="${FERRY_SRC:-{{ferry_src}}}"
componentize="${COMPONENTIZE_PY:-componentize-py}"
if ! command -v "$componentize" >/dev/null && [ -x "$ferry_src/target/python/venv/bin/componentize-py" ]; then
  componentize="$ferry_src/target/python/venv/bin/componentize-py"
fi
mkdir -p target/wasm32-wasip2/plugin
"$componentize" --quiet -d "$ferry_src/wit/v0.1.0" -w plugin componentize \
  -p . -p "$ferry_src/plugins/sdk-python" connector -o target/wasm32-wasip2/plugin/{{snake}}.wasm
echo "built target/wasm32-wasip2/plugin/{{snake}}.wasm"
