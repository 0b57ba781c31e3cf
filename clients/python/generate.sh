#!/usr/bin/env bash
# Generates the Python stubs into gen/ (not committed): the Sinergi protos
# from ../../proto and google/rpc's status and error details from npm's
# google-proto-files (npm ci here), with Debian's protoc and
# grpc_python_plugin (apt-get install protobuf-compiler protobuf-compiler-grpc),
# which match Debian's python3-grpcio and python3-protobuf.
set -euo pipefail
cd "$(dirname "$0")"
gp=node_modules/google-proto-files
if [ ! -f "$gp/google/rpc/error_details.proto" ]; then
	npm ci --no-audit --no-fund
fi
rm -rf gen
mkdir -p gen
protoc -I ../../proto -I "$gp" \
	--python_out=gen --grpc_python_out=gen --plugin=protoc-gen-grpc_python=/usr/bin/grpc_python_plugin \
	../../proto/sinergi/v1/*.proto "$gp/google/rpc/status.proto" "$gp/google/rpc/error_details.proto"
echo "generated $(find gen -name '*.py' | wc -l) modules in $(pwd)/gen"
