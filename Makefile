# The two entry points of the README. Each installs what it needs first.
.PHONY: run test test-asan build clean bench

build:
	./scripts/bootstrap.sh

run: build
	.venv/bin/dataplane serve --config configs/default.yaml

test: build
	./scripts/test.sh

# the native code under AddressSanitizer + UBSan, in build/asan/ (scripts/asan.sh)
test-asan: build
	./scripts/asan.sh

bench: build
	for b in benchmarks/[!_]*.py; do echo "== $$b"; .venv/bin/python $$b || exit 1; done

clean:
	rm -rf build .venv *.egg-info
	find dataplane -name '*.so' -delete
