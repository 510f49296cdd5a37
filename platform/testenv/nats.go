package testenv

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// JetStream connects to the real nats-server (NATSURL) for the rest of the
// test.
func JetStream(t testing.TB) jetstream.JetStream {
	t.Helper()
	nc, err := nats.Connect(NATSURL(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return js
}

// WaitDrained waits until consumer has acknowledged every message stream
// holds when it is called and has nothing pending or unacknowledged: then,
// for a consumer that acknowledges a message once its work is done,
// nothing more will happen. The stream's last sequence is part of the
// condition because a consumer's pending count may not yet include a
// message whose publish was just acknowledged.
func WaitDrained(t testing.TB, js jetstream.JetStream, stream, consumer string, within time.Duration) {
	t.Helper()
	ctx := context.Background()
	st, err := js.Stream(ctx, stream)
	if err != nil {
		t.Fatal(err)
	}
	si, err := st.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	last := si.State.LastSeq
	c, err := js.Consumer(ctx, stream, consumer)
	if err != nil {
		t.Fatal(err)
	}
	EventuallyState(t, within, fmt.Sprintf("consumer %s of %s drained (every message to %d acknowledged, nothing pending)", consumer, stream, last),
		func() (bool, string) {
			info, err := c.Info(ctx)
			if err != nil {
				return false, err.Error()
			}
			return info.AckFloor.Stream >= last && info.NumPending == 0 && info.NumAckPending == 0,
				fmt.Sprintf("ack floor %d, pending %d, unacknowledged %d", info.AckFloor.Stream, info.NumPending, info.NumAckPending)
		})
}

// DeleteStream removes, when the test ends, the JetStream stream named
// stream from the broker at url (a comma-separated list of a cluster's
// nodes will do). Register it before starting the services that use the
// stream, so it runs after they stop. Best effort: a broker that is gone by
// then is no failure, and cleanup never fails a test.
func DeleteStream(t testing.TB, url, stream string) {
	t.Helper()
	t.Cleanup(func() {
		_ = withJetStream(url, 5*time.Second, func(ctx context.Context, js jetstream.JetStream) error {
			return js.DeleteStream(ctx, stream)
		})
	})
}

// DeleteKeyValue deletes the key-value buckets at url when the test ends
// (registered now, so it runs after services started later have stopped).
func DeleteKeyValue(t testing.TB, url string, buckets ...string) {
	t.Helper()
	t.Cleanup(func() {
		_ = withJetStream(url, 5*time.Second, func(ctx context.Context, js jetstream.JetStream) error {
			for _, b := range buckets {
				_ = js.DeleteKeyValue(ctx, b)
			}
			return nil
		})
	})
}

// StreamInfo reads a stream's state, its cluster's leader and replicas
// included, from the broker at url (or a cluster's comma-separated list),
// on a connection of its own that does not reconnect: for polling a broker
// that may be down.
func StreamInfo(url, stream string) (*jetstream.StreamInfo, error) {
	var info *jetstream.StreamInfo
	err := withJetStream(url, 3*time.Second, func(ctx context.Context, js jetstream.JetStream) error {
		st, err := js.Stream(ctx, stream)
		if err != nil {
			return err
		}
		info, err = st.Info(ctx)
		return err
	})
	return info, err
}

// ConsumerInfo reads the state of stream's durable consumer, as StreamInfo
// reads the stream's.
func ConsumerInfo(url, stream, consumer string) (*jetstream.ConsumerInfo, error) {
	var info *jetstream.ConsumerInfo
	err := withJetStream(url, 3*time.Second, func(ctx context.Context, js jetstream.JetStream) error {
		c, err := js.Consumer(ctx, stream, consumer)
		if err != nil {
			return err
		}
		info, err = c.Info(ctx)
		return err
	})
	return info, err
}

// withJetStream runs do on a connection to url that gives up after 2 s
// and never reconnects, with a context of within.
func withJetStream(url string, within time.Duration, do func(context.Context, jetstream.JetStream) error) error {
	nc, err := nats.Connect(url, nats.Timeout(2*time.Second), nats.NoReconnect())
	if err != nil {
		return err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	return do(ctx, js)
}
