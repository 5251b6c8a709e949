# Fuzzing: libFuzzer targets for every parser (tests/fuzz/fuzz_<name>.c),
# built with clang into their own tree, and their replayers, built like any
# test. Included by the Makefile after its sources section (it uses BUILD,
# BUILD_ROOT, CC, AR, ALL_CFLAGS, ALL_LDFLAGS, LIBS, LIBMQGATE, LIB_SRCS, Q
# and quiet).
#
#   make fuzz [FUZZ_SECONDS=30] [FUZZ_TARGETS="mqtt_decode ..."]
#        build the fuzzers (clang, ASan+UBSan, $(FUZZ_BUILD)) and run each in
#        turn for FUZZ_SECONDS on a working copy of its corpus
#   make fuzz-replay      replay corpus and regressions with $(BUILD)'s replayers
#   make fuzz-seeds       regenerate tests/fuzz/corpus/ (writes the source tree)
#
# The replayers ($(FUZZ_REPLAY_BINS)) are gcc programs: replay.c's main
# around one target. tests/fuzz/replay.sh BUILD_DIR... runs them over
# tests/fuzz/corpus/<name>/ and tests/fuzz/regressions/<name>/.

FUZZ_ALL         := $(patsubst tests/fuzz/fuzz_%.c,%,$(sort $(wildcard tests/fuzz/fuzz_*.c)))
FUZZ_TARGETS     ?= $(FUZZ_ALL)
FUZZ_SECONDS     ?= 30
FUZZ_CLANG       ?= clang
FUZZ_BUILD       := $(BUILD_ROOT)/fuzz

# ---- replayers (gcc, in $(BUILD): plain or SANITIZE=) --------------------------
FUZZ_REPLAY_BINS := $(FUZZ_ALL:%=$(BUILD)/tests/fuzz/replay_%)
FUZZ_REPLAY_OBJ  := $(BUILD)/tests/fuzz/replay.o
FUZZ_SEEDER      := $(BUILD)/tests/fuzz/make_seeds

$(FUZZ_REPLAY_BINS): $(BUILD)/tests/fuzz/replay_%: tests/fuzz/fuzz_%.c $(FUZZ_REPLAY_OBJ) $(LIBMQGATE)
	$(quiet) TEST $@
	@mkdir -p $(@D)
	$(Q)$(CC) $(ALL_CFLAGS) -MMD -MP $(ALL_LDFLAGS) -o $@ $< $(FUZZ_REPLAY_OBJ) $(LIBMQGATE) $(LIBS)

$(FUZZ_SEEDER): tests/fuzz/make_seeds.c $(LIBMQGATE)
	$(quiet) TOOL $@
	@mkdir -p $(@D)
	$(Q)$(CC) $(ALL_CFLAGS) -MMD -MP $(ALL_LDFLAGS) -o $@ $< $(LIBMQGATE) $(LIBS)

# ---- fuzzers (clang, $(FUZZ_BUILD)) ----------------------------------------------
# The library is compiled again with coverage instrumentation and ASan+UBSan.
# Without -Werror (clang warns about things gcc does not, in code this build
# does not own) and without the hardening flags sanitizers replace.
FUZZ_SAN         := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
FUZZ_CFLAGS      := $(filter-out -Werror -D_FORTIFY_SOURCE=% -fstack-protector-strong -fsanitize=% \
                      -fno-sanitize-recover=% -fno-omit-frame-pointer,$(ALL_CFLAGS)) $(FUZZ_SAN)
FUZZ_LDFLAGS     := $(filter-out -fsanitize=% -static-lib%,$(ALL_LDFLAGS))
FUZZ_LIB_OBJS    := $(LIB_SRCS:%.c=$(FUZZ_BUILD)/obj/%.o)
FUZZ_LIB         := $(FUZZ_BUILD)/libmqgate.a
FUZZ_BINS        := $(FUZZ_ALL:%=$(FUZZ_BUILD)/fuzz_%)

$(FUZZ_LIB_OBJS): $(FUZZ_BUILD)/obj/%.o: %.c
	$(quiet) FUZZCC $@
	@mkdir -p $(@D)
	$(Q)$(FUZZ_CLANG) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -MMD -MP -c $< -o $@

$(FUZZ_LIB): $(FUZZ_LIB_OBJS)
	$(quiet) AR $@
	$(Q)rm -f $@ && $(AR) rcs $@ $^

# The targets themselves keep -Werror: they are ours.
$(FUZZ_BINS): $(FUZZ_BUILD)/fuzz_%: tests/fuzz/fuzz_%.c $(FUZZ_LIB)
	$(quiet) FUZZ $@
	@mkdir -p $(@D)
	$(Q)$(FUZZ_CLANG) $(FUZZ_CFLAGS) -Werror -fsanitize=fuzzer -MMD -MP $(FUZZ_LDFLAGS) \
	    -o $@ $< $(FUZZ_LIB) $(LIBS)

# ---- commands ------------------------------------------------------------------
.PHONY: fuzz fuzz-deps fuzz-build fuzz-replay fuzz-seeds
.SECONDARY: $(FUZZ_REPLAY_OBJ) $(FUZZ_LIB_OBJS)

# Packages first (clang), then the build, as `make test` does; the sub-make
# reads the same top-level makefile.
FUZZ_TOP_MAKEFILE := $(firstword $(MAKEFILE_LIST))

# clang's fuzzer and sanitizer runtimes are only a Recommends of clang, and
# install_missing skips those: named here. Not in DEB_PKGS: `make test`
# replays with gcc and needs no clang.
FUZZ_PKGS        := clang libclang-rt-14-dev

fuzz-deps: deps
	$(call install_missing,$(FUZZ_PKGS))

fuzz: fuzz-deps
	$(Q)$(if $(CROSS),echo "fuzz: not with CROSS=" >&2; exit 1)
	$(Q)$(MAKE) --no-print-directory -f $(FUZZ_TOP_MAKEFILE) fuzz-build
	$(Q)tests/fuzz/fuzz.sh $(FUZZ_BUILD) $(FUZZ_SECONDS) $(FUZZ_TARGETS)

fuzz-build: $(FUZZ_TARGETS:%=$(FUZZ_BUILD)/fuzz_%)

fuzz-replay: $(FUZZ_REPLAY_BINS)
	$(Q)tests/fuzz/replay.sh $(BUILD)

fuzz-seeds: $(FUZZ_SEEDER)
	$(Q)$(FUZZ_SEEDER) tests/fuzz/corpus

-include $(FUZZ_REPLAY_BINS:=.d) $(FUZZ_REPLAY_OBJ:.o=.d) $(FUZZ_SEEDER).d \
         $(FUZZ_LIB_OBJS:.o=.d) $(FUZZ_BINS:=.d)
