// Package savedobjects imports saved objects into OpenSearch Dashboards
// through its saved-objects import API and checks the answer: the API
// answers 200 even when objects fail, so success, errors[] and the count of
// imported objects decide, not the status code.
//
// An import with overwrite replaces an object whole. For the shipped index
// patterns that would delete what analysts add to them in Dashboards —
// scripted fields (and every visualization built on one) and field formats —
// so those are read first and carried into the imported index patterns.
package savedobjects

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"strings"
	"time"
)

// Importer posts .ndjson files to POST <URL>/api/saved_objects/_import.
type Importer struct {
	// URL is Dashboards' base URL, with its server.basePath if it has one,
	// e.g. http://127.0.0.1:5601.
	URL string
	// Username and Password are sent as basic auth when Username is set
	// (Dashboards with the security plugin).
	Username, Password string
	// Client sends the request (default: a client with a 60 s timeout).
	Client *http.Client
	// Wait is how long to keep retrying while Dashboards cannot be reached
	// or answers 503 (it is starting); 0 tries once.
	Wait time.Duration
}

// Result is the import API's answer.
type Result struct {
	Success      bool          `json:"success"`
	SuccessCount int           `json:"successCount"`
	Errors       []ObjectError `json:"errors"`
	// Kept lists what the import carried over from the index patterns in
	// Dashboards (scripted fields and field formats analysts added), one
	// entry per index pattern, e.g. `index-pattern:telemetry-events: scripted
	// fields [hour_of_day], field formats [user_id]`.
	Kept []string `json:"-"`
}

// ObjectError is one object the import refused.
type ObjectError struct {
	ID    string `json:"id"`
	Type  string `json:"type"`
	Title string `json:"title"`
	Error struct {
		Type       string `json:"type"` // conflict, missing_references, unsupported_type, unknown
		Message    string `json:"message"`
		References []struct {
			Type string `json:"type"`
			ID   string `json:"id"`
		} `json:"references"`
	} `json:"error"`
}

func (e ObjectError) String() string {
	s := fmt.Sprintf("%s:%s (%q): %s", e.Type, e.ID, e.Title, e.Error.Type)
	if e.Error.Message != "" {
		s += ": " + e.Error.Message
	}
	for _, r := range e.Error.References {
		s += fmt.Sprintf(" [missing %s:%s]", r.Type, r.ID)
	}
	return s
}

// FailedError is an import Dashboards answered but did not fully apply.
type FailedError struct {
	Result Result
	Sent   int
}

func (e *FailedError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "import: success=%v, %d of %d objects imported", e.Result.Success, e.Result.SuccessCount, e.Sent)
	for _, oe := range e.Result.Errors {
		b.WriteString("\n  ")
		b.WriteString(oe.String())
	}
	return b.String()
}

// StatusError is an answer other than 200.
type StatusError struct {
	What   string // "import", "read the index patterns"
	Status int
	Body   string
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("%s: Dashboards answered %d: %s", e.What, e.Status, e.Body)
}

// Import uploads ndjson (objects saved objects, one per line) as the file
// name (which must end in .ndjson, as Dashboards requires), overwriting
// objects with the same type and id, after carrying into each index pattern
// of the file the scripted fields and field formats its current version in
// Dashboards has (keepAnalystFields). It returns an error unless Dashboards
// answered 200 with success true, no errors and all objects imported.
func (im *Importer) Import(ctx context.Context, name string, ndjson []byte, objects int) (Result, error) {
	if !strings.HasSuffix(name, ".ndjson") {
		return Result{}, fmt.Errorf("import file %q: Dashboards only takes names ending in .ndjson", name)
	}
	deadline := time.Now().Add(im.Wait)
	delay := 500 * time.Millisecond
	for {
		res, err := im.importOnce(ctx, name, ndjson)
		if err == nil {
			return res, check(res, objects)
		}
		if !retryable(err) || time.Now().Add(delay).After(deadline) {
			return Result{}, err
		}
		select {
		case <-ctx.Done():
			return Result{}, fmt.Errorf("%w (last: %v)", ctx.Err(), err)
		case <-time.After(delay):
		}
		delay = min(2*delay, 5*time.Second)
	}
}

func (im *Importer) importOnce(ctx context.Context, name string, ndjson []byte) (Result, error) {
	file, kept, err := im.keepAnalystFields(ctx, ndjson)
	if err != nil {
		return Result{}, err
	}
	res, err := im.post(ctx, name, file)
	res.Kept = kept
	return res, err
}

func check(res Result, sent int) error {
	if !res.Success || len(res.Errors) > 0 || res.SuccessCount != sent {
		return &FailedError{Result: res, Sent: sent}
	}
	return nil
}

type transportError struct{ err error }

func (e transportError) Error() string { return e.err.Error() }
func (e transportError) Unwrap() error { return e.err }

func retryable(err error) bool {
	var te transportError
	var se *StatusError
	return errors.As(err, &te) || (errors.As(err, &se) && se.Status == http.StatusServiceUnavailable)
}

func (im *Importer) post(ctx context.Context, name string, ndjson []byte) (Result, error) {
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	h := textproto.MIMEHeader{}
	h.Set("Content-Disposition", fmt.Sprintf(`form-data; name="file"; filename=%q`, name))
	h.Set("Content-Type", "application/ndjson")
	part, err := mw.CreatePart(h)
	if err != nil {
		return Result{}, err
	}
	if _, err := part.Write(ndjson); err != nil {
		return Result{}, err
	}
	if err := mw.Close(); err != nil {
		return Result{}, err
	}
	url := strings.TrimRight(im.URL, "/") + "/api/saved_objects/_import?overwrite=true"
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, &body)
	if err != nil {
		return Result{}, fmt.Errorf("import: %w", err)
	}
	req.Header.Set("Content-Type", mw.FormDataContentType())
	raw, err := im.do(req, "import")
	if err != nil {
		return Result{}, err
	}
	var res Result
	if err := json.Unmarshal(raw, &res); err != nil {
		return Result{}, fmt.Errorf("import: the answer is not the import API's: %w: %.300s", err, raw)
	}
	return res, nil
}

// do sends req with the headers every Dashboards API call needs and returns
// the body of a 200 answer; what fails names what.
func (im *Importer) do(req *http.Request, what string) ([]byte, error) {
	req.Header.Set("osd-xsrf", "true") // Dashboards refuses API writes without it
	if im.Username != "" {
		req.SetBasicAuth(im.Username, im.Password)
	}
	client := im.Client
	if client == nil {
		client = &http.Client{Timeout: 60 * time.Second}
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, transportError{fmt.Errorf("%s: %w", what, err)} // net/http leaves a URL's password out
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return nil, transportError{fmt.Errorf("%s: read the answer: %w", what, err)}
	}
	if resp.StatusCode != http.StatusOK {
		return nil, &StatusError{What: what, Status: resp.StatusCode, Body: fmt.Sprintf("%.1000s", bytes.TrimSpace(raw))}
	}
	return raw, nil
}
