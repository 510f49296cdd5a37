package opensearchx

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"

	"github.com/opensearch-project/opensearch-go/v2"
)

// BulkBody is the NDJSON body of one _bulk request, built action by action:
// create, index or delete, each naming its _index and _id. The zero value is
// an empty body.
type BulkBody struct {
	buf     []byte
	actions int
}

// Grow makes room for n more bytes (a document's length plus its index
// and id, and some 40 bytes of action line, per document).
func (b *BulkBody) Grow(n int) { b.buf = slices.Grow(b.buf, n) }

// Create adds a create action: doc is written under id unless a document
// with that id exists (then the item's status is 409).
func (b *BulkBody) Create(index, id string, doc []byte) { b.add("create", index, id, doc) }

// Index adds an index action: doc is written under id, replacing a
// document with that id; an empty id lets OpenSearch choose one.
func (b *BulkBody) Index(index, id string, doc []byte) { b.add("index", index, id, doc) }

// Delete adds a delete action.
func (b *BulkBody) Delete(index, id string) { b.add("delete", index, id, nil) }

func (b *BulkBody) add(action, index, id string, doc []byte) {
	b.buf = append(b.buf, `{"`...)
	b.buf = append(b.buf, action...)
	b.buf = append(b.buf, `":{"_index":`...)
	b.buf = appendQuoted(b.buf, index)
	if id != "" {
		b.buf = append(b.buf, `,"_id":`...)
		b.buf = appendQuoted(b.buf, id)
	}
	b.buf = append(b.buf, "}}\n"...)
	if doc != nil {
		b.buf = append(b.buf, doc...)
		b.buf = append(b.buf, '\n')
	}
	b.actions++
}

// Actions is the number of actions in the body.
func (b *BulkBody) Actions() int { return b.actions }

// Len is the body's size in bytes.
func (b *BulkBody) Len() int { return len(b.buf) }

// Bytes is the body. It stays valid until the next change.
func (b *BulkBody) Bytes() []byte { return b.buf }

// Reset empties the body, keeping its memory.
func (b *BulkBody) Reset() { b.buf, b.actions = b.buf[:0], 0 }

// appendQuoted appends s as a JSON string. Index names and document ids
// are plain ASCII (validated prefix and date; base64url), written as they
// are; anything else goes through encoding/json.
func appendQuoted(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' {
			q, _ := json.Marshal(s)
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// BulkItem is OpenSearch's answer to one action of a _bulk request.
type BulkItem struct {
	Status    int
	ErrorType string // "" when the action succeeded
	Reason    string // the error's reason
}

// bulkItemPaths keep of a _bulk answer what BulkItem holds.
const bulkItemPaths = "errors,items.*.status,items.*.error.type,items.*.error.reason"

// Bulk sends body to _bulk and returns the answer to each of its actions, in
// order. An error means the request as a whole failed (see Do: a
// *StatusError, or ErrUnavailable): nothing is known to have been applied.
func Bulk(ctx context.Context, c *opensearch.Client, body *BulkBody) ([]BulkItem, error) {
	n := body.Actions()
	raw, err := Do(ctx, c, Request{Method: http.MethodPost, Path: "/_bulk?filter_path=" + bulkItemPaths, Body: body.Bytes()})
	if err != nil {
		return nil, err
	}
	out := make([]BulkItem, n)
	// The usual answer: every document created. Its items need no decoding.
	if bytes.HasPrefix(raw, []byte(`{"errors":false,`)) && bytes.Count(raw, []byte(`"status":201`)) == n {
		for i := range out {
			out[i] = BulkItem{Status: 201}
		}
		return out, nil
	}
	var br bulkResponse
	if err := json.Unmarshal(raw, &br); err != nil {
		return nil, fmt.Errorf("decode _bulk answer: %w", err)
	}
	if len(br.Items) != n {
		return nil, fmt.Errorf("_bulk answer has %d items for %d actions", len(br.Items), n)
	}
	for i, item := range br.Items {
		out[i] = item.answer()
	}
	return out, nil
}

// BulkAll sends body to _bulk and returns an error unless every action was
// applied, for callers that need no more (maintenance, tools, tests).
func BulkAll(ctx context.Context, c *opensearch.Client, body *BulkBody) error {
	raw, err := Do(ctx, c, Request{Method: http.MethodPost, Path: "/_bulk?filter_path=errors,items.*.error", Body: body.Bytes()})
	if err != nil {
		return err
	}
	if bytes.HasPrefix(raw, []byte(`{"errors":false`)) {
		return nil
	}
	var br bulkResponse
	if err := json.Unmarshal(raw, &br); err != nil || !br.Errors {
		return fmt.Errorf("_bulk answer without errors:false: %.500s", raw)
	}
	failed, first := 0, BulkItem{}
	for _, item := range br.Items {
		if a := item.answer(); a.ErrorType != "" {
			if failed == 0 {
				first = a
			}
			failed++
		}
	}
	return fmt.Errorf("%d of %d actions failed, the first with %s: %s", failed, body.Actions(), first.ErrorType, first.Reason)
}

type bulkResponse struct {
	Errors bool       `json:"errors"`
	Items  []bulkKind `json:"items"`
}

// bulkKind is one item of the answer, under the name of its action.
type bulkKind struct {
	Create *bulkAnswer `json:"create"`
	Index  *bulkAnswer `json:"index"`
	Delete *bulkAnswer `json:"delete"`
	Update *bulkAnswer `json:"update"`
}

type bulkAnswer struct {
	Status int `json:"status"`
	Error  *struct {
		Type   string `json:"type"`
		Reason string `json:"reason"`
	} `json:"error"`
}

func (k bulkKind) answer() BulkItem {
	a := k.Create
	for _, other := range []*bulkAnswer{k.Index, k.Delete, k.Update} {
		if a == nil {
			a = other
		}
	}
	if a == nil {
		return BulkItem{}
	}
	out := BulkItem{Status: a.Status}
	if a.Error != nil {
		out.ErrorType, out.Reason = a.Error.Type, a.Error.Reason
	}
	return out
}
