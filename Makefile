# valor-stream: the commands people and CI use. `make demo` runs the main job on the
# embedded runtime (no broker); `make test` runs every test and starts/stops the real
# Kafka broker and schema registry it needs by itself.
SHELL := /bin/bash
# onnxruntime-node's install script would fetch GPU binaries; the CPU ones ship in the package.
export ONNXRUNTIME_NODE_INSTALL := skip
export KAFKA_PORT ?= 39092
export KAFKA_CONTROLLER_PORT ?= 39093
export REGISTRY_PORT ?= 38081

.PHONY: setup deps browser build typecheck lint format demo test test-unit test-integration kafka-up kafka-down bench clean

setup: deps build docker/local/target/.resolved browser  ## everything installed

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund
	@touch $@

deps: node_modules/.installed

# Debian's chromium for the review page's browser test (installed when missing, as root).
browser:
	bash scripts/ensure-chromium.sh

# Kafka jars and the Apicurio archive from Maven Central (cached in ~/.m2).
docker/local/target/.resolved: docker/local/pom.xml
	cd docker/local && mvn -B -q package
	@touch $@

build: deps
	npm run --silent build

typecheck: deps
	npx tsc -p tsconfig.json --noEmit

lint: deps  ## prettier --check and eslint, as make test runs them
	npx prettier --check --log-level warn .
	npx eslint .

format: deps  ## rewrite the tree in the project's format
	npx prettier --write --log-level warn .

demo: build  ## the main job on the embedded runtime
	node bin/valor-stream.js demo

test: setup  ## all tests; starts and stops the local broker + registry
	bash scripts/test.sh

test-unit: build
	bash scripts/test.sh unit

test-integration: setup
	bash scripts/test.sh integration

kafka-up: docker/local/target/.resolved  ## local Kafka (KRaft) + Apicurio on 127.0.0.1
	bash docker/local/services.sh up

kafka-down:
	bash docker/local/services.sh down

bench: setup  ## every benchmark; prints `name: value unit` lines
	bash scripts/bench.sh

clean:
	rm -rf dist out .local
