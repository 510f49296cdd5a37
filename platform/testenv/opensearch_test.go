package testenv

import "testing"

// TestExists: an index put is there, one never put is not.
func TestExists(t *testing.T) {
	t.Parallel()
	url := OpenSearchURL(t)
	prefix := Name(t, "exists")
	DeleteIndexData(t, url, prefix)
	PutJSON(t, url, "/"+prefix+"-2026.01.01", "")
	if !Exists(t, url, "/"+prefix+"-2026.01.01") {
		t.Errorf("index put is not there")
	}
	if Exists(t, url, "/"+prefix+"-2026.01.02") {
		t.Errorf("index never put is there")
	}
}
