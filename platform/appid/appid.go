// Package appid holds the one rule for app ids: they appear in NATS subjects,
// OpenSearch keyword fields and credentials config, so they are restricted to
// characters that are safe in all of them.
package appid

import (
	"fmt"
	"regexp"
)

var valid = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// Validate checks that id is 1-64 letters, digits, '-' or '_'.
func Validate(id string) error {
	if !valid.MatchString(id) {
		return fmt.Errorf("app id %q: want 1-64 letters, digits, '-' or '_'", id)
	}
	return nil
}
