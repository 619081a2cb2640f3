# The README's two commands: `make demo` and `make test`. Each installs missing Debian
# packages first (Deploy/install-deps.sh), then builds.
SWIFT ?= swift

.PHONY: all build release deps test-deps test demo clean

all: build

deps:
	@Deploy/install-deps.sh build

test-deps:
	@Deploy/install-deps.sh test

build: deps
	$(SWIFT) build

release: deps
	$(SWIFT) build -c release

# The whole suite. Tests build in debug with the numeric targets at -O (Package.swift), so a
# change rebuilds fast and the kernels still run at speed. The runner's summary ends the output.
test: test-deps
	$(SWIFT) build --build-tests
	MAGFLEET_PEER_PYTHON=$(CURDIR)/.build/peers/bin/python $(SWIFT) test --skip-build

# The main job end to end on the built-in demo (see README.md and Deploy/demo.sh).
demo: release
	Deploy/demo.sh demo

clean:
	rm -rf .build
