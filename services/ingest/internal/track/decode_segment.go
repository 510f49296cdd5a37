package track

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/netip"
	"strings"
	"time"
)

// SegmentCall is the Segment tracking-API call a body arrived on: a batch
// of messages of any type, or one message of the call's type.
type SegmentCall int

// The Segment calls.
const (
	SegmentBatch SegmentCall = iota + 1
	SegmentTrack
	SegmentIdentify
	SegmentPage
	SegmentScreen
	SegmentGroup
	SegmentAlias
)

// segmentCallOf is the call a message's "type" names.
func segmentCallOf(typ []byte) (SegmentCall, bool) {
	switch string(typ) {
	case "track":
		return SegmentTrack, true
	case "identify":
		return SegmentIdentify, true
	case "page":
		return SegmentPage, true
	case "screen":
		return SegmentScreen, true
	case "group":
		return SegmentGroup, true
	case "alias":
		return SegmentAlias, true
	}
	return 0, false
}

// segmentEventNames are the event names of the calls that are not track.
var segmentEventNames = [...]string{
	SegmentIdentify: "$identify", SegmentPage: "$page", SegmentScreen: "$screen",
	SegmentGroup: "$group", SegmentAlias: "$alias",
}

// SegmentOptions say how to decode one Segment body.
type SegmentOptions struct {
	Call SegmentCall
	// Now is the client_timestamp of a message that carries neither
	// timestamp nor originalTimestamp (the time ingest received it).
	Now time.Time
	// Authorize, when set, is called with the body's writeKey after the body
	// is parsed and before any message is decoded (the caller sent no
	// Authorization header); its error ends the decoding.
	Authorize func(writeKey string) error
	// TrustContextIP keeps context.ip: Request.ContextIP is set when every
	// message of the body carries the same valid address there.
	TrustContextIP bool
	// NewID is the event id of a message with neither messageId nor a time
	// of its own (timestamp, originalTimestamp); nil: a random one, as
	// Segment assigns. Such messages are told apart by nothing else: two
	// with the same content are two events (a derived id made the second
	// a duplicate of the first, and dropped it).
	NewID func() string
}

// randomID is an id for a message that has none and cannot be told apart
// from another by its content.
func randomID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand)
	return "random-" + hex.EncodeToString(b[:])
}

// hasTime reports whether a message value v of timestamp or
// originalTimestamp is there (neither absent nor null).
func hasTime(v jsonValue) bool { return v.kind != jsonAbsent && v.kind != jsonNull }

// segmentShapeLimits bound a Segment body before it is decoded: a message
// carries more structure than one of our events (context.app, .os, .device,
// .library, .screen, .network, integrations, _metadata), so each may hold up
// to 48 such pairs beside its properties or traits.
func segmentShapeLimits(lim Limits) ShapeLimits {
	perEvent := 2*(48+lim.MaxMetadataKeys) + 32
	return ShapeLimits{MaxEvents: lim.MaxEvents, MaxTokens: lim.MaxEvents*perEvent + 256}
}

// SegmentScanner returns a shape check for one Segment body (see Scanner).
func (d *Decoder) SegmentScanner() *JSONScanner { return NewJSONScanner(d.segmentShape) }

// Segment scans and decodes a whole Segment body (see SegmentScanned).
func (d *Decoder) Segment(body []byte, o SegmentOptions) (req Request, release func(), err error) {
	sc := d.SegmentScanner()
	if _, err := sc.Write(body); err != nil {
		return req, nil, err
	}
	return d.SegmentScanned(body, sc, o)
}

// SegmentScanned decodes a Segment tracking-API body that sc (from
// SegmentScanner) has already seen whole and passed: {"batch": [...],
// "sentAt", "writeKey", "context"} for SegmentBatch, one message for the
// other calls. Each message becomes one event (the mapping is documented in
// services/ingest/README.md); a message that cannot be mapped only makes
// that event invalid, with the field named as Segment names it. The same
// memory budget is charged as for JSON, before anything is built.
func (d *Decoder) SegmentScanned(body []byte, sc *JSONScanner, o SegmentOptions) (req Request, release func(), err error) {
	release, err = d.take(int64(sc.Tokens())*jsonTokenBytes + int64(sc.Events())*eventBytes + int64(len(body)))
	if err != nil {
		return req, nil, err
	}
	req, err = parseSegment(body, sc.Events(), d.lim.MaxEventBytes, o)
	if err != nil {
		release()
		return req, nil, err
	}
	return req, release, nil
}

// parseSegment reads the body once, in place: no tree of it is built. A
// batch's messages are mapped as they are read when nothing has to be
// known first (the key came in the header); a body that carries its key is
// read whole and authorized before any message is mapped. messages is the
// scanner's count of elements, at least the batch's. A message whose
// properties or traits flatten to more than maxEventBytes (0: no bound) is
// invalid as soon as they do (see flatten).
func parseSegment(body []byte, messages, maxEventBytes int, o SegmentOptions) (Request, error) {
	var req Request
	if o.NewID == nil {
		o.NewID = randomID
	}
	m := segmentMapper{
		r: jsonReader{b: body}, call: o.Call, now: o.Now, trustIP: o.TrustContextIP, maxPairsSize: maxEventBytes, newID: o.NewID,
		ips: contextIPs{trust: o.TrustContextIP}, batchCtxAt: -1, touched: [2]int{-1, -1},
		pairs: make([]metadataPair, 0, 16), key: make([]byte, 0, 128), keyScratch: keyScratch{kbuf: make([]byte, 0, 64)},
	}
	r := &m.r
	if r.peek() != '{' {
		v := r.value()
		r.end()
		if r.err != nil {
			return req, syntaxError(body, r.err)
		}
		want := `an object {"batch": [...], "sentAt": "...", "writeKey": "..."}`
		if o.Call != SegmentBatch {
			want = "one message object"
		}
		return req, &Error{Kind: KindInvalid, Code: "invalid_json", Message: fmt.Sprintf("offset 0: the body must be %s, not %s", want, v.kind)}
	}

	// The envelope: for a batch, its members; for a single call, the
	// message itself, of which only writeKey and sentAt are read here.
	batch := o.Call == SegmentBatch
	eager := batch && o.Authorize == nil
	root := r.i
	if !batch {
		messages = 1
	}
	req.Events = make([]Input, 0, max(messages, 1))
	m.a.buf = make([]byte, 0, len(body))
	var env struct{ batch, context, writeKey, sentAt memberPick }
	decodedAt, decodedCtxAt := -1, -1
	for more := r.enter('}'); more; more = r.next('}') {
		k, esc := r.key()
		switch string(m.keyName(k, esc)) {
		case "batch":
			if !batch {
				r.skip()
				continue
			}
			if eager && !esc && env.batch.raw.kind == jsonAbsent && r.peek() == '[' {
				// The batch the envelope will be found to have: map it
				// now, with the batch context read so far.
				at := r.i
				req.Events = m.decodeBatch(req.Events)
				decodedAt, decodedCtxAt = at, m.batchCtxAt
				env.batch.offer(jsonValue{kind: jsonArray, start: at, end: r.i}, false)
				continue
			}
			env.batch.offer(r.value(), esc)
		case "context":
			if !batch {
				r.skip()
				continue
			}
			if !esc && env.context.raw.kind == jsonAbsent && r.peek() == '{' {
				at := r.i
				m.batchCtx = segmentContext{}
				m.readContext(&m.batchCtx)
				m.batchCtxAt = at
				env.context.offer(jsonValue{kind: jsonObject, start: at, end: r.i}, false)
				continue
			}
			env.context.offer(r.value(), esc)
		case "writeKey":
			env.writeKey.offer(r.value(), esc)
		case "sentAt":
			env.sentAt.offer(r.value(), esc)
		default:
			r.skip()
		}
	}
	r.end()
	if r.err != nil {
		return req, syntaxError(body, r.err)
	}

	var bv jsonValue
	if batch {
		bv = env.batch.get()
		if bv.kind == jsonAbsent {
			return req, &Error{Kind: KindInvalid, Code: "missing_batch", Message: `field "batch": required, an array of messages`}
		}
		if bv.kind != jsonArray {
			return req, &Error{Kind: KindInvalid, Code: "invalid_json", Message: fmt.Sprintf(`field "batch": expected an array, got %s`, bv.kind)}
		}
	}
	if o.Authorize != nil {
		var key string
		kv := env.writeKey.get()
		if kv.kind == jsonString {
			key = string(unescape(nil, r.text(kv)))
			m.touched[1] = kv.start
		}
		if err := o.Authorize(key); err != nil {
			return req, err
		}
	}
	if sv := env.sentAt.get(); sv.kind != jsonAbsent && sv.kind != jsonNull {
		if sv.kind != jsonString {
			return req, &Error{Kind: KindInvalid, Code: "invalid_sent_at", Message: fmt.Sprintf(`field "sentAt": expected an ISO 8601 string, got %s`, sv.kind)}
		}
		s := string(unescape(nil, r.text(sv)))
		t, err := parseTime(s)
		if err != nil {
			return req, &Error{Kind: KindInvalid, Code: "invalid_sent_at", Message: fmt.Sprintf(`field "sentAt": %q is not an ISO 8601 timestamp with a zone`, truncate(s, 64))}
		}
		req.SentAt = t
		m.touched[0] = sv.start
	}

	if !batch {
		r.i = root
		req.Events = append(req.Events[:0], Input{})
		m.ips.add(m.decodeMessage(0, &req.Events[0]))
		req.ContextIP = m.ips.shared()
		return req, nil
	}
	ctxAt := -1
	if cv := env.context.get(); cv.kind == jsonObject {
		ctxAt = cv.start
	}
	if m.batchCtxAt != ctxAt {
		m.batchCtx, m.batchCtxAt = segmentContext{}, ctxAt
		if ctxAt >= 0 {
			r.i = ctxAt
			m.readContext(&m.batchCtx)
		}
	}
	if decodedAt != bv.start || decodedCtxAt != ctxAt {
		// Mapped with a context that turned out not to be the batch's, or
		// not mapped yet: (again) from the start of the batch.
		m.a.buf = m.a.buf[:0]
		m.ips = contextIPs{trust: o.TrustContextIP}
		r.i = bv.start
		req.Events = m.decodeBatch(req.Events)
	}
	req.ContextIP = m.ips.shared()
	return req, nil
}

// memberPick is the value of one member of an object as a lookup by name
// finds it: the first member whose key is sent as that name, else the
// first whose key, unescaped, is that name.
type memberPick struct{ raw, esc jsonValue }

func (p *memberPick) offer(v jsonValue, escaped bool) {
	if escaped {
		if p.esc.kind == jsonAbsent {
			p.esc = v
		}
	} else if p.raw.kind == jsonAbsent {
		p.raw = v
	}
}

func (p *memberPick) get() jsonValue {
	if p.raw.kind != jsonAbsent {
		return p.raw
	}
	return p.esc
}

// contextIPs finds the one context.ip every message agrees on.
type contextIPs struct {
	trust  bool
	ip     string
	differ bool
}

func (c *contextIPs) add(ip string) {
	if !c.trust || c.differ {
		return
	}
	if ip == "" || (c.ip != "" && c.ip != ip) {
		c.differ, c.ip = true, ""
		return
	}
	c.ip = ip
}

func (c *contextIPs) shared() string {
	if c.differ {
		return ""
	}
	if a, err := netip.ParseAddr(c.ip); err == nil {
		return a.Unmap().String()
	}
	return ""
}

// segmentMapper turns Segment messages into events as it reads them. It
// holds the state of the body and of the message being read, and scratch
// space reused from message to message.
type segmentMapper struct {
	r       jsonReader
	newID   func() string // SegmentOptions.NewID
	a       arena
	call    SegmentCall
	now     time.Time
	nowText string // now as a client_timestamp, once formatted
	trustIP bool
	ips     contextIPs

	// The batch's context (batchCtxAt: where it starts, -1: none).
	batchCtx   segmentContext
	batchCtxAt int
	// touched are the string values of the envelope the derived ids of a
	// single call see unescaped (sentAt, writeKey); -1: none.
	touched [2]int

	keyScratch        // an unescaped key or value
	key        []byte // a flattened metadata key
	derive     []byte // a message as its derived id hashes it
	// pairs are the metadata of the message, in the order they are set:
	// flattened from the object at pairsFrom, then the call's own fields.
	pairs     []metadataPair
	pairsFrom int
	pairsSize int
	// maxPairsSize bounds pairsSize (0: no bound): a flattened key repeats
	// its prefix for every member under it, so the pairs, unlike the other
	// strings of a message, can outgrow the body they come from.
	maxPairsSize int

	// The message being read.
	i      int
	in     *Input
	bad    *EventError
	f      segmentMessage
	msgCtx segmentContext // its context's members, when its context is an object
}

// segmentMessage holds the members of one message (the last of each name).
type segmentMessage struct {
	typ, messageID, event, name, category, userID, anonymousID jsonValue
	timestamp, originalTimestamp, groupID, previousID          jsonValue
	properties, traits, context                                jsonValue
}

// segmentContext holds the members of a context that become event fields:
// app.version from the first "app" object that has one, and so on; traits
// is the context's "traits" member.
type segmentContext struct {
	appVersion, osName, osVersion, deviceModel jsonValue
	locale, timezone, libName, libVersion, ip  jsonValue
	traits                                     memberPick
}

// fill takes from b the members c lacks.
func (c *segmentContext) fill(b *segmentContext) {
	for _, p := range [...]struct{ dst, src *jsonValue }{
		{&c.appVersion, &b.appVersion}, {&c.osName, &b.osName}, {&c.osVersion, &b.osVersion},
		{&c.deviceModel, &b.deviceModel}, {&c.locale, &b.locale}, {&c.timezone, &b.timezone},
		{&c.libName, &b.libName}, {&c.libVersion, &b.libVersion}, {&c.ip, &b.ip},
	} {
		if p.dst.kind == jsonAbsent {
			*p.dst = *p.src
		}
	}
}

// readContext reads the context object at r into c, filling only what c
// still lacks.
func (m *segmentMapper) readContext(c *segmentContext) {
	r := &m.r
	for more := r.enter('}'); more; more = r.next('}') {
		k, esc := r.key()
		switch string(m.keyName(k, esc)) {
		case "app":
			if m.fillMembers(&c.appVersion, "version", nil, "") {
				continue
			}
		case "os":
			if m.fillMembers(&c.osName, "name", &c.osVersion, "version") {
				continue
			}
		case "device":
			if m.fillMembers(&c.deviceModel, "model", nil, "") {
				continue
			}
		case "library":
			if m.fillMembers(&c.libName, "name", &c.libVersion, "version") {
				continue
			}
		case "locale":
			fillAbsent(&c.locale, r.value())
			continue
		case "timezone":
			fillAbsent(&c.timezone, r.value())
			continue
		case "ip":
			fillAbsent(&c.ip, r.value())
			continue
		case "traits":
			c.traits.offer(r.value(), esc)
			continue
		}
		r.skip()
	}
}

func fillAbsent(dst *jsonValue, v jsonValue) {
	if dst.kind == jsonAbsent {
		*dst = v
	}
}

// fillMembers reads the object at r into what of a (its member ak) and b
// (bk; b may be nil) is still absent, as a lookup by name finds them. It
// reads nothing, and reports false, when both are already filled or the
// value at r is not an object.
func (m *segmentMapper) fillMembers(a *jsonValue, ak string, b *jsonValue, bk string) bool {
	if (a.kind != jsonAbsent && (b == nil || b.kind != jsonAbsent)) || m.r.peek() != '{' {
		return false
	}
	var pa, pb memberPick
	r := &m.r
	for more := r.enter('}'); more; more = r.next('}') {
		k, esc := r.key()
		switch name := m.keyName(k, esc); {
		case string(name) == ak:
			pa.offer(r.value(), esc)
		case b != nil && string(name) == bk:
			pb.offer(r.value(), esc)
		default:
			r.skip()
		}
	}
	fillAbsent(a, pa.get())
	if b != nil {
		fillAbsent(b, pb.get())
	}
	return true
}

// fail records the first reason the message cannot be an event.
func (m *segmentMapper) fail(field, format string, args ...any) {
	if m.bad == nil {
		m.bad = &EventError{Index: m.i, Field: field, Message: fmt.Sprintf(format, args...)}
	}
}

// str is a string value (numbers as sent, as Segment accepts ids), copied
// into the arena and counted against the event's size.
func (m *segmentMapper) str(field string, v jsonValue) string {
	switch v.kind {
	case jsonString:
		s := m.a.text(m.r.text(v), v.esc)
		m.in.size += len(s)
		return s
	case jsonNumber:
		s := m.a.string(m.r.text(v))
		m.in.size += len(s)
		return s
	case jsonAbsent, jsonNull:
		return ""
	default:
		m.fail(field, "expected a string, got %s", v.kind)
		return ""
	}
}

// callOf is the call a message's "type" names (counted as str counts it).
func (m *segmentMapper) callOf(v jsonValue) SegmentCall {
	var t []byte
	switch v.kind {
	case jsonString:
		t = m.keyName(m.r.text(v), v.esc)
	case jsonNumber:
		t = m.r.text(v)
	case jsonAbsent, jsonNull:
	default:
		m.fail("type", "expected a string, got %s", v.kind)
	}
	m.in.size += len(t)
	c, ok := segmentCallOf(t)
	if !ok {
		m.fail("type", "must be one of track, identify, page, screen, group, alias; got %q", truncate(string(t), 32))
	}
	return c
}

// knownCall is the call a "type" names, when it can be told at once.
func (m *segmentMapper) knownCall(v jsonValue) SegmentCall {
	if v.kind != jsonString || v.esc {
		return 0
	}
	c, _ := segmentCallOf(m.r.text(v))
	return c
}

// extra adds one of the call's own fields to the metadata.
func (m *segmentMapper) extra(key string, v jsonValue) {
	if s := m.str(key, v); s != "" {
		m.in.size += len(key) + len(s)
		m.pairs = append(m.pairs, metadataPair{key, s})
	}
}

// decodeBatch maps the messages of the array at r onto events.
func (m *segmentMapper) decodeBatch(events []Input) []Input {
	r := &m.r
	events = events[:0]
	for more := r.enter(']'); more; more = r.next(']') {
		events = append(events, Input{})
		i := len(events) - 1
		if r.peek() != '{' {
			v := r.value()
			events[i].decodeErr = &EventError{Index: i, Field: "(message)", Message: "expected an object, got " + v.kind.String()}
			m.ips.add("")
			continue
		}
		m.ips.add(m.decodeMessage(i, &events[i]))
	}
	return events
}

// decodeMessage maps the message object at r onto in and returns its
// context.ip (only when it is trusted). It reads the message once: the
// properties (or traits) are flattened as they are read when the type is
// already known, as it is in every SDK's messages, and read again from
// where they start otherwise.
func (m *segmentMapper) decodeMessage(i int, in *Input) (ip string) {
	r := &m.r
	start := r.i
	m.i, m.in, m.bad = i, in, nil
	f := &m.f
	*f = segmentMessage{}
	m.msgCtx = segmentContext{}
	m.pairs, m.pairsFrom, m.pairsSize = m.pairs[:0], -1, 0
	known := m.call // a batch's messages: unknown until "type"
	if known == SegmentBatch {
		known = 0
	}
	for more := r.enter('}'); more; more = r.next('}') {
		k, esc := r.key()
		switch string(m.keyName(k, esc)) {
		case "type":
			f.typ = r.value()
			if m.call == SegmentBatch {
				known = m.knownCall(f.typ)
			}
		case "messageId":
			f.messageID = r.value()
		case "event":
			f.event = r.value()
		case "name":
			f.name = r.value()
		case "category":
			f.category = r.value()
		case "userId":
			f.userID = r.value()
		case "anonymousId":
			f.anonymousID = r.value()
		case "timestamp":
			f.timestamp = r.value()
		case "originalTimestamp":
			f.originalTimestamp = r.value()
		case "groupId":
			f.groupID = r.value()
		case "previousId":
			f.previousID = r.value()
		case "properties":
			if r.peek() == '{' && (known == SegmentTrack || known == SegmentPage || known == SegmentScreen) {
				f.properties = m.flattenAt()
			} else {
				f.properties = r.value()
			}
		case "traits":
			if r.peek() == '{' && (known == SegmentIdentify || known == SegmentGroup) {
				f.traits = m.flattenAt()
			} else {
				f.traits = r.value()
			}
		case "context":
			m.msgCtx = segmentContext{}
			if r.peek() == '{' {
				at := r.i
				m.readContext(&m.msgCtx)
				f.context = jsonValue{kind: jsonObject, start: at, end: r.i}
			} else {
				f.context = r.value()
			}
		default:
			r.skip()
		}
	}
	if r.err != nil {
		return ""
	}
	end := r.i

	call := m.call
	if call == SegmentBatch {
		call = m.callOf(f.typ)
		m.touched = [2]int{-1, -1}
		if f.typ.kind == jsonString {
			m.touched[0] = f.typ.start
		}
	}
	e := &in.Event
	e.EventId = m.str("messageId", f.messageID)
	if e.EventId == "" && f.messageID.kind == jsonAbsent {
		if hasTime(f.timestamp) || hasTime(f.originalTimestamp) {
			e.EventId = m.derivedMessageID(start, end)
		} else {
			e.EventId = m.newID()
		}
	}
	e.UserId = m.str("userId", f.userID)
	e.AnonymousId = m.str("anonymousId", f.anonymousID)
	switch {
	case hasTime(f.timestamp):
		in.ClientTimestamp = m.str("timestamp", f.timestamp)
	case hasTime(f.originalTimestamp):
		in.ClientTimestamp = m.str("originalTimestamp", f.originalTimestamp)
	default:
		if m.nowText == "" {
			m.nowText = m.now.UTC().Format(time.RFC3339Nano)
		}
		in.ClientTimestamp = m.nowText
	}

	// Properties (track, page, screen) or traits (identify, group) become
	// metadata, flattened; the call's own fields are added after them.
	var props jsonValue
	propsField := "properties"
	switch call {
	case SegmentTrack:
		e.EventName = m.str("event", f.event)
		props = f.properties
	case SegmentPage, SegmentScreen:
		props = f.properties
	case SegmentIdentify, SegmentGroup:
		props, propsField = f.traits, "traits"
		if props.kind == jsonAbsent && f.context.kind == jsonObject {
			// RudderStack's SDKs send identify's traits in context.traits.
			props, propsField = m.msgCtx.traits.get(), "context.traits"
		}
	}
	if call > SegmentTrack && int(call) < len(segmentEventNames) {
		e.EventName = segmentEventNames[call]
	}
	switch props.kind {
	case jsonObject:
		if m.pairsFrom != props.start {
			at := r.i
			r.i = props.start
			m.flattenAt()
			r.i = at
		}
	case jsonAbsent, jsonNull:
		m.pairs, m.pairsSize = m.pairs[:0], 0
	default:
		m.pairs, m.pairsSize = m.pairs[:0], 0
		m.fail(propsField, "expected an object, got %s", props.kind)
	}
	in.size += m.pairsSize
	switch call {
	case SegmentPage, SegmentScreen:
		m.extra("name", f.name)
		m.extra("category", f.category)
	case SegmentGroup:
		m.extra("groupId", f.groupID)
	case SegmentAlias:
		m.extra("previousId", f.previousID)
	}
	if len(m.pairs) > 0 {
		e.Metadata = make(map[string]string, len(m.pairs))
		for _, p := range m.pairs {
			e.Metadata[p.k] = p.v
		}
	}

	// Context: the message's, else the batch's.
	if k := f.context.kind; k != jsonAbsent && k != jsonObject && k != jsonNull {
		m.fail("context", "expected an object, got %s", k)
	} else if k != jsonAbsent || m.batchCtxAt >= 0 {
		c := &m.msgCtx
		if m.batchCtxAt >= 0 {
			c.fill(&m.batchCtx)
		}
		e.AppVersion = m.str("context.app.version", c.appVersion)
		e.OsName = m.str("context.os.name", c.osName)
		e.OsVersion = m.str("context.os.version", c.osVersion)
		e.DeviceModel = m.str("context.device.model", c.deviceModel)
		e.Locale = m.str("context.locale", c.locale)
		e.Timezone = m.str("context.timezone", c.timezone)
		e.SdkName = m.str("context.library.name", c.libName)
		e.SdkVersion = m.str("context.library.version", c.libVersion)
		if m.trustIP && c.ip.kind == jsonString {
			ip = string(unescape(nil, m.r.text(c.ip)))
		}
	}
	if m.bad != nil {
		in.invalid(m.bad)
	}
	m.in = nil
	return ip
}

// flattenAt flattens the object at r into the message's metadata pairs,
// replacing any flattened before.
func (m *segmentMapper) flattenAt() jsonValue {
	at := m.r.i
	m.pairs, m.pairsSize = m.pairs[:0], 0
	m.key = m.key[:0]
	m.flatten()
	m.pairsFrom = at
	return jsonValue{kind: jsonObject, start: at, end: m.r.i}
}

// flatten reads the object at r into metadata pairs: a nested object's
// members under dotted keys ("product.id"), an array as its compact JSON
// text, a number exactly as sent, a boolean as "true"/"false"; null members
// and empty objects are left out. m.key holds the prefix.
func (m *segmentMapper) flatten() {
	r := &m.r
	prefix := len(m.key)
	for more := r.enter('}'); more; more = r.next('}') {
		k, esc := r.key()
		m.key = m.key[:prefix]
		if prefix > 0 {
			m.key = append(m.key, '.')
		}
		if esc {
			m.key = unescape(m.key, k)
		} else {
			m.key = append(m.key, k...)
		}
		if m.maxPairsSize > 0 && m.pairsSize > m.maxPairsSize {
			r.skip() // over: nothing more is kept
			continue
		}
		if r.peek() == '{' {
			m.flatten()
			continue
		}
		var val string
		switch v := r.value(); v.kind {
		case jsonNull:
			continue
		case jsonString:
			val = m.a.text(r.text(v), v.esc)
		case jsonTrue:
			val = "true"
		case jsonFalse:
			val = "false"
		case jsonNumber:
			val = m.a.string(r.text(v))
		default: // an array, as compact JSON
			val = m.a.compact(r.text(v))
		}
		if size := m.pairsSize + len(m.key) + len(val); m.maxPairsSize > 0 && size > m.maxPairsSize {
			// The event is over the size validation allows whatever else
			// it holds: it is refused now, before the key is copied (an
			// attacker's long prefix over many members would otherwise be
			// copied once a member, far beyond the memory budget charged).
			m.pairs, m.pairsSize = m.pairs[:0], size
			m.fail("(event)", "larger than %d bytes", m.maxPairsSize)
			continue
		}
		key := m.a.string(m.key)
		m.pairsSize += len(key) + len(val)
		m.pairs = append(m.pairs, metadataPair{key, val})
	}
	m.key = m.key[:prefix]
}

// derivedMessageID stands in for a missing messageId: a hash of the message
// as sent, without the whitespace between its tokens, so a retry of the
// same message gets the same id. Its keys, and the values the envelope
// reads (type; a single call's sentAt and writeKey), are hashed unescaped
// and quoted again, as ids were always derived.
func (m *segmentMapper) derivedMessageID(start, end int) string {
	r := jsonReader{b: m.r.b[:end], i: start}
	buf := append(m.derive[:0], '{')
	for more := r.enter('}'); more; more = r.next('}') {
		if len(buf) > 1 {
			buf = append(buf, ',')
		}
		k, esc := r.key()
		buf = appendQuoted(buf, m.keyName(k, esc))
		buf = append(buf, ':')
		v := r.value()
		switch {
		case v.kind == jsonString && (v.start == m.touched[0] || v.start == m.touched[1]):
			buf = appendQuoted(buf, m.keyName(r.text(v), v.esc))
		case v.kind == jsonString:
			buf = append(buf, '"')
			buf = append(buf, r.text(v)...)
			buf = append(buf, '"')
		default:
			buf = appendCompact(buf, r.text(v))
		}
	}
	buf = append(buf, '}')
	m.derive = buf
	sum := sha256.Sum256(buf)
	return "derived-" + hex.EncodeToString(sum[:16])
}

// segmentFields name our event fields as a Segment message carries them.
var segmentFields = map[string]string{
	"event_id": "messageId", "user_id": "userId", "anonymous_id": "anonymousId",
	"event_name": "event", "client_timestamp": "timestamp", "metadata": "properties",
	"app_version": "context.app.version", "os_name": "context.os.name", "os_version": "context.os.version",
	"device_model": "context.device.model", "locale": "context.locale", "timezone": "context.timezone",
	"sdk_name": "context.library.name", "sdk_version": "context.library.version",
}

// SegmentField names field (an EventError's) as a Segment message carries
// it: "event_id" is "messageId", "metadata.plan" is "properties.plan".
func SegmentField(field string) string {
	if s, ok := segmentFields[field]; ok {
		return s
	}
	if rest, ok := strings.CutPrefix(field, "metadata."); ok {
		return "properties." + rest
	}
	return field
}
