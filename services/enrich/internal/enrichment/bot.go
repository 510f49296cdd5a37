package enrichment

import (
	"bufio"
	"bytes"
	"context"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"regexp"
	"strings"
	"sync/atomic"
	"time"

	telemetryv1 "github.com/evtrack/telemetry/contracts/gen/go/telemetry/v1"
	"github.com/evtrack/telemetry/opensearch/eventdoc"
)

// defaultBotList is the list shipped with the service (bots.txt, whose
// header describes the format).
//
//go:embed bots.txt
var defaultBotList []byte

// BotConfig configures the bot step.
type BotConfig struct {
	// ListFile is a bot list in the format of bots.txt; "" uses the list
	// built into the service.
	ListFile string
}

// BotList is a parsed bot list.
type BotList struct {
	entries []botEntry
}

type botEntry struct {
	category, name, pattern string // pattern in lower case
}

// Len is the number of entries.
func (l *BotList) Len() int { return len(l.entries) }

var botCategory = regexp.MustCompile(`^[a-z][a-z0-9_-]{0,31}$`)

// minBotPattern is the shortest pattern accepted: shorter ones would match
// far too much.
const minBotPattern = 3

// ParseBotList reads a list in the format of bots.txt. An error names the
// line.
func ParseBotList(r io.Reader) (*BotList, error) {
	l := &BotList{}
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Fields(line)
		if len(f) < 3 {
			return nil, fmt.Errorf("line %d: want \"category name pattern\"", n)
		}
		if !botCategory.MatchString(f[0]) {
			return nil, fmt.Errorf("line %d: category %q: lower-case letters, digits, - and _, at most 32", n, f[0])
		}
		pattern := strings.ToLower(strings.Join(f[2:], " "))
		if len(pattern) < minBotPattern {
			return nil, fmt.Errorf("line %d: pattern %q: at least %d characters", n, pattern, minBotPattern)
		}
		l.entries = append(l.entries, botEntry{category: f[0], name: f[1], pattern: pattern})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read bot list: %w", err)
	}
	if len(l.entries) == 0 {
		return nil, errors.New("bot list has no entries")
	}
	return l, nil
}

// NotBot is the category of entries that say a User-Agent is not a bot.
const NotBot = "none"

// Match returns the category and name of the first entry whose pattern
// occurs in ua at the start of a word ("", "" when none does, or when the
// first is of the category NotBot).
func (l *BotList) Match(ua string) (category, name string) {
	if ua == "" {
		return "", ""
	}
	lower := strings.ToLower(ua)
	for _, e := range l.entries {
		if containsAtWordStart(lower, e.pattern) {
			if e.category == NotBot {
				return "", ""
			}
			return e.category, e.name
		}
	}
	return "", ""
}

// containsAtWordStart reports whether p occurs in s at its start or after
// a byte that is not an ASCII letter or digit.
func containsAtWordStart(s, p string) bool {
	for from := 0; ; {
		i := strings.Index(s[from:], p)
		if i < 0 {
			return false
		}
		i += from
		if i == 0 || !isAlnum(s[i-1]) {
			return true
		}
		from = i + 1
	}
}

func isAlnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// Bots marks the events of a batch whose User-Agent is a known bot: `bot`
// is the entry's category, `bot_name` its name. The list can be replaced
// while the service runs (Reload, Watch).
type Bots struct {
	file string
	list atomic.Pointer[BotList]
	// stamp is the list file's size and modification time when last read.
	stamp atomic.Pointer[fileStamp]
}

type fileStamp struct {
	size    int64
	modTime time.Time
}

// NewBots loads the list of cfg.
func NewBots(cfg BotConfig) (*Bots, error) {
	b := &Bots{file: cfg.ListFile}
	if b.file == "" {
		l, err := ParseBotList(bytes.NewReader(defaultBotList))
		if err != nil {
			return nil, fmt.Errorf("built-in bot list: %w", err)
		}
		b.list.Store(l)
		return b, nil
	}
	if _, err := b.Reload(); err != nil {
		return nil, err
	}
	return b, nil
}

// List is the list in use.
func (b *Bots) List() *BotList { return b.list.Load() }

// Reload reads the list file again if it changed since it was last read
// (size or modification time) and returns whether it did. A file that does
// not read or parse leaves the list in use as it is. Without a file (the
// built-in list) it does nothing.
func (b *Bots) Reload() (bool, error) {
	if b.file == "" {
		return false, nil
	}
	fi, err := os.Stat(b.file)
	if err != nil {
		return false, fmt.Errorf("bot list %s: %w", b.file, err)
	}
	st := &fileStamp{size: fi.Size(), modTime: fi.ModTime()}
	if old := b.stamp.Load(); old != nil && *old == *st {
		return false, nil
	}
	data, err := os.ReadFile(b.file)
	if err != nil {
		return false, fmt.Errorf("bot list %s: %w", b.file, err)
	}
	l, err := ParseBotList(bytes.NewReader(data))
	if err != nil {
		return false, fmt.Errorf("bot list %s: %w", b.file, err)
	}
	b.list.Store(l)
	b.stamp.Store(st)
	return true, nil
}

// Watch reloads the list file every interval (0: never) and whenever
// signals delivers (SIGHUP in the service; a reload asked for by signal
// reads the file even if it looks unchanged), until ctx ends. Reloads and
// failures are logged; a failure keeps the list in use.
func (b *Bots) Watch(ctx context.Context, interval time.Duration, signals <-chan os.Signal, log *slog.Logger) {
	if b.file == "" {
		return
	}
	var tick <-chan time.Time
	if interval > 0 {
		t := time.NewTicker(interval)
		defer t.Stop()
		tick = t.C
	}
	reload := func() {
		changed, err := b.Reload()
		switch {
		case err != nil:
			log.ErrorContext(ctx, "bot list not reloaded; keeping the list in use", "error", err, "entries", b.List().Len())
		case changed:
			log.InfoContext(ctx, "bot list reloaded", "file", b.file, "entries", b.List().Len())
		}
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick:
			reload()
		case <-signals:
			b.stamp.Store(nil)
			reload()
		}
	}
}

// ForBatch implements Step: one match per batch (one User-Agent).
func (b *Bots) ForBatch(batch *telemetryv1.EventBatch) func(*telemetryv1.Event, *eventdoc.Source) {
	category, name := b.List().Match(batch.GetUserAgent())
	if category == "" {
		return nil
	}
	return func(_ *telemetryv1.Event, d *eventdoc.Source) {
		d.Bot, d.BotName = category, name
	}
}
