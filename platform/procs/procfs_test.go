package procs

import (
	"os"
	"strings"
	"testing"
	"time"
)

func TestParseStat(t *testing.T) {
	// Fields 3.. of a real line; utime (14) = 250, stime (15) = 50.
	rest := " S 1 4247 4247 0 -1 4194560 5290 0 0 0 250 50 0 0 20 0 12 0 1234 2008256000 7983 18446744073709551615"
	tests := []struct {
		name    string
		stat    string
		want    time.Duration
		wantErr string
	}{
		{"plain name", "4247 (nats-server)" + rest, 3 * time.Second, ""},
		{"name with spaces and parentheses", "4247 (a (b) c)" + rest, 3 * time.Second, ""},
		{"no name", "4247 nats-server S 1", 0, "no command name"},
		{"cut short", "4247 (x) S 1 2 3", 0, "fields after the command name"},
		{"not a number", "4247 (x) S 1 4247 4247 0 -1 4194560 5290 0 0 0 x 50 0", 0, "cpu ticks"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseStat([]byte(tt.stat))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err %v, want one naming %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("got %v, %v; want %v", got, err, tt.want)
			}
		})
	}
}

func TestParseStatus(t *testing.T) {
	tests := []struct {
		name    string
		status  string
		want    Memory
		wantErr bool
	}{
		{"both", "Name:\tingest\nVmPeak:\t  99 kB\nVmHWM:\t    2048 kB\nVmRSS:\t    1024 kB\nThreads:\t7\n", Memory{RSS: 1 << 20, Peak: 2 << 20}, false},
		{"zombie", "Name:\tingest\nState:\tZ (zombie)\n", Memory{}, true},
		{"garbled", "VmHWM:\tlots kB\nVmRSS:\t1 kB\n", Memory{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseStatus([]byte(tt.status))
			if (err != nil) != tt.wantErr || (!tt.wantErr && got != tt.want) {
				t.Fatalf("got %+v, %v; want %+v (error %v)", got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func TestReadOwnProcess(t *testing.T) {
	m, err := ReadMemory(os.Getpid())
	if err != nil || m.RSS <= 0 || m.Peak < m.RSS {
		t.Fatalf("memory %+v, %v", m, err)
	}
	if _, err := ReadCPUTime(os.Getpid()); err != nil {
		t.Fatal(err)
	}
}

func TestTailBuffer(t *testing.T) {
	tests := []struct {
		name   string
		max    int
		writes []string
		n      int
		want   string
	}{
		{"last lines", 100, []string{"a\nb\n", "c\nd\n"}, 2, "c\nd"},
		{"fewer than asked", 100, []string{"a\n"}, 5, "a"},
		{"bounded bytes", 4, []string{"aaaa\nbb\n"}, 5, "bb"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := newTailBuffer(tt.max)
			for _, w := range tt.writes {
				b.Write([]byte(w))
			}
			if got := b.lines(tt.n); got != tt.want {
				t.Fatalf("got %q, want %q", got, tt.want)
			}
		})
	}
}
