#!/bin/sh
# Build {{snake}}.wasm, a WebAssembly component for wasm32-wasip2, and run
# the connector's unit tests natively with `cargo test`.
set -eu
cd "$(dirname "$0")"
rustup target list --installed | grep -qx wasm32-wasip2 || rustup target add wasm32-wasip2
cargo build --profile plugin --target wasm32-wasip2 --target-dir target -p {{name}}
echo "built target/wasm32-wasip2/plugin/{{snake}}.wasm"
