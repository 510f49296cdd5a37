package testenv

import (
	"bytes"
	"log/slog"
	"sync"
)

// Logs is what a service or a command writes (its log, its output), read
// by a test while it is written.
type Logs struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

// Logger is a logger writing JSON lines into l.
func (l *Logs) Logger() *slog.Logger { return slog.New(slog.NewJSONHandler(l, nil)) }

// Write appends p.
func (l *Logs) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

// String is everything written so far.
func (l *Logs) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}
