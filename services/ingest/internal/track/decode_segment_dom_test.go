package track

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/valyala/fastjson"
)

// The Segment decoder as it was before it read bodies in place: a tree of
// the whole body built by fastjson, then visited. It is kept as the
// reference the in-place decoder is compared with (decode_segment_diff_test.go).

func parseSegmentDOM(body []byte, o SegmentOptions) (Request, error) {
	var req Request
	var p fastjson.Parser
	v, err := p.ParseBytes(body)
	if err != nil {
		return req, syntaxError(body, err)
	}
	if v.Type() != fastjson.TypeObject {
		want := `an object {"batch": [...], "sentAt": "...", "writeKey": "..."}`
		if o.Call != SegmentBatch {
			want = "one message object"
		}
		return req, &Error{Kind: KindInvalid, Code: "invalid_json", Message: fmt.Sprintf("offset 0: the body must be %s, not %s", want, v.Type())}
	}
	var messages []*fastjson.Value
	var batchCtx *fastjson.Value
	if o.Call == SegmentBatch {
		bv := v.Get("batch")
		if bv == nil {
			return req, &Error{Kind: KindInvalid, Code: "missing_batch", Message: `field "batch": required, an array of messages`}
		}
		if messages, err = bv.Array(); err != nil {
			return req, &Error{Kind: KindInvalid, Code: "invalid_json", Message: fmt.Sprintf(`field "batch": expected an array, got %s`, bv.Type())}
		}
		if c := v.Get("context"); c != nil && c.Type() == fastjson.TypeObject {
			batchCtx = c
		}
	} else {
		messages = []*fastjson.Value{v}
	}
	if o.Authorize != nil {
		var key string
		if kv := v.Get("writeKey"); kv != nil && kv.Type() == fastjson.TypeString {
			b, _ := kv.StringBytes()
			key = string(b)
		}
		if err := o.Authorize(key); err != nil {
			return req, err
		}
	}
	if sv := v.Get("sentAt"); sv != nil && sv.Type() != fastjson.TypeNull {
		s, err := sv.StringBytes()
		if err != nil {
			return req, &Error{Kind: KindInvalid, Code: "invalid_sent_at", Message: fmt.Sprintf(`field "sentAt": expected an ISO 8601 string, got %s`, sv.Type())}
		}
		t, err := parseTime(string(s))
		if err != nil {
			return req, &Error{Kind: KindInvalid, Code: "invalid_sent_at", Message: fmt.Sprintf(`field "sentAt": %q is not an ISO 8601 timestamp with a zone`, truncate(string(s), 64))}
		}
		req.SentAt = t
	}
	req.Events = make([]Input, len(messages))
	a := arena{buf: make([]byte, 0, len(body))}
	if o.NewID == nil {
		o.NewID = randomID
	}
	m := domMapper{a: &a, now: o.Now, batchCtx: batchCtx, newID: o.NewID}
	ips := contextIPs{trust: o.TrustContextIP}
	for i, msg := range messages {
		ip := m.decode(i, msg, o.Call, &req.Events[i])
		ips.add(ip)
	}
	req.ContextIP = ips.shared()
	return req, nil
}

// domMapper turns Segment messages into events. It holds the state of
// the message being decoded, so decoding allocates nothing of its own.
type domMapper struct {
	a        *arena
	newID    func() string
	now      time.Time
	batchCtx *fastjson.Value
	key      []byte // scratch for flattened metadata keys
	num      [32]byte

	// The message being decoded.
	i     int
	in    *Input
	bad   *EventError
	f     domMessage
	visit func(key []byte, v *fastjson.Value) // m.collect, bound once
}

// domMessage holds the fields of one message, found in one pass.
type domMessage struct {
	typ, messageID, event, name, category, userID, anonymousID *fastjson.Value
	timestamp, originalTimestamp, properties, traits, context  *fastjson.Value
	groupID, previousID                                        *fastjson.Value
}

func (m *domMapper) collect(key []byte, fv *fastjson.Value) {
	f := &m.f
	switch string(key) {
	case "type":
		f.typ = fv
	case "messageId":
		f.messageID = fv
	case "event":
		f.event = fv
	case "name":
		f.name = fv
	case "category":
		f.category = fv
	case "userId":
		f.userID = fv
	case "anonymousId":
		f.anonymousID = fv
	case "timestamp":
		f.timestamp = fv
	case "originalTimestamp":
		f.originalTimestamp = fv
	case "properties":
		f.properties = fv
	case "traits":
		f.traits = fv
	case "context":
		f.context = fv
	case "groupId":
		f.groupID = fv
	case "previousId":
		f.previousID = fv
	}
}

// fail records the first reason the message cannot be an event.
func (m *domMapper) fail(field, format string, args ...any) {
	if m.bad == nil {
		m.bad = &EventError{Index: m.i, Field: field, Message: fmt.Sprintf(format, args...)}
	}
}

// str is a string value (numbers as sent, as Segment accepts ids), copied
// into the arena and counted against the event's size.
func (m *domMapper) str(field string, fv *fastjson.Value) string {
	if fv == nil {
		return ""
	}
	switch fv.Type() {
	case fastjson.TypeString:
		b, _ := fv.StringBytes()
		m.in.size += len(b)
		return m.a.string(b)
	case fastjson.TypeNumber:
		b := fv.MarshalTo(m.num[:0])
		m.in.size += len(b)
		return m.a.string(b)
	case fastjson.TypeNull:
		return ""
	default:
		m.fail(field, "expected a string, got %s", fv.Type())
		return ""
	}
}

// domContext holds the members of a context that become event fields.
type domContext struct {
	appVersion, osName, osVersion, deviceModel *fastjson.Value
	locale, timezone, libName, libVersion, ip  *fastjson.Value
}

// read fills what c has of the members still missing, in one pass over c.
func (sc *domContext) read(c *fastjson.Value) {
	obj, err := c.Object()
	if err != nil {
		return
	}
	member := func(v *fastjson.Value, key string, dst **fastjson.Value) {
		if *dst == nil && v.Type() == fastjson.TypeObject {
			*dst = v.Get(key)
		}
	}
	obj.Visit(func(key []byte, v *fastjson.Value) {
		switch string(key) {
		case "app":
			member(v, "version", &sc.appVersion)
		case "os":
			member(v, "name", &sc.osName)
			member(v, "version", &sc.osVersion)
		case "device":
			member(v, "model", &sc.deviceModel)
		case "library":
			member(v, "name", &sc.libName)
			member(v, "version", &sc.libVersion)
		case "locale":
			if sc.locale == nil {
				sc.locale = v
			}
		case "timezone":
			if sc.timezone == nil {
				sc.timezone = v
			}
		case "ip":
			if sc.ip == nil {
				sc.ip = v
			}
		}
	})
}

// extra adds one of the call's own fields to the metadata.
func (m *domMapper) extra(key string, fv *fastjson.Value) {
	if s := m.str(key, fv); s != "" {
		e := &m.in.Event
		if e.Metadata == nil {
			e.Metadata = make(map[string]string, 2)
		}
		m.in.size += len(key) + len(s)
		e.Metadata[key] = s
	}
}

// decode maps message i onto in and returns its context.ip.
func (m *domMapper) decode(i int, v *fastjson.Value, call SegmentCall, in *Input) (ip string) {
	obj, err := v.Object()
	if err != nil {
		in.decodeErr = &EventError{Index: i, Field: "(message)", Message: fmt.Sprintf("expected an object, got %s", v.Type())}
		return ""
	}
	m.i, m.in, m.bad, m.f = i, in, nil, domMessage{}
	if m.visit == nil {
		m.visit = m.collect
	}
	obj.Visit(m.visit)
	f := &m.f
	if call == SegmentBatch {
		t := m.str("type", f.typ)
		c, ok := segmentCallOf([]byte(t))
		if !ok {
			m.fail("type", "must be one of track, identify, page, screen, group, alias; got %q", truncate(t, 32))
		}
		call = c
	}
	e := &in.Event
	e.EventId = m.str("messageId", f.messageID)
	if e.EventId == "" && f.messageID == nil {
		present := func(v *fastjson.Value) bool { return v != nil && v.Type() != fastjson.TypeNull }
		if present(f.timestamp) || present(f.originalTimestamp) {
			e.EventId = domDerivedMessageID(v)
		} else {
			e.EventId = m.newID()
		}
	}
	e.UserId = m.str("userId", f.userID)
	e.AnonymousId = m.str("anonymousId", f.anonymousID)
	switch {
	case f.timestamp != nil && f.timestamp.Type() != fastjson.TypeNull:
		in.ClientTimestamp = m.str("timestamp", f.timestamp)
	case f.originalTimestamp != nil && f.originalTimestamp.Type() != fastjson.TypeNull:
		in.ClientTimestamp = m.str("originalTimestamp", f.originalTimestamp)
	default:
		in.ClientTimestamp = m.now.UTC().Format(time.RFC3339Nano)
	}

	// Properties (track, page, screen) or traits (identify, group) become
	// metadata, flattened; the call's own fields are added beside them.
	var props *fastjson.Value
	propsField := "properties"
	switch call {
	case SegmentTrack:
		e.EventName = m.str("event", f.event)
		props = f.properties
	case SegmentPage, SegmentScreen:
		props = f.properties
	case SegmentIdentify, SegmentGroup:
		props, propsField = f.traits, "traits"
		if props == nil && f.context != nil && f.context.Type() == fastjson.TypeObject {
			// RudderStack's SDKs send identify's traits in context.traits.
			props, propsField = f.context.Get("traits"), "context.traits"
		}
	}
	if call > SegmentTrack && int(call) < len(segmentEventNames) {
		e.EventName = segmentEventNames[call]
	}
	if props != nil {
		switch props.Type() {
		case fastjson.TypeNull:
		case fastjson.TypeObject:
			po, _ := props.Object()
			hint := po.Len() // a map of up to 8 entries is one small group
			if call != SegmentTrack && call != SegmentIdentify {
				hint += 2 // the call's own fields
			}
			e.Metadata = make(map[string]string, hint)
			m.key = m.key[:0]
			m.flatten(props, in)
		default:
			m.fail(propsField, "expected an object, got %s", props.Type())
		}
	}
	switch call {
	case SegmentPage, SegmentScreen:
		m.extra("name", f.name)
		m.extra("category", f.category)
	case SegmentGroup:
		m.extra("groupId", f.groupID)
	case SegmentAlias:
		m.extra("previousId", f.previousID)
	}

	// Context: the message's, else the batch's.
	if f.context != nil && f.context.Type() != fastjson.TypeObject && f.context.Type() != fastjson.TypeNull {
		m.fail("context", "expected an object, got %s", f.context.Type())
	} else if f.context != nil || m.batchCtx != nil {
		var c domContext
		if f.context != nil {
			c.read(f.context)
		}
		if m.batchCtx != nil {
			c.read(m.batchCtx)
		}
		e.AppVersion = m.str("context.app.version", c.appVersion)
		e.OsName = m.str("context.os.name", c.osName)
		e.OsVersion = m.str("context.os.version", c.osVersion)
		e.DeviceModel = m.str("context.device.model", c.deviceModel)
		e.Locale = m.str("context.locale", c.locale)
		e.Timezone = m.str("context.timezone", c.timezone)
		e.SdkName = m.str("context.library.name", c.libName)
		e.SdkVersion = m.str("context.library.version", c.libVersion)
		if c.ip != nil && c.ip.Type() == fastjson.TypeString {
			b, _ := c.ip.StringBytes()
			ip = string(b)
		}
	}
	if m.bad != nil {
		in.invalid(m.bad)
	}
	m.in = nil
	return ip
}

// flatten writes v's members into in's metadata: a nested object's members
// under dotted keys ("product.id"), an array as its compact JSON text, a
// number exactly as sent, a boolean as "true"/"false"; null members and
// empty objects are left out. m.key holds the prefix.
func (m *domMapper) flatten(v *fastjson.Value, in *Input) {
	obj, _ := v.Object()
	prefix := len(m.key)
	obj.Visit(func(k []byte, mv *fastjson.Value) {
		m.key = m.key[:prefix]
		if prefix > 0 {
			m.key = append(m.key, '.')
		}
		m.key = append(m.key, k...)
		var s []byte
		switch mv.Type() {
		case fastjson.TypeObject:
			m.flatten(mv, in)
			return
		case fastjson.TypeNull:
			return
		case fastjson.TypeString:
			s, _ = mv.StringBytes()
		case fastjson.TypeTrue:
			s = []byte("true")
		case fastjson.TypeFalse:
			s = []byte("false")
		default: // numbers as sent, arrays as compact JSON
			s = mv.MarshalTo(nil)
		}
		key := m.a.string(m.key)
		val := m.a.string(s)
		in.size += len(key) + len(val)
		in.Event.Metadata[key] = val
	})
	m.key = m.key[:prefix]
}

// domDerivedMessageID stands in for a missing messageId: a hash of the message
// as sent, so a retry of the same message gets the same id.
func domDerivedMessageID(v *fastjson.Value) string {
	sum := sha256.Sum256(v.MarshalTo(nil))
	return "derived-" + hex.EncodeToString(sum[:16])
}
