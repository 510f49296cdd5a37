package enrichment

import (
	"regexp"
	"strconv"
	"strings"

	telemetryv1 "github.com/evtrack/telemetry/contracts/gen/go/telemetry/v1"
	"github.com/evtrack/telemetry/opensearch/eventdoc"
)

// Device normalises the operating system and device model from the event's
// device_os (what the SDK says) and the request's User-Agent (what the HTTP
// stack says): os_name is one of iOS, iPadOS, watchOS, tvOS, macOS, Android,
// Windows, Linux; os_version is dotted; device_model is the hardware
// identifier the client exposes (iPhone15,2, Pixel 8, SM-G973F).
type Device struct{}

// ForBatch implements Step.
func (Device) ForBatch(b *telemetryv1.EventBatch) func(*telemetryv1.Event, *eventdoc.Source) {
	ua := parseUserAgent(b.GetUserAgent())
	return func(e *telemetryv1.Event, d *eventdoc.Source) {
		d.UserAgent = b.GetUserAgent()
		// What the SDK sent itself (copied into d already) wins over what is
		// read from device_os, which wins over the User-Agent.
		if d.OSName == "" {
			d.OSName, d.OSVersion = ua.os, ua.version
			if name, version := normalizeOS(e.GetDeviceOs()); name != "" {
				d.OSName, d.OSVersion = name, version
			}
		}
		if d.DeviceModel == "" {
			d.DeviceModel = ua.model
		}
	}
}

type userAgent struct{ os, version, model string }

var (
	osNames = map[string]string{
		"ios": "iOS", "iphone os": "iOS", "ipados": "iPadOS", "watchos": "watchOS", "tvos": "tvOS",
		"macos": "macOS", "mac os x": "macOS", "os x": "macOS", "android": "Android",
		"windows": "Windows", "windows nt": "Windows", "linux": "Linux",
	}
	osPattern      = regexp.MustCompile(`(?i)\b(iPhone OS|iPadOS|iOS|watchOS|tvOS|macOS|Mac OS X|Android|Windows NT|Windows|Linux)[ /]?(\d+(?:[._]\d+)*)?`)
	cpuOSPattern   = regexp.MustCompile(`CPU (?:iPhone )?OS (\d+(?:_\d+)*)`)
	appleModel     = regexp.MustCompile(`\b((?:iPhone|iPad|iPod|Watch|AppleTV)\d+,\d+)\b`)
	androidModel   = regexp.MustCompile(`Android [\d.]+;(?: [a-z]{2}[-_][A-Za-z]{2};)? ([^;)]+?)(?: Build/[^;)]*)?[;)]`)
	darwinPattern  = regexp.MustCompile(`Darwin/(\d+)`)
	androidVersion = regexp.MustCompile(`Android (\d+(?:\.\d+)*)`)
)

// parseUserAgent reads the common mobile forms: SDK style
// "App/1.0 (iPhone15,2; iOS 18.1)", CFNetwork "App/1 CFNetwork/1494 Darwin/23.4.0",
// Dalvik "Dalvik/2.1.0 (Linux; U; Android 14; Pixel 8 Build/AP2A)", and
// browser-like "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X)".
func parseUserAgent(ua string) userAgent {
	var out userAgent
	if ua == "" {
		return out
	}
	if m := appleModel.FindStringSubmatch(ua); m != nil {
		out.model = m[1]
	}
	switch {
	case strings.Contains(ua, "Android"):
		out.os = "Android"
		if m := androidVersion.FindStringSubmatch(ua); m != nil {
			out.version = m[1]
		}
		if m := androidModel.FindStringSubmatch(ua); m != nil {
			out.model = strings.TrimSpace(m[1])
		}
		return out
	case strings.Contains(ua, "CPU OS ") || strings.Contains(ua, "CPU iPhone OS "):
		m := cpuOSPattern.FindStringSubmatch(ua)
		out.os = "iOS"
		if strings.Contains(ua, "iPad") {
			out.os = "iPadOS"
		}
		if m != nil {
			out.version = strings.ReplaceAll(m[1], "_", ".")
		}
		if out.model == "" {
			for _, dev := range []string{"iPhone", "iPad", "iPod"} {
				if strings.Contains(ua, "("+dev+";") {
					out.model = dev
				}
			}
		}
		return out
	}
	if m := osPattern.FindStringSubmatch(ua); m != nil {
		out.os, out.version = normalizeOS(m[1] + " " + m[2])
		return out
	}
	if m := darwinPattern.FindStringSubmatch(ua); m != nil && strings.Contains(ua, "CFNetwork") {
		// Darwin 20 shipped with iOS 14, 24 with iOS 18; then Apple named
		// releases by year: Darwin 25 is iOS 26.
		if major, err := strconv.Atoi(m[1]); err == nil && major >= 14 {
			v := major - 6
			if major >= 25 {
				v = major + 1
			}
			out.os, out.version = "iOS", strconv.Itoa(v)
		}
	}
	return out
}

// normalizeOS turns "iOS 18.1", "android 14", "iPhone OS 17_0" or "Android"
// into a canonical name and a dotted version; unknown names give "".
func normalizeOS(s string) (name, version string) {
	s = strings.TrimSpace(s)
	if s == "" {
		return "", ""
	}
	i := strings.IndexAny(s, "0123456789")
	head, ver := s, ""
	if i >= 0 {
		head, ver = s[:i], s[i:]
	}
	head = strings.ToLower(strings.TrimSpace(strings.TrimRight(head, " /")))
	name, ok := osNames[head]
	if !ok {
		return "", ""
	}
	if f := strings.Fields(ver); len(f) > 0 {
		ver = strings.ReplaceAll(f[0], "_", ".")
	}
	if name == "Windows" && head == "windows nt" {
		ver = "NT " + ver
	}
	return name, strings.TrimRight(ver, ".")
}
