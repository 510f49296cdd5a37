package testenv

import (
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Proxy is a TCP proxy in front of a real server that a test can take down
// and bring back, to show what a service does while its dependency is
// unreachable, without stopping a server other tests share.
type Proxy struct {
	t       testing.TB
	target  string
	addr    string
	mu      sync.Mutex
	ln      net.Listener
	conns   map[net.Conn]struct{}
	latency atomic.Int64 // added before each chunk sent upstream, in ns
}

// SetLatency delays every chunk of data sent to the server by d (0: none):
// a slow dependency rather than a missing one.
func (p *Proxy) SetLatency(d time.Duration) { p.latency.Store(int64(d)) }

// NewProxy listens on a free loopback port and forwards to target (host:port).
func NewProxy(t testing.TB, target string) *Proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &Proxy{t: t, target: target, addr: ln.Addr().String(), conns: map[net.Conn]struct{}{}}
	p.serve(ln)
	t.Cleanup(p.Down)
	return p
}

// Addr is the proxy's host:port.
func (p *Proxy) Addr() string { return p.addr }

// Down refuses new connections and cuts the open ones.
func (p *Proxy) Down() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	for c := range p.conns {
		c.Close()
	}
	p.conns = map[net.Conn]struct{}{}
}

// Up accepts connections again on the same address.
func (p *Proxy) Up() {
	p.t.Helper()
	ln, err := net.Listen("tcp", p.addr)
	if err != nil {
		p.t.Fatalf("proxy up on %s: %v", p.addr, err)
	}
	p.serve(ln)
}

func (p *Proxy) serve(ln net.Listener) {
	p.mu.Lock()
	p.ln = ln
	p.mu.Unlock()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go p.pipe(c)
		}
	}()
}

func (p *Proxy) pipe(c net.Conn) {
	up, err := net.Dial("tcp", p.target)
	if err != nil {
		c.Close()
		return
	}
	if !p.track(c, up) {
		c.Close()
		up.Close()
		return
	}
	done := make(chan struct{}, 2)
	go func() { _, _ = io.Copy(up, slowReader{c, &p.latency}); done <- struct{}{} }()
	go func() { _, _ = io.Copy(c, up); done <- struct{}{} }()
	<-done
	c.Close()
	up.Close()
	p.mu.Lock()
	delete(p.conns, c)
	delete(p.conns, up)
	p.mu.Unlock()
}

// slowReader sleeps before each read it passes on.
type slowReader struct {
	r       io.Reader
	latency *atomic.Int64
}

func (s slowReader) Read(b []byte) (int, error) {
	if d := time.Duration(s.latency.Load()); d > 0 {
		time.Sleep(d)
	}
	return s.r.Read(b)
}

func (p *Proxy) track(conns ...net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln == nil { // went down while dialling
		return false
	}
	for _, c := range conns {
		p.conns[c] = struct{}{}
	}
	return true
}
