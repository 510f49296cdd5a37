package enrichment

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	telemetryv1 "github.com/evtrack/telemetry/contracts/gen/go/telemetry/v1"
	"github.com/evtrack/telemetry/opensearch/eventdoc"
	"github.com/evtrack/telemetry/platform/testenv"
)

// TestBotsShippedList: the list shipped with the service, on the User-Agents
// of crawlers, automation clients and real apps.
func TestBotsShippedList(t *testing.T) {
	bots, err := NewBots(BotConfig{})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		ua, bot, name string
	}{
		// Search engines and other crawlers.
		{"Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", "crawler", "Googlebot"},
		{"Mozilla/5.0 (Linux; Android 6.0.1; Nexus 5X Build/MMB29P) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.6478.126 Mobile Safari/537.36 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", "crawler", "Googlebot"},
		{"Googlebot-Image/1.0", "crawler", "Googlebot"},
		{"AdsBot-Google (+http://www.google.com/adsbot.html)", "crawler", "AdsBot-Google"},
		{"Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm) Chrome/116.0.1938.76 Safari/537.36", "crawler", "bingbot"},
		{"Mozilla/5.0 (compatible; Yahoo! Slurp; http://help.yahoo.com/help/us/ysearch/slurp)", "crawler", "Yahoo-Slurp"},
		{"DuckDuckBot/1.1; (+http://duckduckgo.com/duckduckbot.html)", "crawler", "DuckDuckBot"},
		{"Mozilla/5.0 (compatible; Baiduspider/2.0; +http://www.baidu.com/search/spider.html)", "crawler", "Baiduspider"},
		{"Mozilla/5.0 (compatible; YandexBot/3.0; +http://yandex.com/bots)", "crawler", "YandexBot"},
		{"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/13.1.1 Safari/605.1.15 (Applebot/0.1; +http://www.apple.com/go/applebot)", "crawler", "Applebot"},
		{"Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)", "crawler", "AhrefsBot"},
		{"Mozilla/5.0 (compatible; SemrushBot/7~bl; +http://www.semrush.com/bot.html)", "crawler", "SemrushBot"},
		{"Screaming Frog SEO Spider/19.0", "crawler", "ScreamingFrog"},
		{"Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; GPTBot/1.2; +https://openai.com/gptbot)", "crawler", "GPTBot"},
		{"Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; ClaudeBot/1.0; +claudebot@anthropic.com)", "crawler", "ClaudeBot"},
		{"CCBot/2.0 (https://commoncrawl.org/faq/)", "crawler", "CCBot"},
		{"Mozilla/5.0 (Linux; Android 5.0) AppleWebKit/537.36 (KHTML, like Gecko) Mobile Safari/537.36 (compatible; Bytespider; spider-feedback@bytedance.com)", "crawler", "Bytespider"},
		// Link previews.
		{"facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)", "preview", "facebookexternalhit"},
		{"Twitterbot/1.0", "preview", "Twitterbot"},
		{"Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)", "preview", "Slackbot"},
		{"Mozilla/5.0 (compatible; Discordbot/2.0; +https://discordapp.com)", "preview", "Discordbot"},
		{"TelegramBot (like TwitterBot)", "preview", "TelegramBot"},
		{"LinkedInBot/1.0 (compatible; Mozilla/5.0; Apache-HttpClient +http://www.linkedin.com)", "preview", "LinkedInBot"},
		{"http.rb/5.1.1 (Mastodon/4.2.0; +https://mastodon.social/)", "preview", "Mastodon"},
		// Monitoring.
		{"Pingdom.com_bot_version_1.4_(http://www.pingdom.com/)", "monitoring", "Pingdom"},
		{"Mozilla/5.0+(compatible; UptimeRobot/2.0; http://www.uptimerobot.com/)", "monitoring", "UptimeRobot"},
		{"kube-probe/1.29", "monitoring", "kube-probe"},
		{"ELB-HealthChecker/2.0", "monitoring", "ELB-HealthChecker"},
		{"GoogleHC/1.0", "monitoring", "GoogleHC"},
		// Automation: libraries, command-line clients, headless browsers.
		{"curl/8.5.0", "automation", "curl"},
		{"Wget/1.21.4", "automation", "Wget"},
		{"python-requests/2.31.0", "automation", "python-requests"},
		{"Python-urllib/3.11", "automation", "python-urllib"},
		{"python-httpx/0.27.0", "automation", "python-httpx"},
		{"Python/3.11 aiohttp/3.9.1", "automation", "aiohttp"},
		{"Go-http-client/1.1", "automation", "Go-http-client"},
		{"Go-http-client/2.0", "automation", "Go-http-client"},
		{"Java/17.0.9", "automation", "Java"},
		{"Apache-HttpClient/4.5.14 (Java/17.0.9)", "automation", "Java"},
		{"node-fetch/1.0 (+https://github.com/bitinn/node-fetch)", "automation", "node-fetch"},
		{"axios/1.6.7", "automation", "axios"},
		{"PostmanRuntime/7.36.1", "automation", "PostmanRuntime"},
		{"insomnia/8.6.1", "automation", "Insomnia"},
		{"HTTPie/3.2.2", "automation", "HTTPie"},
		{"Scrapy/2.11.0 (+https://scrapy.org)", "automation", "Scrapy"},
		{"libwww-perl/6.72", "automation", "libwww-perl"},
		{"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/120.0.6099.71 Safari/537.36", "automation", "HeadlessChrome"},
		{"Mozilla/5.0 (Unknown; Linux x86_64) AppleWebKit/538.1 (KHTML, like Gecko) PhantomJS/2.1.1 Safari/538.1", "automation", "PhantomJS"},
		{"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36 Cypress/13.6.0", "automation", "Cypress"},
		{"Grafana k6/0.49.0 (https://k6.io/)", "automation", "k6"},
		{"ApacheBench/2.3", "automation", "ApacheBench"},
		{"CURL/7.0", "automation", "curl"},

		// Real apps, SDKs and browsers: never bots.
		{"evtrack-swift/0.1.0", "", ""},
		{"Shop/4.2.0 (iPhone15,2; iOS 18.1; Scale/3.00)", "", ""},
		{"Shop/42 CFNetwork/1494.0.7 Darwin/23.4.0", "", ""},
		{"Shop/4.2.0 (com.example.shop; build:42; iOS 17.0.0) Alamofire/5.8.0", "", ""},
		{"Dalvik/2.1.0 (Linux; U; Android 14; Pixel 8 Build/AP2A.240805.005)", "", ""},
		{"Dalvik/2.1.0 (Linux; U; Android 10; CUBOT X30 Build/QP1A.190711.020)", "", ""},
		{"okhttp/4.12.0", "", ""},
		{"okhttp/3.14.9", "", ""},
		{"Dart/3.2 (dart:io)", "", ""},
		{"UnityPlayer/2022.3.10f1 (UnityWebRequest/1.0, libcurl/8.1.1-DEV)", "", ""},
		{"grpc-go/1.60.1", "", ""},
		{"grpc-java-okhttp/1.60.0", "", ""},
		{"Insomnia/2.0 CFNetwork/1494.0.7 Darwin/23.4.0", "", ""}, // a sleep app, not the HTTP client
		{"Java/3.1 (com.cafe.java; iOS 17.2) CFNetwork/1485 Darwin/23.1.0", "", ""},
		{"Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1", "", ""},
		{"Mozilla/5.0 (Linux; Android 14; Pixel 8 Build/AP2A; wv) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/120.0.6099.144 Mobile Safari/537.36", "", ""},
		{"Mozilla/5.0 (Linux; Android 10; SM-G973F) AppleWebKit/537.36 Chrome/120.0 Mobile", "", ""},
		{"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36", "", ""},
		{"Mozilla/5.0 (iPhone; CPU iPhone OS 17_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 [FBAN/FBIOS;FBAV/444.0.0.40.111]", "", ""},
		{"Mozilla/5.0 (Linux; Android 13; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/23.0 Chrome/115.0.0.0 Mobile Safari/537.36", "", ""},
		{"Robotics/1.0 (iPad13,4; iPadOS 17.5)", "", ""},
		{"", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.ua, func(t *testing.T) {
			var d eventdoc.Source
			if f := bots.ForBatch(&telemetryv1.EventBatch{UserAgent: tt.ua}); f != nil {
				f(&telemetryv1.Event{}, &d)
			}
			if d.Bot != tt.bot || d.BotName != tt.name {
				t.Errorf("bot %q %q, want %q %q", d.Bot, d.BotName, tt.bot, tt.name)
			}
		})
	}
}

func TestParseBotList(t *testing.T) {
	tests := []struct {
		name, list, err string
		entries         int
	}{
		{"entries and comments", "# c\n\ncrawler Foo foobot\nautomation Bar bar client/\n", "", 2},
		{"too few columns", "crawler foobot\n", "line 1", 0},
		{"bad category", "Crawler Foo foobot\n", "line 1: category", 0},
		{"short pattern", "# c\ncrawler Foo ab\n", "line 2: pattern", 0},
		{"empty", "# nothing\n", "no entries", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, err := ParseBotList(strings.NewReader(tt.list))
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("error %v, want one with %q", err, tt.err)
				}
				return
			}
			if err != nil || l.Len() != tt.entries {
				t.Fatalf("ParseBotList = %v entries, %v; want %d", l, err, tt.entries)
			}
		})
	}
	l, err := ParseBotList(strings.NewReader("automation Bar bar client/\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c, n := l.Match("Bar Client/2 (x)"); c != "automation" || n != "Bar" {
		t.Errorf("pattern with a space: %q %q", c, n)
	}
}

// TestBotsReload: a changed list file is read again (by Reload, and by
// Watch on its interval or on a signal); one that does not parse leaves the
// list in use.
func TestBotsReload(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "bots.txt")
	// write replaces the file at once (as an operator's mv would), with a
	// chosen modification time.
	write := func(s string, mtime time.Time) {
		t.Helper()
		tmp := filepath.Join(dir, "next")
		if err := os.WriteFile(tmp, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(tmp, mtime, mtime); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, path); err != nil {
			t.Fatal(err)
		}
	}
	t0 := time.Now().Add(-time.Hour).Truncate(time.Second)
	write("crawler Foo foobot\n", t0)
	bots, err := NewBots(BotConfig{ListFile: path})
	if err != nil {
		t.Fatal(err)
	}
	match := func(ua string) string {
		c, _ := bots.List().Match(ua)
		return c
	}
	if match("foobot/1") != "crawler" || match("barbot/1") != "" {
		t.Fatal("initial list not in use")
	}
	if changed, err := bots.Reload(); changed || err != nil {
		t.Fatalf("unchanged file: Reload = %v, %v", changed, err)
	}
	write("crawler Bar barbot\n", t0.Add(time.Minute))
	if changed, err := bots.Reload(); !changed || err != nil || match("barbot/1") != "crawler" || match("foobot/1") != "" {
		t.Fatalf("changed file: Reload = %v, %v; the new list not in use", changed, err)
	}
	write("Crawler Bad badbot\n", t0.Add(2*time.Minute))
	if changed, err := bots.Reload(); changed || err == nil || !strings.Contains(err.Error(), "line 1") {
		t.Fatalf("bad file: Reload = %v, %v; want an error naming the line", changed, err)
	}
	if match("barbot/1") != "crawler" {
		t.Fatal("a list that does not parse replaced the one in use")
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sig := make(chan os.Signal, 1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		bots.Watch(ctx, 5*time.Millisecond, sig, slog.New(slog.NewTextHandler(io.Discard, nil)))
	}()
	// On the interval.
	write("crawler Qux quxbot\n", t0.Add(3*time.Minute))
	testenv.Eventually(t, 5*time.Second, "the watch reads the changed list", func() bool { return match("quxbot/1") == "crawler" })
	// The same size and time as the last read: only a signal rereads it.
	write("crawler Baz bazbot\n", t0.Add(3*time.Minute))
	sig <- os.Interrupt
	testenv.Eventually(t, 5*time.Second, "a signal rereads an unchanged-looking file", func() bool { return match("bazbot/1") == "crawler" })
	cancel()
	<-done
}

// BenchmarkBotMatch: one User-Agent against the shipped list; an app's
// (exempt at the first entries), a browser's (no entry matches: the whole
// list is scanned) and a bot's.
func BenchmarkBotMatch(b *testing.B) {
	bots, err := NewBots(BotConfig{})
	if err != nil {
		b.Fatal(err)
	}
	for _, ua := range []string{
		"Shop/42 CFNetwork/1494.0.7 Darwin/23.4.0",
		"Mozilla/5.0 (Linux; Android 14; Pixel 8 Build/AP2A; wv) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/120.0.6099.144 Mobile Safari/537.36",
		"python-requests/2.31.0",
	} {
		b.Run(strings.SplitN(ua, "/", 2)[0], func(b *testing.B) {
			for b.Loop() {
				bots.List().Match(ua)
			}
		})
	}
}
