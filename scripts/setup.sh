#!/usr/bin/env bash
# Installs what the build and the tests need on a fresh machine of this kind.
# Idempotent: does nothing when everything is there. Starts nothing, stops
# nothing it did not start.
#
# - protoc and the well-known protos (protobuf-compiler, libprotobuf-dev):
#   etcd-client's build script compiles etcd's protos, which import
#   google/protobuf/descriptor.proto;
# - etcd (etcd-server): the etcd registry's tests start their own etcd processes.
set -euo pipefail

# What the build and the tests use, file by file: a package is missing when
# one of its files is, not only when a command is.
well_known=/usr/include/google/protobuf/descriptor.proto
missing=()
command -v etcd >/dev/null 2>&1 || missing+=(etcd-server)
command -v protoc >/dev/null 2>&1 || missing+=(protobuf-compiler)
[ -f "$well_known" ] || missing+=(libprotobuf-dev)
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

echo "== installing ${missing[*]}"
sudo=""
if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
export DEBIAN_FRONTEND=noninteractive

# Debian's etcd-server starts a system etcd on install. Tell invoke-rc.d not
# to start services for the length of this install (the policy-rc.d
# convention, exit 101 = "action forbidden"), so there is nothing to stop
# afterwards. A policy the machine already has is left as it is.
policy=/usr/sbin/policy-rc.d
own_policy=0
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' | $sudo tee "$policy" >/dev/null
  $sudo chmod 755 "$policy"
  own_policy=1
fi
cleanup() { if [ "$own_policy" -eq 1 ]; then $sudo rm -f "$policy"; fi; }
trap cleanup EXIT

$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null

for tool in etcd protoc; do
  command -v "$tool" >/dev/null 2>&1 || { echo "setup: $tool is still missing after the install" >&2; exit 1; }
done
[ -f "$well_known" ] || { echo "setup: $well_known is still missing after the install" >&2; exit 1; }
