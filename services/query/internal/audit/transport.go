package audit

import "context"

// Transports: which edge of the service received a call.
const (
	TransportGRPC    = "grpc"
	TransportHTTP    = "http"
	TransportUnknown = "unknown"
)

type transportKey struct{}

// WithTransport marks ctx as a call received by the edge named transport.
// Only the edges call it — the gRPC server for the calls its listener
// accepts, the HTTP handler for its own — so the audit's transport field
// comes from where the call arrived, never from anything the caller sends.
func WithTransport(ctx context.Context, transport string) context.Context {
	return context.WithValue(ctx, transportKey{}, transport)
}

// TransportFrom is the transport ctx was marked with, or TransportUnknown.
func TransportFrom(ctx context.Context) string {
	if t, ok := ctx.Value(transportKey{}).(string); ok {
		return t
	}
	return TransportUnknown
}
