# forkftp: `make` builds the release binaries and links them into the
# repository root, so `./ftpserver` runs from here.

CARGO ?= cargo
BINS := $(basename $(notdir $(wildcard bin/*.rs)))

.PHONY: all build test check fmt clippy bench bench-quick bench-peers bench-peers-deps bench-peers-quick bench-ftps-peers fuzz clean static docker-image docker-demo

all: build

build:
	$(CARGO) build --release --bins
	@for b in $(BINS); do ln -sf target/release/$$b $$b; done
	@echo "built: $(addprefix ./,$(BINS))"

test:
	$(CARGO) test --lib --tests

fmt:
	$(CARGO) fmt --all -- --check

clippy:
	$(CARGO) clippy --all-targets -- -D warnings

check: fmt clippy test

# The benchmark (README, "Performance"): the release server on loopback, one
# table, about two minutes. bench-quick shrinks everything so that CI runs it.
bench:
	$(CARGO) build --release --bins
	target/release/ftpbench

bench-quick:
	$(CARGO) build --release --bins
	target/release/ftpbench --quick

# pyftpdlib's own benchmark script (scripts/ftpbench of the pyftpdlib 2.2
# source distribution, fetched by pip at run time into target/bench-peers/,
# never kept here) against ftpserver and against pyftpdlib, side by side
# (README, "Performance"; about 2 minutes; not part of CI). It needs
# pyftpdlib, psutil before 6 (for the script's memory column: 6 removed
# memory_info_ex) and, from Python 3.12 on, asyncore and asynchat from PyPI.
# bench-peers-quick shrinks everything so that CI runs it.
PYTHON ?= python3
PIP := $(PYTHON) -m pip install --quiet --disable-pip-version-check
BENCH_PEERS_ARGS ?=
bench-peers-deps:
	@$(PYTHON) -c 'import pyftpdlib' 2>/dev/null || $(PIP) pyftpdlib==2.2.0
	@$(PYTHON) -c 'import psutil' 2>/dev/null || $(PIP) 'psutil<6'
	@$(PYTHON) -c 'import asyncore, asynchat' 2>/dev/null || $(PIP) pyasyncore pyasynchat

bench-peers: bench-peers-deps
	$(CARGO) build --release --bins
	$(PYTHON) scripts/bench_peers.py $(BENCH_PEERS_ARGS)

bench-peers-quick: bench-peers-deps
	$(CARGO) build --release --bins
	$(PYTHON) scripts/bench_peers.py --quick

# FTPS against the peers with one Python ftplib client (README,
# "Performance", FTPS): ftpserver, pyftpdlib's TLS_FTPHandler (pyOpenSSL),
# and vsftpd and pure-ftpd from Debian's packages, unpacked (apt-get
# download, dpkg -x) into target/bench-ftps-peers/, never installed. Needs
# root (vsftpd chroots); about 8 minutes; not part of CI.
BENCH_FTPS_PEERS_ARGS ?=
bench-ftps-peers:
	@$(PYTHON) -c 'import pyftpdlib' 2>/dev/null || $(PIP) pyftpdlib==2.2.0
	@$(PYTHON) -c 'import OpenSSL' 2>/dev/null || $(PIP) pyopenssl
	$(CARGO) build --release --bins
	$(PYTHON) scripts/bench_ftps_peers.py $(BENCH_FTPS_PEERS_ARGS)

# Fuzz the network-input parsers for FUZZ_SECONDS each (not part of CI).
# cargo-fuzz needs nightly features; RUSTC_BOOTSTRAP lets the stable
# toolchain provide them.
FUZZ_SECONDS ?= 120
FUZZ_TARGETS ?= $(basename $(notdir $(wildcard fuzz/fuzz_targets/*.rs)))
fuzz:
	@command -v cargo-fuzz >/dev/null || $(CARGO) install cargo-fuzz
	@for t in $(FUZZ_TARGETS); do \
		echo "fuzzing $$t for $(FUZZ_SECONDS)s"; \
		(cd fuzz && RUSTC_BOOTSTRAP=1 $(CARGO) fuzz run $$t -- -max_total_time=$(FUZZ_SECONDS)) || exit 1; \
	done

# Containers (README, "Running in production"). `static` builds the
# binaries an image needs statically linked (static-pie: glibc and all, no
# debug info) and stages them with the image's directories in
# target/docker/; `docker-image` builds the image FROM scratch out of them
# (no base image is pulled); `docker-demo` runs the lab (compose.yaml) and
# the cluster (compose.cluster.yaml) and checks what the clients did.
STATIC_TARGET ?= $(shell rustc -vV | sed -n 's/^host: //p')
STATIC_BINS := ftpserver ftpmaster ftpclient
IMAGE ?= forkftp:latest
DOCKER ?= docker
STAGE := target/docker

static:
	RUSTFLAGS="-C target-feature=+crt-static" CARGO_PROFILE_RELEASE_DEBUG=0 CARGO_PROFILE_RELEASE_STRIP=symbols \
		$(CARGO) build --release --target $(STATIC_TARGET) $(addprefix --bin ,$(STATIC_BINS))
	rm -rf $(STAGE) && mkdir -p $(STAGE)/bin $(STAGE)/etc $(STAGE)/writable/srv/ftp $(STAGE)/writable/home/ftp
	cp $(addprefix target/$(STATIC_TARGET)/release/,$(STATIC_BINS)) $(STAGE)/bin/
	cp docker/passwd docker/group $(STAGE)/etc/
	cp _FTPROOT/welcome.txt $(STAGE)/writable/srv/ftp/
	@ls -l $(STAGE)/bin

# The legacy builder: BuildKit needs the buildx plugin, which Debian's
# docker.io does not ship, and a FROM scratch image gains nothing from it.
docker-image: static
	DOCKER_BUILDKIT=0 $(DOCKER) build --quiet -t $(IMAGE) .
	@$(DOCKER) image ls $(IMAGE)

docker-demo: docker-image
	IMAGE=$(IMAGE) DOCKER=$(DOCKER) docker/demo.sh

clean:
	$(CARGO) clean
	rm -f $(BINS)
