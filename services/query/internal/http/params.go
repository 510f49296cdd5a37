package http

import (
	"fmt"
	"net/url"
	"strings"
	"sync"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"github.com/grpc-ecosystem/grpc-gateway/v2/utilities"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// strictParams refuses a query parameter that names no field of the call's
// request, or a field the path already gives, before the gateway's own
// parser reads the rest: that parser skips such keys, so a misspelt filter
// (?userid=, ?event=) widened the search to everything the token may read,
// and a support agent saw other people's events as the person's.
type strictParams struct{ runtime.DefaultQueryParser }

// setStrictParams installs strictParams once: the gateway keeps its query
// parser in a package variable that every mux reads while it serves, so it
// is written once, before the first mux is made, and never again (writing it
// for each mux raced with the muxes already serving).
var setStrictParams sync.Once

// strictQueryParameters is the mux option that makes the gateway use
// strictParams; the option itself does nothing.
func strictQueryParameters() runtime.ServeMuxOption {
	setStrictParams.Do(func() { runtime.SetQueryParameterParser(strictParams{})(runtime.NewServeMux()) })
	return func(*runtime.ServeMux) {}
}

// Parse implements runtime.QueryParameterParser.
func (p strictParams) Parse(msg proto.Message, values url.Values, filter *utilities.DoubleArray) error {
	for key := range values {
		path, ok := fieldPath(msg.ProtoReflect().Descriptor(), key)
		switch {
		case !ok: // a map entry's name[key] too: no query request has a map field
			return fmt.Errorf("parameter %q: not a parameter of this call", truncate(key, 64))
		case filter.HasCommonPrefix(path):
			return fmt.Errorf("parameter %q: given by the path already", truncate(key, 64))
		}
	}
	return p.DefaultQueryParser.Parse(msg, values, filter)
}

// fieldPath is key (a field's proto or JSON name, dotted into singular
// message fields) as proto names, and whether every part names a field.
func fieldPath(md protoreflect.MessageDescriptor, key string) ([]string, bool) {
	parts := strings.Split(key, ".")
	path := make([]string, 0, len(parts))
	for i, name := range parts {
		fields := md.Fields()
		fd := fields.ByTextName(name)
		if fd == nil {
			fd = fields.ByJSONName(name)
		}
		if fd == nil {
			return nil, false
		}
		path = append(path, string(fd.Name()))
		if i == len(parts)-1 {
			break
		}
		if fd.Message() == nil || fd.Cardinality() == protoreflect.Repeated {
			return nil, false
		}
		md = fd.Message()
	}
	return path, true
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
