package main

import (
	"fmt"
	"strings"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	telemetryv1 "github.com/evtrack/telemetry/contracts/gen/go/telemetry/v1"
)

// kind is the Go shape of a field.
type kind string

const (
	kindString    kind = "string"
	kindTimestamp kind = "timestamp"
	kindInt64     kind = "int64"
	kindBool      kind = "bool"
	kindMap       kind = "map"
)

// inputField is one field of telemetry.v1.Event with its input rule.
type inputField struct {
	Name   string // proto and JSON name
	PbGo   string // Go field name on telemetryv1.Event
	Kind   kind
	Rule   *telemetryv1.InputRule
	Stored bool // the document keeps it under the same name (copied by enrich)
}

// docField is one field of telemetry.v1.StoredEvent kept in the document.
type docField struct {
	Proto      string // StoredEvent field name
	PbGo       string // Go field name on telemetryv1.StoredEvent
	Name       string // name in the document
	GoName     string // Go field name on eventdoc.Source
	Kind       kind
	Type       telemetryv1.DocType
	Always     bool
	Ignore     uint32
	SortOnly   bool   // doc values, no inverted index
	SearchOnly bool   // inverted index, no doc values
	Companion  string // Go name of a has_<proto> bool on StoredEvent, set when the field is
	FromEvent  string // Go name of the same-named Event field the document copies, if any
}

// protoField is one field of telemetry.v1.StoredEvent, kept in the document
// or not, as the query API's JSON carries it.
type protoField struct {
	Name string // proto name, the JSON name with UseProtoNames
	PbGo string // Go field name on telemetryv1.StoredEvent
	Kind kind
}

// textCopy is a document field that holds a flat_object field's values as
// full text (DocRule.text_copy), written by enrich.
type textCopy struct {
	Name   string // name in the document
	GoName string // Go field name on eventdoc.Source
	Of     string // Go name of the map field on eventdoc.Source it copies
}

type model struct {
	Inputs []inputField
	Docs   []docField
	Copies []textCopy
	Stored []protoField // every StoredEvent field, in declaration order
}

func load() (*model, error) {
	m := &model{}
	ev := (&telemetryv1.Event{}).ProtoReflect().Descriptor()
	st := (&telemetryv1.StoredEvent{}).ProtoReflect().Descriptor()
	evFields := map[string]inputField{}
	for i := range ev.Fields().Len() {
		f := ev.Fields().Get(i)
		rule, _ := proto.GetExtension(f.Options(), telemetryv1.E_Input).(*telemetryv1.InputRule)
		if rule == nil {
			return nil, fmt.Errorf("telemetry.v1.Event.%s has no (telemetry.v1.input) option", f.Name())
		}
		k, err := kindOf(f)
		if err != nil {
			return nil, fmt.Errorf("telemetry.v1.Event.%s: %w", f.Name(), err)
		}
		in := inputField{Name: string(f.Name()), PbGo: goCamel(string(f.Name())), Kind: k, Rule: rule}
		evFields[in.Name] = in
		m.Inputs = append(m.Inputs, in)
	}
	for i := range st.Fields().Len() {
		f := st.Fields().Get(i)
		k, err := kindOf(f)
		if err != nil {
			return nil, fmt.Errorf("telemetry.v1.StoredEvent.%s: %w", f.Name(), err)
		}
		m.Stored = append(m.Stored, protoField{Name: string(f.Name()), PbGo: goCamel(string(f.Name())), Kind: k})
		rule, _ := proto.GetExtension(f.Options(), telemetryv1.E_Doc).(*telemetryv1.DocRule)
		if rule == nil || rule.Type == telemetryv1.DocType_DOC_TYPE_UNSPECIFIED {
			continue
		}
		d := docField{Proto: string(f.Name()), PbGo: goCamel(string(f.Name())), Name: rule.Name, Kind: k, Type: rule.Type,
			Always: rule.Presence == telemetryv1.Presence_PRESENCE_ALWAYS, Ignore: rule.IgnoreAbove,
			SortOnly: rule.SortOnly, SearchOnly: rule.SearchOnly}
		if d.Name == "" {
			d.Name = d.Proto
		}
		d.GoName = goInitialisms(d.Name)
		if rule.SetFlag != "" {
			c := st.Fields().ByName(protoreflect.Name(rule.SetFlag))
			if c == nil || c.Kind() != protoreflect.BoolKind || d.Always {
				return nil, fmt.Errorf("telemetry.v1.StoredEvent.%s: set_flag %q must name a bool field, on an optional field", f.Name(), rule.SetFlag)
			}
			d.Companion = goCamel(rule.SetFlag)
		}
		if in, ok := evFields[d.Proto]; ok && in.Kind == k && (k == kindString || k == kindMap) {
			d.FromEvent = in.PbGo
			for j := range m.Inputs {
				if m.Inputs[j].Name == in.Name {
					m.Inputs[j].Stored = true
				}
			}
		}
		if err := d.check(); err != nil {
			return nil, fmt.Errorf("telemetry.v1.StoredEvent.%s: %w", f.Name(), err)
		}
		m.Docs = append(m.Docs, d)
		if rule.TextCopy != "" {
			if d.Type != telemetryv1.DocType_DOC_TYPE_FLAT_OBJECT {
				return nil, fmt.Errorf("telemetry.v1.StoredEvent.%s: text_copy applies to flat_object fields only", f.Name())
			}
			m.Copies = append(m.Copies, textCopy{Name: rule.TextCopy, GoName: goInitialisms(rule.TextCopy), Of: d.GoName})
		}
	}
	if len(m.Docs) == 0 || !m.Docs[0].Always {
		return nil, fmt.Errorf("the first document field must have presence ALWAYS (the encoder opens the object with it)")
	}
	return m, nil
}

// check refuses doc rules whose type does not fit the field.
func (d docField) check() error {
	want := map[telemetryv1.DocType][]kind{
		telemetryv1.DocType_DOC_TYPE_KEYWORD:     {kindString},
		telemetryv1.DocType_DOC_TYPE_TEXT:        {kindString},
		telemetryv1.DocType_DOC_TYPE_DATE:        {kindTimestamp},
		telemetryv1.DocType_DOC_TYPE_LONG:        {kindInt64},
		telemetryv1.DocType_DOC_TYPE_BOOLEAN:     {kindBool},
		telemetryv1.DocType_DOC_TYPE_FLAT_OBJECT: {kindMap},
		telemetryv1.DocType_DOC_TYPE_IP:          {kindString},
	}[d.Type]
	for _, k := range want {
		if k == d.Kind {
			if d.Ignore > 0 && d.Type != telemetryv1.DocType_DOC_TYPE_KEYWORD {
				return fmt.Errorf("ignore_above applies to keywords only")
			}
			if (d.SortOnly || d.SearchOnly) && d.Type != telemetryv1.DocType_DOC_TYPE_KEYWORD {
				return fmt.Errorf("sort_only and search_only apply to keywords only")
			}
			if d.SortOnly && d.SearchOnly {
				return fmt.Errorf("sort_only and search_only exclude each other")
			}
			return nil
		}
	}
	return fmt.Errorf("doc type %s does not fit a %s field", d.Type, d.Kind)
}

func kindOf(f protoreflect.FieldDescriptor) (kind, error) {
	switch {
	case f.IsMap() && f.MapKey().Kind() == protoreflect.StringKind && f.MapValue().Kind() == protoreflect.StringKind:
		return kindMap, nil
	case f.IsList() || f.IsMap():
		return "", fmt.Errorf("lists and non-string maps are not supported")
	case f.Kind() == protoreflect.StringKind:
		return kindString, nil
	case f.Kind() == protoreflect.BoolKind:
		return kindBool, nil
	case f.Kind() == protoreflect.Int64Kind:
		return kindInt64, nil
	case f.Kind() == protoreflect.MessageKind && f.Message().FullName() == "google.protobuf.Timestamp":
		return kindTimestamp, nil
	}
	return "", fmt.Errorf("type %s is not supported", f.Kind())
}

// goCamel is protoc-gen-go's name for a field: event_id → EventId.
func goCamel(name string) string {
	var b strings.Builder
	for _, part := range strings.Split(name, "_") {
		if part != "" {
			b.WriteString(strings.ToUpper(part[:1]) + part[1:])
		}
	}
	return b.String()
}

// goInitialisms is the Go name with initialisms: doc_id → DocID, os_name → OSName.
func goInitialisms(name string) string {
	var b strings.Builder
	for _, part := range strings.Split(name, "_") {
		switch part {
		case "id", "os", "ip", "url", "ua":
			b.WriteString(strings.ToUpper(part))
		case "":
		default:
			b.WriteString(strings.ToUpper(part[:1]) + part[1:])
		}
	}
	return b.String()
}
