package config

import (
	"strings"
	"testing"
	"time"
)

func TestReader(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		read    func(r *Reader) any
		want    any
		wantErr string
	}{
		{"string default", nil, func(r *Reader) any { return r.String("A", "d") }, "d", ""},
		{"string set", map[string]string{"A": " v "}, func(r *Reader) any { return r.String("A", "d") }, "v", ""},
		{"empty means default", map[string]string{"A": ""}, func(r *Reader) any { return r.String("A", "d") }, "d", ""},
		{"int", map[string]string{"N": "42"}, func(r *Reader) any { return r.Int("N", 1) }, 42, ""},
		{"int bad", map[string]string{"N": "x"}, func(r *Reader) any { return r.Int("N", 1) }, 1, "N: \"x\" is not an integer"},
		{"int64", map[string]string{"N": "9000000000"}, func(r *Reader) any { return r.Int64("N", 1) }, int64(9000000000), ""},
		{"duration", map[string]string{"D": "2s"}, func(r *Reader) any { return r.Duration("D", time.Second) }, 2 * time.Second, ""},
		{"duration bad", map[string]string{"D": "2"}, func(r *Reader) any { return r.Duration("D", time.Second) }, time.Second, "D: \"2\" is not a duration"},
		{"float", map[string]string{"F": "2.5"}, func(r *Reader) any { return r.Float("F", 1) }, 2.5, ""},
		{"float bad", map[string]string{"F": "fast"}, func(r *Reader) any { return r.Float("F", 1) }, 1.0, "is not a number"},
		{"list", map[string]string{"L": " a, ,b "}, func(r *Reader) any { return strings.Join(r.List("L"), "|") }, "a|b", ""},
		{"list unset", nil, func(r *Reader) any { return len(r.List("L")) }, 0, ""},
		{"bool", map[string]string{"B": "true"}, func(r *Reader) any { return r.Bool("B", false) }, true, ""},
		{"bool bad", map[string]string{"B": "yes please"}, func(r *Reader) any { return r.Bool("B", false) }, false, "is not a boolean"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := NewReader(MapLookup(tt.env))
			if got := tt.read(r); got != tt.want {
				t.Errorf("got %v, want %v", got, tt.want)
			}
			err := r.Err()
			switch {
			case tt.wantErr == "" && err != nil:
				t.Errorf("unexpected error %v", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Errorf("error %v, want it to contain %q", err, tt.wantErr)
			}
		})
	}
}

func TestReaderJoinsAllErrors(t *testing.T) {
	r := NewReader(MapLookup(map[string]string{"A": "x", "B": "y"}))
	r.Int("A", 0)
	r.Duration("B", 0)
	r.Failf("C: must be set")
	err := r.Err()
	if err == nil {
		t.Fatal("want an error")
	}
	for _, want := range []string{"A:", "B:", "C: must be set"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
}
