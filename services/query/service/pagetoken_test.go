package service

import (
	"encoding/base64"
	"net/url"
	"slices"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	queryv1 "github.com/evtrack/telemetry/contracts/gen/go/telemetry/query/v1"
)

// rotatedKey is the key a rotation moves to (hex, 32 bytes).
const rotatedKey = "726f74617465642d706167652d746f6b656e2d6b65792d303132333435363738"

// TestPageTokensAcrossInstancesAndRotation: a page token from one instance
// works on another with the same key (a restart, or another replica); after
// a rotation (new key, old one as previous) the old key's tokens still work
// and new tokens are signed with the new key; a tampered signature is
// refused as a bad page_token on both faces.
func TestPageTokensAcrossInstancesAndRotation(t *testing.T) {
	t.Parallel()
	osURL, prefix := writeFixtures(t)
	a := runQuery(t, osURL, prefix, nil)
	b := runQuery(t, osURL, prefix, nil)
	rotated := runQuery(t, osURL, prefix, map[string]string{"QUERY_PAGE_TOKEN_KEY": rotatedKey, "QUERY_PAGE_TOKEN_PREVIOUS_KEYS": testPageTokenKey})
	want := expect(func(f fixture) bool { return f.user == "u1" && f.app == "app-a" })
	page := func(e *env, token string) (*queryv1.SearchEventsResponse, error) {
		return e.grpc.SearchEvents(authed(tokenA), &queryv1.SearchEventsRequest{UserId: "u1", PageSize: 4, PageToken: token})
	}

	p1, err := page(a, "")
	if err != nil || p1.NextPageToken == "" {
		t.Fatalf("page 1 from A: %v %v", p1, err)
	}
	p2, err := page(b, p1.NextPageToken)
	if err != nil {
		t.Fatalf("page 2 from B with A's token: %v", err)
	}
	if got := append(ids(p1), ids(p2)...); !slices.Equal(got, want[:8]) {
		t.Fatalf("pages 1 and 2 across instances: %v, want %v", got, want[:8])
	}

	r2, err := page(rotated, p1.NextPageToken)
	if err != nil {
		t.Fatalf("after rotation, a token of the previous key: %v", err)
	}
	if !slices.Equal(ids(r2), ids(p2)) {
		t.Fatalf("after rotation page 2 is %v, want %v", ids(r2), ids(p2))
	}
	if _, err := page(b, r2.NextPageToken); status.Code(err) != codes.InvalidArgument {
		t.Fatalf("a token issued after rotation was accepted by the old key alone (%v): not signed with the new key", err)
	}
	p3, err := page(rotated, r2.NextPageToken)
	if err != nil || !slices.Equal(append(append(ids(p1), ids(r2)...), ids(p3)...), want) {
		t.Fatalf("page 3 after rotation: %v %v", p3, err)
	}

	body, mac, _ := strings.Cut(p1.NextPageToken, ".")
	sum, err := base64.RawURLEncoding.DecodeString(mac)
	if err != nil {
		t.Fatal(err)
	}
	sum[len(sum)-1] ^= 1
	tampered := body + "." + base64.RawURLEncoding.EncodeToString(sum)
	_, err = page(a, tampered)
	if st := status.Convert(err); st.Code() != codes.InvalidArgument || !strings.HasPrefix(st.Message(), "page_token: ") || !strings.Contains(st.Message(), "signature") {
		t.Fatalf("tampered token over gRPC: %v, want InvalidArgument naming page_token and its signature", err)
	}
	code, resBody := a.get(t, tokenA, "/v1/users/u1/events?page_size=4&page_token="+url.QueryEscape(tampered))
	if code != 400 || !strings.Contains(string(resBody), "page_token") || !strings.Contains(string(resBody), "signature") {
		t.Fatalf("tampered token over HTTP: %d %s", code, resBody)
	}
}
