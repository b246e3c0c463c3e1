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

# every benchmark; their figures, ratios and plots land in benchmarks/results/ (README.md there)
bench: build
	for b in benchmarks/[!_]*.py; do [ $$b = benchmarks/results.py ] && continue; a=; [ $$b = benchmarks/verify.py ] && a=--results; \
	  echo "== $$b $$a"; .venv/bin/python $$b $$a; rc=$$?; \
	  if [ $$rc = 2 ]; then echo "== $$b: not run here (exit 2, reason above)"; elif [ $$rc != 0 ]; then exit 1; fi; done
	.venv/bin/python benchmarks/results.py

clean:
	rm -rf build .venv *.egg-info
	find dataplane -name '*.so' -delete
