package grpc

import (
	"context"
	"errors"
	"slices"
	"testing"

	"google.golang.org/grpc"

	queryv1 "github.com/evtrack/telemetry/contracts/gen/go/telemetry/query/v1"
)

type recorder struct {
	queryv1.UnimplementedQueryServiceServer
	calls *[]string
}

func (r recorder) GetEvent(ctx context.Context, req *queryv1.GetEventRequest) (*queryv1.GetEventResponse, error) {
	set, _ := ctx.Value(principalKey{}).(string)
	*r.calls = append(*r.calls, "handler:"+set+":"+req.GetEventId())
	return &queryv1.GetEventResponse{}, nil
}

// TestInProcessRunsTheChain: interceptors run outermost first with the
// method's full name, may change the context, and may refuse the call.
func TestInProcessRunsTheChain(t *testing.T) {
	var calls []string
	mark := func(name string, refuse bool) grpc.UnaryServerInterceptor {
		return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
			calls = append(calls, name+":"+info.FullMethod)
			if refuse {
				return nil, errors.New("refused by " + name)
			}
			return h(context.WithValue(ctx, principalKey{}, name), req)
		}
	}
	for _, tc := range []struct {
		name   string
		chain  []grpc.UnaryServerInterceptor
		want   []string
		errMsg string
	}{
		{"no interceptors", nil, []string{"handler::e1"}, ""},
		{"two", []grpc.UnaryServerInterceptor{mark("a", false), mark("b", false)},
			[]string{"a:" + queryv1.QueryService_GetEvent_FullMethodName, "b:" + queryv1.QueryService_GetEvent_FullMethodName, "handler:b:e1"}, ""},
		{"refused", []grpc.UnaryServerInterceptor{mark("a", true), mark("b", false)},
			[]string{"a:" + queryv1.QueryService_GetEvent_FullMethodName}, "refused by a"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			calls = nil
			res, err := InProcess(recorder{calls: &calls}, tc.chain...).GetEvent(context.Background(), &queryv1.GetEventRequest{EventId: "e1"})
			if tc.errMsg != "" {
				if err == nil || err.Error() != tc.errMsg || res != nil {
					t.Fatalf("got %v, %v; want error %q and no response", res, err, tc.errMsg)
				}
			} else if err != nil || res == nil {
				t.Fatalf("got %v, %v", res, err)
			}
			if !slices.Equal(calls, tc.want) {
				t.Fatalf("calls %v, want %v", calls, tc.want)
			}
		})
	}
}
