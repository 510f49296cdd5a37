package enrichment

import (
	"fmt"
	"slices"
	"strings"

	telemetryv1 "github.com/evtrack/telemetry/contracts/gen/go/telemetry/v1"
	"github.com/evtrack/telemetry/opensearch/eventdoc"
	"github.com/evtrack/telemetry/platform/pseudonym"
)

// PseudonymiseConfig configures the pseudonymisation step.
type PseudonymiseConfig struct {
	// Fields to replace by their pseudonym (of pseudonym.Fields);
	// none leaves the step out.
	Fields []string
	// Key is the HMAC key; required when Fields is not empty.
	Key pseudonym.Key
}

// Validate checks the fields are known and a key is set for them.
func (c PseudonymiseConfig) Validate() error {
	if err := pseudonym.CheckFields(c.Fields); err != nil {
		return err
	}
	if len(c.Fields) > 0 && c.Key.IsZero() {
		return fmt.Errorf("fields %s to pseudonymise but no key", strings.Join(c.Fields, ", "))
	}
	return nil
}

// Pseudonymise replaces the configured identifiers of each document with
// their keyed hash (platform/pseudonym): the same id always gives the same
// pseudonym, and the query service finds the events by the original id. It
// runs after every step that reads the identifiers.
type Pseudonymise struct {
	key                      pseudonym.Key
	user, anonymous, session bool
}

// NewPseudonymise returns the step for cfg, which must be valid.
func NewPseudonymise(cfg PseudonymiseConfig) Pseudonymise {
	return Pseudonymise{
		key:       cfg.Key,
		user:      slices.Contains(cfg.Fields, "user_id"),
		anonymous: slices.Contains(cfg.Fields, "anonymous_id"),
		session:   slices.Contains(cfg.Fields, "session_id"),
	}
}

// ForBatch implements Step: one hasher per field and batch (the events of
// a batch mostly share their ids: each distinct run is hashed once).
func (p Pseudonymise) ForBatch(*telemetryv1.EventBatch) func(*telemetryv1.Event, *eventdoc.Source) {
	var user, anonymous, session *pseudonym.Hasher
	if p.user {
		user = p.key.NewHasher()
	}
	if p.anonymous {
		anonymous = p.key.NewHasher()
	}
	if p.session {
		session = p.key.NewHasher()
	}
	return func(_ *telemetryv1.Event, d *eventdoc.Source) {
		if user != nil {
			d.UserID = user.Of(d.UserID)
		}
		if anonymous != nil {
			d.AnonymousID = anonymous.Of(d.AnonymousID)
		}
		if session != nil {
			d.SessionID = session.Of(d.SessionID)
		}
	}
}
