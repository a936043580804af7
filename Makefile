# Threada. `make dev` runs the product locally, `make test` runs the whole suite.
.PHONY: dev generate test test-topology bench lint migrate build clean

dev:     ## PostgreSQL (found or local), Temporal dev server, demo key, echo receiver, worker, API
	./scripts/dev.sh

test:    ## gofmt, go vet and every test with -race, on real PostgreSQL
	./scripts/test.sh

test-topology: ## Temporal server on PostgreSQL, two APIs, two workers, crashes, under load
	./scripts/test-topology.sh

bench:   ## throughput and latency benchmarks; see docs/benchmarks.md
	./scripts/bench.sh

lint:    ## formatting, vet, and the OpenAPI document through Redocly and Spectral
	test -z "$$(gofmt -l .)" && go vet ./...
	./scripts/lint-openapi.sh

generate: ## the Go client (client/client.gen.go) from api/openapi.yaml, with the pinned oapi-codegen
	go generate ./client

migrate: ## apply migrations to DATABASE_URL
	go run ./api migrate

build:   ## the api and worker binaries, in bin/
	go build -o bin/ ./api ./worker

clean:   ## remove build output and stop the local PostgreSQL, if one was started
	./scripts/postgres.sh stop; rm -rf bin
