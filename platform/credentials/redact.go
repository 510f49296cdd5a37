package credentials

import (
	"net/url"
	"strings"
)

// RedactURLs returns a comma-separated list of server URLs (NATS_URL,
// OPENSEARCH_URL) fit for a log line or an error: any user, password or
// token before the host is replaced by "redacted". Something that does not
// parse as a URL is replaced whole when it may hold credentials.
func RedactURLs(list string) string {
	parts := strings.Split(list, ",")
	for i, p := range parts {
		parts[i] = redactURL(strings.TrimSpace(p))
	}
	return strings.Join(parts, ",")
}

func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		if strings.Contains(s, "@") {
			return "(unparsable URL with credentials, redacted)"
		}
		return s
	}
	if u.User != nil {
		u.User = url.User("redacted")
	}
	return u.String()
}
