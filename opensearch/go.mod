module github.com/evtrack/telemetry/opensearch

go 1.26.0
