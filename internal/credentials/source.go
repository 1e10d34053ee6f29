package credentials

import (
	"context"
	"sync"
	"time"

	"github.com/crowdstrike-ecr/ecr-onboard/internal/config"
)

// MaxAge is how long a secret read from Secrets Manager is trusted before
// it is read again at the start of a run (Source.Stale).
const MaxAge = time.Hour

// Source holds the Falcon API credentials a process uses and knows where
// they came from and when. Credentials from a Secrets Manager secret are
// read again on demand (Refresh: Falcon refused them) and go stale after
// MaxAge; credentials from the environment never change. Safe for
// concurrent use; it never prints the secret.
type Source struct {
	arn string // "" for credentials from the environment
	sm  SecretsManager
	now func() time.Time

	mu     sync.Mutex
	cur    Falcon
	readAt time.Time
}

// NewSource reads the credentials cfg points at (as Load does) and returns
// a Source holding them. now is the clock (nil: time.Now).
func NewSource(ctx context.Context, cfg config.Config, sm SecretsManager, now func() time.Time) (*Source, error) {
	if now == nil {
		now = time.Now
	}
	f, err := Load(ctx, cfg, sm)
	if err != nil {
		return nil, err
	}
	return &Source{arn: cfg.SecretARN, sm: sm, now: now, cur: f, readAt: now()}, nil
}

// Current returns the client ID and secret to use now.
func (s *Source) Current() (clientID, clientSecret string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cur.ClientID, s.cur.ClientSecret.Reveal()
}

// Refresh reads the secret again (one GetSecretValue of its AWSCURRENT
// version) and reports whether the client ID or secret changed. On error
// the credentials held are kept. Credentials from the environment are not
// read again: Refresh returns false.
func (s *Source) Refresh(ctx context.Context) (changed bool, err error) {
	if s.arn == "" {
		return false, nil
	}
	f, err := read(ctx, s.arn, s.sm)
	if err != nil {
		return false, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	changed = f != s.cur
	s.cur, s.readAt = f, s.now()
	return changed, nil
}

// Stale reports whether the secret was read more than MaxAge ago (never
// for credentials from the environment).
func (s *Source) Stale() bool {
	if s.arn == "" {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.now().Sub(s.readAt) > MaxAge
}

// Where names the secret the credentials are read from (its ARN), or ""
// for credentials from the environment, which cannot be read again.
func (s *Source) Where() string { return s.arn }
