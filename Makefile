# gst-plugin-failover — `make demo` and `make test` work on a fresh Debian 12 machine.
# The cargo workspace: the plugin (root), the relay program (relay/), test tools
# (testkit/).
SHELL := /bin/bash
CARGO ?= cargo
export GST_PLUGIN_PATH := $(CURDIR)/target/release
# Never pick up a stale registry from elsewhere.
export GST_REGISTRY := $(CURDIR)/target/gst-registry.bin

.PHONY: all deps build test unit lint e2e demo bench soak inspect install clean fuzz faults-long e2e-video-long demo-video

all: build

# System packages (scripts/install-deps.sh, groups build and test): checked once
# per change of that script, remembered in a stamp; apt-get runs only for missing
# packages. `make deps` checks (and installs) again.
BUILD_DEPS := target/.deps-build.stamp
TEST_DEPS := $(BUILD_DEPS) target/.deps-test.stamp

target/.deps-build.stamp target/.deps-test.stamp: target/.deps-%.stamp: scripts/install-deps.sh
	@bash scripts/install-deps.sh $*
	@mkdir -p target && touch $@

deps:
	bash scripts/install-deps.sh
	@mkdir -p target && touch $(TEST_DEPS)

build: $(BUILD_DEPS)
	$(CARGO) build --release --workspace --all-targets

lint: $(BUILD_DEPS)
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --release --workspace --all-targets -- -D warnings

# One test at a time: the gst-check tests run on test clocks, but the elements' own
# threads (timers, groups) still need the CPU; on a 2-core machine parallel tests
# starved them into rare races (README, "Random fault sequences": open).
unit: $(TEST_DEPS) build
	$(CARGO) test --release --workspace -- --test-threads=1

e2e: $(TEST_DEPS) build
	bash scripts/e2e.sh

# Everything CI runs.
test: lint unit e2e

# Random fault sequences on failoverswitch (tests/fuzz.rs): 10,000 cases (make test
# runs 300). Prints the count, the failures and the invariants the element does not
# keep yet; FUZZ_STRICT=1 makes those fail too (a failure is shrunk to a minimal
# sequence and its seed kept in tests/fuzz.proptest-regressions).
FUZZ_CASES ?= 10000
fuzz: $(TEST_DEPS)
	PROPTEST_CASES=$(FUZZ_CASES) $(CARGO) test --release --workspace --test fuzz random_fault_sequences -- --nocapture

# The relay under long network faults (scripts/e2e-faults.sh, FAULTS_SET=long: throttles
# of 75 s, a minute of flapping, both setups; about 4 minutes). make test runs the short
# set. Measured numbers: target/faults-long.jsonl.
faults-long: $(TEST_DEPS) build
	FAULTS_SET=long bash scripts/e2e-faults.sh

# The relay's A/V stations through every issue-9 case (scripts/e2e-video.sh; make
# test runs crash, latency and restore): also manual switches over HTTP, DSL drop,
# backup 15 s late, 4 s GOP, both inputs down, B-frames, the output's server
# restarted under a running relay; four batches, about 3.5 minutes.
e2e-video-long: $(TEST_DEPS) build
	bash scripts/e2e-video.sh crash latency restore
	bash scripts/e2e-video.sh manual dsl late
	bash scripts/e2e-video.sh gop4 bothdown bframes
	bash scripts/e2e-video.sh outrestart

# The video platform's story in about a minute (scripts/demo-video.sh): the switch
# timeline, contact sheets and timeline plots in target/demo-video/.
demo-video: $(TEST_DEPS) build
	bash scripts/demo-video.sh

demo: $(TEST_DEPS) build
	bash scripts/demo.sh

bench: $(TEST_DEPS) build
	for b in benches/*-bench.sh; do bash $$b; done

# 20 stations in one relay for 10 minutes with random encoder kills: RSS flat, file
# descriptors constant, no listener disconnected (a 60 s, 5-station run is part of
# `make e2e`). STATIONS=... DURATION=... override.
soak: $(TEST_DEPS) build
	bash scripts/soak-stations.sh

inspect: $(TEST_DEPS) build
	gst-inspect-1.0 failover

# The plugin into GStreamer's plugin directory (meson), the relay program, built
# from the relay crate, into $(PREFIX)/bin, and its systemd unit
# gst-failover-relay@.service (one instance per stations file) into
# $(PREFIX)/lib/systemd/system (systemd reads /usr/local/lib/systemd/system and
# /usr/lib/systemd/system; SYSTEMD_UNIT_DIR=... puts it elsewhere). DESTDIR stages
# everything.
PREFIX ?= /usr/local
SYSTEMD_UNIT_DIR ?= $(PREFIX)/lib/systemd/system
STAGE = $(if $(DESTDIR),$(abspath $(DESTDIR)))
install: $(BUILD_DEPS)
	meson setup build --wipe >/dev/null 2>&1 || meson setup build
	CARGO_TARGET_DIR=$(CURDIR)/target meson compile -C build
	meson install -C build --no-rebuild $(if $(DESTDIR),--destdir $(abspath $(DESTDIR)))
	$(CARGO) build --release -p gst-failover-relay
	install -D -m 755 target/release/gst-failover-relay $(STAGE)$(PREFIX)/bin/gst-failover-relay
	install -d $(STAGE)$(SYSTEMD_UNIT_DIR)
	sed 's|@BINDIR@|$(PREFIX)/bin|g' relay/deploy/gst-failover-relay@.service.in \
		>$(STAGE)$(SYSTEMD_UNIT_DIR)/gst-failover-relay@.service
	chmod 644 $(STAGE)$(SYSTEMD_UNIT_DIR)/gst-failover-relay@.service
	install -D -m 644 relay/deploy/stations.example.toml \
		$(STAGE)$(PREFIX)/share/doc/gst-failover-relay/stations.example.toml

clean:
	$(CARGO) clean
	rm -rf build
