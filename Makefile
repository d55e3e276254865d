# Gatehouse: one static binary, pure Go.
export CGO_ENABLED ?= 0
GO      ?= go
BIN     := bin/gatehouse
DATA    ?= $(CURDIR)/.gatehouse-data
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT  ?= $(shell git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
DATE    ?= $(shell date -u +%Y-%m-%dT%H:%M:%SZ)
LDFLAGS := -s -w -X main.version=$(VERSION) -X main.commit=$(COMMIT) -X main.buildDate=$(DATE)
# make install copies the binary to $(PREFIX)/bin (default ~/.local/bin).
PREFIX  ?= $(HOME)/.local

.PHONY: build install run demo test bench bench-compare bench-compare-short bench-cluster mqttbench fmt-check vet e2e e2e-cluster ci clean

build:
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/gatehouse

install: build
	install -d $(PREFIX)/bin
	install -m 0755 $(BIN) $(PREFIX)/bin/gatehouse
	@echo "installed $(PREFIX)/bin/gatehouse"

run: build
	./$(BIN) --data $(DATA)

demo: build
	./$(BIN) demo --tour

# The race detector needs cgo.
test:
	CGO_ENABLED=1 $(GO) test -race -count=1 ./...

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...

# The load generator on its own (any MQTT broker over mTLS; see docs/benchmarks.md).
mqttbench:
	$(GO) build -trimpath -o bin/mqttbench ./cmd/mqttbench

# Gatehouse, mosquitto and bare mochi side by side; writes docs/benchmarks.md.
# The full run takes about 20 minutes on 2 cores; the short one a few.
bench-compare: build
	bash testdata/bench/compare.sh $(CURDIR)/$(BIN)

bench-compare-short: build
	SHORT=1 bash testdata/bench/compare.sh $(CURDIR)/$(BIN)

# Cross-node suspend: 1,000 sessions of one certificate over three nodes on etcd,
# RUNS times (default 20); prints p50/p99 of the time to the last socket closed.
bench-cluster: build mqttbench
	bash testdata/bench/cluster.sh $(CURDIR)/$(BIN) $(CURDIR)/bin/mqttbench

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet ./...

e2e: build
	bash testdata/e2e/run.sh $(CURDIR)/$(BIN)

# Three nodes on one Debian etcd-server (etcd-server, etcd-client; .ci/run installs them).
e2e-cluster: build
	bash testdata/e2e/cluster.sh $(CURDIR)/$(BIN)

ci: fmt-check vet test e2e e2e-cluster

clean:
	rm -rf bin
