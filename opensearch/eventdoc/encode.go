package eventdoc

import (
	"bytes"
	"fmt"
	"slices"
	"strconv"
	"time"
	"unicode/utf8"
)

func appendOpt(b []byte, key, v string) []byte {
	if v == "" {
		return b
	}
	b = append(b, key...)
	return appendString(b, v)
}

func appendInt(b []byte, key string, v int64) []byte {
	return strconv.AppendInt(append(b, key...), v, 10)
}

func appendBool(b []byte, key string, v bool) []byte {
	return strconv.AppendBool(append(b, key...), v)
}

// appendMap writes m's entries in map order: encoding/json sorts them, a
// document's meaning does not depend on it.
func appendMap(b []byte, key string, m map[string]string) []byte {
	b = append(b, key...)
	b = append(b, '{')
	first := true
	for k, v := range m {
		if !first {
			b = append(b, ',')
		}
		first = false
		b = appendString(b, k)
		b = append(b, ':')
		b = appendString(b, v)
	}
	return append(b, '}')
}

// mapValues is m's values in the order of their keys (a document stays a
// pure function of its event), for a field that indexes them as full text.
func mapValues(m map[string]string) []string {
	if len(m) == 0 {
		return nil
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	values := make([]string, len(keys))
	for i, k := range keys {
		values[i] = m[k]
	}
	return values
}

func appendStrings(b []byte, key string, values []string) []byte {
	b = append(b, key...)
	b = append(b, '[')
	for i, v := range values {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, v)
	}
	return append(b, ']')
}

// appendMillis writes t as epoch milliseconds, with the rest of its
// nanoseconds as a fraction (1795687200123.456789): the events template's
// date format reads it as it reads RFC 3339, and OpenSearch parses it at a
// fraction of the cost. Outside [numberFrom, numberUntil) t is written in
// RFC 3339, as every date was before: before 1970 (a negative fraction is a
// corner no reader needs); in the first ten seconds of 1970, whose whole
// milliseconds have four digits, which the format's first parser
// (strict_date_optional_time_nanos) takes for a year; and from the year
// 10000 on, which OpenSearch refuses as a string (the document goes to a
// dead letter, as before) but would index as a number no reader can show.
func appendMillis(b []byte, key string, t time.Time) []byte {
	b = append(b, key...)
	ms := t.UnixMilli()
	if ms < numberFrom || ms >= numberUntil {
		b = append(b, '"')
		b = t.UTC().AppendFormat(b, time.RFC3339Nano)
		return append(b, '"')
	}
	b = strconv.AppendInt(b, ms, 10)
	if rest := t.Nanosecond() % 1e6; rest != 0 {
		var frac [6]byte
		for i := 5; i >= 0; i-- {
			frac[i] = byte('0' + rest%10)
			rest /= 10
		}
		n := 6
		for frac[n-1] == '0' {
			n--
		}
		b = append(b, '.')
		b = append(b, frac[:n]...)
	}
	return b
}

// The epoch milliseconds appendMillis writes as a number: from 1970-01-01
// 00:00:10 (five digits) up to the year 10000 (fifteen).
const (
	numberFrom  = 10_000
	numberUntil = 253_402_300_800_000
)

// ParseMillis reads a date appendMillis wrote as a number: epoch
// milliseconds (no sign, no leading zero, at most 15 digits: up to the year
// 33658), with at most six digits of fraction. It reads the bytes as they
// are, without a string made of them: the query service reads five dates a
// document of every page.
func ParseMillis(b []byte) (time.Time, error) {
	whole, frac, hasFrac := bytes.Cut(b, []byte{'.'})
	if len(whole) == 0 || len(whole) > 15 || len(whole) > 1 && whole[0] == '0' || hasFrac && (len(frac) == 0 || len(frac) > 6) {
		return time.Time{}, notADate(b)
	}
	var ms int64
	for _, c := range whole {
		if c < '0' || c > '9' {
			return time.Time{}, notADate(b)
		}
		ms = ms*10 + int64(c-'0')
	}
	ns := 0
	for i, c := range frac {
		if c < '0' || c > '9' {
			return time.Time{}, notADate(b)
		}
		ns += int(c-'0') * pow10[5-i]
	}
	if ms < numberFrom || ms >= numberUntil {
		return time.Time{}, fmt.Errorf("date %.40s: epoch milliseconds outside the years 1970 (from 00:00:10) to 9999", string(b))
	}
	return time.UnixMilli(ms).Add(time.Duration(ns)).UTC(), nil
}

// notADate is ParseMillis's error for b, made of a copy of it: b itself
// never leaves the call (a caller's buffer on the stack stays there).
func notADate(b []byte) error {
	return fmt.Errorf("date %.40s: neither epoch milliseconds nor an RFC 3339 string", string(b))
}

var pow10 = [6]int{1, 10, 100, 1000, 10000, 100000}

// ReadDate reads one date of a stored document as JSON holds it: a number
// (ParseMillis) or an RFC 3339 string.
func ReadDate(raw []byte) (time.Time, error) {
	var t jsonTime
	err := t.UnmarshalJSON(raw)
	return t.Time, err
}

// jsonTime reads a document's date: epoch milliseconds, as AppendJSON writes
// it, or an RFC 3339 string, as documents indexed before that were written.
type jsonTime struct{ time.Time }

func (t *jsonTime) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		return nil
	}
	if len(b) > 0 && b[0] == '"' {
		return t.Time.UnmarshalJSON(b)
	}
	at, err := ParseMillis(b)
	t.Time = at
	return err
}

const hex = "0123456789abcdef"

// plain tells the bytes appendString writes as they are: ASCII that is not
// a control character, a quote, a backslash, <, > or &.
var plain = func() (t [256]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = true
	}
	for _, c := range `"\<>&` {
		t[c] = false
	}
	return t
}()

const (
	ones = 0x0101010101010101
	high = 0x8080808080808080
)

// mayEscape8 tells whether any of the eight bytes of s is not plain (see
// plain): a byte below 0x20 or at or above 0x80, or one of " \ < > &. It
// tests the eight bytes at once; there are no false answers either way.
func mayEscape8(s string) bool {
	_ = s[7]
	x := uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
		uint64(s[4])<<32 | uint64(s[5])<<40 | uint64(s[6])<<48 | uint64(s[7])<<56
	zero := func(v uint64) uint64 { return (v - ones) &^ v & high } // high bit of each zero byte
	below := (x - ones*0x20) &^ x & high                            // bytes below 0x20 (or above 0x7f, caught next)
	return (x&high)|below|zero(x^(ones*'"'))|zero(x^(ones*'\\'))|
		zero(x^(ones*'<'))|zero(x^(ones*'>'))|zero(x^(ones*'&')) != 0
}

// appendString writes s as a JSON string the way encoding/json does:
// quotes, backslashes and control characters escaped, <, > and & as \u00XX,
// invalid UTF-8 replaced by U+FFFD, U+2028 and U+2029 escaped.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		// Most of a document's text needs no escaping: skip it eight bytes
		// at a time, then byte by byte up to the first byte that may.
		for i+8 <= len(s) && !mayEscape8(s[i:i+8]) {
			i += 8
		}
		for i < len(s) && plain[s[i]] {
			i++
		}
		if i == len(s) {
			break
		}
		c := s[i]
		if c < utf8.RuneSelf {
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hex[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// AppendString appends s as a JSON string, escaped as encoding/json escapes
// it (for writers of JSON other than the document encoder).
func AppendString(b []byte, s string) []byte { return appendString(b, s) }
