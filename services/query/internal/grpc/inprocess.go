package grpc

import (
	"context"

	"google.golang.org/grpc"

	queryv1 "github.com/evtrack/telemetry/contracts/gen/go/telemetry/query/v1"
)

// inProcess calls a QueryServiceServer through the same chain of unary
// interceptors as the gRPC server, without a network hop: the HTTP gateway
// uses it, so authentication, rate limits, timeouts and audit are exactly
// the gRPC server's while a request is not marshalled to protobuf, framed
// and parsed again over loopback.
type inProcess struct {
	queryv1.UnimplementedQueryServiceServer
	next  queryv1.QueryServiceServer
	chain []grpc.UnaryServerInterceptor
}

// InProcess returns next behind interceptors, run in order (the first is
// the outermost, as with grpc.ChainUnaryInterceptor).
func InProcess(next queryv1.QueryServiceServer, interceptors ...grpc.UnaryServerInterceptor) queryv1.QueryServiceServer {
	return &inProcess{next: next, chain: interceptors}
}

func (p *inProcess) SearchEvents(ctx context.Context, req *queryv1.SearchEventsRequest) (*queryv1.SearchEventsResponse, error) {
	return call(ctx, p.chain, queryv1.QueryService_SearchEvents_FullMethodName, req, p.next.SearchEvents)
}

func (p *inProcess) GetEvent(ctx context.Context, req *queryv1.GetEventRequest) (*queryv1.GetEventResponse, error) {
	return call(ctx, p.chain, queryv1.QueryService_GetEvent_FullMethodName, req, p.next.GetEvent)
}

func (p *inProcess) GetUserSummary(ctx context.Context, req *queryv1.GetUserSummaryRequest) (*queryv1.GetUserSummaryResponse, error) {
	return call(ctx, p.chain, queryv1.QueryService_GetUserSummary_FullMethodName, req, p.next.GetUserSummary)
}

func (p *inProcess) EventStats(ctx context.Context, req *queryv1.EventStatsRequest) (*queryv1.EventStatsResponse, error) {
	return call(ctx, p.chain, queryv1.QueryService_EventStats_FullMethodName, req, p.next.EventStats)
}

func (p *inProcess) DeleteUser(ctx context.Context, req *queryv1.DeleteUserRequest) (*queryv1.DeleteUserResponse, error) {
	return call(ctx, p.chain, queryv1.QueryService_DeleteUser_FullMethodName, req, p.next.DeleteUser)
}

func (p *inProcess) GetDeletion(ctx context.Context, req *queryv1.GetDeletionRequest) (*queryv1.GetDeletionResponse, error) {
	return call(ctx, p.chain, queryv1.QueryService_GetDeletion_FullMethodName, req, p.next.GetDeletion)
}

// call runs method's handler h behind chain.
func call[Req, Res any](ctx context.Context, chain []grpc.UnaryServerInterceptor, method string, req Req,
	h func(context.Context, Req) (Res, error)) (Res, error) {
	info := &grpc.UnaryServerInfo{FullMethod: method}
	var handler grpc.UnaryHandler = func(ctx context.Context, r any) (any, error) { return h(ctx, r.(Req)) }
	for i := len(chain) - 1; i >= 0; i-- {
		ic, next := chain[i], handler
		handler = func(ctx context.Context, r any) (any, error) { return ic(ctx, r, info, next) }
	}
	res, err := handler(ctx, req)
	out, _ := res.(Res)
	return out, err
}
