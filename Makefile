# The README's commands. The logic lives in scripts/; each target is one script.
.PHONY: help setup dev test build fmt lint bench fuzz soak

help:
	@echo "make dev    set up what is missing, build, run wrangler dev on 127.0.0.1:8787"
	@echo "make test   set up, host unit tests, then integration tests under wrangler dev"
	@echo "make build  build the worker bundle into build/ (a no-op when fresh)"
	@echo "make fmt    format the Rust code"
	@echo "make lint   rustfmt check and clippy -D warnings, host and wasm32"
	@echo "make setup  only the set-up steps (toolchain, host tools, npm, dev key)"
	@echo "make bench  the comparative benchmark (workerd, native, end to end, bundle); a few minutes"
	@echo "make fuzz   every fuzz target for EDGEAUTH_FUZZ_SECONDS (default 80) in all; make test runs it too"
	@echo "make soak   the soak test alone, SOAK_SECONDS long (default 600) at SOAK_CONCURRENCY (32)"

setup:
	@scripts/setup.sh

dev:
	@scripts/dev.sh

test:
	@scripts/test.sh

build:
	@scripts/setup.sh
	@scripts/build.sh

fmt:
	@scripts/fmt.sh

lint:
	@scripts/lint.sh

bench:
	@scripts/bench.sh

fuzz:
	@scripts/fuzz.sh
soak:
	@scripts/soak.sh
