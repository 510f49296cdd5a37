package main

import (
	"fmt"
	"strings"
)

// goType is a document field's type on eventdoc.Source.
func goType(d docField) string {
	switch d.Kind {
	case kindTimestamp:
		if d.Always {
			return "time.Time"
		}
		return "*time.Time"
	case kindInt64:
		if d.Always {
			return "int64"
		}
		return "*int64"
	case kindMap:
		return "map[string]string"
	}
	return string(d.Kind) // string, bool
}

// encode is the statement of Source.AppendJSON that writes field i.
func encode(i int, d docField) string {
	key := "`," + fmt.Sprintf("%q", d.Name) + ":`"
	if i == 0 {
		key = "`{" + fmt.Sprintf("%q", d.Name) + ":`"
	}
	f := "s." + d.GoName
	switch d.Kind {
	case kindString:
		if d.Always {
			return fmt.Sprintf("b = appendString(append(b, %s...), %s)", key, f)
		}
		return fmt.Sprintf("b = appendOpt(b, %s, %s)", key, f)
	case kindTimestamp:
		if d.Always {
			return fmt.Sprintf("b = appendMillis(b, %s, %s)", key, f)
		}
		return fmt.Sprintf("if %s != nil {\nb = appendMillis(b, %s, *%s)\n}", f, key, f)
	case kindInt64:
		if d.Always {
			return fmt.Sprintf("b = appendInt(b, %s, %s)", key, f)
		}
		return fmt.Sprintf("if %s != nil {\nb = appendInt(b, %s, *%s)\n}", f, key, f)
	case kindBool:
		if d.Always {
			return fmt.Sprintf("b = appendBool(b, %s, %s)", key, f)
		}
		return fmt.Sprintf("if %s {\nb = appendBool(b, %s, true)\n}", f, key)
	case kindMap:
		if d.Always {
			return fmt.Sprintf("b = appendMap(b, %s, %s)", key, f)
		}
		return fmt.Sprintf("if len(%s) > 0 {\nb = appendMap(b, %s, %s)\n}", f, key, f)
	}
	return "// unsupported field " + d.Name
}

// decode is the case of decodeSource (the query service's reader of a
// document's _source) that reads field d from the value v into s.
func decode(d docField) string {
	f := "&s." + d.GoName
	var call string
	switch d.Kind {
	case kindString:
		call = "readString(a, v, %s)"
	case kindTimestamp:
		call = "readTime(a, v, %s)"
		if !d.Always {
			call = "readTimePtr(a, v, %s)"
		}
	case kindInt64:
		call = "readInt64(v, %s)"
		if !d.Always {
			call = "readInt64Ptr(v, %s)"
		}
	case kindBool:
		call = "readBool(v, %s)"
	case kindMap:
		call = "readStringMap(a, v, %s)"
	default:
		return "// unsupported field " + d.Name
	}
	return fmt.Sprintf("case %q:\nerr = "+call, d.Name, f)
}

// writeJSON is the statement of appendStoredEvent (the query API's JSON of
// a StoredEvent) that writes field f.
func writeJSON(f protoField) string {
	method := map[kind]string{kindString: "str", kindTimestamp: "timestamp", kindInt64: "int64", kindBool: "boolean", kindMap: "stringMap"}[f.Kind]
	if method == "" {
		return "// unsupported field " + f.Name
	}
	return fmt.Sprintf("o.%s(%q, e.%s)", method, f.Name, f.PbGo)
}

// storedSet is the statement of stored that copies d onto the StoredEvent
// e, if d is always in the document (storedAfter sets the others).
func storedSet(d docField) string {
	f := "s." + d.GoName
	switch {
	case d.Kind == kindTimestamp && d.Always:
		return fmt.Sprintf("e.%s = a.timestamp(%s)", d.PbGo, f)
	case d.Kind == kindTimestamp, d.Kind == kindInt64 && !d.Always:
		return ""
	}
	return fmt.Sprintf("e.%s = %s", d.PbGo, f)
}

// storedAfter is the statement that sets d on the StoredEvent e when it is
// optional in the document.
func storedAfter(d docField) string {
	f := "s." + d.GoName
	switch {
	case d.Kind == kindTimestamp && !d.Always:
		return fmt.Sprintf("if %s != nil {\ne.%s = a.timestamp(*%s)\n}", f, d.PbGo, f)
	case d.Kind == kindInt64 && !d.Always:
		set := fmt.Sprintf("e.%s = *%s", d.PbGo, f)
		if d.Companion != "" {
			set += fmt.Sprintf("\ne.%s = true", d.Companion)
		}
		return fmt.Sprintf("if %s != nil {\n%s\n}", f, set)
	}
	return ""
}

// group is a set of fields at least one of which an event must set.
type group struct {
	First string // the field an error names
	Names string // the fields in words
	Unset string // a Go condition: none of them is set on e
}

func (m *model) groups() []group {
	var out []group
	seen := map[string]bool{}
	for _, in := range m.Inputs {
		g := in.Rule.OneOfGroup
		if g == "" || seen[g] {
			continue
		}
		seen[g] = true
		var names, unset []string
		for _, o := range m.Inputs {
			if o.Rule.OneOfGroup == g {
				names = append(names, o.Name)
				unset = append(unset, fmt.Sprintf("e.%s == \"\"", o.PbGo))
			}
		}
		out = append(out, group{First: names[0], Names: strings.Join(names, " or "), Unset: strings.Join(unset, " && ")})
	}
	return out
}

func (m *model) stringCount() int {
	n := 0
	for _, in := range m.Inputs {
		if in.Kind == kindString {
			n++
		}
	}
	return n
}

// timestampCount is how many document fields are timestamps (the
// Timestamps a StoredEvent can hold).
func (m *model) timestampCount() int {
	n := 0
	for _, d := range m.Docs {
		if d.Kind == kindTimestamp {
			n++
		}
	}
	return n
}
