# Tripline: `make demo` runs the pipeline on a sample attack story,
# `make test` lints and tests the rule pack, then runs every test against
# the real ClickHouse and embedded NATS.
SHELL := /bin/bash
GO ?= go
CH := deploy/clickhouse/ch.sh
BIN := bin/tripline
export TRIPLINE_TEST_CLICKHOUSE ?= 127.0.0.1:9000

.PHONY: all build test demo bench clickhouse clickhouse-stop fuzz lint clean go

all: build

go:
	@deploy/ensure-go.sh

build: go
	$(GO) build -o $(BIN) ./cmd/tripline

clickhouse:
	@$(CH) start

clickhouse-stop:
	@$(CH) stop

test: go clickhouse
	$(GO) vet ./...
	$(GO) run ./cmd/tripline rules lint --strict
	$(GO) run ./cmd/tripline rules test
	$(GO) test -race -count=1 -timeout 20m ./...

demo: build
	@deploy/demo/run.sh

bench: build
	@deploy/bench/run.sh

# Short fuzzing of every parser; FUZZTIME=2m for a longer run.
FUZZTIME ?= 30s
fuzz: go
	@deploy/fuzz.sh $(FUZZTIME)

clean:
	rm -rf bin .demo .bench
