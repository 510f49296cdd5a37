// Package config reads service configuration from environment variables.
//
// A Reader collects every problem it meets, so a service reports all of its
// configuration mistakes at once instead of one per restart.
package config

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// LookupFunc returns the value of a variable and whether it is set; os.LookupEnv
// is one. Tests pass a map-backed function instead of touching the process env.
type LookupFunc func(key string) (string, bool)

// MapLookup returns a LookupFunc over a map, for tests.
func MapLookup(m map[string]string) LookupFunc {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

// Reader reads typed values, falling back to defaults for unset or empty
// variables, and remembers every parse error.
type Reader struct {
	lookup LookupFunc
	errs   []error
}

// NewReader returns a Reader over lookup.
func NewReader(lookup LookupFunc) *Reader { return &Reader{lookup: lookup} }

func (r *Reader) raw(key string) (string, bool) {
	v, ok := r.lookup(key)
	v = strings.TrimSpace(v)
	return v, ok && v != ""
}

// String returns the variable or def.
func (r *Reader) String(key, def string) string {
	if v, ok := r.raw(key); ok {
		return v
	}
	return def
}

// Int returns the variable parsed as an integer, or def.
func (r *Reader) Int(key string, def int) int {
	v, ok := r.raw(key)
	if !ok {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		r.Failf("%s: %q is not an integer", key, v)
		return def
	}
	return n
}

// Int64 returns the variable parsed as a 64-bit integer, or def.
func (r *Reader) Int64(key string, def int64) int64 {
	v, ok := r.raw(key)
	if !ok {
		return def
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		r.Failf("%s: %q is not an integer", key, v)
		return def
	}
	return n
}

// Duration returns the variable parsed by time.ParseDuration, or def.
func (r *Reader) Duration(key string, def time.Duration) time.Duration {
	v, ok := r.raw(key)
	if !ok {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		r.Failf("%s: %q is not a duration (e.g. 500ms, 2s, 1h)", key, v)
		return def
	}
	return d
}

// Float returns the variable parsed as a float, or def.
func (r *Reader) Float(key string, def float64) float64 {
	v, ok := r.raw(key)
	if !ok {
		return def
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil {
		r.Failf("%s: %q is not a number", key, v)
		return def
	}
	return f
}

// List returns the variable split on commas, blanks dropped, or nil.
func (r *Reader) List(key string) []string {
	v, ok := r.raw(key)
	if !ok {
		return nil
	}
	var out []string
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// Bool returns the variable parsed by strconv.ParseBool, or def.
func (r *Reader) Bool(key string, def bool) bool {
	v, ok := r.raw(key)
	if !ok {
		return def
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		r.Failf("%s: %q is not a boolean", key, v)
		return def
	}
	return b
}

// Failf records a validation problem found by the caller.
func (r *Reader) Failf(format string, args ...any) {
	r.errs = append(r.errs, fmt.Errorf(format, args...))
}

// Err returns every recorded problem joined, or nil.
func (r *Reader) Err() error {
	if len(r.errs) == 0 {
		return nil
	}
	return fmt.Errorf("invalid configuration: %w", errors.Join(r.errs...))
}
