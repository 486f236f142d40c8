#!/usr/bin/env bash
# Regenerates Sources/Export/onnx.pb.swift from proto/onnx.proto. Run by hand after updating the
# .proto; the build never runs it (the generated Swift is committed, so a build needs neither
# protoc nor swift-protobuf's plugin, whose first build takes minutes).
#
# proto/onnx.proto is onnx/onnx.proto from the `onnx` 1.23.2 wheel on PyPI. Needs protoc
# (Debian: protobuf-compiler) and protoc-gen-swift of the swift-protobuf version Package.swift
# names, built once:
#   git clone -b 1.39.0 /opt/swift-packages/apple/swift-protobuf.git /tmp/swift-protobuf
#   (cd /tmp/swift-protobuf && swift build -c release --product protoc-gen-swift)
#   PROTOC_GEN_SWIFT=/tmp/swift-protobuf/.build/release/protoc-gen-swift scripts/generate_onnx_swift.sh
set -euo pipefail
cd "$(dirname "$0")/.."
plugin="${PROTOC_GEN_SWIFT:-$(command -v protoc-gen-swift || true)}"
[ -x "$plugin" ] || { echo "protoc-gen-swift not found: set PROTOC_GEN_SWIFT (see the comment at the top of $0)" >&2; exit 1; }
command -v protoc >/dev/null || { echo "protoc not found: apt-get install protobuf-compiler" >&2; exit 1; }
protoc --plugin=protoc-gen-swift="$plugin" --proto_path=proto --swift_opt=Visibility=Public \
    --swift_out=Sources/Export proto/onnx.proto
echo "wrote Sources/Export/onnx.pb.swift"
