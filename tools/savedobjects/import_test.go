package savedobjects

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/evtrack/telemetry/opensearch/dashboards"
)

// fakeDashboards answers POST /api/saved_objects/_import as OpenSearch
// Dashboards does, checking what it checks before it reads a file: the
// osd-xsrf header (400 without it), a multipart field named file (400
// without it) whose file name ends in .ndjson (400 otherwise), and lines
// that are JSON objects. answer decides the rest from the objects received;
// an import answered 200 with success true stores them, each replacing the
// stored object of its type and id whole (overwrite=true), as Dashboards
// does. POST /api/saved_objects/_bulk_get answers with the stored objects
// (a 404 error for each missing one).
type fakeDashboards struct {
	answer func(objects []map[string]any) (int, string)

	mu        sync.Mutex
	calls     int // imports
	overwrite []string
	files     [][]byte
	auth      []string
	stored    map[string]map[string]any // type:id → object
}

func (f *fakeDashboards) store(o map[string]any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.stored == nil {
		f.stored = map[string]map[string]any{}
	}
	f.stored[fmt.Sprint(o["type"], ":", o["id"])] = o
}

func (f *fakeDashboards) get(typ, id string) (map[string]any, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	o, ok := f.stored[typ+":"+id]
	return o, ok
}

func (f *fakeDashboards) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	user, pass, _ := r.BasicAuth()
	f.auth = append(f.auth, user+":"+pass)
	f.mu.Unlock()
	bad := func(msg string) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprintf(w, `{"statusCode":400,"error":"Bad Request","message":%q}`, msg)
	}
	if r.Method == http.MethodPost && r.URL.Path == "/api/saved_objects/_bulk_get" {
		if r.Header.Get("osd-xsrf") == "" {
			bad("Request must contain a osd-xsrf header.")
			return
		}
		var refs []struct{ Type, ID string }
		if err := json.NewDecoder(r.Body).Decode(&refs); err != nil {
			bad("[request body]: " + err.Error())
			return
		}
		var out []any
		for _, ref := range refs {
			if o, ok := f.get(ref.Type, ref.ID); ok {
				out = append(out, o)
				continue
			}
			out = append(out, map[string]any{"id": ref.ID, "type": ref.Type, "error": map[string]any{
				"statusCode": 404, "error": "Not Found", "message": fmt.Sprintf("Saved object [%s/%s] not found", ref.Type, ref.ID)}})
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"saved_objects": out})
		return
	}
	if r.Method != http.MethodPost || r.URL.Path != "/api/saved_objects/_import" {
		http.NotFound(w, r)
		return
	}
	f.mu.Lock()
	f.calls++
	f.overwrite = append(f.overwrite, r.URL.Query().Get("overwrite"))
	f.mu.Unlock()
	if r.Header.Get("osd-xsrf") == "" {
		bad("Request must contain a osd-xsrf header.")
		return
	}
	if err := r.ParseMultipartForm(32 << 20); err != nil {
		bad("[request body]: " + err.Error())
		return
	}
	files := r.MultipartForm.File["file"]
	if len(files) != 1 {
		bad("[request body.file]: expected value of type [Stream] but got [undefined]")
		return
	}
	if !strings.HasSuffix(files[0].Filename, ".ndjson") {
		bad("Invalid file extension " + files[0].Filename[strings.LastIndex(files[0].Filename, "."):])
		return
	}
	fh, _ := files[0].Open()
	content, _ := io.ReadAll(fh)
	f.mu.Lock()
	f.files = append(f.files, content)
	f.mu.Unlock()
	var objects []map[string]any
	sc := bufio.NewScanner(bytes.NewReader(content))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if len(bytes.TrimSpace(sc.Bytes())) == 0 {
			continue
		}
		var o map[string]any
		if err := json.Unmarshal(sc.Bytes(), &o); err != nil {
			bad("Unexpected token in JSON")
			return
		}
		objects = append(objects, o)
	}
	status, body := f.answer(objects)
	if status == http.StatusOK && strings.Contains(body, `"success":true`) && r.URL.Query().Get("overwrite") == "true" {
		for _, o := range objects {
			f.store(o)
		}
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	io.WriteString(w, body)
}

func allImported(objects []map[string]any) (int, string) {
	return 200, fmt.Sprintf(`{"success":true,"successCount":%d,"successResults":[]}`, len(objects))
}

const missingRefs = `{"success":false,"successCount":2,"errors":[{"id":"daily-active-users","type":"visualization","title":"Daily active users","error":{"type":"missing_references","references":[{"type":"index-pattern","id":"telemetry-events"}]}}]}`

func importFile(t *testing.T) ([]byte, int) {
	t.Helper()
	set, err := dashboards.Load()
	if err != nil {
		t.Fatal(err)
	}
	b, n, err := set.NDJSON("telemetry-events")
	if err != nil {
		t.Fatal(err)
	}
	return b, n
}

func TestImport(t *testing.T) {
	file, n := importFile(t)
	tests := []struct {
		name    string
		answer  func([]map[string]any) (int, string)
		file    string
		wantErr string // substring; "" for success
	}{
		{name: "all imported", answer: allImported},
		{name: "200 with success false and errors", answer: func([]map[string]any) (int, string) { return 200, missingRefs },
			wantErr: `visualization:daily-active-users ("Daily active users"): missing_references [missing index-pattern:telemetry-events]`},
		{name: "200 with success true but errors", answer: func(o []map[string]any) (int, string) {
			return 200, fmt.Sprintf(`{"success":true,"successCount":%d,"errors":[{"id":"x","type":"dashboard","title":"X","error":{"type":"unknown","message":"boom"}}]}`, len(o))
		}, wantErr: `dashboard:x ("X"): unknown: boom`},
		{name: "200 with fewer objects imported", answer: func(o []map[string]any) (int, string) {
			return 200, fmt.Sprintf(`{"success":true,"successCount":%d}`, len(o)-1)
		}, wantErr: fmt.Sprintf("%d of %d objects imported", n-1, n)},
		{name: "200 that is not the import API", answer: func([]map[string]any) (int, string) { return 200, `<html>login</html>` },
			wantErr: "not the import API's"},
		{name: "200 without success", answer: func([]map[string]any) (int, string) { return 200, `{}` },
			wantErr: "success=false"},
		{name: "401", answer: func([]map[string]any) (int, string) {
			return 401, `{"statusCode":401,"error":"Unauthorized","message":"Unauthorized"}`
		}, wantErr: "answered 401"},
		{name: "413", answer: func([]map[string]any) (int, string) {
			return 413, `{"statusCode":413,"error":"Request Entity Too Large","message":"Payload content length greater than maximum allowed: 26214400"}`
		}, wantErr: "answered 413"},
		{name: "file name not .ndjson", answer: allImported, file: "telemetry.json", wantErr: "ending in .ndjson"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := &fakeDashboards{answer: tt.answer}
			srv := httptest.NewServer(fake)
			t.Cleanup(srv.Close)
			name := tt.file
			if name == "" {
				name = "telemetry-dashboards.ndjson"
			}
			im := &Importer{URL: srv.URL + "/", Client: srv.Client()}
			res, err := im.Import(context.Background(), name, file, n)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				if res.SuccessCount != n {
					t.Fatalf("successCount %d, want %d", res.SuccessCount, n)
				}
				if len(fake.files) != 1 || !bytes.Equal(fake.files[0], file) {
					t.Fatal("Dashboards did not receive the import file unchanged")
				}
				if fake.overwrite[0] != "true" {
					t.Errorf("overwrite=%q, want true", fake.overwrite[0])
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("error %v, want one containing %q", err, tt.wantErr)
			}
			if strings.HasPrefix(tt.name, "200") && fake.calls != 1 {
				t.Errorf("%d calls: a failed import is not retried", fake.calls)
			}
		})
	}
}

// TestFakeDashboardsRefusesWhatDashboardsRefuses: the fake checks the
// header, the field name and the file name, so TestImport passing means the
// importer sends all three.
func TestFakeDashboardsRefusesWhatDashboardsRefuses(t *testing.T) {
	srv := httptest.NewServer(&fakeDashboards{answer: allImported})
	t.Cleanup(srv.Close)
	post := func(field, filename string, xsrf bool) (int, string) {
		var body bytes.Buffer
		fmt.Fprintf(&body, "--b\r\nContent-Disposition: form-data; name=%q; filename=%q\r\nContent-Type: application/ndjson\r\n\r\n{\"type\":\"index-pattern\",\"id\":\"a\"}\n\r\n--b--\r\n", field, filename)
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/api/saved_objects/_import?overwrite=true", &body)
		req.Header.Set("Content-Type", "multipart/form-data; boundary=b")
		if xsrf {
			req.Header.Set("osd-xsrf", "true")
		}
		res, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	for _, tt := range []struct {
		field, filename string
		xsrf            bool
		status          int
		msg             string
	}{
		{"file", "a.ndjson", true, 200, `"success":true`},
		{"file", "a.ndjson", false, 400, "osd-xsrf"},
		{"upload", "a.ndjson", true, 400, "body.file"},
		{"file", "a.json", true, 400, "Invalid file extension .json"},
	} {
		if status, body := post(tt.field, tt.filename, tt.xsrf); status != tt.status || !strings.Contains(body, tt.msg) {
			t.Errorf("%s %s xsrf=%v: %d %s, want %d %s", tt.field, tt.filename, tt.xsrf, status, body, tt.status, tt.msg)
		}
	}
}

// TestImportWaitsForDashboards: while Dashboards answers 503 (starting) the
// import is retried within Wait; without Wait it fails at once, and a
// refused connection is retried the same way.
func TestImportWaitsForDashboards(t *testing.T) {
	file, n := importFile(t)
	var mu sync.Mutex
	unavailable := 2
	fake := &fakeDashboards{answer: func(o []map[string]any) (int, string) {
		mu.Lock()
		defer mu.Unlock()
		if unavailable > 0 {
			unavailable--
			return 503, `{"statusCode":503,"error":"Service Unavailable","message":"OpenSearch Dashboards server is not ready yet"}`
		}
		return allImported(o)
	}}
	srv := httptest.NewServer(fake)
	t.Cleanup(srv.Close)

	if _, err := (&Importer{URL: srv.URL}).Import(context.Background(), "x.ndjson", file, n); err == nil || !strings.Contains(err.Error(), "503") {
		t.Fatalf("without Wait: %v, want the 503", err)
	}
	if _, err := (&Importer{URL: srv.URL, Wait: 30 * time.Second}).Import(context.Background(), "x.ndjson", file, n); err != nil {
		t.Fatalf("with Wait: %v", err)
	}
	if fake.calls != 3 {
		t.Errorf("%d calls, want 3 (503, 503, 200)", fake.calls)
	}

	closed := httptest.NewServer(http.NotFoundHandler())
	url := closed.URL
	closed.Close()
	start := time.Now()
	_, err := (&Importer{URL: url, Wait: 1200 * time.Millisecond}).Import(context.Background(), "x.ndjson", file, n)
	var te transportError
	if !errors.As(err, &te) || time.Since(start) < 500*time.Millisecond {
		t.Fatalf("unreachable Dashboards: %v after %v, want a transport error after retrying", err, time.Since(start))
	}
}

func TestImportSendsBasicAuth(t *testing.T) {
	file, n := importFile(t)
	fake := &fakeDashboards{answer: allImported}
	srv := httptest.NewServer(fake)
	t.Cleanup(srv.Close)
	if _, err := (&Importer{URL: srv.URL, Username: "analyst", Password: "s3cret"}).Import(context.Background(), "x.ndjson", file, n); err != nil {
		t.Fatal(err)
	}
	if fake.auth[0] != "analyst:s3cret" {
		t.Errorf("basic auth %q", fake.auth[0])
	}
}

// analystsIndexPattern is the events index pattern as Dashboards holds it
// after an analyst opened it (the field list read from the cluster), added
// the scripted field hour_of_day, formatted user_id as a link and changed
// the shipped format of clock_skew_ms.
func analystsIndexPattern() map[string]any {
	fields := `[{"name":"user_id","type":"string","esTypes":["keyword"],"count":3,"scripted":false,"searchable":true,"aggregatable":true,"readFromDocValues":true},` +
		`{"name":"hour_of_day","type":"number","count":1,"scripted":true,"script":"doc['timestamp'].value.getHour()","lang":"painless","searchable":true,"aggregatable":true,"readFromDocValues":false}]`
	formats := `{"user_id":{"id":"url","params":{"urlTemplate":"https://support.example.com/users/{{value}}"}},"clock_skew_ms":{"id":"number"}}`
	return map[string]any{"type": "index-pattern", "id": "telemetry-events", "references": []any{},
		"attributes": map[string]any{"title": "telemetry-events-*", "timeFieldName": "timestamp", "fields": fields, "fieldFormatMap": formats}}
}

// TestImportKeepsWhatAnalystsAddedToIndexPatterns: an analyst's scripted
// field (and the visualizations built on it) and field format on a shipped
// index pattern survive the import, run twice, while the shipped
// attributes are the files': an import with overwrite replaces an object
// whole. The kept scripted field has no readFromDocValues flag, and no
// field read from the cluster is kept, so Dashboards reads the field list
// from the cluster again (fields added since appear).
func TestImportKeepsWhatAnalystsAddedToIndexPatterns(t *testing.T) {
	file, n := importFile(t)
	fake := &fakeDashboards{answer: allImported}
	fake.store(analystsIndexPattern())
	srv := httptest.NewServer(fake)
	t.Cleanup(srv.Close)
	set, err := dashboards.Load()
	if err != nil {
		t.Fatal(err)
	}
	shipped, _ := set.Get(dashboards.TypeIndexPattern, "telemetry-events")
	for run := 1; run <= 2; run++ {
		res, err := (&Importer{URL: srv.URL}).Import(context.Background(), "x.ndjson", file, n)
		if err != nil {
			t.Fatalf("run %d: %v", run, err)
		}
		want := `index-pattern:telemetry-events: scripted fields [hour_of_day], field formats [user_id]`
		if fmt.Sprint(res.Kept) != "["+want+"]" {
			t.Errorf("run %d: kept %q, want [%s]", run, res.Kept, want)
		}
		o, _ := fake.get("index-pattern", "telemetry-events")
		attrs, _ := o["attributes"].(map[string]any)
		var fields []map[string]any
		if err := json.Unmarshal([]byte(fmt.Sprint(attrs["fields"])), &fields); err != nil {
			t.Fatalf("run %d: fields %v: %v", run, attrs["fields"], err)
		}
		if len(fields) != 1 || fields[0]["name"] != "hour_of_day" || fields[0]["script"] != "doc['timestamp'].value.getHour()" {
			t.Errorf("run %d: fields after the import %v, want the scripted field hour_of_day alone", run, attrs["fields"])
		}
		for _, f := range fields {
			if _, ok := f["readFromDocValues"]; ok {
				t.Errorf("run %d: field %v keeps readFromDocValues: Dashboards would not read the field list again", run, f["name"])
			}
		}
		var formats map[string]map[string]any
		if err := json.Unmarshal([]byte(fmt.Sprint(attrs["fieldFormatMap"])), &formats); err != nil {
			t.Fatalf("run %d: %v", run, err)
		}
		if formats["user_id"]["id"] != "url" || formats["clock_skew_ms"]["id"] != "duration" {
			t.Errorf("run %d: field formats %v, want the analyst's user_id link and the shipped clock_skew_ms duration", run, attrs["fieldFormatMap"])
		}
		if attrs["title"] != shipped.Title() || attrs["timeFieldName"] != shipped.Attributes["timeFieldName"] {
			t.Errorf("run %d: title %v, time field %v: want the shipped ones", run, attrs["title"], attrs["timeFieldName"])
		}
	}
	// Index patterns Dashboards did not have, and every other object, are
	// sent as the files have them.
	sent := bytes.Split(fake.files[0], []byte("\n"))
	orig := bytes.Split(file, []byte("\n"))
	if len(sent) != len(orig) {
		t.Fatalf("%d lines sent, %d in the file", len(sent), len(orig))
	}
	changed := 0
	for i := range sent {
		if !bytes.Equal(sent[i], orig[i]) {
			changed++
			if !bytes.Contains(orig[i], []byte(`"id":"telemetry-events"`)) {
				t.Errorf("line %d changed: %s", i+1, sent[i])
			}
		}
	}
	if changed != 1 {
		t.Errorf("%d lines changed, want 1 (the events index pattern)", changed)
	}
}
