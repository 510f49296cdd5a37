package search

import (
	"fmt"
	"time"
	"unsafe"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/known/timestamppb"

	queryv1 "github.com/evtrack/telemetry/contracts/gen/go/telemetry/query/v1"
)

// binding reads one filter from a field of a request message.
type binding struct {
	row *row
	fd  protoreflect.FieldDescriptor
}

// messageBindings are the bindings of each request message type.
type messageBindings map[protoreflect.FullName][]binding

// requestBindings binds the filter table to the request of every
// QueryService method, by field name, once.
var requestBindings = mustBindService(filterTable, protoreflect.FullName(queryv1.QueryService_ServiceDesc.ServiceName))

func mustBindService(tb *table, service protoreflect.FullName) messageBindings {
	d, err := protoregistry.GlobalFiles.FindDescriptorByName(service)
	if err != nil {
		panic(fmt.Sprintf("service %s: %v", service, err))
	}
	sd, ok := d.(protoreflect.ServiceDescriptor)
	if !ok {
		panic(fmt.Sprintf("%s is not a service", service))
	}
	mb := messageBindings{}
	for i := range sd.Methods().Len() {
		if err := mb.bind(tb, sd.Methods().Get(i).Input()); err != nil {
			panic(err.Error())
		}
	}
	return mb
}

// bind binds every row of tb that md has a field for (by the row's API
// name), checking that the field can carry the row's values: string for a
// string, string or repeated string (with a count) for a list, a
// google.protobuf.Timestamp for a time, a bool with presence for a bool.
// Fields without a row are not read.
func (mb messageBindings) bind(tb *table, md protoreflect.MessageDescriptor) error {
	var bs []binding
	for i := range tb.rows {
		r := &tb.rows[i]
		fd := md.Fields().ByName(protoreflect.Name(r.name))
		if fd == nil {
			continue
		}
		var ok bool
		switch r.typ {
		case typeString:
			ok = fd.Kind() == protoreflect.StringKind && !fd.IsList()
		case typeStrings:
			ok = fd.Kind() == protoreflect.StringKind && !fd.IsMap() && (!fd.IsList() || r.count > 0)
		case typeTime:
			ok = fd.Kind() == protoreflect.MessageKind && !fd.IsList() && !fd.IsMap() &&
				fd.Message().FullName() == (*timestamppb.Timestamp)(nil).ProtoReflect().Descriptor().FullName()
		case typeBool:
			ok = fd.Kind() == protoreflect.BoolKind && !fd.IsList() && fd.HasPresence()
		}
		if !ok {
			return fmt.Errorf("%s: field %s (%s, list %t) cannot carry filter %s (%s; a repeated field needs count)",
				md.FullName(), fd.Name(), fd.Kind(), fd.IsList(), r.name, r.goName)
		}
		bs = append(bs, binding{row: r, fd: fd})
	}
	mb[md.FullName()] = bs
	return nil
}

// requestOf reads the filters of a QueryService request: each field that
// has a row in the filter table, by name. Nothing else of the request is
// read; values are copied, not shared with the message.
func requestOf(req proto.Message) Filters {
	var f Filters
	requestBindings.read(req.ProtoReflect(), unsafe.Pointer(&f))
	return f
}

// read sets the fields of the struct at p (of the bound table's type)
// from msg.
func (mb messageBindings) read(msg protoreflect.Message, p unsafe.Pointer) {
	for _, b := range mb[msg.Descriptor().FullName()] {
		if !msg.Has(b.fd) {
			continue
		}
		pv := msg.Get(b.fd)
		switch b.row.typ {
		case typeString:
			*fieldOf[string](p, b.row) = pv.String()
		case typeStrings:
			if !b.fd.IsList() {
				*fieldOf[[]string](p, b.row) = []string{pv.String()}
				continue
			}
			l := pv.List()
			s := make([]string, l.Len())
			for i := range s {
				s[i] = l.Get(i).String()
			}
			*fieldOf[[]string](p, b.row) = s
		case typeTime:
			t := timestampOf(pv.Message())
			*fieldOf[*time.Time](p, b.row) = &t
		case typeBool:
			x := pv.Bool()
			*fieldOf[*bool](p, b.row) = &x
		}
	}
}

// timestampOf is google.protobuf.Timestamp's AsTime, read through
// reflection so that it works on any implementation of the message.
func timestampOf(m protoreflect.Message) time.Time {
	if ts, ok := m.Interface().(*timestamppb.Timestamp); ok {
		return ts.AsTime()
	}
	fields := m.Descriptor().Fields()
	secs, nanos := m.Get(fields.ByName("seconds")).Int(), m.Get(fields.ByName("nanos")).Int()
	return time.Unix(secs, nanos).UTC()
}
