package search

import (
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"
	"unsafe"
)

// valueType is the Go type of a filter's field.
type valueType int

const (
	typeString  valueType = iota + 1 // string
	typeStrings                      // []string
	typeTime                         // *time.Time
	typeBool                         // *bool
)

var valueTypes = map[reflect.Type]valueType{
	reflect.TypeFor[string]():     typeString,
	reflect.TypeFor[[]string]():   typeStrings,
	reflect.TypeFor[*time.Time](): typeTime,
	reflect.TypeFor[*bool]():      typeBool,
}

// row is one filter: a field of a filters struct and its tag.
type row struct {
	name   string  // in the API: the proto field, the HTTP parameter
	goName string  // the struct field: the key of its page-token binding
	offset uintptr // of the struct field (see fieldOf)
	typ    valueType
	match  Match
	upper  bool     // time range: the exclusive upper bound (range-lt)
	fields []string // document fields
	max    int      // characters of a value; 0: no rule
	count  int      // values of a list; 0: no rule
	scoped bool     // by the token's apps
	bound  bool     // part of the page-token binding
	// omitEmpty: left out of the binding while unset, so that a filter added
	// later keeps the page tokens of queries that do not use it valid.
	omitEmpty bool
}

// table is the filter rows of a struct type, with what is derived from
// them once.
type table struct {
	rows   []row
	scoped []*row
	bound  []*row
	ranges []timeRange
}

// timeRange is the two bounds of a time range on one date field (nil: no
// such bound).
type timeRange struct{ lower, upper *row }

// fieldOf returns the field of row r in the struct at p, a struct of the
// type r's table was built from; T must be the Go type of r.typ (string,
// []string, *time.Time, *bool: newTable checked the field is). The table
// reads and writes fields by their offset rather than through
// reflect.Value, whose Interface and Set would move every Filters of every
// call to the heap: this is the first page's hot path.
func fieldOf[T any](p unsafe.Pointer, r *row) *T { return (*T)(unsafe.Add(p, r.offset)) }

func mustTable(t reflect.Type) *table {
	tb, err := newTable(t)
	if err != nil {
		panic(fmt.Sprintf("filter table %s: %v", t, err))
	}
	return tb
}

// newTable reads the filter rows of struct type t from its tags (see
// Filters) and checks each is coherent: a kind its Go type can hold, the
// limits it needs, one row per API name.
func newTable(t reflect.Type) (*table, error) {
	tb := &table{}
	seen := map[string]bool{}
	for i := range t.NumField() {
		sf := t.Field(i)
		name, ok := sf.Tag.Lookup("filter")
		if !ok {
			return nil, fmt.Errorf("field %s: no filter tag: every field is a filter", sf.Name)
		}
		r, err := parseRow(sf, name)
		if err != nil {
			return nil, fmt.Errorf("field %s (%s): %w", sf.Name, name, err)
		}
		if seen[name] {
			return nil, fmt.Errorf("field %s: filter %s declared twice", sf.Name, name)
		}
		seen[name] = true
		r.offset = sf.Offset
		tb.rows = append(tb.rows, r)
	}
	for i := range tb.rows {
		r := &tb.rows[i]
		if r.scoped {
			tb.scoped = append(tb.scoped, r)
		}
		if r.bound {
			tb.bound = append(tb.bound, r)
		}
		if r.match == MatchTimeRange {
			if err := tb.addBound(r); err != nil {
				return nil, err
			}
		}
	}
	return tb, nil
}

func parseRow(sf reflect.StructField, name string) (row, error) {
	r := row{name: name, goName: sf.Name}
	if name == "" {
		return r, fmt.Errorf("empty filter name")
	}
	typ, ok := valueTypes[sf.Type]
	if !ok {
		return r, fmt.Errorf("type %s: want string, []string, *time.Time or *bool", sf.Type)
	}
	r.typ = typ
	if f := sf.Tag.Get("field"); f != "" {
		r.fields = strings.Split(f, ",")
	}
	if len(r.fields) == 0 || slices.Contains(r.fields, "") {
		return r, fmt.Errorf("field tag %q: want document fields, comma-separated", sf.Tag.Get("field"))
	}
	var err error
	if r.max, err = atoiTag(sf, "max"); err != nil {
		return r, err
	}
	if r.count, err = atoiTag(sf, "count"); err != nil {
		return r, err
	}
	kind := sf.Tag.Get("kind")
	switch kind {
	case "keyword":
		r.match = MatchKeyword
		ok = typ == typeString || typ == typeStrings
	case "range-gte", "range-lt":
		r.match, r.upper = MatchTimeRange, kind == "range-lt"
		ok = typ == typeTime && len(r.fields) == 1
	case "bool":
		r.match = MatchBool
		ok = typ == typeBool
	case "text":
		r.match = MatchFullText
		ok = typ == typeString
	default:
		return r, fmt.Errorf("kind %q: want keyword, range-gte, range-lt, bool or text", kind)
	}
	switch {
	case !ok:
		return r, fmt.Errorf("kind %s cannot be a %s on %d document fields", kind, sf.Type, len(r.fields))
	case (typ == typeString || typ == typeStrings) && r.max <= 0:
		return r, fmt.Errorf("a string filter needs max (characters)")
	case typ != typeString && typ != typeStrings && r.max != 0:
		return r, fmt.Errorf("max applies to strings only")
	case typ != typeStrings && r.count != 0:
		return r, fmt.Errorf("count applies to lists only")
	}
	switch scope := sf.Tag.Get("scope"); scope {
	case "":
	case "apps":
		if r.match != MatchKeyword || typ != typeStrings {
			return r, fmt.Errorf("scope apps needs a keyword list")
		}
		r.scoped = true
	default:
		return r, fmt.Errorf("scope %q: want apps or nothing", scope)
	}
	switch bind := sf.Tag.Get("bind"); bind {
	case "":
	case "token":
		r.bound = true
	case "token,omitempty":
		if r.typ != typeString {
			return r, fmt.Errorf("bind %q: omitempty is for string filters", bind)
		}
		r.bound, r.omitEmpty = true, true
	default:
		return r, fmt.Errorf("bind %q: want token, token,omitempty or nothing", bind)
	}
	return r, nil
}

func atoiTag(sf reflect.StructField, key string) (int, error) {
	s, ok := sf.Tag.Lookup(key)
	if !ok {
		return 0, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("%s %q: want a positive number", key, s)
	}
	return n, nil
}

// addBound pairs a time-range row with the other bound on its field.
func (tb *table) addBound(r *row) error {
	for i := range tb.ranges {
		rg := &tb.ranges[i]
		other := rg.lower
		if other == nil {
			other = rg.upper
		}
		if other.fields[0] != r.fields[0] {
			continue
		}
		bound := &rg.lower
		if r.upper {
			bound = &rg.upper
		}
		if *bound != nil {
			return fmt.Errorf("filters %s and %s are the same bound of %s", (*bound).name, r.name, r.fields[0])
		}
		*bound = r
		return nil
	}
	rg := timeRange{}
	if r.upper {
		rg.upper = r
	} else {
		rg.lower = r
	}
	tb.ranges = append(tb.ranges, rg)
	return nil
}

// The range of a google.protobuf.Timestamp, which bounds a time filter.
var (
	minTime = time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC)
	maxTime = time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC)
)

// validate checks the values of the struct at p, row by row in the
// table's order and then each time range's bounds; the first broken rule is
// the error.
func (tb *table) validate(p unsafe.Pointer) error {
	for i := range tb.rows {
		r := &tb.rows[i]
		switch r.typ {
		case typeString:
			if err := checkValue(r.name, *fieldOf[string](p, r), r.max); err != nil {
				return err
			}
		case typeStrings:
			values := *fieldOf[[]string](p, r)
			if r.count > 0 && len(values) > r.count {
				return invalid(r.name, "at most %d values", r.count)
			}
			for _, s := range values {
				if s == "" {
					return invalid(r.name, "must not be empty")
				}
				if err := checkValue(r.name, s, r.max); err != nil {
					return err
				}
			}
		case typeTime:
			// Over gRPC a timestamp is any seconds and nanos: one past the
			// range of a timestamp would wrap in epoch milliseconds.
			if t := *fieldOf[*time.Time](p, r); t != nil && (t.Before(minTime) || t.After(maxTime)) {
				return invalid(r.name, "must be between %s and %s", minTime.Format(time.RFC3339), maxTime.Format(time.RFC3339))
			}
		}
	}
	for _, rg := range tb.ranges {
		if rg.lower == nil || rg.upper == nil {
			continue
		}
		from, to := *fieldOf[*time.Time](p, rg.lower), *fieldOf[*time.Time](p, rg.upper)
		if from != nil && to != nil && !from.Before(*to) {
			return invalid(rg.lower.name, "must be before %s", rg.upper.name)
		}
	}
	return nil
}

// appendClauses appends the set filters of the struct at p (see
// Filters.AppendClauses).
func (tb *table) appendClauses(dst []Clause, p unsafe.Pointer) []Clause {
	for i := range tb.rows {
		r := &tb.rows[i]
		switch r.typ {
		case typeString:
			s := *fieldOf[string](p, r)
			switch {
			case s == "":
			case r.match == MatchFullText:
				dst = append(dst, Clause{Match: MatchFullText, Fields: r.fields, Value: s})
			default:
				dst = append(dst, Clause{Match: MatchKeyword, Fields: r.fields, Value: s})
			}
		case typeStrings:
			values := *fieldOf[[]string](p, r)
			if values == nil || len(values) == 0 && !r.scoped {
				continue
			}
			dst = append(dst, Clause{Match: MatchKeyword, Fields: r.fields, Values: values})
		case typeBool:
			if b := *fieldOf[*bool](p, r); b != nil {
				dst = append(dst, Clause{Match: MatchBool, Fields: r.fields, Bool: *b})
			}
		case typeTime:
			t := *fieldOf[*time.Time](p, r)
			if t == nil {
				continue
			}
			j := slices.IndexFunc(dst, func(c Clause) bool { return c.Match == MatchTimeRange && c.Fields[0] == r.fields[0] })
			if j < 0 {
				dst = append(dst, Clause{Match: MatchTimeRange, Fields: r.fields})
				j = len(dst) - 1
			}
			if r.upper {
				dst[j].To = t
			} else {
				dst[j].From = t
			}
		}
	}
	return dst
}

// binding appends the page-token binding of the struct at p: a JSON object
// of the bound rows in the table's order, keyed by their Go field names,
// each value as encoding/json writes it — byte for byte what
// json.Marshal(Filters) was before the filter table, so that page tokens
// stay valid across the upgrade (TestFingerprintUnchanged). A time is
// written in RFC 3339 for any year (json.Marshal fails beyond 9999).
func (tb *table) binding(b []byte, p unsafe.Pointer) []byte {
	b = append(b, '{')
	first := true
	for _, r := range tb.bound {
		if r.omitEmpty && *fieldOf[string](p, r) == "" {
			continue
		}
		if !first {
			b = append(b, ',')
		}
		first = false
		b = appendJSONString(b, r.goName)
		b = append(b, ':')
		switch r.typ {
		case typeString:
			b = appendJSONString(b, *fieldOf[string](p, r))
		case typeStrings:
			values := *fieldOf[[]string](p, r)
			if values == nil {
				b = append(b, "null"...)
				continue
			}
			b = append(b, '[')
			for j, s := range values {
				if j > 0 {
					b = append(b, ',')
				}
				b = appendJSONString(b, s)
			}
			b = append(b, ']')
		case typeTime:
			if t := *fieldOf[*time.Time](p, r); t != nil {
				b = append(b, '"')
				b = t.AppendFormat(b, time.RFC3339Nano)
				b = append(b, '"')
			} else {
				b = append(b, "null"...)
			}
		case typeBool:
			if v := *fieldOf[*bool](p, r); v != nil {
				b = strconv.AppendBool(b, *v)
			} else {
				b = append(b, "null"...)
			}
		}
	}
	return append(b, '}')
}

// appendJSONString appends s as encoding/json encodes it: plain printable
// ASCII as is, anything else through json.Marshal (which escapes <, >, &,
// control characters and invalid UTF-8).
func appendJSONString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			q, _ := json.Marshal(s)
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}
