#!/usr/bin/env bash
# `make fmt`: format the Rust code in place.
# shellcheck source=scripts/lib.sh
source "$(dirname "$0")/lib.sh"
cargo fmt --all
