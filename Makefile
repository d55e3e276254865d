# Gatehouse: one static binary, pure Go.
export CGO_ENABLED ?= 0
GO      ?= go
BIN     := bin/gatehouse
DATA    ?= $(CURDIR)/.gatehouse-data
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X main.version=$(VERSION)

.PHONY: build run demo test bench fmt-check vet e2e ci clean

build:
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/gatehouse

run: build
	./$(BIN) --data $(DATA)

demo: build
	./$(BIN) demo --tour

# The race detector needs cgo.
test:
	CGO_ENABLED=1 $(GO) test -race -count=1 ./...

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet ./...

e2e: build
	bash testdata/e2e/run.sh $(CURDIR)/$(BIN)

ci: fmt-check vet test e2e

clean:
	rm -rf bin
