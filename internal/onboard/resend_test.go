package onboard

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A credential that is already CSPM's current one is sent again to a
// registration Falcon keeps in a verdict at once when nothing was sent to
// it yet, or CSPM's record or Falcon's verdict changed since; otherwise
// once ResendInterval has passed.
func TestResendDue(t *testing.T) {
	now := time.Date(2026, 12, 8, 12, 0, 0, 0, time.UTC)
	have := Registry{ID: "r", State: "Error"}
	last := func(fp, verdict string, ago time.Duration) *Resend {
		return &Resend{RegistryID: "r", Fingerprint: fp, Verdict: verdict, At: now.Add(-ago)}
	}
	for name, tc := range map[string]struct {
		last *Resend
		have Registry
		due  bool
	}{
		"never sent":                  {nil, have, true},
		"sent a minute ago":           {last("fp", "error", time.Minute), have, false},
		"sent just under 6 hours ago": {last("fp", "error", ResendInterval-time.Second), have, false},
		"sent 6 hours ago":            {last("fp", "error", ResendInterval), have, true},
		"CSPM's record changed":       {last("other", "error", time.Minute), have, true},
		"Falcon's verdict changed":    {last("fp", "offline", time.Minute), have, true},
		"now expired":                 {last("fp", "error", time.Minute), Registry{ID: "r", State: "error", Expired: true}, true},
		"a record from the future":    {last("fp", "error", -time.Hour), have, true},
	} {
		t.Run(name, func(t *testing.T) {
			assert.Equal(t, tc.due, resendDue(tc.have, "fp", tc.last, now))
		})
	}
}

// A held registration is not written: it is a failure with the hint that
// names what else Falcon needs, and the run reads the memory only for
// registrations Falcon reports trouble with.
func TestHeldRegistrationIsAFailureNotAWrite(t *testing.T) {
	a := acct("100000000001", "us-east-1", "eu-west-1")
	const owner = Owner("p")
	held := ownedBy(owner, a, "us-east-1")
	held.State = "error"
	f := &fakeFalcon{accounts: []Account{a}, registries: []Registry{held, ownedBy(owner, a, "eu-west-1")}}
	mem := &MemoryResends{}
	now := time.Now()
	require.NoError(t, mem.RecordResends(context.Background(), []Resend{{RegistryID: held.ID, Fingerprint: credOf(a).Fingerprint(), Verdict: "error", At: now.Add(-time.Hour)}}))

	r := runOn(t, &Runner{Falcon: f, Owner: owner, Resends: mem, Clock: func() time.Time { return now }}, Request{})

	assert.EqualValues(t, 2, f.calls.Load(), "the two listings, no write")
	require.Len(t, r.Registries.Failed, 1)
	assert.Contains(t, r.Registries.Failed[0].Error, "not sent again before "+now.Add(-time.Hour).Add(ResendInterval).UTC().Format(time.RFC3339))
	assert.Contains(t, r.Registries.Failed[0].Hint, "AmazonEC2ContainerRegistryReadOnly")
	assert.Equal(t, Coverage{Desired: 2, Present: 1, Percent: 50, Missing: Missing{Failed: 1},
		Attention: []string{"1 registration(s) failed (registries.failed, each with a hint)"}}, *r.Coverage)
	require.NoError(t, r.Balanced())
}
