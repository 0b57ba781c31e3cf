# Sinergi. `make help` lists the targets.
SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

STATE := .sinergi
BIN   := $(STATE)/bin
export PATH := $(CURDIR)/$(BIN):$(PATH)

TOOLS := github.com/bufbuild/buf/cmd/buf google.golang.org/protobuf/cmd/protoc-gen-go google.golang.org/grpc/cmd/protoc-gen-go-grpc

.PHONY: help
help: ## list the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

.PHONY: tools
tools: ## build the pinned buf and protoc plugins (internal/tools) into .sinergi/bin
	@mkdir -p $(BIN)
	cd internal/tools && go build -o ../../$(BIN)/ $(TOOLS)

.PHONY: gen
gen: tools ## regenerate the Go code beside the .proto files, docs/openapi.json and the API reference docs/api.md
	buf generate
	@$(MAKE) --no-print-directory openapi
	@$(MAKE) --no-print-directory docs

.PHONY: check-gen
check-gen: tools ## fail when the committed generated code differs from what the .proto files give
	@tmp=$$(mktemp -d); trap 'rm -rf $$tmp' EXIT; \
	buf generate -o $$tmp; \
	if ! diff -r -x '*.proto' $$tmp/proto proto >/dev/null; then \
		diff -r -x '*.proto' $$tmp/proto proto | head -20; \
		echo 'generated code is stale: run make gen and commit the result' >&2; exit 1; \
	fi; echo 'generated code is up to date'

.PHONY: docs
docs: tools ## regenerate the API reference docs/api.md from the .proto files and the policy table
	@tmp=$$(mktemp -d); trap 'rm -rf $$tmp' EXIT; \
	buf build -o $$tmp/image.binpb && go run ./cmd/sinergi-apidoc -image $$tmp/image.binpb -o docs/api.md

.PHONY: check-docs
check-docs: tools ## fail when docs/api.md differs from what the .proto files and the policy table give
	@tmp=$$(mktemp -d); trap 'rm -rf $$tmp' EXIT; \
	buf build -o $$tmp/image.binpb && go run ./cmd/sinergi-apidoc -image $$tmp/image.binpb -o $$tmp/api.md; \
	if ! diff -u docs/api.md $$tmp/api.md >$$tmp/diff; then head -20 $$tmp/diff; \
		echo 'docs/api.md is stale: run make docs and commit the result' >&2; exit 1; fi; echo 'docs/api.md is up to date'

.PHONY: lint
lint: tools ## buf lint, buf format check, gofmt check and go vet
	buf lint
	buf format --diff --exit-code
	@unformatted=$$(gofmt -l cmd internal); if [ -n "$$unformatted" ]; then echo "gofmt would change: $$unformatted" >&2; exit 1; fi
	go vet ./...

.PHONY: breaking
breaking: tools ## buf breaking (WIRE_JSON) against where this branch left main
	@if git rev-parse --verify -q main >/dev/null && base=$$(git merge-base HEAD main) && git cat-file -e $$base:buf.yaml 2>/dev/null; then \
		buf breaking --against ".git#ref=$$base"; else echo 'no main with a buf.yaml yet: nothing to compare'; fi

.PHONY: openapi
openapi: tools ## regenerate docs/openapi.json, the OpenAPI document of the HTTP/JSON endpoint, from the protos and their comments
	@tmp=$$(mktemp -d); trap 'rm -rf $$tmp' EXIT; \
	buf build -o $$tmp/image.binpb && go run ./cmd/sinergi-openapi -image $$tmp/image.binpb -o docs/openapi.json

.PHONY: check-openapi
check-openapi: tools ## fail when the committed docs/openapi.json differs from what the protos give
	@tmp=$$(mktemp -d); trap 'rm -rf $$tmp' EXIT; \
	buf build -o $$tmp/image.binpb && go run ./cmd/sinergi-openapi -image $$tmp/image.binpb -o $$tmp/openapi.json; \
	if ! diff -u docs/openapi.json $$tmp/openapi.json >/dev/null; then \
		diff -u docs/openapi.json $$tmp/openapi.json | head -20; \
		echo 'docs/openapi.json is stale: run make openapi and commit the result' >&2; exit 1; \
	fi; echo 'docs/openapi.json is up to date'

.PHONY: build
build: ## build sinergi, sinergictl, sinergibench, sinergibenchscale and sinergifaults into .sinergi/bin
	go build -o $(BIN)/ ./cmd/...

.PHONY: run
run: build ## start the whole service on 127.0.0.1:7443 (database, dev PKI, demo directory); a throwaway cluster it starts stops with it unless KEEP_DB=1
	$(BIN)/sinergi dev $(if $(KEEP_DB),--keep-db)

.PHONY: test
test: check-gen check-docs check-openapi lint breaking ## run every test (real PostgreSQL, real TLS)
	go test -count=1 ./...

.PHONY: bench
bench: build ## measure the service against the database's floor: table on stdout, JSON in $$BENCH_OUT (.sinergi/bench.json)
	$(BIN)/sinergibench

.PHONY: bench-scale
bench-scale: build ## the service at national scale (3 000 000 custody records, a 20 000 000-record audit trail), measured at a tenth, a third and all of it, with each figure's growth: table on stdout, JSON in $$BENCH_OUT (.sinergi/bench-scale.json); under 30 minutes
	$(BIN)/sinergibenchscale

.PHONY: faults
faults: build ## the fault battery on throwaway clusters of its own (restarts, kills, audit refusal, stalls, SIGTERM, failover): one line of counts per scenario; not in make test
	$(BIN)/sinergifaults

.PHONY: fuzz
fuzz: ## fuzz the parsers, validators and raw requests through the server, 30 s each (their seed corpora run in every make test)
	go test -run '^$$' -fuzz FuzzParse -fuzztime 30s ./internal/nik
	go test -run '^$$' -fuzz FuzzOpen -fuzztime 30s ./internal/pagetoken
	go test -run '^$$' -fuzz FuzzRawRequests -fuzztime 30s ./internal/e2e/audit
	go test -run '^$$' -fuzz FuzzCaseReference -fuzztime 30s ./internal/authz
	go test -run '^$$' -fuzz FuzzParseSerial -fuzztime 30s ./internal/pki

.PHONY: stop-db
stop-db: build ## stop the throwaway PostgreSQL cluster under .sinergi/pg, if one runs
	$(BIN)/sinergi dev-db --stop

.PHONY: clean
clean: stop-db ## remove .sinergi (state, certificates, binaries)
	rm -rf $(STATE)
