# phalanx — build, test and run targets. Everything a fresh clone needs is fetched by
# the Go toolchain through the module proxy; nothing has to be installed by hand.

SHELL := /usr/bin/env bash
export PATH := $(PATH):/usr/local/go/bin:$(HOME)/go/bin

# blst needs ADX for its fast path; fall back to the portable build on CPUs without it.
ifeq ($(shell grep -qw adx /proc/cpuinfo 2>/dev/null && echo yes),yes)
export CGO_CFLAGS ?= -O2
else
export CGO_CFLAGS ?= -O2 -D__BLST_PORTABLE__
endif
export CGO_ENABLED := 1

GO       ?= go
BIN      := bin
PKGS     := ./...
TESTFLAGS ?= -timeout 20m
FUZZTIME ?= 15s
BENCHCOUNT ?= 6

.PHONY: all build test test-short race bench fuzz lint run chaos clean

all: build

build:
	@scripts/check-go.sh
	$(GO) build -o $(BIN)/phalanx ./cmd/phalanx

test:
	@scripts/check-go.sh
	$(GO) vet $(PKGS)
	$(GO) test $(TESTFLAGS) $(PKGS)

test-short:
	$(GO) test -short $(TESTFLAGS) $(PKGS)

race:
	$(GO) test -race -short $(TESTFLAGS) $(PKGS)

bench:
	@scripts/check-go.sh
	scripts/bench.sh

fuzz:
	@scripts/check-go.sh
	FUZZTIME=$(FUZZTIME) scripts/fuzz.sh

lint:
	@scripts/check-go.sh
	scripts/lint.sh

run: build
	scripts/run.sh

chaos: build
	scripts/chaos.sh

clean:
	rm -rf $(BIN)
