# The README's commands: `make demo`, `make test` and `make install`. Each installs missing
# Debian packages first (Deploy/install-deps.sh), then builds.
SWIFT ?= swift

.PHONY: all build release deps test-deps test demo clean proto proto-check proto-plugin install install-built uninstall

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

# Installs the release binary as $(DESTDIR)$(PREFIX)/bin/magfleet, with its shell completions
# (bash, zsh, fish; ArgumentParser generates them from the commands). `make install PREFIX=$HOME/.local`
# needs no root; DESTDIR stages a package. `install-built BIN=...` installs a binary already built.
PREFIX ?= /usr/local
DESTDIR ?=
BIN ?= .build/release/magfleet
INSTALL_BIN = $(DESTDIR)$(PREFIX)/bin
INSTALL_SHARE = $(DESTDIR)$(PREFIX)/share

install: release
	@$(MAKE) --no-print-directory install-built BIN=.build/release/magfleet

install-built:
	install -d $(INSTALL_BIN) $(INSTALL_SHARE)/bash-completion/completions \
		$(INSTALL_SHARE)/zsh/site-functions $(INSTALL_SHARE)/fish/vendor_completions.d
	install -m 0755 $(BIN) $(INSTALL_BIN)/magfleet
	$(BIN) --generate-completion-script bash > $(INSTALL_SHARE)/bash-completion/completions/magfleet
	$(BIN) --generate-completion-script zsh > $(INSTALL_SHARE)/zsh/site-functions/_magfleet
	$(BIN) --generate-completion-script fish > $(INSTALL_SHARE)/fish/vendor_completions.d/magfleet.fish
	@echo "installed $(INSTALL_BIN)/magfleet and its bash, zsh and fish completions"

uninstall:
	rm -f $(INSTALL_BIN)/magfleet $(INSTALL_SHARE)/bash-completion/completions/magfleet \
		$(INSTALL_SHARE)/zsh/site-functions/_magfleet $(INSTALL_SHARE)/fish/vendor_completions.d/magfleet.fish

# The main job end to end on the built-in demo (see README.md and Deploy/demo.sh).
demo: release
	Deploy/demo.sh demo

# Regenerates Sources/Wire/magfleet.pb.swift after a change to Protocols/magfleet.proto: protoc
# from Debian's protobuf-compiler, the plugin built from the swift-protobuf this package
# resolves. `make proto-check` (in CI) fails when the committed file is not what they generate.
PROTOC_GEN_SWIFT = .build/protoc-gen-swift/release/protoc-gen-swift
PROTOC = protoc --plugin=protoc-gen-swift=$(PROTOC_GEN_SWIFT) --swift_opt=Visibility=Public -I Protocols

proto-plugin: test-deps
	$(SWIFT) package resolve
	$(SWIFT) build -c release --product protoc-gen-swift --package-path .build/checkouts/swift-protobuf \
		--scratch-path .build/protoc-gen-swift

proto: proto-plugin
	$(PROTOC) --swift_out=Sources/Wire Protocols/magfleet.proto

proto-check: proto-plugin
	@rm -rf .build/proto-check && mkdir -p .build/proto-check
	$(PROTOC) --swift_out=.build/proto-check Protocols/magfleet.proto
	@diff -u Sources/Wire/magfleet.pb.swift .build/proto-check/magfleet.pb.swift \
		|| { echo "Sources/Wire/magfleet.pb.swift is stale: run make proto" >&2; exit 1; }
	@echo "proto-check: Sources/Wire/magfleet.pb.swift is current"

clean:
	rm -rf .build
