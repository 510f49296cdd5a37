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
}

// NewChain returns the enrichment chain: the one place its steps are
// registered, in their fixed order — clock skew, geo (when cfg.Geo names a
// database), device. An error is a geo database that cannot be opened;
// nothing is left open then. Close the chain when done with it.
func NewChain(cfg ChainConfig) (Chain, error) {
	chain := Chain{NewClockSkew(cfg.ClockSkew)}
	if cfg.Geo.DBPath != "" {
		geo, err := OpenGeo(cfg.Geo)
		if err != nil {
			return nil, err
		}
		chain = append(chain, geo)
	}
	return append(chain, Device{}), nil
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
