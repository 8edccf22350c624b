#!/usr/bin/env bash
# Runs the whole sae test suite on a fresh machine of this kind, doing its own set-up.
#
#   ./scripts/test.sh
#
# Steps: install etcd and protoc when missing (scripts/setup.sh), unit + integration + doc tests of every crate, then a short run of the
# rolling_deploy demo that fails when the sae scenario loses a single request.
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/setup.sh

echo "== cargo test (workspace, all features)"
cargo test --workspace --all-features --all-targets
echo "== doc tests"
cargo test --workspace --all-features --doc

echo "== short rolling_deploy (sae must lose no request)"
summary=$(cargo run --quiet --example rolling_deploy -- \
  --rate 400 --duration 8s --providers 3 --refresh 2s --scenarios sae --json | tail -n 1)
echo "$summary"
python3 - "$summary" <<'PY'
import json, sys
s = json.loads(sys.argv[1])["sae"]
failed, requests = s["failed"], s["requests"]
print(f"rolling_deploy sae: {requests} requests, {failed} failed")
if failed != 0 or requests == 0:
    sys.exit("rolling_deploy: the sae scenario failed requests")
PY
