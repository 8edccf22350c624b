#!/usr/bin/env bash
# Installs what the build and the tests need on a fresh machine of this kind.
# Idempotent: does nothing when everything is there. Starts nothing.
#
# - protoc (protobuf-compiler): etcd-client's build script compiles etcd's protos;
# - etcd (etcd-server): the etcd registry's tests start their own etcd processes.
set -euo pipefail
if command -v etcd >/dev/null 2>&1 && command -v protoc >/dev/null 2>&1; then
  exit 0
fi
echo "== installing etcd-server and protobuf-compiler"
sudo=""
if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends etcd-server protobuf-compiler >/dev/null
# Debian's package may start a system etcd on 2379; the tests never use that
# port, but stop it so nothing runs that the tests did not start.
if command -v service >/dev/null 2>&1; then $sudo service etcd stop >/dev/null 2>&1 || true; fi
pkill -x etcd 2>/dev/null || true
