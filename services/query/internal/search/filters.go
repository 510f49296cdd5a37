package search

import (
	"reflect"
	"time"
	"unicode/utf8"
	"unsafe"

	"github.com/evtrack/telemetry/services/query/internal/auth"
)

// Filters select events: first the filters a call asked for (requestOf),
// then — once Scope has checked them and applied the token's scope — what
// the store searches.
//
// Each field is one filter, and its tag is that filter's row in the filter
// table: everything else is derived from it (filterTable, parsed once) —
// reading it from a request (the proto field of the same name, through
// protoreflect), its validation, the token's app scope, the page-token
// binding and the store's clause (Clauses). Adding a filter is one field
// here plus the proto field of SearchEventsRequest and EventStatsRequest;
// TestFilterTableMatchesTheContract fails until both exist. The tag keys:
//
//	filter  its name in the API: the proto field and the HTTP query parameter
//	field   the document field(s) it applies to, comma-separated (a value
//	        matches when any of them has it)
//	kind    keyword: exact term (a list: any of its values) — string or []string
//	        range-gte, range-lt: the inclusive lower and exclusive upper bound
//	        of a time range on one date field — *time.Time; a request with
//	        both must have the lower before the upper
//	        bool: true or false — *bool, from a proto field with presence
//	        text: full text in simple query syntax — string
//	max     the longest value in characters (keyword, text); values must be
//	        UTF-8
//	count   the most values of a list (required when the proto field is
//	        repeated); list values must not be empty
//	scope   apps: the values are apps, and a call sees only its token's: an
//	        app outside them is refused, and none asked for means the
//	        token's apps (nil: every app, for a token that may read all)
//	bind    token: a page token is bound to this filter's value (keyed by
//	        the Go field name, as before the table, so tokens survive the
//	        upgrade); token,omitempty: only when set — every filter added
//	        after the table, so that adding one keeps tokens valid
//
// Every value only ever fills a term, terms, range or simple_query_string
// parameter built from typed values: nothing a caller sends becomes query
// syntax.
type Filters struct {
	Apps        []string   `filter:"app_id"       field:"app_id"            kind:"keyword"   max:"256" scope:"apps" bind:"token"`
	UserID      string     `filter:"user_id"      field:"user_id"           kind:"keyword"   max:"256"              bind:"token"`
	AnonymousID string     `filter:"anonymous_id" field:"anonymous_id"      kind:"keyword"   max:"256"              bind:"token"`
	SessionID   string     `filter:"session_id"   field:"session_id"        kind:"keyword"   max:"256"              bind:"token"`
	EventNames  []string   `filter:"event_name"   field:"event_name"        kind:"keyword"   max:"256" count:"50"   bind:"token"`
	AppVersion  string     `filter:"app_version"  field:"app_version"       kind:"keyword"   max:"256"              bind:"token"`
	DeviceOS    string     `filter:"device_os"    field:"os_name,device_os" kind:"keyword"   max:"256"              bind:"token"`
	Country     string     `filter:"country"      field:"country"           kind:"keyword"   max:"256"              bind:"token"`
	From        *time.Time `filter:"from"         field:"timestamp"         kind:"range-gte"                        bind:"token"`
	To          *time.Time `filter:"to"           field:"timestamp"         kind:"range-lt"                         bind:"token"`
	Q           string     `filter:"q"            field:"message,metadata_text,metadata" kind:"text" max:"1024"     bind:"token"`
	OSVersion   string     `filter:"os_version"   field:"os_version"        kind:"keyword"   max:"256"              bind:"token,omitempty"`
	DeviceModel string     `filter:"device_model" field:"device_model"      kind:"keyword"   max:"256"              bind:"token,omitempty"`
	Locale      string     `filter:"locale"       field:"locale"            kind:"keyword"   max:"256"              bind:"token,omitempty"`
	Timezone    string     `filter:"timezone"     field:"timezone"          kind:"keyword"   max:"256"              bind:"token,omitempty"`
	SDKName     string     `filter:"sdk_name"     field:"sdk_name"          kind:"keyword"   max:"256"              bind:"token,omitempty"`
	SDKVersion  string     `filter:"sdk_version"  field:"sdk_version"       kind:"keyword"   max:"256"              bind:"token,omitempty"`
}

// filterTable is the rows of Filters' tags, parsed once.
var filterTable = mustTable(reflect.TypeFor[Filters]())

// Scope checks f's values against the rules of the filter table and applies
// the principal's app scope to the scoped filters.
func Scope(p auth.Principal, f Filters) (Filters, error) {
	if err := filterTable.validate(unsafe.Pointer(&f)); err != nil {
		return f, err
	}
	for _, r := range filterTable.scoped {
		apps := fieldOf[[]string](unsafe.Pointer(&f), r)
		switch {
		case len(*apps) > 0:
			for _, app := range *apps {
				if !p.CanRead(app) {
					return f, &Error{Kind: KindPermissionDenied, Param: r.name, Message: "this token may not read app " + app}
				}
			}
		case p.AllApps:
			*apps = nil
		default:
			// Never nil: nil would mean every app. A principal with no
			// apps sees nothing.
			*apps = append([]string{}, p.Apps...)
		}
	}
	return f, nil
}

// Match is how a filter matches documents.
type Match int

const (
	// MatchKeyword: a keyword field holds Value, or one of Values.
	MatchKeyword Match = iota + 1
	// MatchTimeRange: a date field is in [From, To) (either may be nil).
	MatchTimeRange
	// MatchBool: a boolean field is Bool.
	MatchBool
	// MatchFullText: Value, in simple query syntax, matches the text of
	// Fields.
	MatchFullText
)

// Clause is one filter that is set, as the store applies it: typed values
// for document fields, never query syntax. A document matches a clause when
// any of Fields matches.
type Clause struct {
	Match  Match
	Fields []string
	// Value: the keyword of a filter that takes one, or the full text.
	Value string
	// Values (keyword, not nil for a filter that takes a list, even of one
	// value): any of them.
	Values []string
	// From, To (time range).
	From, To *time.Time
	// Bool (bool).
	Bool bool
}

// AppendClauses appends the filters of f that are set to dst, in the
// table's order (the two bounds of a time range as one clause). A nil
// scoped list is no filter (every app); an empty one matches nothing.
func (f *Filters) AppendClauses(dst []Clause) []Clause {
	return filterTable.appendClauses(dst, unsafe.Pointer(f))
}

func checkValue(name, v string, max int) error {
	switch {
	case !utf8.ValidString(v):
		return invalid(name, "not valid UTF-8")
	case len(v) > max && utf8.RuneCountInString(v) > max:
		return invalid(name, "longer than %d characters", max)
	}
	return nil
}
