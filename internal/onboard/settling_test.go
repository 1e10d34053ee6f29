package onboard

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestSettling(t *testing.T) {
	now := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	a := acct("100000000001", "us-east-1")
	verdict := &Registry{State: "error"}
	for name, tc := range map[string]struct {
		registered, changed time.Time
		have                *Registry
		nowZero             bool
		want                string
	}{
		"registered 7 minutes ago":          {registered: now.Add(-7 * time.Minute), want: "CSPM registered this account 7m0s ago"},
		"registered just now":               {registered: now, want: "CSPM registered this account under a minute ago"},
		"registered a window ago":           {registered: now.Add(-SetupWindow)},
		"registered long ago":               {registered: now.Add(-30 * 24 * time.Hour)},
		"registered in the future":          {registered: now.Add(time.Hour)},
		"registration time unknown":         {},
		"no clock":                          {registered: now, nowZero: true},
		"state error 3 minutes ago":         {have: verdict, changed: now.Add(-3 * time.Minute), want: `Falcon reported the registration "error" 3m0s ago`},
		"state error long ago":              {have: verdict, changed: now.Add(-time.Hour)},
		"state paused just now":             {have: &Registry{State: "paused"}, changed: now},
		"state error, change time unknown":  {have: verdict},
		"an old account, a recent verdict":  {registered: now.Add(-time.Hour), have: verdict, changed: now.Add(-time.Minute), want: `Falcon reported the registration "error" 1m0s ago`},
		"a new account, an existing record": {registered: now.Add(-time.Minute), have: &Registry{State: "pending"}, want: "CSPM registered this account 1m0s ago"},
	} {
		t.Run(name, func(t *testing.T) {
			a.RegisteredAt = tc.registered
			var have *Registry
			if tc.have != nil {
				h := *tc.have
				h.StateChangedAt = tc.changed
				have = &h
			}
			at := now
			if tc.nowZero {
				at = time.Time{}
			}
			assert.Equal(t, tc.want, settling(a, have, at))
		})
	}
}

// A credential rejected for an account CSPM registered minutes ago is
// pending, not failed: its role's trust is being prepared. The same
// rejection for an account registered long ago is a failure with its hint.
// Nothing else about the write changes.
func TestRejectionWhileTrustIsPreparedIsPending(t *testing.T) {
	fresh, old := acct("100000000001", "us-east-1", "eu-west-1"), acct("100000000002", "us-east-1")
	fresh.RegisteredAt = time.Now().Add(-2 * time.Minute)
	old.RegisteredAt = time.Now().Add(-48 * time.Hour)
	f := &fakeFalcon{accounts: []Account{fresh, old}}
	f.createErr = func(Registry) error {
		return fmt.Errorf("%w: failed to validate registry credential", ErrCredentialRejected)
	}

	r := runOn(t, &Runner{Falcon: f}, Request{})

	require.Len(t, r.Registries.Pending, 1, "one write per credential: the other waits for it")
	p := r.Registries.Pending[0]
	assert.Equal(t, fresh.ID, p.AccountID)
	assert.Contains(t, p.Hint, "CSPM registered this account 2m0s ago")
	assert.Contains(t, p.Hint, "still being prepared")
	require.Len(t, r.Registries.Waiting, 1)
	assert.Equal(t, fresh.ID, r.Registries.Waiting[0].AccountID)
	require.Len(t, r.Registries.Failed, 1)
	assert.Equal(t, old.ID, r.Registries.Failed[0].AccountID)
	assert.Contains(t, r.Registries.Failed[0].Hint, "trust policy")
	assert.Equal(t, Missing{Pending: 1, Waiting: 1, Failed: 1}, r.Coverage.Missing)
	assert.Equal(t, 1, r.Failures(), "pending writes are not failures (RegistriesFailed, its alarm)")

	// Only a rejected credential is pending: any other error is a failure,
	// and does not hold back the credential's other writes.
	f.createErr = func(Registry) error { return errors.New("HTTP 400: bad url") }
	r = runOn(t, &Runner{Falcon: f}, Request{})
	assert.Empty(t, r.Registries.Pending)
	assert.Empty(t, r.Registries.Waiting)
	assert.Len(t, r.Registries.Failed, 3)

	// Pending alone: nothing failed, coverage not clean (exit code 4).
	f.accounts, f.createErr = []Account{fresh}, func(Registry) error { return fmt.Errorf("%w: x", ErrCredentialRejected) }
	r = runOn(t, &Runner{Falcon: f}, Request{})
	assert.Equal(t, []string{
		"1 registration(s) wait for their role to be prepared (registries.pending); a later run registers them",
		"1 registration(s) not sent: Falcon rejected their role and external ID for another registry (registries.waiting; the hint is that registry's)",
	}, r.Coverage.Attention)
	assert.Equal(t, 4, r.ExitCode())
}
