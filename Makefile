# mqgate — one non-recursive Makefile for the whole tree.
#
#   make                 build build/mqgate
#   make run             install missing packages, build, run the demo gateway
#   make test            install missing packages, build, run every test (plain and ASan+UBSan)
#   make bench           benchmarks (figures and ratios; never pass/fail on timing)
#   make install         PREFIX=/usr/local DESTDIR=
#   make V=1             show full command lines
#   make SANITIZE=address,undefined     sanitizer build (in its own build directory)
#   make CROSS_COMPILE=aarch64-linux-gnu-   cross build (in its own build directory)

VERSION      := 0.1.0
PREFIX       ?= /usr/local
BINDIR       ?= $(PREFIX)/bin
SYSCONFDIR   ?= /etc
DATADIR      ?= $(PREFIX)/share
DESTDIR      ?=
# systemd looks in /usr/lib/… and /usr/local/lib/… alike.
SYSTEMDUNITDIR ?= $(PREFIX)/lib/systemd/system
SYSUSERSDIR  ?= $(PREFIX)/lib/sysusers.d
TMPFILESDIR  ?= $(PREFIX)/lib/tmpfiles.d

CROSS_COMPILE ?=
CC           := $(CROSS_COMPILE)gcc
AR           := $(CROSS_COMPILE)ar
PKG_CONFIG   ?= pkg-config
SANITIZE     ?=

# Each flavour (plain, sanitized, cross) gets its own tree so they never mix objects.
BUILD_ROOT   ?= build
ifneq ($(SANITIZE),)
BUILD        ?= $(BUILD_ROOT)/san
else ifneq ($(CROSS_COMPILE),)
BUILD        ?= $(BUILD_ROOT)/$(patsubst %-,%,$(CROSS_COMPILE))
else
BUILD        ?= $(BUILD_ROOT)
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

ALL_CFLAGS   := -std=c11 $(WARNINGS) $(DEFINES) $(OPTFLAGS) -I. $(PKG_CFLAGS) $(CFLAGS)
ALL_LDFLAGS  := -Wl,--as-needed $(LDFLAGS)
# Paho ships no .pc file on Debian: link the async+TLS flavour by name.
LIBS         := $(PKG_LIBS) -lpaho-mqtt3as -lpthread -lm

ifneq ($(SANITIZE),)
ALL_CFLAGS   += -fsanitize=$(SANITIZE) -fno-omit-frame-pointer -fno-sanitize-recover=all
ALL_LDFLAGS  += -fsanitize=$(SANITIZE)
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

.PHONY: all run test test-unit test-san bench install uninstall clean deps
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

unit-tests: $(UNIT_BINS)

# ---- the two commands of the README ---------------------------------------
DEMO_CONFIG ?= config/demo.yaml

run: deps
	$(Q)$(MAKE) --no-print-directory all
	$(MQGATE) run -c $(DEMO_CONFIG)

# The plain build runs everything; the sanitized build runs everything again
# in its own tree, so ASan+UBSan see the same paths. `make install` (the
# systemd files included) is checked first, on the plain build.
test: deps
	$(Q)$(MAKE) --no-print-directory all unit-tests
	$(Q)$(MAKE) --no-print-directory SANITIZE=address,undefined all unit-tests
	$(Q)tests/deb/test_install.sh $(BUILD_ROOT)
	$(Q)tests/run.sh $(BUILD_ROOT) $(BUILD_ROOT)/san

bench: deps all
	$(Q)tests/bench/run.sh $(BUILD)

# ---- packages ------------------------------------------------------------
# Debian packages the build, the tests and the demo need. `make deps` installs
# only the missing ones (apt-get, via sudo when not root) and is a no-op otherwise.
DEB_PKGS := gcc make pkg-config libserialport-dev libmodbus-dev libpaho-mqtt-dev \
            libyaml-dev libssl-dev libsystemd-dev libcmocka-dev \
            mosquitto mosquitto-clients socat python3 systemd

deps:
	$(Q)missing=""; for p in $(DEB_PKGS); do \
	    dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'ok installed' || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	    echo "deps: installing$$missing"; \
	    if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	    $$SUDO apt-get update -qq && \
	    $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	fi

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
