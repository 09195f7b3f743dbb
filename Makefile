# The two commands of the README. Both install what is missing (tools/install-deps.sh) and build.
BUILD ?= build

.PHONY: all deps build test test-sanitize test-torch-upstream fuzz bench install clean

all: build

deps:
	@tools/install-deps.sh

build: deps
	@[ -f $(BUILD)/build.ninja ] || meson setup $(BUILD) --buildtype=release
	@ninja -C $(BUILD)

test: build
	@tools/run-tests.sh $(BUILD)

# PyTorch's own distributed tests, all of them, on banyan and gloo at world sizes 2 and 3 (over
# an hour on a loaded 2-core machine; make test runs a selection); docs/testing.md.
test-torch-upstream: build
	@tools/torch-upstream.sh $(BUILD)

# The multi-process suite under ASan+UBSan (build-asan) and TSan (build-tsan); docs/testing.md.
test-sanitize: deps
	@tools/run-sanitize.sh

# The libFuzzer targets alone (build-fuzz); FUZZ_SECONDS=600 make fuzz runs each longer.
fuzz: deps
	@tools/run-fuzz.sh $(BUILD)-fuzz

bench: build
	@bench/run.sh $(BUILD)

install: build
	@meson install -C $(BUILD)

clean:
	rm -rf $(BUILD) $(BUILD)-fuzz build-asan build-tsan
