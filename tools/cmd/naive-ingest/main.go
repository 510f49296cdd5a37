// Command naive-ingest is a benchmark baseline, not a product: the naive
// front door the ingest service is measured against. It decodes JSON into
// []map[string]interface{}, builds the same protobuf batch, publishes it with
// core NATS (no JetStream, no acknowledgement) and answers 202 before anything
// is stored. It authenticates and validates nothing.
package main

import (
	"encoding/json"
	"fmt"
	"log"
	"os"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/nats-io/nats.go"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	telemetryv1 "github.com/evtrack/telemetry/contracts/gen/go/telemetry/v1"
)

func main() {
	addr := env("NAIVE_HTTP_ADDR", "127.0.0.1:8090")
	nc, err := nats.Connect(env("NATS_URL", nats.DefaultURL))
	if err != nil {
		log.Fatal(err)
	}
	subject := env("NAIVE_SUBJECT", "naive.events")
	app := fiber.New(fiber.Config{DisableStartupMessage: true, BodyLimit: 1 << 20})
	app.Post("/v1/track", func(c *fiber.Ctx) error {
		var raw []map[string]interface{}
		if err := json.Unmarshal(c.Body(), &raw); err != nil {
			return c.Status(400).JSON(fiber.Map{"error": err.Error()})
		}
		batch := &telemetryv1.EventBatch{AppId: "naive", ReceivedAt: timestamppb.Now()}
		for _, m := range raw {
			e := &telemetryv1.Event{Metadata: map[string]string{}}
			e.EventId, _ = m["event_id"].(string)
			e.UserId, _ = m["user_id"].(string)
			e.SessionId, _ = m["session_id"].(string)
			e.EventName, _ = m["event_name"].(string)
			e.AppVersion, _ = m["app_version"].(string)
			e.DeviceOs, _ = m["device_os"].(string)
			e.Message, _ = m["message"].(string)
			if ts, ok := m["client_timestamp"].(string); ok {
				if t, err := time.Parse(time.RFC3339Nano, ts); err == nil {
					e.ClientTimestamp = timestamppb.New(t)
				}
			}
			if md, ok := m["metadata"].(map[string]interface{}); ok {
				for k, v := range md {
					e.Metadata[k] = fmt.Sprint(v)
				}
			}
			batch.Events = append(batch.Events, e)
		}
		data, err := proto.Marshal(batch)
		if err != nil {
			return c.Status(500).SendString(err.Error())
		}
		if err := nc.Publish(subject, data); err != nil {
			return c.Status(503).SendString(err.Error())
		}
		return c.Status(202).JSON(fiber.Map{"accepted": len(batch.Events)})
	})
	log.Printf("naive-ingest on %s publishing to %s (no ack, not durable)", addr, subject)
	log.Fatal(app.Listen(addr))
}

func env(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}
