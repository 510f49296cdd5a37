# The repository's public interface. Scripts live in scripts/.
.PHONY: run run-cluster test test-cluster test-faults test-docker test-swift test-deploy bench generate lint dashboards servers-start servers-stop servers-status

run: ## start NATS, OpenSearch, ingest, enrich and query; print URLs and a curl example
	@bash scripts/run.sh

run-cluster: ## cluster mode: 3-node NATS JetStream and OpenSearch clusters, 2 x ingest, enrich, query; prints URLs; Ctrl-C stops all
	@bash scripts/run-cluster.sh

test: ## every check and test, against real NATS and OpenSearch started here
	@bash scripts/test.sh

test-faults: ## only the fault tests (real processes; also part of make test)
	@KEEP_SERVERS=$${KEEP_SERVERS:-} bash scripts/test.sh faults

test-cluster: ## only the cluster-mode fault tests: stream leader, OpenSearch node, one of two ingests killed under load (also part of make test; ~3 min)
	@KEEP_SERVERS=$${KEEP_SERVERS:-} bash scripts/test.sh cluster

test-docker: ## only the container test: images built on a private Docker engine (docker.io installed if missing), run against NATS and OpenSearch (also part of make test)
	@bash scripts/test.sh docker

test-swift: ## only the Swift SDK: its unit tests, its end-to-end test against the real pipeline, the shared fixtures (also part of make test)
	@KEEP_SERVERS=$${KEEP_SERVERS:-} bash scripts/test.sh swift

test-deploy: ## only the DigitalOcean deployment's offline checks: Terraform references, rendered compose files and cloud-init (cloud-init installed if missing; also part of make test)
	@bash scripts/test.sh deploy

bench: ## throughput, latency and time-to-searchable against ceilings measured in the same run (tools/cmd/bench; duration: README)
	@bash scripts/bench.sh

generate: ## regenerate contracts/gen/go from contracts/proto
	@bash scripts/generate.sh

lint: ## buf lint, gofmt, go vet, generated-code staleness, hadolint
	@bash scripts/lint.sh

dashboards: ## import the analysts' saved objects into OpenSearch Dashboards at DASHBOARDS_URL (docs/analysts.md)
	@go run ./tools/cmd/dashboards

servers-start:
	@bash scripts/servers.sh start
servers-stop:
	@bash scripts/servers.sh stop
servers-status:
	@bash scripts/servers.sh status
