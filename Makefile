# forkftp: `make` builds the release binaries and links them into the
# repository root, so `./ftpserver` runs from here.

CARGO ?= cargo
BINS := $(basename $(notdir $(wildcard bin/*.rs)))

.PHONY: all build test check fmt clippy bench bench-quick fuzz clean

all: build

build:
	$(CARGO) build --release --bins
	@for b in $(BINS); do ln -sf target/release/$$b $$b; done
	@echo "built: $(addprefix ./,$(BINS))"

test:
	$(CARGO) test --all-targets

fmt:
	$(CARGO) fmt --all -- --check

clippy:
	$(CARGO) clippy --all-targets -- -D warnings

check: fmt clippy test

clean:
	$(CARGO) clean
	rm -f $(BINS)
