# mqgate — one non-recursive Makefile for the whole tree.
#
#   make                 build build/mqgate
#   make run             install missing packages, build, run the demo gateway
#   make test            install missing packages, build, run every test (plain and ASan+UBSan)
#   make bench           benchmarks (figures and ratios; never pass/fail on timing)
#   make install         PREFIX=/usr/local DESTDIR=
#   make V=1             show full command lines
#   make SANITIZE=address,undefined     sanitizer build (in its own build directory)
#   make CROSS=arm64 | CROSS=armhf      Raspberry Pi cross build (build/<triplet>)
#   make test-cross      cross-build for arm64 and armhf, run the tests under
#                        qemu-user, build and check the .deb of every architecture
#   make deb             build/deb/mqgate_<version>_<arch>.deb (CROSS= for a Pi)

VERSION      := 0.1.0
comma        := ,
PREFIX       ?= /usr/local
BINDIR       ?= $(PREFIX)/bin
SYSCONFDIR   ?= /etc
DATADIR      ?= $(PREFIX)/share
DESTDIR      ?=
# systemd looks in /usr/lib/… and /usr/local/lib/… alike.
SYSTEMDUNITDIR ?= $(PREFIX)/lib/systemd/system
SYSUSERSDIR  ?= $(PREFIX)/lib/sysusers.d
TMPFILESDIR  ?= $(PREFIX)/lib/tmpfiles.d

# ---- cross builds for the Raspberry Pi ---------------------------------------
# CROSS names the Debian architecture: arm64 (Pi 3/4/5 with a 64-bit OS) or
# armhf (32-bit Raspberry Pi OS, ARMv7 and up: Pi 2/3/4, Zero 2). It picks
# Debian's cross compiler, and compiles and links against a sysroot,
# build/sysroot-<arch>: that architecture's -dev packages and everything they
# need, fetched from Debian's archive and unpacked there by
# `make deps CROSS=<arch>`, which leaves the host's dpkg alone (see README).
# CROSS_COMPILE=<triplet>- says the same thing the compiler's way.
CROSS_ARCHES  := arm64 armhf
TRIPLET_arm64 := aarch64-linux-gnu
TRIPLET_armhf := arm-linux-gnueabihf
CROSS         ?=
CROSS_COMPILE ?=
ifneq ($(CROSS),)
ifeq ($(TRIPLET_$(CROSS)),)
$(error CROSS=$(CROSS): expected one of $(CROSS_ARCHES))
endif
CROSS_COMPILE := $(TRIPLET_$(CROSS))-
else ifneq ($(CROSS_COMPILE),)
CROSS := $(firstword $(foreach a,$(CROSS_ARCHES),$(if $(filter $(TRIPLET_$(a))-,$(notdir $(CROSS_COMPILE))),$(a))))
endif

CC           := $(CROSS_COMPILE)gcc
AR           := $(CROSS_COMPILE)ar
STRIP        := $(CROSS_COMPILE)strip
PKG_CONFIG   ?= pkg-config
SANITIZE     ?=
BUILD_ROOT   ?= build

ifeq ($(CROSS_COMPILE),)
DEB_ARCH     := $(shell dpkg --print-architecture 2>/dev/null)
else
DEB_ARCH     := $(CROSS)
TRIPLET      := $(patsubst %-,%,$(notdir $(CROSS_COMPILE)))
endif
ifneq ($(CROSS),)
SYSROOT      ?= $(abspath $(BUILD_ROOT))/sysroot-$(CROSS)
SYSROOT_FLAGS := --sysroot=$(SYSROOT)
ifeq ($(filter deps deps-cross test-cross clean,$(MAKECMDGOALS)),)
ifeq ($(wildcard $(SYSROOT)/.packages),)
$(error no $(CROSS) sysroot in $(SYSROOT): run `make deps CROSS=$(CROSS)` first)
endif
endif
# Only the target's .pc files, with their paths moved into the sysroot.
# (Make 4.3 does not pass exported variables to $(shell), hence the prefix.)
override PKG_CONFIG := PKG_CONFIG_SYSROOT_DIR=$(SYSROOT) \
    PKG_CONFIG_LIBDIR=$(SYSROOT)/usr/lib/$(TRIPLET)/pkgconfig:$(SYSROOT)/usr/share/pkgconfig $(PKG_CONFIG)
endif

# Each flavour (plain, sanitized, cross) gets its own tree so they never mix objects.
BUILD_BASE   := $(BUILD_ROOT)$(if $(TRIPLET),/$(TRIPLET))
ifneq ($(SANITIZE),)
BUILD        ?= $(BUILD_BASE)/san
else
BUILD        ?= $(BUILD_BASE)
endif

GIT_REV      := $(shell git rev-parse --short HEAD 2>/dev/null)
FULL_VERSION := $(VERSION)$(if $(GIT_REV),+g$(GIT_REV))

# -Wshadow/-Wstrict-prototypes/-Wmissing-prototypes: the issue's set.
# -Wformat=2 -Wwrite-strings -Wvla -Wundef: format strings checked through our log
# wrappers, string literals are const, no stack-sized-by-input arrays, no typo'd #if.
WARNINGS     := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
                -Wformat=2 -Wwrite-strings -Wvla -Wundef -Wpointer-arith
# 64-bit time_t and off_t also on 32-bit ARM (Raspberry Pi OS armhf).
DEFINES      := -D_GNU_SOURCE -D_FILE_OFFSET_BITS=64 -D_TIME_BITS=64 \
                -DMQGATE_VERSION='"$(FULL_VERSION)"'
OPTFLAGS     ?= -O2 -g
PKGS         := libserialport libmodbus yaml-0.1 openssl libsystemd

PKG_CFLAGS   := $(shell $(PKG_CONFIG) --cflags $(PKGS) 2>/dev/null)
PKG_LIBS     := $(shell $(PKG_CONFIG) --libs $(PKGS) 2>/dev/null)
CMOCKA_LIBS  := $(shell $(PKG_CONFIG) --libs cmocka 2>/dev/null)

ALL_CFLAGS   := -std=c11 $(SYSROOT_FLAGS) $(WARNINGS) $(DEFINES) $(OPTFLAGS) -I. $(PKG_CFLAGS) $(CFLAGS)
ALL_LDFLAGS  := $(SYSROOT_FLAGS) -Wl,--as-needed $(LDFLAGS)
# Paho ships no .pc file on Debian: link the async+TLS flavour by name.
LIBS         := $(PKG_LIBS) -lpaho-mqtt3as -lpthread -lm

ifneq ($(SANITIZE),)
ALL_CFLAGS   += -fsanitize=$(SANITIZE) -fno-omit-frame-pointer -fno-sanitize-recover=all
ALL_LDFLAGS  += -fsanitize=$(SANITIZE)
# On a cross build the tests run under qemu, where the target's sysroot has no
# sanitizer runtime: link it in.
ifneq ($(CROSS_COMPILE),)
ALL_LDFLAGS  += $(if $(filter address,$(subst $(comma), ,$(SANITIZE))),-static-libasan) \
                $(if $(filter undefined,$(subst $(comma), ,$(SANITIZE))),-static-libubsan)
endif
else
# What Debian builds packages with (dpkg-buildflags): checked string and
# memory functions (they need an optimised build), stack canaries, a
# read-only GOT. Not with sanitizers, which replace the same functions.
ALL_CFLAGS   += $(if $(filter -O%,$(filter-out -O0,$(OPTFLAGS))),-D_FORTIFY_SOURCE=2) -fstack-protector-strong
ALL_LDFLAGS  += -Wl,-z,relro -Wl,-z,now
endif

ifeq ($(V),1)
Q :=
quiet = @:
else
Q := @
quiet = @printf '  %-6s %s\n'
endif

# ---- sources -------------------------------------------------------------
# Every .c under these folders is part of the program, except main.c, which
# only the binary links; tests link the same library.
SRC_DIRS     := gateway config drivers bridge
LIB_SRCS     := $(filter-out gateway/main.c,$(shell find $(SRC_DIRS) -name '*.c' 2>/dev/null | LC_ALL=C sort))
LIB_OBJS     := $(LIB_SRCS:%.c=$(BUILD)/%.o)
MAIN_OBJ     := $(BUILD)/gateway/main.o
LIBMQGATE    := $(BUILD)/libmqgate.a
MQGATE       := $(BUILD)/mqgate

UNIT_SRCS    := $(sort $(wildcard tests/unit/test_*.c))
UNIT_BINS    := $(UNIT_SRCS:%.c=$(BUILD)/%)
# Helpers shared by unit tests (stubs, fixture readers).
UNIT_HELPERS := $(filter-out $(UNIT_SRCS),$(sort $(wildcard tests/unit/*.c)))
UNIT_HOBJS   := $(UNIT_HELPERS:%.c=$(BUILD)/%.o)

DEPS         := $(LIB_OBJS:.o=.d) $(MAIN_OBJ:.o=.d) $(UNIT_BINS:=.d) $(UNIT_HOBJS:.o=.d)

.PHONY: all run test test-unit test-san test-cross bench install uninstall clean deps deps-cross \
        deb debs unit-tests integration-tests
.DEFAULT_GOAL := all

all: $(MQGATE)

$(BUILD)/%.o: %.c
	$(quiet) CC $@
	@mkdir -p $(@D)
	$(Q)$(CC) $(ALL_CFLAGS) -MMD -MP -c $< -o $@

$(LIBMQGATE): $(LIB_OBJS)
	$(quiet) AR $@
	@mkdir -p $(@D)
	$(Q)rm -f $@ && $(AR) rcs $@ $^

$(MQGATE): $(MAIN_OBJ) $(LIBMQGATE)
	$(quiet) LINK $@
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LIBS)

$(BUILD)/tests/unit/%: tests/unit/%.c $(UNIT_HOBJS) $(LIBMQGATE)
	$(quiet) TEST $@
	@mkdir -p $(@D)
	$(Q)$(CC) $(ALL_CFLAGS) -MMD -MP $(ALL_LDFLAGS) -o $@ $< $(UNIT_HOBJS) $(LIBMQGATE) $(CMOCKA_LIBS) $(LIBS)

# Fuzz targets (libFuzzer, clang): `make fuzz`; their corpora and regression
# inputs are replayed by `make test` through gcc-built replayers.
include tests/fuzz/fuzz.mk

unit-tests: $(UNIT_BINS) $(FUZZ_REPLAY_BINS)

# Benchmark tools: one .c each, linked with the library (the MQTT codec).
$(BUILD)/tests/bench/%: tests/bench/%.c $(LIBMQGATE)
	$(quiet) BENCH $@
	@mkdir -p $(@D)
	$(Q)$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ $< $(LIBMQGATE) $(LIBS)

# Integration test programs: one .c each, clients we did not write (Paho's
# async API) driving the broker from the outside; they need no mqgate code.
$(BUILD)/tests/integration/%: tests/integration/%.c
	$(quiet) TEST $@
	@mkdir -p $(@D)
	$(Q)$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ $< -lpaho-mqtt3as -lpthread

# Device simulators (tests and the demo): one .c each under tests/sim/, the
# Modbus slave and UART sensors on the far end of a pty.
# Programs are tests/sim/*_sim.c; the other .c files there (pty_link.c) are
# shared by them and by the driver tests.
SIM_SRCS     := $(sort $(wildcard tests/sim/*_sim.c))
SIM_BINS     := $(SIM_SRCS:%.c=$(BUILD)/%)
SIM_HELPERS  := $(filter-out $(SIM_SRCS),$(sort $(wildcard tests/sim/*.c)))
SIM_HOBJS    := $(SIM_HELPERS:%.c=$(BUILD)/%.o)
$(BUILD)/tests/sim/%_sim: tests/sim/%_sim.c $(SIM_HOBJS) $(LIBMQGATE)
	$(quiet) SIM $@
	@mkdir -p $(@D)
	$(Q)$(CC) $(ALL_CFLAGS) -MMD -MP $(ALL_LDFLAGS) -o $@ $< $(SIM_HOBJS) $(LIBMQGATE) $(LIBS) -lutil

# Driver tests: C programs that drive drivers/ over real ptys against the
# simulators. Their helpers (tests/drivers/*.c not named test_*: the pty and
# simulator launcher, the test-only ioctl shim) link into each of them and
# never into mqgate.
DRV_SRCS     := $(sort $(wildcard tests/drivers/test_*.c))
DRV_BINS     := $(DRV_SRCS:%.c=$(BUILD)/%)
DRV_HELPERS  := $(filter-out $(DRV_SRCS),$(sort $(wildcard tests/drivers/*.c)))
DRV_HOBJS    := $(DRV_HELPERS:%.c=$(BUILD)/%.o)
$(BUILD)/tests/drivers/%: tests/drivers/%.c $(DRV_HOBJS) $(SIM_HOBJS) $(LIBMQGATE)
	$(quiet) TEST $@
	@mkdir -p $(@D)
	$(Q)$(CC) $(ALL_CFLAGS) -MMD -MP $(ALL_LDFLAGS) -o $@ $< $(DRV_HOBJS) $(SIM_HOBJS) $(LIBMQGATE) $(CMOCKA_LIBS) $(LIBS) -lutil -ldl

# $(BUILD)/tests/integration/paho_check: $(BUILD_ROOT)/… plain, $(BUILD_ROOT)/san/… sanitized.
INTEG_SRCS   := $(sort $(wildcard tests/integration/*.c))
INTEG_BINS   := $(INTEG_SRCS:%.c=$(BUILD)/%)
integration-tests: $(INTEG_BINS) $(SIM_BINS) $(DRV_BINS)
DEPS += $(SIM_BINS:=.d) $(SIM_HOBJS:.o=.d) $(DRV_BINS:=.d) $(DRV_HOBJS:.o=.d)
# Helper objects are intermediate to make; keep them between builds.
.SECONDARY: $(SIM_HOBJS) $(DRV_HOBJS) $(UNIT_HOBJS)

# ---- the two commands of the README ---------------------------------------
DEMO_CONFIG ?= config/demo.yaml

run: deps
	$(Q)$(MAKE) --no-print-directory all $(SIM_BINS)
	$(Q)tests/sim/run_demo.sh $(BUILD) $(DEMO_CONFIG)

# The plain build runs everything; the sanitized build runs everything again
# in its own tree, so ASan+UBSan see the same paths. `make install` (the
# systemd files included) is checked first, on the plain build.
test: deps
	$(Q)$(MAKE) --no-print-directory all unit-tests integration-tests
	$(Q)$(MAKE) --no-print-directory SANITIZE=address,undefined all unit-tests integration-tests
	$(Q)tests/deb/test_install.sh $(BUILD_ROOT)
	$(Q)tests/run.sh $(BUILD_ROOT) $(BUILD_ROOT)/san
	$(Q)tests/fuzz/replay.sh $(BUILD_ROOT) $(BUILD_ROOT)/san

BENCH_BINS   := $(patsubst tests/bench/%.c,$(BUILD)/tests/bench/%,$(wildcard tests/bench/*.c))
bench: deps all $(BENCH_BINS) $(INTEG_BINS) $(SIM_BINS)
	$(Q)tests/bench/run.sh $(BUILD)
	$(Q)tests/bench/broker_bench.sh $(BUILD)
	$(Q)tests/bench/drivers_bench.sh $(BUILD)
	$(Q)tests/bench/gateway_bench.sh $(BUILD)
	$(Q)for b in tests/bench/bridge_*.sh; do [ ! -f "$$b" ] || $$b $(BUILD) || exit 1; done

# ---- packages ------------------------------------------------------------
# Debian packages the build, the tests and the demo need. `make deps` installs
# only the missing ones (apt-get, via sudo when not root) and is a no-op otherwise.
DEB_PKGS := gcc make pkg-config libserialport-dev libmodbus-dev libpaho-mqtt-dev \
            libyaml-dev libssl-dev libsystemd-dev libcmocka-dev \
            mosquitto mosquitto-clients socat python3 systemd
# For a Pi architecture: on the host, the cross compiler and qemu-user; in
# the sysroot, the target's C library and these (with what they depend on).
CROSS_LIB_PKGS := libserialport-dev libmodbus-dev libpaho-mqtt-dev libyaml-dev \
                  libssl-dev libsystemd-dev libcmocka-dev
SYSROOT_PKGS   := libc6-dev $(CROSS_LIB_PKGS)
cross_host_pkgs = gcc-$(TRIPLET_$(1)) qemu-user
# Building the .deb (`make deb` installs them), and checking it.
DEB_TOOLS      := dpkg-dev binutils file help2man
PACKAGING_PKGS := $(DEB_TOOLS) lintian

# $(call install_missing,PACKAGES): installs those not installed yet.
define install_missing
	$(Q)missing=""; for p in $(1); do \
	    dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'ok installed' || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	    echo "deps: installing$$missing"; \
	    if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	    $$SUDO apt-get update -qq && \
	    $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	fi
endef

# $(call make_sysroot,ARCH): build/sysroot-ARCH, unless it already holds
# SYSROOT_PKGS. apt-get runs with its own state under build/ (lists, archives,
# an empty dpkg status, ARCH as its only architecture), so it resolves the
# whole dependency closure, downloads it, and touches nothing of the host's;
# dpkg-deb unpacks each package twice: merged into the sysroot, and alone
# with its control files under build/sysroot-ARCH.pkgs/ (for dpkg-shlibdeps).
# Absolute symlinks are made relative so they point inside the sysroot. A
# package list that fails to download (a mirror mid-sync) is reported and
# the others are used: the closure comes from one consistent set either way.
define make_sysroot
	$(Q)root=$(abspath $(BUILD_ROOT))/sysroot-$(1); apt=$$root.apt; pkgs=$$root.pkgs; want="$(SYSROOT_PKGS)"; \
	if [ -f $$root/.packages ] && [ "$$(cat $$root/.packages)" = "$$want" ]; then exit 0; fi; \
	echo "deps: sysroot $$root"; \
	rm -rf $$root $$apt $$pkgs && mkdir -p $$root $$pkgs $$apt/lists/partial $$apt/archives/partial && \
	: >$$apt/status && \
	set -- -q -o APT::Architecture=$(1) -o APT::Architectures=$(1) \
	    -o Dir::State=$$apt -o Dir::State::Lists=$$apt/lists -o Dir::State::status=$$apt/status \
	    -o Dir::Cache=$$apt -o Dir::Cache::Archives=$$apt/archives \
	    -o APT::Sandbox::User=root -o Debug::NoLocking=1 -o Acquire::Languages=none && \
	if ! apt-get "$$@" update >$$apt/update.log 2>&1; then \
	    grep -E '^(Err|E):' $$apt/update.log >&2; \
	    echo "deps: warning: some $(1) package lists did not download; using the others" >&2; \
	fi; \
	apt-get "$$@" install -y --download-only --no-install-recommends $$want >$$apt/install.log 2>&1 \
	    || { cat $$apt/install.log >&2; exit 1; }; \
	for d in $$apt/archives/*.deb; do \
	    n=$$(dpkg-deb -f $$d Package) && dpkg-deb -x $$d $$root && dpkg-deb -R $$d $$pkgs/$$n || exit 1; \
	done; \
	rm -f $$apt/archives/*.deb; \
	for r in $$root $$pkgs/*; do \
	    find $$r -type l -lname '/*' | while IFS= read -r l; do \
	        ln -sfn "$$(realpath -ms --relative-to="$$(dirname "$$l")" "$$r$$(readlink "$$l")")" "$$l"; \
	    done; \
	done; \
	printf '%s' "$$want" >$$root/.packages
endef

deps:
	$(call install_missing,$(DEB_PKGS) $(if $(CROSS),$(call cross_host_pkgs,$(CROSS))))
	$(if $(CROSS),$(call make_sysroot,$(CROSS)))

# Everything test-cross needs, with one apt-get run on the host.
deps-cross:
	$(call install_missing,$(DEB_PKGS) $(PACKAGING_PKGS) $(foreach a,$(CROSS_ARCHES),$(call cross_host_pkgs,$(a))))
	$(call make_sysroot,arm64)
	$(call make_sysroot,armhf)

# ---- Raspberry Pi: cross builds under qemu-user, and the .deb ----------------
# Builds mqgate and its unit tests for every Pi architecture with the same
# flags (-Werror included), and once more for armhf with UBSan (32-bit
# overflows, misaligned access), builds the .deb of the host and of each Pi,
# then runs every unit test and the CLI test under qemu-user and checks each
# .deb. (ASan does not run under qemu-arm: see README.)
# It needs a non-ARM Debian machine (CI's amd64); on a Pi, use `make test`.
HOST_DEB_ARCH := $(shell dpkg --print-architecture 2>/dev/null)

test-cross: deps-cross
	$(Q)for a in $(CROSS_ARCHES); do \
	    $(MAKE) --no-print-directory CROSS=$$a all unit-tests || exit 1; \
	done
	$(Q)$(MAKE) --no-print-directory CROSS=armhf SANITIZE=undefined all unit-tests
	$(Q)$(MAKE) --no-print-directory debs
	$(Q)tests/cross/run.sh \
	    $(foreach a,$(CROSS_ARCHES),$(a):$(BUILD_ROOT)/$(TRIPLET_$(a)):$(abspath $(BUILD_ROOT))/sysroot-$(a)) \
	    armhf:$(BUILD_ROOT)/$(TRIPLET_armhf)/san:$(abspath $(BUILD_ROOT))/sysroot-armhf \
	    $(foreach a,$(HOST_DEB_ARCH) $(CROSS_ARCHES),--deb $(BUILD_ROOT)/deb/mqgate_$(DEB_VERSION)_$(a).deb)

# ---- Debian package ----------------------------------------------------------
# `make deb` packages the build of this architecture (CROSS=arm64|armhf for a
# Pi) as build/deb/mqgate_<version>_<arch>.deb with dpkg-deb, no debhelper:
# `make install` into a staging root, plus the control files below. Depends
# comes from dpkg-shlibdeps over the stripped binary, which reads the target
# architecture's shlibs/symbols files of the libraries it links.
DEB_VERSION    ?= $(VERSION)
DEB_MAINTAINER ?= mqgate developers <dev@mqgate.invalid>
DEB_DIR        := $(BUILD_ROOT)/deb
DEB_FILE       := $(DEB_DIR)/mqgate_$(DEB_VERSION)_$(DEB_ARCH).deb
DEB_STAGE      := $(BUILD)/deb-root
DEB_WORK       := $(BUILD)/deb-work
# The commit's date, so the same commit gives the same package.
DEB_DATE       := $(shell git log -1 --format=%ct 2>/dev/null || date +%s)

# The package's texts. A version without a Debian revision makes it a native
# package, so its changelog is changelog.gz.
define DEB_DESCRIPTION
Description: edge gateway from serial sensors (Modbus RTU, UART) to MQTT
 mqgate polls Modbus RTU slaves and raw UART sensors (text lines, NMEA,
 binary frames), turns each reading into a topic and a payload as a YAML
 file says, and publishes it to an embedded MQTT 3.1.1/5.0 broker; an
 upstream bridge forwards chosen topics to a cloud broker, keeping them in a
 crash-safe disk spool while the link is down.
 .
 This package runs it as the systemd service mqgate.service, as the system
 user mqgate (in group dialout), configured by /etc/mqgate/mqgate.yaml.
endef

define DEB_COPYRIGHT
mqgate, an edge gateway from serial sensors to MQTT.

Copyright $(shell date -u -d @$(DEB_DATE) +%Y) the mqgate developers <dev@mqgate.invalid>

No licence has been chosen for mqgate yet; until one is, all rights are
reserved by its authors.
endef

define DEB_CHANGELOG
mqgate ($(DEB_VERSION)) unstable; urgency=medium

  * Built from $(if $(GIT_REV),commit $(GIT_REV),a source tree outside git).

 -- $(DEB_MAINTAINER)  $(shell LC_ALL=C date -u -R -d @$(DEB_DATE))
endef

# The maintainer scripts: create the user (sysusers) and the state directory
# (tmpfiles), let group mqgate read the configuration, then what
# dh_installsystemd would do: enable the service and (re)start it.
define DEB_POSTINST
#!/bin/sh
set -e
if [ "$$1" = configure ]; then
    systemd-sysusers mqgate.conf
    if command -v systemd-tmpfiles >/dev/null; then
        systemd-tmpfiles --create mqgate.conf || true
    fi
    if ! dpkg-statoverride --list /etc/mqgate/mqgate.yaml >/dev/null; then
        dpkg-statoverride --update --add root mqgate 0640 /etc/mqgate/mqgate.yaml
    fi
fi
if [ "$$1" = configure ] || [ "$$1" = abort-upgrade ] || [ "$$1" = abort-deconfigure ] || [ "$$1" = abort-remove ]; then
    deb-systemd-helper unmask mqgate.service >/dev/null || true
    if deb-systemd-helper --quiet was-enabled mqgate.service; then
        deb-systemd-helper enable mqgate.service >/dev/null || true
    else
        deb-systemd-helper update-state mqgate.service >/dev/null || true
    fi
    if [ -d /run/systemd/system ]; then
        systemctl --system daemon-reload >/dev/null || true
        if [ -n "$$2" ]; then action=restart; else action=start; fi
        deb-systemd-invoke "$$action" mqgate.service >/dev/null || true
    fi
fi
endef

define DEB_PRERM
#!/bin/sh
set -e
if [ -d /run/systemd/system ] && [ "$$1" = remove ]; then
    deb-systemd-invoke stop mqgate.service >/dev/null || true
fi
endef

define DEB_POSTRM
#!/bin/sh
set -e
if [ -d /run/systemd/system ]; then
    systemctl --system daemon-reload >/dev/null || true
fi
if [ "$$1" = remove ] && command -v deb-systemd-helper >/dev/null; then
    deb-systemd-helper mask mqgate.service >/dev/null || true
fi
if [ "$$1" = purge ]; then
    if command -v deb-systemd-helper >/dev/null; then
        deb-systemd-helper purge mqgate.service >/dev/null || true
        deb-systemd-helper unmask mqgate.service >/dev/null || true
    fi
    if dpkg-statoverride --list /etc/mqgate/mqgate.yaml >/dev/null; then
        dpkg-statoverride --remove /etc/mqgate/mqgate.yaml
    fi
    rm -rf /var/lib/mqgate
fi
endef
# Sections help2man adds to what `mqgate --help` says.
define DEB_MAN_EXTRA
[FILES]
.TP
.I /etc/mqgate/mqgate.yaml
The configuration; `mqgate help config` prints its reference.
.TP
.I /var/lib/mqgate
State: the bridge's spool and the broker's retained messages.
.TP
.I /usr/share/doc/mqgate/examples
Example configurations.
[EXIT STATUS]
0 on success, 1 on a runtime failure, 2 on a usage or configuration error.
[SEE ALSO]
.BR systemctl (1),
.BR journalctl (1):
the service is mqgate.service.
endef
export DEB_DESCRIPTION DEB_COPYRIGHT DEB_CHANGELOG DEB_POSTINST DEB_PRERM DEB_POSTRM DEB_MAN_EXTRA

debs:
	$(Q)$(MAKE) --no-print-directory deb
	$(Q)for a in $(filter-out $(HOST_DEB_ARCH),$(CROSS_ARCHES)); do \
	    $(MAKE) --no-print-directory CROSS=$$a deb || exit 1; \
	done

deb: all
	$(call install_missing,$(DEB_TOOLS))
	$(quiet) DEB $(DEB_FILE)
	$(Q)test -n "$(DEB_ARCH)" || { echo "deb: unknown Debian architecture; use CROSS=arm64|armhf" >&2; exit 1; }
	$(Q)rm -rf $(DEB_STAGE) $(DEB_WORK) && mkdir -p $(DEB_STAGE)/DEBIAN $(DEB_WORK)/debian $(DEB_DIR)
	$(Q)$(MAKE) --no-print-directory -s install DESTDIR=$(abspath $(DEB_STAGE)) PREFIX=/usr \
	    SYSTEMDUNITDIR=/lib/systemd/system >/dev/null
	$(Q)$(STRIP) --remove-section=.comment --remove-section=.note --strip-unneeded \
	    $(DEB_STAGE)/usr/bin/mqgate
	$(Q)chmod 0644 $(DEB_STAGE)/etc/mqgate/mqgate.yaml
	$(Q)printf '%s\n' "$$DEB_COPYRIGHT" >$(DEB_STAGE)/usr/share/doc/mqgate/copyright
	$(Q)printf '%s\n' "$$DEB_CHANGELOG" | gzip -9n >$(DEB_STAGE)/usr/share/doc/mqgate/changelog.gz
	$(Q)$(if $(CROSS_COMPILE),$(MAKE) -s --no-print-directory CROSS= CROSS_COMPILE= SANITIZE= all)
	$(Q)mkdir -p $(DEB_STAGE)/usr/share/man/man1 && printf '%s\n' "$$DEB_MAN_EXTRA" >$(DEB_WORK)/man.extra && \
	    SOURCE_DATE_EPOCH=$(DEB_DATE) help2man -N -i $(DEB_WORK)/man.extra \
	        -n "edge gateway from serial sensors (Modbus RTU, UART) to MQTT" $(BUILD_ROOT)/mqgate \
	    | gzip -9n >$(DEB_STAGE)/usr/share/man/man1/mqgate.1.gz
	$(Q)printf '%s\n' "$$DEB_POSTINST" >$(DEB_STAGE)/DEBIAN/postinst
	$(Q)printf '%s\n' "$$DEB_PRERM" >$(DEB_STAGE)/DEBIAN/prerm
	$(Q)printf '%s\n' "$$DEB_POSTRM" >$(DEB_STAGE)/DEBIAN/postrm
	$(Q)chmod 0755 $(DEB_STAGE)/DEBIAN/postinst $(DEB_STAGE)/DEBIAN/prerm $(DEB_STAGE)/DEBIAN/postrm
	$(Q)echo /etc/mqgate/mqgate.yaml >$(DEB_STAGE)/DEBIAN/conffiles
	$(Q)printf 'Source: mqgate\n\nPackage: mqgate\nArchitecture: any\n' >$(DEB_WORK)/debian/control
	$(Q)$(if $(SYSROOT),pkgdirs=$$(for d in $(SYSROOT).pkgs/*; do \
	    [ -e $$d/DEBIAN/shlibs ] || [ -e $$d/DEBIAN/symbols ] && printf -- '-S%s ' $$d; done);) \
	depends=$$(cd $(DEB_WORK) && CC=$(CC) dpkg-architecture -a $(DEB_ARCH) -c dpkg-shlibdeps -O $$pkgdirs \
	        $(abspath $(DEB_STAGE))/usr/bin/mqgate 2>$(abspath $(DEB_WORK))/shlibdeps.log \
	    | sed -n 's/^shlibs:Depends=//p') || true; \
	if [ -z "$$depends" ]; then echo "deb: dpkg-shlibdeps failed:" >&2; cat $(DEB_WORK)/shlibdeps.log >&2; exit 1; fi; \
	size=$$(du -sk --apparent-size --exclude=DEBIAN $(DEB_STAGE) | cut -f1); \
	{ printf 'Package: mqgate\nVersion: %s\nArchitecture: %s\n' "$(DEB_VERSION)" "$(DEB_ARCH)"; \
	  printf 'Maintainer: %s\nInstalled-Size: %s\n' "$(DEB_MAINTAINER)" "$$size"; \
	  printf 'Depends: %s, systemd | systemd-standalone-sysusers | systemd-sysusers\n' "$$depends"; \
	  printf 'Section: net\nPriority: optional\n'; \
	  printf '%s\n' "$$DEB_DESCRIPTION"; } >$(DEB_STAGE)/DEBIAN/control
	$(Q)cd $(DEB_STAGE) && find . -path ./DEBIAN -prune -o -path ./etc -prune -o -type f -printf '%P\0' \
	    | LC_ALL=C sort -z | xargs -0 md5sum >DEBIAN/md5sums
	$(Q)SOURCE_DATE_EPOCH=$(DEB_DATE) dpkg-deb --root-owner-group -Zxz --build $(DEB_STAGE) $(DEB_FILE) >/dev/null

# ---- install ---------------------------------------------------------------
install: all
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(SYSCONFDIR)/mqgate \
	           $(DESTDIR)$(DATADIR)/doc/mqgate/examples $(DESTDIR)$(SYSTEMDUNITDIR) \
	           $(DESTDIR)$(SYSUSERSDIR) $(DESTDIR)$(TMPFILESDIR)
	install -m 0755 $(MQGATE) $(DESTDIR)$(BINDIR)/mqgate
	install -m 0644 config/examples/*.yaml $(DESTDIR)$(DATADIR)/doc/mqgate/examples/
	sed -e 's|/usr/bin/mqgate|$(BINDIR)/mqgate|g' -e 's|/etc/mqgate|$(SYSCONFDIR)/mqgate|g' \
	    systemd/mqgate.service >$(DESTDIR)$(SYSTEMDUNITDIR)/mqgate.service
	chmod 0644 $(DESTDIR)$(SYSTEMDUNITDIR)/mqgate.service
	install -m 0644 systemd/mqgate.sysusers $(DESTDIR)$(SYSUSERSDIR)/mqgate.conf
	install -m 0644 systemd/mqgate.tmpfiles $(DESTDIR)$(TMPFILESDIR)/mqgate.conf
	test -e $(DESTDIR)$(SYSCONFDIR)/mqgate/mqgate.yaml || \
	    install -m 0640 config/examples/mqgate.yaml $(DESTDIR)$(SYSCONFDIR)/mqgate/mqgate.yaml

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/mqgate $(DESTDIR)$(SYSTEMDUNITDIR)/mqgate.service \
	      $(DESTDIR)$(SYSUSERSDIR)/mqgate.conf $(DESTDIR)$(TMPFILESDIR)/mqgate.conf
	rm -rf $(DESTDIR)$(DATADIR)/doc/mqgate
	@echo "left $(DESTDIR)$(SYSCONFDIR)/mqgate in place (your configuration)"

clean:
	rm -rf $(BUILD_ROOT)

-include $(DEPS)
