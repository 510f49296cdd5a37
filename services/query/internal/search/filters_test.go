package search

import (
	"encoding/hex"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
	"unsafe"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/dynamicpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	queryv1 "github.com/evtrack/telemetry/contracts/gen/go/telemetry/query/v1"
	"github.com/evtrack/telemetry/services/query/internal/auth"
)

// parameters are the request fields that are not filters: paging, the
// stats' buckets, the event GetEvent names, the deletion job GetDeletion
// names. Any other field of a QueryService request is taken for a filter.
var parameters = map[protoreflect.Name]bool{"page_size": true, "page_token": true, "interval": true, "top": true, "event_id": true, "job_id": true}

// filterRequests take every filter.
var filterRequests = []proto.Message{&queryv1.SearchEventsRequest{}, &queryv1.EventStatsRequest{}}

// TestFilterTableMatchesTheContract: a field of a QueryService request that
// is not a known parameter must have a row in the filter table (Filters),
// and every row must be a field of SearchEventsRequest and
// EventStatsRequest — so a filter is the proto field plus its row, and
// neither alone.
func TestFilterTableMatchesTheContract(t *testing.T) {
	rows := map[protoreflect.Name]*row{}
	for i := range filterTable.rows {
		rows[protoreflect.Name(filterTable.rows[i].name)] = &filterTable.rows[i]
	}
	d, err := protoregistry.GlobalFiles.FindDescriptorByName(protoreflect.FullName(queryv1.QueryService_ServiceDesc.ServiceName))
	if err != nil {
		t.Fatal(err)
	}
	methods := d.(protoreflect.ServiceDescriptor).Methods()
	for i := range methods.Len() {
		md := methods.Get(i).Input()
		if _, ok := requestBindings[md.FullName()]; !ok {
			t.Errorf("%s is not bound", md.FullName())
		}
		for j := range md.Fields().Len() {
			fd := md.Fields().Get(j)
			if !parameters[fd.Name()] && rows[fd.Name()] == nil {
				t.Errorf("%s.%s looks like a filter but has no row in the filter table (a field of search.Filters with a filter tag)", md.FullName(), fd.Name())
			}
		}
	}
	for _, m := range filterRequests {
		md := m.ProtoReflect().Descriptor()
		var bound []string
		for _, b := range requestBindings[md.FullName()] {
			bound = append(bound, b.row.name)
		}
		for name := range rows {
			if !slices.Contains(bound, string(name)) {
				t.Errorf("filter %s has no field in %s", name, md.FullName())
			}
		}
	}
}

// TestRequestOfReadsEveryFilter: both filter requests, every filter set,
// read into the same Filters; the values are copies.
func TestRequestOfReadsEveryFilter(t *testing.T) {
	from, to := time.Date(2026, 11, 1, 10, 0, 0, 5, time.UTC), time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC)
	want := Filters{Apps: []string{"app-a"}, UserID: "u1", AnonymousID: "an", SessionID: "s1", EventNames: []string{"tap", "buy"},
		AppVersion: "4.2.0", DeviceOS: "iOS", Country: "GB", From: &from, To: &to, Q: "crash"}
	search := &queryv1.SearchEventsRequest{AppId: "app-a", UserId: "u1", AnonymousId: "an", SessionId: "s1", EventName: []string{"tap", "buy"},
		AppVersion: "4.2.0", DeviceOs: "iOS", Country: "GB", From: timestamppb.New(from), To: timestamppb.New(to), Q: "crash",
		PageSize: 7, PageToken: "x"}
	stats := &queryv1.EventStatsRequest{AppId: "app-a", UserId: "u1", AnonymousId: "an", SessionId: "s1", EventName: []string{"tap", "buy"},
		AppVersion: "4.2.0", DeviceOs: "iOS", Country: "GB", From: timestamppb.New(from), To: timestamppb.New(to), Q: "crash",
		Interval: "1h", Top: 3}
	for _, req := range []interface {
		proto.Message
		GetEventName() []string
	}{search, stats} {
		got := requestOf(req)
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%T:\n got %+v\nwant %+v", req, got, want)
		}
		req.GetEventName()[0] = "changed"
		if got.EventNames[0] != "tap" {
			t.Errorf("%T: the filters share the request's event names", req)
		}
	}
	if got := requestOf(&queryv1.SearchEventsRequest{}); !reflect.DeepEqual(got, Filters{}) {
		t.Errorf("empty request: %+v", got)
	}
	if got := requestOf(&queryv1.GetEventRequest{EventId: "e", AppId: "app-b"}); !reflect.DeepEqual(got, Filters{Apps: []string{"app-b"}}) {
		t.Errorf("GetEventRequest: %+v", got)
	}
	if got := requestOf(&queryv1.GetUserSummaryRequest{UserId: "u9"}); !reflect.DeepEqual(got, Filters{UserID: "u9"}) {
		t.Errorf("GetUserSummaryRequest: %+v", got)
	}
}

// TestScopeRules: each rule of the filter table, and the app scope.
func TestScopeRules(t *testing.T) {
	long := func(n int) string { return strings.Repeat("é", n) }
	names := func(n int) []string { return slices.Repeat([]string{"tap"}, n) }
	t0 := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	t1 := t0.Add(time.Hour)
	all := auth.Principal{AllApps: true}
	appA := auth.Principal{Apps: []string{"app-a", "app-b"}}
	tests := []struct {
		name      string
		p         auth.Principal
		in        Filters
		wantErr   string // "" for none
		wantKind  Kind
		wantApps  []string
		wantNoApp bool // Apps nil: every app
	}{
		{"nothing", all, Filters{}, "", 0, nil, true},
		{"keyword at its limit", all, Filters{UserID: long(256), Country: long(256)}, "", 0, nil, true},
		{"keyword over its limit", all, Filters{SessionID: long(257)}, "session_id: longer than 256 characters", KindInvalidArgument, nil, false},
		{"keyword not UTF-8", all, Filters{AppVersion: "\xff"}, "app_version: not valid UTF-8", KindInvalidArgument, nil, false},
		{"device os over its limit", all, Filters{DeviceOS: long(257)}, "device_os: longer than 256", KindInvalidArgument, nil, false},
		{"app over its limit", all, Filters{Apps: []string{long(257)}}, "app_id: longer than 256", KindInvalidArgument, nil, false},
		{"names at their limit", all, Filters{EventNames: names(50)}, "", 0, nil, true},
		{"too many names", all, Filters{EventNames: names(51)}, "event_name: at most 50 values", KindInvalidArgument, nil, false},
		{"empty name", all, Filters{EventNames: []string{"tap", ""}}, "event_name: must not be empty", KindInvalidArgument, nil, false},
		{"long name", all, Filters{EventNames: []string{long(257)}}, "event_name: longer than 256", KindInvalidArgument, nil, false},
		{"q at its limit", all, Filters{Q: long(1024)}, "", 0, nil, true},
		{"q over its limit", all, Filters{Q: long(1025)}, "q: longer than 1024 characters", KindInvalidArgument, nil, false},
		{"from before to", all, Filters{From: &t0, To: &t1}, "", 0, nil, true},
		{"from alone", all, Filters{From: &t1}, "", 0, nil, true},
		{"from equal to", all, Filters{From: &t0, To: &t0}, "from: must be before to", KindInvalidArgument, nil, false},
		{"from after to", all, Filters{From: &t1, To: &t0}, "from: must be before to", KindInvalidArgument, nil, false},
		{"a value is checked before the scope", appA, Filters{Apps: []string{"app-c"}, UserID: long(300)}, "user_id", KindInvalidArgument, nil, false},
		{"app outside the scope", appA, Filters{Apps: []string{"app-c"}}, "app_id: this token may not read app app-c", KindPermissionDenied, nil, false},
		{"app inside the scope", appA, Filters{Apps: []string{"app-b"}}, "", 0, []string{"app-b"}, false},
		{"no app asked: the token's apps", appA, Filters{UserID: "u1"}, "", 0, []string{"app-a", "app-b"}, false},
		{"no app asked, all apps", all, Filters{Apps: []string{}}, "", 0, nil, true},
		{"any app for an all-apps token", all, Filters{Apps: []string{"app-z"}}, "", 0, []string{"app-z"}, false},
		{"a principal without apps sees nothing", auth.Principal{}, Filters{}, "", 0, []string{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Scope(tt.p, tt.in)
			if tt.wantErr != "" {
				se, ok := AsError(err)
				if !ok || se.Kind != tt.wantKind || !strings.HasPrefix(err.Error(), tt.wantErr) {
					t.Fatalf("err %v, want %v %q", err, tt.wantKind, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tt.wantNoApp != (got.Apps == nil) || !tt.wantNoApp && !slices.Equal(got.Apps, tt.wantApps) {
				t.Fatalf("apps %#v, want %#v (every app: %t)", got.Apps, tt.wantApps, tt.wantNoApp)
			}
		})
	}
	t.Run("the token's apps are a copy", func(t *testing.T) {
		got, _ := Scope(appA, Filters{})
		got.Apps[0] = "changed"
		if appA.Apps[0] != "app-a" {
			t.Fatal("Scope shares the principal's apps")
		}
	})
}

// TestFingerprintUnchanged: the page-token binding is byte for byte the
// one before the filter table (these are the fingerprints its
// json.Marshal(Filters) gave), so page tokens stay valid across the
// upgrade; a time beyond year 9999, which json.Marshal refused (every such
// query then had one fingerprint), is bound too.
func TestFingerprintUnchanged(t *testing.T) {
	from := time.Date(2026, 11, 1, 10, 30, 0, 123456789, time.UTC)
	to := from.Add(36 * time.Hour)
	for _, tt := range []struct {
		f    Filters
		want string
	}{
		{Filters{}, "4c2da4bd6bab48440cbe8ac113791bed"},
		{Filters{UserID: "u1"}, "8d3a7f36956cf316cb21fbd6dece2caa"},
		{Filters{Apps: []string{}}, "c1887704b50b046443368c245103d573"},
		{Filters{Apps: []string{"app-a", "app-b"}, UserID: "u<1>&", AnonymousID: "anon", SessionID: "s", EventNames: []string{"tap", "buy"},
			AppVersion: "1.0", DeviceOS: "iOS 18.1", Country: "GB", From: &from, To: &to, Q: `"null pointer" -x <b>`},
			"71f0cb37ae312877208a2d51093de9d8"},
	} {
		if got := hex.EncodeToString(fingerprint(tt.f)); got != tt.want {
			t.Errorf("fingerprint(%+v) = %s, want %s", tt.f, got, tt.want)
		}
	}
	far1, far2 := time.Date(20000, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(30000, 1, 1, 0, 0, 0, 0, time.UTC)
	if slices.Equal(fingerprint(Filters{UserID: "u1", From: &far1}), fingerprint(Filters{UserID: "u2", From: &far2})) {
		t.Error("two queries with times beyond year 9999 share a fingerprint")
	}
}

// testFilters is a table with the kinds Filters does not use yet.
type testFilters struct {
	Apps   []string   `filter:"app_id" field:"app_id" kind:"keyword" max:"8" scope:"apps" bind:"token"`
	Skewed *bool      `filter:"clock_skewed" field:"clock_skewed" kind:"bool" bind:"token"`
	Since  *time.Time `filter:"since" field:"received_at" kind:"range-gte"`
	Tags   []string   `filter:"tags" field:"tag_a,tag_b" kind:"keyword" max:"4" count:"2" bind:"token"`
}

// testRequest is a message with a bool with presence, a time and a list.
func testRequest(t *testing.T) protoreflect.MessageDescriptor {
	t.Helper()
	opt := descriptorpb.FieldDescriptorProto_LABEL_OPTIONAL
	fdp := &descriptorpb.FileDescriptorProto{
		Name: proto.String("search_filters_test.proto"), Package: proto.String("searchtest"), Syntax: proto.String("proto3"),
		Dependency: []string{"google/protobuf/timestamp.proto"},
		MessageType: []*descriptorpb.DescriptorProto{{
			Name: proto.String("Request"),
			Field: []*descriptorpb.FieldDescriptorProto{
				{Name: proto.String("app_id"), Number: proto.Int32(1), Label: &opt, Type: descriptorpb.FieldDescriptorProto_TYPE_STRING.Enum()},
				{Name: proto.String("clock_skewed"), Number: proto.Int32(2), Label: &opt, Type: descriptorpb.FieldDescriptorProto_TYPE_BOOL.Enum(),
					OneofIndex: proto.Int32(0), Proto3Optional: proto.Bool(true)},
				{Name: proto.String("since"), Number: proto.Int32(3), Label: &opt, Type: descriptorpb.FieldDescriptorProto_TYPE_MESSAGE.Enum(),
					TypeName: proto.String(".google.protobuf.Timestamp")},
				{Name: proto.String("tags"), Number: proto.Int32(4), Label: descriptorpb.FieldDescriptorProto_LABEL_REPEATED.Enum(),
					Type: descriptorpb.FieldDescriptorProto_TYPE_STRING.Enum()},
				{Name: proto.String("page_size"), Number: proto.Int32(5), Label: &opt, Type: descriptorpb.FieldDescriptorProto_TYPE_INT32.Enum()},
			},
			OneofDecl: []*descriptorpb.OneofDescriptorProto{{Name: proto.String("_clock_skewed")}},
		}},
	}
	fd, err := protodesc.NewFile(fdp, protoregistry.GlobalFiles)
	if err != nil {
		t.Fatal(err)
	}
	return fd.Messages().ByName("Request")
}

// TestTableKinds runs a bool, a lower time bound alone, a list over two
// document fields and an unbound filter through the table: read from a
// message, validated, scoped, as clauses and in the page-token binding.
func TestTableKinds(t *testing.T) {
	tb, err := newTable(reflect.TypeFor[testFilters]())
	if err != nil {
		t.Fatal(err)
	}
	md := testRequest(t)
	mb := messageBindings{}
	if err := mb.bind(tb, md); err != nil {
		t.Fatal(err)
	}
	read := func(set func(m *dynamicpb.Message)) testFilters {
		m := dynamicpb.NewMessage(md)
		set(m)
		var f testFilters
		mb.read(m, unsafe.Pointer(&f))
		return f
	}
	since := time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)

	unset := read(func(*dynamicpb.Message) {})
	if unset.Skewed != nil || len(tb.appendClauses(nil, unsafe.Pointer(&unset))) != 0 {
		t.Fatalf("unset bool read as %v", unset.Skewed)
	}
	f := read(func(m *dynamicpb.Message) {
		m.Set(md.Fields().ByName("app_id"), protoreflect.ValueOfString("a"))
		m.Set(md.Fields().ByName("clock_skewed"), protoreflect.ValueOfBool(false))
		m.Set(md.Fields().ByName("since"), protoreflect.ValueOfMessage(timestamppb.New(since).ProtoReflect()))
		l := m.Mutable(md.Fields().ByName("tags")).List()
		l.Append(protoreflect.ValueOfString("x"))
		l.Append(protoreflect.ValueOfString("y"))
		m.Set(md.Fields().ByName("page_size"), protoreflect.ValueOfInt32(9))
	})
	if f.Skewed == nil || *f.Skewed || !slices.Equal(f.Apps, []string{"a"}) || !slices.Equal(f.Tags, []string{"x", "y"}) || f.Since == nil || !f.Since.Equal(since) {
		t.Fatalf("read %+v", f)
	}
	p := unsafe.Pointer(&f)
	if err := tb.validate(p); err != nil {
		t.Fatal(err)
	}
	clauses := tb.appendClauses(nil, p)
	want := []Clause{
		{Match: MatchKeyword, Fields: []string{"app_id"}, Values: []string{"a"}},
		{Match: MatchBool, Fields: []string{"clock_skewed"}, Bool: false},
		{Match: MatchTimeRange, Fields: []string{"received_at"}, From: &since},
		{Match: MatchKeyword, Fields: []string{"tag_a", "tag_b"}, Values: []string{"x", "y"}},
	}
	if !reflect.DeepEqual(clauses, want) {
		t.Fatalf("clauses\n got %+v\nwant %+v", clauses, want)
	}
	if got := string(tb.binding(nil, p)); got != `{"Apps":["a"],"Skewed":false,"Tags":["x","y"]}` {
		t.Fatalf("binding %s (since is not bound)", got)
	}
	f.Tags = []string{"x", "y", "z"}
	if err := tb.validate(p); err == nil || err.Error() != "tags: at most 2 values" {
		t.Fatalf("3 tags: %v", err)
	}
}

// TestTableRefusesIncoherentRows: a row that the table could not apply is
// refused when the table is built, and a proto field that cannot carry a
// row's values when it is bound.
func TestTableRefusesIncoherentRows(t *testing.T) {
	for _, tt := range []struct {
		typ  reflect.Type
		want string
	}{
		{reflect.TypeFor[struct {
			A string
		}](), "no filter tag"},
		{reflect.TypeFor[struct {
			A int `filter:"a" field:"a" kind:"keyword" max:"1"`
		}](), "type int"},
		{reflect.TypeFor[struct {
			A string `filter:"a" field:"a" kind:"keyword"`
		}](), "needs max"},
		{reflect.TypeFor[struct {
			A string `filter:"a" field:"a" kind:"range-gte"`
		}](), "kind range-gte cannot be a string"},
		{reflect.TypeFor[struct {
			A *time.Time `filter:"a" field:"a,b" kind:"range-gte"`
		}](), "on 2 document fields"},
		{reflect.TypeFor[struct {
			A string `filter:"a" field:"a" kind:"fuzzy" max:"1"`
		}](), `kind "fuzzy"`},
		{reflect.TypeFor[struct {
			A string `filter:"a" kind:"keyword" max:"1"`
		}](), "want document fields"},
		{reflect.TypeFor[struct {
			A string `filter:"a" field:"a" kind:"keyword" max:"1" count:"2"`
		}](), "count applies to lists only"},
		{reflect.TypeFor[struct {
			A string `filter:"a" field:"a" kind:"keyword" max:"1" scope:"apps"`
		}](), "scope apps needs a keyword list"},
		{reflect.TypeFor[struct {
			A string `filter:"a" field:"a" kind:"keyword" max:"1" bind:"yes"`
		}](), `bind "yes"`},
		{reflect.TypeFor[struct {
			A string `filter:"a" field:"a" kind:"keyword" max:"1"`
			B string `filter:"a" field:"b" kind:"keyword" max:"1"`
		}](), "declared twice"},
		{reflect.TypeFor[struct {
			A *time.Time `filter:"a" field:"t" kind:"range-gte"`
			B *time.Time `filter:"b" field:"t" kind:"range-gte"`
		}](), "same bound"},
	} {
		if _, err := newTable(tt.typ); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%v: %v, want an error mentioning %q", tt.typ, err, tt.want)
		}
	}
	md := testRequest(t)
	for _, tt := range []struct {
		typ  reflect.Type
		want string
	}{
		{reflect.TypeFor[struct {
			Tags []string `filter:"tags" field:"t" kind:"keyword" max:"4"`
		}](), "repeated field needs count"},
		{reflect.TypeFor[struct {
			Skewed string `filter:"clock_skewed" field:"t" kind:"keyword" max:"4"`
		}](), "cannot carry filter clock_skewed"},
		{reflect.TypeFor[struct {
			Since string `filter:"since" field:"t" kind:"text" max:"4"`
		}](), "cannot carry filter since"},
		{reflect.TypeFor[struct {
			App *bool `filter:"app_id" field:"t" kind:"bool"`
		}](), "cannot carry filter app_id"},
	} {
		tb, err := newTable(tt.typ)
		if err != nil {
			t.Fatal(err)
		}
		if err := (messageBindings{}).bind(tb, md); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%v: %v, want an error mentioning %q", tt.typ, err, tt.want)
		}
	}
}

// TestLargestRequestFitsMaxRequestBytes builds, from the filter table, the
// largest request of each filter message that Scope accepts — every filter
// at its limits in 4-byte characters, the longest page token — and checks
// it encodes within MaxRequestBytes; a new row is covered without editing
// this test.
func TestLargestRequestFitsMaxRequestBytes(t *testing.T) {
	wide := func(n int) protoreflect.Value { return protoreflect.ValueOfString(strings.Repeat("😀", n)) }
	for _, m := range filterRequests {
		msg := proto.Clone(m).ProtoReflect()
		for _, b := range requestBindings[msg.Descriptor().FullName()] {
			switch {
			case b.fd.IsList():
				l := msg.Mutable(b.fd).List()
				for range b.row.count {
					l.Append(wide(b.row.max))
				}
			case b.row.typ == typeTime:
				at := time.Now()
				if b.row.upper {
					at = at.Add(time.Hour)
				}
				msg.Set(b.fd, protoreflect.ValueOfMessage(timestamppb.New(at).ProtoReflect()))
			case b.row.typ == typeBool:
				msg.Set(b.fd, protoreflect.ValueOfBool(true))
			default:
				msg.Set(b.fd, wide(b.row.max))
			}
		}
		if fd := msg.Descriptor().Fields().ByName("page_token"); fd != nil {
			msg.Set(fd, protoreflect.ValueOfString(strings.Repeat("a", maxPageTokenLen)))
		}
		if _, err := Scope(auth.Principal{AllApps: true}, requestOf(msg.Interface())); err != nil {
			t.Fatalf("%s: the largest request is not valid: %v", msg.Descriptor().Name(), err)
		}
		if n := proto.Size(msg.Interface()); n > MaxRequestBytes {
			t.Errorf("a valid %s encodes to %d bytes, over MaxRequestBytes %d", msg.Descriptor().Name(), n, MaxRequestBytes)
		}
	}
}
