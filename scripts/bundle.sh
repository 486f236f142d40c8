#!/usr/bin/env bash
# A relocatable build of `tricks` for a machine without Swift (issue 17: the GPU machines have
# no Swift and no network): the release binary with the Swift runtime linked in
# (--static-swift-stdlib), plus every shared library ldd shows outside glibc and libstdc++
# (libdnnl, libgomp, libturbojpeg, libpng, ...), and a launcher that puts them on the path.
# Written to dist/tricks-bundle.tar.xz, with the demo's data for that machine in
# dist/fashion-mnist-20k (git ignores dist/; the device tool carries both).
#
#   scripts/bundle.sh                     # build, pack, check
#   tar -xJf dist/tricks-bundle.tar.xz -C /tmp && /tmp/tricks-bundle/tricks env
#
# Checks, each fatal: the newest glibc symbol version needed is at most Ubuntu 24.04's (2.39),
# the newest libstdc++ one at most GCC 14's (GLIBCXX_3.4.33), and the bundle plus the tracked
# working tree stay under 60 MiB, the most a GPU machine receives.
set -euo pipefail
cd "$(dirname "$0")/.."
scratch=.build/bundle
swift build -c release --static-swift-stdlib --scratch-path "$scratch" --product tricks
binary="$(swift build -c release --static-swift-stdlib --scratch-path "$scratch" --show-bin-path)/tricks"

stage_root=$(mktemp -d)
trap 'rm -rf "$stage_root"' EXIT
stage="$stage_root/tricks-bundle"
mkdir -p "$stage/bin" "$stage/lib"
cp "$binary" "$stage/bin/tricks"
# Debug sections only: symbol names stay, so crash backtraces still name functions.
strip --strip-debug "$stage/bin/tricks"
ldd "$stage/bin/tricks" | awk '$2 == "=>" && $3 ~ /^\// { print $1, $3 }' | while read -r name path; do
    case "$name" in
        libc.so.*|libm.so.*|libpthread.so.*|libdl.so.*|librt.so.*|ld-linux*|libstdc++.so.*|libgcc_s.so.*) ;;
        *) cp -L "$path" "$stage/lib/$name"; strip --strip-debug "$stage/lib/$name" ;;
    esac
done
cat > "$stage/tricks" <<'LAUNCHER'
#!/bin/sh
# Runs the bundled tricks with its own libraries first on the loader's path.
here=$(dirname "$(readlink -f "$0")")
LD_LIBRARY_PATH="$here/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" exec "$here/bin/tricks" "$@"
LAUNCHER
chmod +x "$stage/tricks"

newest() { objdump -T "$stage/bin/tricks" "$stage"/lib/* 2>/dev/null | grep -o "$1[0-9.]*" | sort -uV | tail -1 || true; }
glibc=$(newest 'GLIBC_2\.'); glibcxx=$(newest 'GLIBCXX_3\.4\.')
if [ "$(printf '%s\n' "$glibc" GLIBC_2.39 | sort -V | tail -1)" != GLIBC_2.39 ]; then
    echo "bundle.sh: the bundle needs $glibc, newer than Ubuntu 24.04's GLIBC_2.39" >&2; exit 1
fi
if [ -n "$glibcxx" ] && [ "$(printf '%s\n' "$glibcxx" GLIBCXX_3.4.33 | sort -V | tail -1)" != GLIBCXX_3.4.33 ]; then
    echo "bundle.sh: the bundle needs $glibcxx, newer than Ubuntu 24.04's GLIBCXX_3.4.33" >&2; exit 1
fi
LD_LIBRARY_PATH="$stage/lib" ldd "$stage/bin/tricks" | grep -q "not found" && { echo "bundle.sh: a library is missing:" >&2; ldd "$stage/bin/tricks" >&2; exit 1; }
"$stage/tricks" --version > /dev/null

mkdir -p dist
tar -C "$stage_root" -cf - tricks-bundle | xz -9 -T2 > dist/tricks-bundle.tar.xz.partial
mv dist/tricks-bundle.tar.xz.partial dist/tricks-bundle.tar.xz

# The GPU machine has no Debian datasets: the demo's data goes with the bundle, cut to the
# first 20,000 training images (and all 10,000 test images) to fit in what such a machine receives.
python3 - /usr/share/datasets/fashion-mnist dist/fashion-mnist-20k <<'PY'
import gzip, os, struct, sys
source, target = sys.argv[1:]
os.makedirs(target, exist_ok=True)
for name, keep in [("train-images-idx3-ubyte", 20000), ("train-labels-idx1-ubyte", 20000),
                   ("t10k-images-idx3-ubyte", None), ("t10k-labels-idx1-ubyte", None)]:
    data = gzip.open(f"{source}/{name}.gz").read()
    dims = data[3]
    shape = list(struct.unpack(f">{dims}I", data[4:4 + 4 * dims]))
    count = shape[0] if keep is None else min(keep, shape[0])
    item = 1
    for d in shape[1:]: item *= d
    body = data[4 + 4 * dims:4 + 4 * dims + count * item]
    with gzip.open(f"{target}/{name}.gz.partial", "wb", compresslevel=9) as out:
        out.write(data[:4] + struct.pack(f">{dims}I", count, *shape[1:]) + body)
    os.replace(f"{target}/{name}.gz.partial", f"{target}/{name}.gz")
PY
bundle=$(( $(stat -c %s dist/tricks-bundle.tar.xz) + $(du -sb dist/fashion-mnist-20k | cut -f1) ))
# Files in the working tree that git tracks (one deleted but not committed is skipped).
tree=$(git ls-files -z | xargs -0 stat -c %s 2>/dev/null | awk '{ s += $1 } END { print s + 0 }' || true)
total=$((bundle + tree)); limit=$((60 * 1024 * 1024))
awk -v b="$bundle" -v t="$tree" -v u="$(du -sh "$stage" | cut -f1)" -v g="$glibc" -v x="${glibcxx:-no libstdc++}" 'BEGIN {
    m = 1048576; printf "dist/tricks-bundle.tar.xz and dist/fashion-mnist-20k: %.1f MiB (bundle unpacked %s); with the tracked tree (%.1f MiB): %.1f MiB of 60; needs %s, %s\n",
    b / m, u, t / m, (b + t) / m, g, x }'
[ "$total" -le "$limit" ] || { echo "bundle.sh: over the 60 MiB a GPU machine receives" >&2; exit 1; }
