#!/usr/bin/env bash
# Rebuilds the sample artifacts in test/fixtures/<ecosystem>/ from the tiny sources beside them, each with the
# ecosystem's own build tool, so the tests upload files no generator of ours produced.
# Needs: python3 with build, setuptools and wheel (Debian: python3-build python3-setuptools python3-wheel),
# gem (ruby), cargo, npm and cph (Debian: conda-package-handling).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
fixtures="$root/test/fixtures"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
export SOURCE_DATE_EPOCH=1700000000

build_in_copy() { # ecosystem -> a fresh copy of its source, so no build output lands in the repository
  rm -rf "$work/$1" && cp -r "$fixtures/$1/src" "$work/$1" && chmod -R u+w "$work/$1" && cd "$work/$1"
}

# PyPI: Debian's setuptools names the sdist tp-sample-0.1.0.tar.gz, the pre-PEP 625 form; the tests keep it
# that way on purpose (a publisher must find and upload legacy-named sdists under their PEP 625 name).
build_in_copy pypi
python="${PYTHON:-python3}"
"$python" -c 'import build' 2>/dev/null || python=/usr/bin/python3 # a pyenv python3 may lack the Debian build module
"$python" -m build --no-isolation -o "$work/pypi-out" . >/dev/null
cp "$work"/pypi-out/*.whl "$work"/pypi-out/*.tar.gz "$fixtures/pypi/"

# The same wheel with every entry bzip2-compressed (zip allows it; PyPI accepts only stored and deflated).
mkdir -p "$fixtures/pypi/bzip2"
"$python" - "$fixtures/pypi/tp_sample-0.1.0-py3-none-any.whl" "$fixtures/pypi/bzip2/tp_sample-0.1.0-py3-none-any.whl" <<'PY'
import sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as source, zipfile.ZipFile(sys.argv[2], "w", zipfile.ZIP_BZIP2) as out:
    for info in source.infolist():
        out.writestr(info, source.read(info), compress_type=zipfile.ZIP_BZIP2)
PY

build_in_copy rubygems
gem build tp_sample.gemspec >/dev/null
cp tp_sample-*.gem "$fixtures/rubygems/"

build_in_copy crates
cargo package --allow-dirty --offline --no-verify >/dev/null 2>&1
cp target/package/tp-sample-*.crate "$fixtures/crates/"

build_in_copy npm
npm pack --silent --pack-destination "$fixtures/npm" >/dev/null

# A command declared only by directories.bin, with string author/contributors and a shorthand repository, as
# older packages are written: npm publish derives bin, people objects, bugs and homepage from them.
rm -rf "$work/tp-cli" && cp -r "$fixtures/npm/tp-cli" "$work/tp-cli" && chmod -R u+w "$work/tp-cli"
mkdir -p "$fixtures/npm/cli"
(cd "$work/tp-cli" && npm pack --silent --pack-destination "$fixtures/npm/cli" >/dev/null)

# A tarball laid out as DefinitelyTyped publishes @types packages: the top folder is the package's own name,
# not package/, and the file is named as the registry names downloads (no scope).
mkdir -p "$work/types" "$fixtures/npm/types"
rm -rf "$work/types/tp-sample" && cp -r "$fixtures/npm/types-tp-sample" "$work/types/tp-sample"
tar --sort=name --owner=0 --group=0 --numeric-owner --mtime="@$SOURCE_DATE_EPOCH" -C "$work/types" -cf - tp-sample |
  gzip -n -9 >"$fixtures/npm/types/tp-sample-0.1.0.tgz"

# conda: src/ is an installed prefix with its info/ folder, written by hand (noarch generic, one file).
build_in_copy conda
cph create . tp-sample-0.1.0-0.conda --out-folder "$fixtures/conda" >/dev/null
cph create . tp-sample-0.1.0-0.tar.bz2 --out-folder "$fixtures/conda" >/dev/null

echo "Rebuilt the fixtures in $fixtures"
