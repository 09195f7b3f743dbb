# The two commands of the README. Both install what is missing (tools/install-deps.sh) and build.
BUILD ?= build

.PHONY: all deps build test bench install clean

all: build

deps:
	@tools/install-deps.sh

build: deps
	@[ -f $(BUILD)/build.ninja ] || meson setup $(BUILD) --buildtype=release
	@ninja -C $(BUILD)

test: build
	@tools/run-tests.sh $(BUILD)

bench: build
	@bench/run.sh $(BUILD)

install: build
	@meson install -C $(BUILD)

clean:
	rm -rf $(BUILD)
