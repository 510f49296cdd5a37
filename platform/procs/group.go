package procs

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
)

// Group owns the processes started through it and stops them all, by PID,
// in the reverse order of their start: the owner defers StopAll, so they
// end with it — on success, on error and after a Ctrl-C alike.
type Group struct {
	mu    sync.Mutex
	procs []*Proc
}

// Start runs spec as a member of the group.
func (g *Group) Start(spec Spec) (*Proc, error) {
	p, err := Start(spec)
	if err != nil {
		return nil, err
	}
	g.mu.Lock()
	g.procs = append(g.procs, p)
	g.mu.Unlock()
	return p, nil
}

// Output runs a tool that does one job and returns its standard output; its
// standard error goes to the spec's log. If ctx ends first, the tool is
// killed.
func (g *Group) Output(ctx context.Context, spec Spec) ([]byte, error) {
	var out bytes.Buffer
	spec.Stdout = &out
	p, err := g.Start(spec)
	if err != nil {
		return nil, err
	}
	if err := p.Wait(ctx); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}

// StopAll stops every process of the group still running, the last started
// first, and forgets them. It returns what went wrong with any of them.
func (g *Group) StopAll() error {
	g.mu.Lock()
	procs := g.procs
	g.procs = nil
	g.mu.Unlock()
	var errs []error
	for i := len(procs) - 1; i >= 0; i-- {
		if exited, _ := procs[i].Exited(); exited {
			continue
		}
		if err := procs[i].Stop(); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("stop processes: %w", err)
	}
	return nil
}
