package enrichment

import (
	"errors"
	"io"
)

// ChainConfig configures every step of the chain.
type ChainConfig struct {
	ClockSkew ClockSkewConfig
	// Geo: an empty DBPath leaves the geo step out.
	Geo GeoConfig
	// Bots: the bot list (the built-in one by default).
	Bots BotConfig
	// ClientIP: how much of the client address documents keep.
	ClientIP ClientIPConfig
	// Pseudonymise: no fields leaves the step out.
	Pseudonymise PseudonymiseConfig
}

// NewChain returns the enrichment chain: the one place its steps are
// registered, in their fixed order — clock skew, geo (when cfg.Geo names a
// database), device, bots, client address, pseudonymisation (when fields
// are named). The client address is written (anonymised) only after geo
// has looked the full one up, and identifiers are replaced only after
// every other step. An error is a geo database that cannot be opened, a
// bot list that does not load, or an invalid pseudonymisation; nothing is
// left open then. Close the chain when done with it.
func NewChain(cfg ChainConfig) (Chain, error) {
	if err := cfg.Pseudonymise.Validate(); err != nil {
		return nil, err
	}
	bots, err := NewBots(cfg.Bots)
	if err != nil {
		return nil, err
	}
	chain := Chain{NewClockSkew(cfg.ClockSkew)}
	if cfg.Geo.DBPath != "" {
		geo, err := OpenGeo(cfg.Geo)
		if err != nil {
			return nil, err
		}
		chain = append(chain, geo)
	}
	chain = append(chain, Device{}, bots, NewClientIP(cfg.ClientIP))
	if len(cfg.Pseudonymise.Fields) > 0 {
		chain = append(chain, NewPseudonymise(cfg.Pseudonymise))
	}
	return chain, nil
}

// Bots returns the chain's bot step (to reload its list), or nil.
func (c Chain) Bots() *Bots {
	for _, s := range c {
		if b, ok := s.(*Bots); ok {
			return b
		}
	}
	return nil
}

// Close releases what the steps hold (the geo database).
func (c Chain) Close() error {
	var errs []error
	for _, s := range c {
		if closer, ok := s.(io.Closer); ok {
			errs = append(errs, closer.Close())
		}
	}
	return errors.Join(errs...)
}
