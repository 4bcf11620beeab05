# ofsrep — build, test, demo, bench.
#
#   make            build the daemon, tools and unit tests into build/
#   make SANITIZE=1 the same with ASan+UBSan into build-asan/ (make asan)
#   make test       deps + build + unit tests + integration tests on the lab
#   make demo       deps + build + the lab and a walk through ofsrep's job
#   make bench      raw libnfs vs ofsrep (primary-only, journal mode)
#   make test-ha    the whole CTDB + Samba failure matrix
#   make install    binaries, mount helper, man pages under $(DESTDIR)$(PREFIX)
#
# Every target that needs packages depends on `deps` (tools/install-deps.sh),
# so a fresh Debian 12 machine needs nothing by hand.  pkg-config is
# evaluated lazily (recursive variables) so that it runs after `deps`.

PREFIX    ?= /usr/local
SBINDIR   ?= /sbin
MANDIR    ?= $(PREFIX)/share/man
# CTDB looks for event scripts under its own data directory only
CTDB_DATADIR ?= /usr/share/ctdb
EXAMPLES  ?= $(PREFIX)/share/doc/ofsrep/examples
PKGS      := fuse3 libnfs liburing libxxhash
VERSION   := 0.1.0

ifeq ($(SANITIZE),1)
BUILD     ?= build-asan
# -fno-sanitize=alignment: libnfs 4.0's XDR decoder hands out result
# structs (entryplus3 and others) at 4-byte alignment; that is libnfs's
# layout, harmless on x86-64, and not ours to fix.
OPT       := -O1 -fno-omit-frame-pointer -fsanitize=address,undefined \
             -fno-sanitize=alignment -fno-sanitize-recover=undefined
else
BUILD     ?= build
OPT       := -O2
endif

CC        ?= cc
CFLAGS_ALL = -std=gnu11 $(OPT) -g -Wall -Wextra -Werror -Wshadow \
             -Wno-unused-parameter -D_GNU_SOURCE -DFUSE_USE_VERSION=34 -DOFSREP_VERSION=\"$(VERSION)\" -I. \
             $(shell pkg-config --cflags $(PKGS)) $(CFLAGS)
LDLIBS_ALL = $(shell pkg-config --libs $(PKGS)) -lpthread $(LDLIBS)
LDFLAGS_ALL = $(OPT) $(LDFLAGS)

LIB_SRCS  := $(filter-out fs/main.c,$(wildcard fs/*.c replica/*.c journal/*.c))
LIB_OBJS  := $(LIB_SRCS:%.c=$(BUILD)/%.o)
TOOL_SRCS := $(wildcard tools/*.c)
TOOL_BINS := $(TOOL_SRCS:tools/%.c=$(BUILD)/%)
# ofsrep-journal is several files (tools/journal/, see its main.c).
JTOOL_OBJS := $(patsubst %.c,$(BUILD)/%.o,$(wildcard tools/journal/*.c))
# ofsrep-fsck (tools/fsck/) reads journals with ofsrep-journal's walk.c.
FSCK_OBJS := $(patsubst %.c,$(BUILD)/%.o,$(wildcard tools/fsck/*.c)) \
             $(BUILD)/tools/journal/walk.o $(BUILD)/tools/journal/print.o
TEST_SRCS := $(wildcard tests/unit/test_*.c)
TEST_BINS := $(TEST_SRCS:tests/unit/%.c=$(BUILD)/tests/%)
# Fixtures shared by unit tests (tests/unit/NAME_fixture.c), in an archive
# so that each test binary links only the ones it uses.
TEST_FIX_OBJS := $(patsubst %.c,$(BUILD)/%.o,$(wildcard tests/unit/*_fixture.c))
HDRS      := $(wildcard fs/*.h replica/*.h journal/*.h tools/journal/*.h \
                        tools/fsck/*.h tests/unit/*.h)

.PHONY: all deps asan test test-unit test-integration test-long test-faults test-ha \
        demo bench \
        install clean check-clean
.DEFAULT_GOAL := all

all: deps $(BUILD)/ofsrep $(BUILD)/ofsrep-journal $(BUILD)/ofsrep-fsck \
     $(TOOL_BINS) $(TEST_BINS)

deps:
	@./tools/install-deps.sh

asan:
	$(MAKE) SANITIZE=1 all

$(BUILD)/%.o: %.c $(HDRS) Makefile | deps
	@mkdir -p $(dir $@)
	@echo "  CC      $<"
	@$(CC) $(CFLAGS_ALL) -c -o $@ $<

$(BUILD)/libofsrep.a: $(LIB_OBJS)
	@rm -f $@
	@ar rcs $@ $^

$(BUILD)/ofsrep: $(BUILD)/fs/main.o $(BUILD)/libofsrep.a
	@echo "  LD      $@"
	@$(CC) $(LDFLAGS_ALL) -o $@ $^ $(LDLIBS_ALL)

$(TOOL_BINS): $(BUILD)/%: $(BUILD)/tools/%.o $(BUILD)/libofsrep.a
	@echo "  LD      $@"
	@$(CC) $(LDFLAGS_ALL) -o $@ $^ $(LDLIBS_ALL)

$(BUILD)/ofsrep-journal: $(JTOOL_OBJS) $(BUILD)/libofsrep.a
	@echo "  LD      $@"
	@$(CC) $(LDFLAGS_ALL) -o $@ $^ $(LDLIBS_ALL)

$(BUILD)/ofsrep-fsck: $(FSCK_OBJS) $(BUILD)/libofsrep.a
	@echo "  LD      $@"
	@$(CC) $(LDFLAGS_ALL) -o $@ $^ $(LDLIBS_ALL)

$(BUILD)/tests/libfixture.a: $(TEST_FIX_OBJS)
	@mkdir -p $(dir $@)
	@rm -f $@
	@ar rcs $@ $^

$(TEST_BINS): $(BUILD)/tests/%: $(BUILD)/tests/unit/%.o \
              $(BUILD)/tests/libfixture.a $(BUILD)/libofsrep.a
	@mkdir -p $(dir $@)
	@echo "  LD      $@"
	@$(CC) $(LDFLAGS_ALL) -o $@ $^ $(LDLIBS_ALL) -lcriterion

# The README's test command.  Unit tests, then integration tests against the
# lab (real ganesha, real FUSE), plain and under the sanitizer build.
test: all
	$(MAKE) SANITIZE=1 all
	./tests/run-tests.sh $(BUILD) build-asan

test-unit: all
	./tests/run-tests.sh --unit-only $(BUILD)

# Long randomized and fault runs, kept out of `make test`.
test-long: all
	OFSREP_LONG=1 ./tests/run-tests.sh $(BUILD)

# The fault storm: FAULTS faults on NAS a and b under a verifying workload,
# with a summary (tests/integration/test_fault_storm.py).
FAULTS ?= 200
test-faults: all
	OFSREP_BIN=$(abspath $(BUILD))/ofsrep OFSREP_FAULTS=$(FAULTS) \
	  /usr/bin/python3 -m pytest -q -s -p no:cacheprovider \
	  tests/integration/test_fault_storm.py

# The whole HA matrix (tests/integration/test_ctdb.py): both nodes powered
# down and cut off, maintenance, NAS a and NAS b, with real ctdbd and smbd.
test-ha: all
	OFSREP_BIN=$(abspath $(BUILD))/ofsrep OFSREP_HA_FULL=1 \
	  /usr/bin/python3 -m pytest -q -s -p no:cacheprovider \
	  tests/integration/test_ctdb.py

demo: all
	./tools/demo.sh $(BUILD)

bench: all
	./tools/bench.sh $(BUILD)

# mount(8) runs /sbin/mount.fuse.ofsrep for `-t fuse.ofsrep` with PATH
# cleared; that script runs mount.fuse3 with a fixed PATH (see it).
install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(SBINDIR) $(DESTDIR)$(MANDIR)/man8
	install -m 755 $(BUILD)/ofsrep $(DESTDIR)$(PREFIX)/bin/ofsrep
	install -m 755 $(BUILD)/ofsrep-journal $(DESTDIR)$(PREFIX)/bin/ofsrep-journal
	install -m 755 $(BUILD)/ofsrep-fsck $(DESTDIR)$(SBINDIR)/ofsrep-fsck
	install -m 755 tools/ofsrep-lab $(DESTDIR)$(PREFIX)/bin/ofsrep-lab
	install -m 755 tools/mount.fuse.ofsrep $(DESTDIR)$(SBINDIR)/mount.fuse.ofsrep
	install -m 644 docs/ofsrep.8 $(DESTDIR)$(MANDIR)/man8/ofsrep.8
	install -m 644 docs/ofsrep-fsck.8 $(DESTDIR)$(MANDIR)/man8/ofsrep-fsck.8
	install -D -m 755 tools/ctdb/50.ofsrep.script $(DESTDIR)$(CTDB_DATADIR)/events/legacy/50.ofsrep.script
	install -D -m 644 tools/samba/smb.conf.in $(DESTDIR)$(EXAMPLES)/smb.conf.in
	install -D -m 644 tools/systemd/ctdb.service.d/ofsrep.conf $(DESTDIR)$(EXAMPLES)/ctdb.service.d/ofsrep.conf

clean:
	rm -rf build build-asan
