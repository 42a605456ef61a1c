# WTB — Workflow Test Bench. `make help` lists the targets.

GO        ?= go
BIN       := bin
PLUGINS   := $(BIN)/plugins
TOOLS     := $(CURDIR)/.tools/bin
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -X github.com/wtbench/wtb/host/internal/cli.Version=$(VERSION)

# Pinned code generators (make proto).
BUF_VERSION                := v1.75.0
PROTOC_GEN_GO_VERSION      := v1.36.12
PROTOC_GEN_GO_GRPC_VERSION := v1.6.2
# The Python stubs (sdk/python/wtb/...) come from grpcio-tools' bundled protoc,
# installed with its runtime dependencies pinned into a venv under .tools/ (once;
# offline after that).
PY_GRPCIO_TOOLS_VERSION    := 1.85.1
PY_GRPCIO_VERSION          := 1.85.1
PY_PROTOBUF_VERSION        := 7.36.2
PYGEN      := $(CURDIR)/.tools/pygen-grpcio-tools-$(PY_GRPCIO_TOOLS_VERSION)
PY_STUBS   := sdk/python/wtb

.PHONY: help build demo test test-short cover bench proto proto-check proto-baseline lint clean

help: ## show this help
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-15s %s\n", $$1, $$2}'

build: ## build bin/wtb, the plugins under bin/plugins (Go, and the Python examples' launchers) and the example node program
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN)/wtb ./host/cmd/wtb
	$(GO) build -o $(PLUGINS)/wtb-runner-pool ./plugins/runner-pool
	$(GO) build -o $(PLUGINS)/wtb-env-local ./plugins/env-local
	$(GO) build -o $(PLUGINS)/wtb-runner-temporal ./plugins/runner-temporal
	$(GO) build -o $(PLUGINS)/wtb-runner-grpc ./plugins/runner-grpc
	$(GO) build -o $(PLUGINS)/wtb-env-grpc ./plugins/env-grpc
	$(GO) build -o $(PLUGINS)/wtb-runner-ray ./plugins/runner-ray
	$(GO) build -o $(PLUGINS)/wtb-env-ray ./plugins/env-ray
	$(GO) build -o $(BIN)/examples/grpc-environment ./examples/grpc-environment
	$(GO) build -o $(PLUGINS)/wtb-runner-custom ./examples/custom-runner
	$(GO) build -o $(BIN)/examples/qa ./examples/quickstart/qa
	@# The Python example plugins: launchers running them with the Python SDK's
	@# pinned runtime (installed once into ~/.cache/wtb by scripts/python-env.sh).
	@if command -v python3 >/dev/null 2>&1; then \
		./scripts/python-plugins.sh $(PLUGINS) "$$(./scripts/python-env.sh)"; \
	else echo "python3 not found: skipping the example Python plugins (wtb-runner-python-example, wtb-env-python-example)"; fi

demo: build ## build everything and run the quickstart batch on SQLite
	$(BIN)/wtb run examples/quickstart/bench.hcl

test: ## run the whole test suite (real plugins, real databases, Temporal) with the race detector
	./scripts/install-deps.sh
	./scripts/test.sh

test-short: ## unit tests only, no external services
	$(GO) test -short ./...

cover: ## the test suite with coverage, the binaries it runs included: one figure per package (bin/cover/)
	./scripts/install-deps.sh
	./scripts/cover.sh

bench: build ## run the benchmarks and print figures
	./scripts/bench.sh

$(TOOLS)/buf:
	GOBIN=$(TOOLS) $(GO) install github.com/bufbuild/buf/cmd/buf@$(BUF_VERSION)
$(TOOLS)/protoc-gen-go:
	GOBIN=$(TOOLS) $(GO) install google.golang.org/protobuf/cmd/protoc-gen-go@$(PROTOC_GEN_GO_VERSION)
$(TOOLS)/protoc-gen-go-grpc:
	GOBIN=$(TOOLS) $(GO) install google.golang.org/grpc/cmd/protoc-gen-go-grpc@$(PROTOC_GEN_GO_GRPC_VERSION)

$(PYGEN)/bin/python:
	rm -rf $(PYGEN)
	python3 -m venv $(PYGEN)
	$(PYGEN)/bin/pip install -q --disable-pip-version-check grpcio-tools==$(PY_GRPCIO_TOOLS_VERSION) \
		grpcio==$(PY_GRPCIO_VERSION) protobuf==$(PY_PROTOBUF_VERSION)

PROTO_TOOLS := $(TOOLS)/buf $(TOOLS)/protoc-gen-go $(TOOLS)/protoc-gen-go-grpc $(PYGEN)/bin/python

proto: $(PROTO_TOOLS) ## lint the contract, check it against the v1 baseline, regenerate Go and Python code
	cd proto && PATH=$(TOOLS):$$PATH buf lint
	cd proto && PATH=$(TOOLS):$$PATH buf breaking --against baseline/v1.binpb
	cd proto && PATH=$(TOOLS):$$PATH buf generate
	@# Python: messages (+ .pyi type hints) for every file, service stubs for files
	@# that declare a service. The tree is generated whole, so a removed .proto
	@# leaves nothing stale behind.
	rm -rf $(PY_STUBS)
	mkdir -p $(PY_STUBS)
	cd proto && $(PYGEN)/bin/python -m grpc_tools.protoc -I. --python_out=../sdk/python --pyi_out=../sdk/python \
		$$(find wtb -name '*.proto' | LC_ALL=C sort)
	cd proto && $(PYGEN)/bin/python -m grpc_tools.protoc -I. --grpc_python_out=../sdk/python \
		$$(grep -l '^service ' $$(find wtb -name '*.proto' | LC_ALL=C sort))

proto-check: proto ## fail when the committed generated code is stale
	@git diff --exit-code -- proto $(PY_STUBS) || { echo "generated code in proto/ or $(PY_STUBS) is stale: run 'make proto' and commit"; exit 1; }
	@test -z "$$(git status --porcelain -- proto $(PY_STUBS))" || { git status --porcelain -- proto $(PY_STUBS); echo "untracked generated files in proto/ or $(PY_STUBS)"; exit 1; }

proto-baseline: $(PROTO_TOOLS) ## record the current contract as the breaking-change baseline (deliberate!)
	cd proto && PATH=$(TOOLS):$$PATH buf build -o baseline/v1.binpb

lint: ## gofmt, go vet and staticcheck
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); exit 1; }
	$(GO) vet ./...
	$(GO) run honnef.co/go/tools/cmd/staticcheck@v0.8.2 ./...

clean: ## remove build output
	rm -rf $(BIN) .tools
