package track

import (
	"bytes"
	"errors"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// jsonReader walks one JSON body in place, value by value, without building
// anything: a decoder pulls the members it wants and skips the rest. It
// accepts exactly what the JSON path's parser (fastjson) accepts — numbers
// as that parser reads them (any run of digits, signs, dots and exponents,
// or inf/nan), strings whose contents are not checked — so a body means
// the same on every route, and every value it skips is still checked. Its
// methods do nothing once err is set, which ends every loop.
type jsonReader struct {
	b     []byte
	i     int
	depth int
	err   error
}

// keyScratch unescapes keys (and short values) into space reused from one
// to the next; both body mappers embed it.
type keyScratch struct{ kbuf []byte }

// keyName is k as a mapper compares it: unescaped (esc: it holds a
// backslash), valid until the next call.
func (s *keyScratch) keyName(k []byte, esc bool) []byte {
	if !esc {
		return k
	}
	s.kbuf = unescape(s.kbuf[:0], k)
	return s.kbuf
}

// metadataPair is one metadata entry of an event, gathered before its map
// is made at its size.
type metadataPair struct{ k, v string }

// jsonKind is the type of a value found in a body.
type jsonKind uint8

// The kinds; jsonAbsent is a member that is not there.
const (
	jsonAbsent jsonKind = iota
	jsonNull
	jsonObject
	jsonArray
	jsonString
	jsonNumber
	jsonTrue
	jsonFalse
)

// String names the kind as the JSON path's errors name types.
func (k jsonKind) String() string {
	switch k {
	case jsonNull:
		return "null"
	case jsonObject:
		return "object"
	case jsonArray:
		return "array"
	case jsonString:
		return "string"
	case jsonNumber:
		return "number"
	case jsonTrue:
		return "true"
	case jsonFalse:
		return "false"
	}
	return "absent"
}

// jsonValue is a value found in a body: a string's contents between its
// quotes (esc: they hold a backslash), a number's text, a literal's, or an
// object's or array's whole text.
type jsonValue struct {
	kind       jsonKind
	esc        bool
	start, end int
}

// maxReadDepth is the parser's nesting limit; bodies are shape-checked to
// far less (maxJSONDepth) before they are read.
const maxReadDepth = 300

func (r *jsonReader) fail(msg string) {
	if r.err == nil {
		r.err = errors.New(msg)
	}
	r.i = len(r.b)
}

// ws skips the whitespace the parser skips.
func (r *jsonReader) ws() {
	for r.i < len(r.b) {
		switch r.b[r.i] {
		case ' ', '\n', '\t', '\r':
			r.i++
		default:
			return
		}
	}
}

// peek is the next byte that is not whitespace (0 at the end).
func (r *jsonReader) peek() byte {
	r.ws()
	if r.i < len(r.b) {
		return r.b[r.i]
	}
	return 0
}

// end checks that nothing but whitespace follows the top-level value.
func (r *jsonReader) end() {
	r.ws()
	if r.err == nil && r.i < len(r.b) {
		r.fail("unexpected tail after the top-level value")
	}
}

// enter consumes the '{' or '[' at r.i and reports whether the container
// has a first member or element (false: it was empty and is consumed).
func (r *jsonReader) enter(closer byte) bool {
	r.i++
	r.depth++
	if r.depth > maxReadDepth {
		r.fail("too big depth for the nested JSON")
		return false
	}
	r.ws()
	if r.i >= len(r.b) {
		if closer == '}' {
			r.fail("missing '}'")
		} else {
			r.fail("missing ']'")
		}
		return false
	}
	if r.b[r.i] == closer {
		r.i++
		r.depth--
		return false
	}
	return true
}

// next is called after a member or element: it consumes a ',' and reports
// true, or consumes the closer and reports false.
func (r *jsonReader) next(closer byte) bool {
	r.ws()
	if r.i >= len(r.b) {
		r.fail("unexpected end of object or array")
		return false
	}
	switch r.b[r.i] {
	case ',':
		r.i++
		r.ws()
		return r.err == nil
	case closer:
		r.i++
		r.depth--
		return false
	}
	r.fail("missing ',' after a member or element")
	return false
}

// key reads a member's key and the ':' after it, leaving r at the value.
// The key is as sent (esc: it holds a backslash, see unescape).
func (r *jsonReader) key() (k []byte, esc bool) {
	if r.i >= len(r.b) || r.b[r.i] != '"' {
		r.fail(`cannot find opening '"' for object key`)
		return nil, false
	}
	b := r.b
	start := r.i + 1
	i := start
	for ; i < len(b); i++ {
		if b[i] == '"' {
			break
		}
		if b[i] == '\\' {
			var end int
			end, esc = r.stringEnd(start)
			i = end
			break
		}
	}
	if i >= len(b) {
		r.fail(`missing closing '"' of an object key`)
		return nil, false
	}
	k = b[start:i]
	r.i = i + 1
	if r.i < len(b) && b[r.i] == ':' {
		r.i++
	} else {
		r.ws()
		if r.i >= len(b) || b[r.i] != ':' {
			r.fail("missing ':' after object key")
			return nil, false
		}
		r.i++
	}
	r.ws()
	return k, esc
}

// stringEnd finds the closing quote of the string whose contents start at
// start: the first '"' after an even run of backslashes (len(r.b): none).
// esc reports a backslash in the contents.
func (r *jsonReader) stringEnd(start int) (end int, esc bool) {
	b := r.b
	i := start
	for {
		q := bytes.IndexByte(b[i:], '"')
		if q < 0 {
			return len(b), false
		}
		q += i
		if q == start || b[q-1] != '\\' {
			return q, i > start || bytes.IndexByte(b[start:q], '\\') >= 0
		}
		n := 1
		for j := q - 2; j >= start && b[j] == '\\'; j-- {
			n++
		}
		if n%2 == 0 {
			return q, true
		}
		i = q + 1
	}
}

// value reads the value at r.i: a scalar's text, or a container's whole
// text, which it checks as it skips it.
func (r *jsonReader) value() jsonValue {
	if r.err != nil {
		return jsonValue{kind: jsonNull}
	}
	b := r.b
	if r.i >= len(b) {
		r.fail("cannot parse empty string")
		return jsonValue{kind: jsonNull}
	}
	start := r.i
	switch c := b[r.i]; c {
	case '"':
		end, esc := r.stringEnd(start + 1)
		if end >= len(b) {
			r.fail(`missing closing '"'`)
			return jsonValue{kind: jsonNull}
		}
		r.i = end + 1
		return jsonValue{kind: jsonString, esc: esc, start: start + 1, end: end}
	case '{', '[':
		r.skipContainer(c)
		kind := jsonObject
		if c == '[' {
			kind = jsonArray
		}
		return jsonValue{kind: kind, start: start, end: r.i}
	case 't':
		return r.literal("true", jsonTrue)
	case 'f':
		return r.literal("false", jsonFalse)
	case 'n':
		if bytes.HasPrefix(b[r.i:], []byte("null")) {
			r.i += 4
			return jsonValue{kind: jsonNull, start: start, end: r.i}
		}
	}
	return r.number()
}

func (r *jsonReader) literal(lit string, kind jsonKind) jsonValue {
	if !bytes.HasPrefix(r.b[r.i:], []byte(lit)) {
		r.fail("unexpected value found")
		return jsonValue{kind: jsonNull}
	}
	start := r.i
	r.i += len(lit)
	return jsonValue{kind: kind, start: start, end: r.i}
}

// number reads a number as the parser does: a run of digits, signs, dots
// and exponent letters, or inf or nan (any case, after at most one sign).
func (r *jsonReader) number() jsonValue {
	b := r.b
	start := r.i
	for i := start; i < len(b); i++ {
		c := b[i]
		if (c >= '0' && c <= '9') || c == '.' || c == '-' || c == 'e' || c == 'E' || c == '+' {
			continue
		}
		if n := i - start; n == 0 || (n == 1 && (b[start] == '-' || b[start] == '+')) {
			if len(b)-i >= 3 && (bytes.EqualFold(b[i:i+3], []byte("inf")) || bytes.EqualFold(b[i:i+3], []byte("nan"))) {
				r.i = i + 3
				return jsonValue{kind: jsonNumber, start: start, end: r.i}
			}
			r.fail("unexpected char")
			return jsonValue{kind: jsonNull}
		}
		r.i = i
		return jsonValue{kind: jsonNumber, start: start, end: i}
	}
	r.i = len(b)
	return jsonValue{kind: jsonNumber, start: start, end: len(b)}
}

// skipContainer checks and skips the object or array at r.i.
func (r *jsonReader) skipContainer(open byte) {
	if open == '{' {
		for more := r.enter('}'); more; more = r.next('}') {
			r.key()
			r.skip()
		}
		return
	}
	for more := r.enter(']'); more; more = r.next(']') {
		r.skip()
	}
}

// skip checks and skips the value at r.i.
func (r *jsonReader) skip() {
	if r.err != nil {
		return
	}
	if r.i < len(r.b) {
		switch c := r.b[r.i]; c {
		case '{', '[':
			r.skipContainer(c)
			return
		case '"':
			end, _ := r.stringEnd(r.i + 1)
			if end >= len(r.b) {
				r.fail(`missing closing '"'`)
				return
			}
			r.i = end + 1
			return
		}
	}
	r.value()
}

// text is v's text as sent (a string's contents without the quotes).
func (r *jsonReader) text(v jsonValue) []byte { return r.b[v.start:v.end] }

// unescape appends s (a string's contents as sent) to dst with its escapes
// resolved as the parser resolves them: best effort, an escape it cannot
// read is kept as sent.
func unescape(dst, s []byte) []byte {
	n := bytes.IndexByte(s, '\\')
	if n < 0 {
		return append(dst, s...)
	}
	dst = append(dst, s[:n]...)
	s = s[n+1:]
	for len(s) > 0 {
		ch := s[0]
		s = s[1:]
		switch ch {
		case '"', '\\', '/':
			dst = append(dst, ch)
		case 'b':
			dst = append(dst, '\b')
		case 'f':
			dst = append(dst, '\f')
		case 'n':
			dst = append(dst, '\n')
		case 'r':
			dst = append(dst, '\r')
		case 't':
			dst = append(dst, '\t')
		case 'u':
			x, ok := hex4(s)
			if !ok {
				dst = append(dst, `\u`...)
				break
			}
			xs := s[:4]
			s = s[4:]
			if !utf16.IsSurrogate(rune(x)) {
				dst = utf8.AppendRune(dst, rune(x))
				break
			}
			if len(s) < 6 || s[0] != '\\' || s[1] != 'u' {
				dst = append(dst, `\u`...)
				dst = append(dst, xs...)
				break
			}
			x1, ok := hex4(s[2:])
			if !ok {
				dst = append(dst, `\u`...)
				dst = append(dst, xs...)
				break
			}
			dst = utf8.AppendRune(dst, utf16.DecodeRune(rune(x), rune(x1)))
			s = s[6:]
		default:
			dst = append(dst, '\\', ch)
		}
		n = bytes.IndexByte(s, '\\')
		if n < 0 {
			return append(dst, s...)
		}
		dst = append(dst, s[:n]...)
		s = s[n+1:]
	}
	return dst
}

// hex4 reads four hex digits.
func hex4(s []byte) (uint16, bool) {
	if len(s) < 4 {
		return 0, false
	}
	var x uint16
	for _, c := range s[:4] {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c -= 'a' - 10
		case c >= 'A' && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, false
		}
		x = x<<4 | uint16(c)
	}
	return x, true
}

// appendCompact appends the JSON text s without the whitespace between its
// tokens (strings as sent): how the parser writes a value back out.
func appendCompact(dst, s []byte) []byte {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case ' ', '\n', '\t', '\r':
		case '"':
			j := i + 1
			for j < len(s) && s[j] != '"' {
				if s[j] == '\\' {
					j++
				}
				j++
			}
			if j >= len(s) {
				j = len(s) - 1
			}
			dst = append(dst, s[i:j+1]...)
			i = j
		default:
			dst = append(dst, c)
		}
	}
	return dst
}

// appendQuoted appends s as the parser quotes a string it has unescaped.
func appendQuoted(dst, s []byte) []byte {
	special := false
	for _, c := range s {
		if c < 0x20 || c == '"' || c == '\\' {
			special = true
			break
		}
	}
	if !special {
		dst = append(dst, '"')
		dst = append(dst, s...)
		return append(dst, '"')
	}
	return strconv.AppendQuote(dst, string(s))
}
