# Surge — every target a person runs is the one CI runs (.ci/run).
GO       ?= go
BIN      := $(CURDIR)/bin
# Every module of the workspace (go.work), one directory each.
MODULES  := $(shell $(GO) list -m -f '{{.Dir}}')
PKGS     := $(addsuffix /...,$(MODULES))
TESTFLAGS ?= -race -shuffle=on -count=1 -timeout 12m

.PHONY: all build run test test-short test-kafka test-kafka-faults test-aws test-interop test-api-contract test-asyncapi test-console fuzz lint fmt bench bench-tracing bench-singles bench-console deps clean

all: lint test

## deps: download every module the workspace needs
deps:
	@for m in $(MODULES); do (cd $$m && $(GO) mod download) || exit 1; done

## build: the surge CLI and each service binary into ./bin/
build:
	@mkdir -p $(BIN)
	$(GO) build -o $(BIN)/surge ./cmd/surge
	$(GO) build -o $(BIN)/surge-ingest ./services/ingest/cmd/ingest
	$(GO) build -o $(BIN)/surge-enrich ./services/enrich/cmd/enrich
	$(GO) build -o $(BIN)/surge-fanout ./services/fanout/cmd/fanout
	$(GO) build -o $(BIN)/surge-dispatcher ./services/dispatcher/cmd/dispatcher

## run: the whole pipeline, embedded (surge dev with its defaults)
run: build
	$(BIN)/surge dev

## test: unit and in-process Kafka (kfake) integration tests, with -race
test:
	$(GO) test $(TESTFLAGS) $(PKGS)

## test-kafka: the same suites against a real Apache Kafka broker started
## by scripts/kafka.sh (fetched from Maven Central on first use)
test-kafka:
	@brokers=$$(scripts/kafka.sh start) || exit 1; \
	echo "KAFKA_BROKERS=$$brokers"; \
	KAFKA_BROKERS=$$brokers $(GO) test $(TESTFLAGS) $(PKGS); rc=$$?; \
	scripts/kafka.sh stop >/dev/null 2>&1; exit $$rc

## test-kafka-faults: issue 8's fault run on a 3-broker cluster of its own
## (scripts/kafka.sh --brokers 3; its own state dir and ports, 19392-19394
## and controllers 19492-19494, away from test-kafka's 19092 and 19192):
## one broker is SIGKILLed under load and started again, and the pipeline
## must lose, duplicate and reorder nothing (cmd/surge/broker_fault_test.go)
FAULTS_KAFKA_STATE ?= /tmp/surge-kafka-3
FAULTS_KAFKA_PORT  ?= 19392
test-kafka-faults:
	@export SURGE_KAFKA_STATE=$(FAULTS_KAFKA_STATE) KAFKA_PORT=$(FAULTS_KAFKA_PORT); \
	scripts/kafka.sh stop >/dev/null 2>&1; \
	brokers=$$(scripts/kafka.sh start --brokers 3) || exit 1; \
	echo "KAFKA_BROKERS=$$brokers"; \
	KAFKA_BROKERS=$$brokers SURGE_KAFKA_FAULTS=1 $(GO) test -race -count=1 -timeout 15m -v \
		-run '^TestPipelineSurvivesLosingABroker$$' ./cmd/surge/; rc=$$?; \
	scripts/kafka.sh stop >/dev/null 2>&1; exit $$rc

## test-aws: the SQS and EventBridge destinations end to end (surge dev →
## moto in server mode, pinned in tests/aws/requirements.txt, started on a
## loopback port by scripts/moto.sh): 2,000 events to a FIFO queue and to
## a bus whose rule feeds a queue, a throttled call retried, a missing
## queue dead-lettered and replayed; about 2 minutes on an idle machine
## (the 2,000-event runs are held to 40 deliveries/s). make test skips them.
AWS_TESTS ?= ^(TestSQS|TestEventBridge)
test-aws:
	@url=$$(scripts/moto.sh start) || exit 1; \
	echo "SURGE_AWS_ENDPOINT=$$url"; \
	SURGE_AWS_ENDPOINT=$$url $(GO) test -race -count=1 -timeout 20m -v -run '$(AWS_TESTS)' ./cmd/surge/ ./pkg/awsdest/; rc=$$?; \
	scripts/moto.sh stop >/dev/null 2>&1; exit $$rc

## test-interop: Python's confluent-kafka and Avro serializer (pinned in
## tests/interop/requirements.txt) read and write Surge's topics: on
## surge dev, then on a real broker from scripts/kafka.sh (scripts/interop.sh)
test-interop:
	scripts/interop.sh
	@brokers=$$(scripts/kafka.sh start) || exit 1; \
	scripts/interop.sh --brokers "$$brokers"; rc=$$?; \
	scripts/kafka.sh stop >/dev/null 2>&1; exit $$rc

## fuzz: every Go fuzz target (each func Fuzz... of the workspace, found
## by scripts/fuzz.sh) for FUZZTIME each, one after the other; about 3-4
## minutes for all with the default. FUZZTIME=2m make fuzz digs deeper.
FUZZTIME ?= 7s
fuzz:
	GO=$(GO) FUZZTIME=$(FUZZTIME) scripts/fuzz.sh

## test-api-contract: Schemathesis 4.32.5 (pinned in
## tests/api-contract/requirements.txt) against the admin API's OpenAPI
## document on a live surge dev: every check, every phase, 40 cases per
## operation, fixed seed, and a refused write must change nothing
## (tests/api-contract/hooks.py); 70-95 s (scripts/schemathesis.sh)
test-api-contract:
	GO=$(GO) scripts/schemathesis.sh

## test-console: the operator console in Debian's headless chromium with
## playwright-core (pinned in tests/console/package-lock.json): log in, a bad
## filter's error at its position, a subscription created, a parked key and
## an escaped <script> answer on its page, the overview; screenshots into
## docs/console/ (scripts/console.sh)
test-console:
	GO=$(GO) scripts/console.sh

## bench-singles: single-event traffic end to end through surge dev next to
## the bare chain (scripts/bench/barechain), alternated, and the ratio (issue 18)
bench-singles:
	GO=$(GO) scripts/bench/singles.sh

## bench-console: BenchmarkConsolePages (1,000 subscriptions, 100,000
## attempts) with the page times headless Chromium measures (docs/console.md)
bench-console:
	GO=$(GO) scripts/console.sh --bench

## test-asyncapi: docs/asyncapi.json, the AsyncAPI 3 document of the topics
## (generated from pkg/topics and schemas/; make test fails when it is
## stale), validated by the official parser, @asyncapi/parser 3.6.6 with
## @asyncapi/avro-schema-parser 3.1.0 (pinned in tests/asyncapi/package-lock.json;
## scripts/asyncapi.sh installs them with npm ci); about 10 s
test-asyncapi:
	scripts/asyncapi.sh

## test-short: the same without the slow end-to-end tests
test-short:
	$(GO) test -short $(TESTFLAGS) $(PKGS)

## lint: gofmt and go vet over every module
lint:
	@out=$$(gofmt -l $(MODULES)); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)

fmt:
	gofmt -w $(MODULES)

## bench: the Go benchmarks (see docs/benchmarks.md for the load-generator runs)
bench:
	$(GO) test -run '^$$' -bench . -benchmem $(PKGS)

## bench-tracing: surge load --verify on surge dev with tracing off, at 1 % and at 100 % (docs/benchmarks.md)
bench-tracing:
	scripts/bench/tracing.sh

clean:
	rm -rf $(BIN)
