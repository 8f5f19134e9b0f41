# The README's two commands are `make run` and `make test`.
GO      ?= go
BIN     := bin/runbook
PKGS    := ./...

.PHONY: build run test test-unit bench lint fuzz services clean

build:
	CGO_ENABLED=0 $(GO) build -o $(BIN) ./cmd/runbook

# Opens the terminal UI on the embedded Phase 1 runbook.
run: build
	./$(BIN)

# Every test, integration tests included: starts dockerd and a throwaway
# PostgreSQL when they are not running (see .ci/services.sh).
test:
	@eval "$$(bash .ci/services.sh)" && $(GO) test -count=1 -timeout 20m $(PKGS)

# Unit tests only: integration tests skip when their services are missing.
test-unit:
	$(GO) test -count=1 -short $(PKGS)

# One package at a time (-p 1): benchmarks of two packages running side by
# side on a small machine measure each other, not the code. The benchmarks
# that compare runbook with an anchor (a floor program, cat, git, docker,
# hey) run a fixed number of interleaved rounds and print each ratio with
# its goal; the summary repeats those lines at the end.
RATIOS := Process|AssertAction|Checkpoint|LatencyProbeAccuracy
bench:
	@mkdir -p bin && eval "$$(bash .ci/services.sh)" && \
	$(GO) test -p 1 -run '^$$' -bench . -skip '$(RATIOS)' -count 1 $(PKGS) && \
	{ $(GO) test -p 1 -run '^$$' -bench '$(RATIOS)' -benchtime 10x -count 1 $(PKGS) > bin/bench-ratios.txt; rc=$$?; \
	  cat bin/bench-ratios.txt; echo; echo "== what users wait for, against its anchor =="; \
	  grep -h 'goal ' bin/bench-ratios.txt | sed 's/^ *[a-z_]*_test.go:[0-9]*: /  /'; exit $$rc; }

lint:
	$(GO) vet $(PKGS)
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); exit 1; }
	$(GO) run honnef.co/go/tools/cmd/staticcheck@v0.8.2 $(PKGS)

fuzz:
	$(GO) test ./runbooks -run '^$$' -fuzz FuzzParse -fuzztime 60s

services:
	@bash .ci/services.sh

clean:
	rm -rf bin
