#!/bin/sh
# Rebuilds the two shared objects of the native-library fixtures from src/ (gcc, Debian 12):
#   broken-native-lib/lua/native.so  needs libtolua++.so, which is built here but not shipped
#   native-lib/lua/native.so         needs only libc
# Run from anywhere: sh nginx-fixtures/broken-native-lib/src/build.sh
set -eu
src=$(cd "$(dirname "$0")" && pwd)
fixtures=$(dirname "$(dirname "$src")")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
flags="-O2 -fPIC -shared -Wl,--build-id=none -Wl,--no-as-needed"
gcc $flags -Wl,-soname,libtolua++.so -o "$tmp/libtolua++.so" "$src/tolua.c"
gcc $flags -DWITH_TOLUA -o "$fixtures/broken-native-lib/lua/native.so" "$src/native.c" -L"$tmp" -ltolua++
gcc $flags -o "$fixtures/native-lib/lua/native.so" "$src/native.c"
echo "built $fixtures/broken-native-lib/lua/native.so and $fixtures/native-lib/lua/native.so"
