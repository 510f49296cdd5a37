# Images of ingest, enrich, query, the dead-letter replay command and the
# Dashboards import — one target each, built from the repository root:
#
#   docker build --target ingest --build-arg VERSION=1.4.0 -t evtrack/ingest:1.4.0 .
#
# One build stage compiles every service binary at once (they share most of
# their dependencies: one compile, not four); each target copies its static
# binary into an empty image with no shell, run as an unprivileged user.
# Here, with no registry, the golang image is a local stand-in under the same
# tag (integration/docker builds it; README "Containers").
ARG GO_VERSION=1.26.8

FROM golang:${GO_VERSION}-bookworm AS build
WORKDIR /src
COPY go.work go.work.sum ./
COPY contracts/ contracts/
COPY opensearch/ opensearch/
COPY platform/ platform/
COPY services/ services/
# go.work names these modules too; nothing of theirs is compiled here.
COPY tools/go.mod tools/go.sum tools/
COPY integration/go.mod integration/go.sum integration/
ENV CGO_ENABLED=0 GOTOOLCHAIN=local GOFLAGS=-buildvcs=false
ARG VERSION=dev
RUN go build -trimpath -ldflags="-s -w -X main.version=${VERSION}" -o /out/ \
      ./services/ingest/cmd/ingest ./services/enrich/cmd/enrich \
      ./services/enrich/cmd/deadletters ./services/query/cmd/query

# What every image starts from: the CA bundle (OpenSearch and OTLP over TLS)
# and distroless's unprivileged "nonroot" user. SIGTERM drains: each service
# stops accepting work, finishes what it holds within its *_SHUTDOWN_TIMEOUT
# and exits 0 (give `docker stop -t` / stop_grace_period longer than that).
FROM scratch AS runtime
ARG VERSION=dev
LABEL org.opencontainers.image.title="evtrack telemetry" \
      org.opencontainers.image.version="${VERSION}"
COPY --from=build /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
USER 65532:65532
STOPSIGNAL SIGTERM

FROM runtime AS ingest
COPY --from=build /out/ingest /ingest
EXPOSE 8080 9091
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 CMD ["/ingest", "healthcheck"]
ENTRYPOINT ["/ingest"]

FROM runtime AS enrich
COPY --from=build /out/enrich /enrich
EXPOSE 8081
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 CMD ["/enrich", "healthcheck"]
ENTRYPOINT ["/enrich"]

FROM runtime AS query
COPY --from=build /out/query /query
EXPOSE 8082 9090
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 CMD ["/query", "healthcheck"]
ENTRYPOINT ["/query"]

# A one-shot command, not a server: docker compose run --rm deadletters -dry-run
FROM runtime AS deadletters
COPY --from=build /out/deadletters /deadletters
HEALTHCHECK NONE
ENTRYPOINT ["/deadletters"]

# The one-shot import of opensearch/dashboards/*.ndjson into OpenSearch
# Dashboards (tools/cmd/dashboards, as `make dashboards` runs it). Last in the
# file: the legacy builder builds every stage before its target.
FROM build AS build-dashboards
COPY tools/ tools/
ARG VERSION=dev
RUN go build -trimpath -ldflags="-s -w -X main.version=${VERSION}" -o /out/ ./tools/cmd/dashboards

FROM runtime AS dashboards-init
COPY --from=build-dashboards /out/dashboards /dashboards
HEALTHCHECK NONE
ENTRYPOINT ["/dashboards"]
