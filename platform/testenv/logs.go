package testenv

import (
	"bytes"
	"log/slog"
	"sync"
)

// Logs is a service's log that a test reads while the service writes it.
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
