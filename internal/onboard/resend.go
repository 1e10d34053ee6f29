package onboard

import (
	"context"
	"sync"
	"time"
)

// ResendInterval is how often a run sends a credential that is already
// CSPM's current one again to an owned registration Falcon keeps in a
// verdict state (README, "Drift detection and the alias"). Falcon validates
// a credential when it is written, so a re-send that Falcon accepts shows
// that the role lets it in; a verdict that survives it has another cause
// (the role's ECR read access, say), which a PATCH every run cannot fix.
const ResendInterval = 6 * time.Hour

// Resend is one such write a run made: the registration, the fingerprint
// of the credential sent, the verdict it answered (Registry.verdict) and
// when.
type Resend struct {
	RegistryID  string
	Fingerprint string
	Verdict     string
	At          time.Time
}

// Resends is where runs remember their re-sends: the stack's DynamoDB
// table for the Lambda (awsapi), the process otherwise (MemoryResends).
type Resends interface {
	// LastResends returns the last re-send recorded for each of ids
	// (registration IDs); an ID without one is absent from the map.
	LastResends(ctx context.Context, ids []string) (map[string]Resend, error)
	// RecordResends remembers rs, each replacing what was recorded for
	// its registration.
	RecordResends(ctx context.Context, rs []Resend) error
}

// resendDue reports whether an owned registration have, which Falcon keeps
// in a verdict (have.Trouble) while its alias records CSPM's current
// credential fp, is sent that credential again at now: when nothing was
// sent to it yet, when CSPM's record or Falcon's verdict changed since the
// last re-send (last), and otherwise once ResendInterval has passed. A
// record dated in the future is not trusted.
func resendDue(have Registry, fp string, last *Resend, now time.Time) bool {
	switch {
	case last == nil || last.Fingerprint != fp || last.Verdict != have.verdict():
		return true
	case last.At.After(now.Add(time.Minute)):
		return true
	}
	return now.Sub(last.At) >= ResendInterval
}

// MemoryResends keeps re-sends in the process: what a Runner without
// another store uses. A CLI run forgets them when it ends, so each CLI run
// re-sends at most once per registration.
type MemoryResends struct {
	mu   sync.Mutex
	last map[string]Resend
}

// LastResends implements Resends.
func (m *MemoryResends) LastResends(_ context.Context, ids []string) (map[string]Resend, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make(map[string]Resend, len(ids))
	for _, id := range ids {
		if r, ok := m.last[id]; ok {
			out[id] = r
		}
	}
	return out, nil
}

// RecordResends implements Resends.
func (m *MemoryResends) RecordResends(_ context.Context, rs []Resend) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.last == nil {
		m.last = map[string]Resend{}
	}
	for _, r := range rs {
		m.last[r.RegistryID] = r
	}
	return nil
}
