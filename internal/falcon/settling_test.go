package falcon_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/crowdstrike-ecr/ecr-onboard/internal/falconsim"
)

// An account that just joined the organization: CSPM lists it, but the
// member setup has not added the registry-assessment principal to its role
// yet. Its registrations are pending — not failed, no "fix your trust
// policy" — until the repair lands; then the next run registers them. The
// time comes from CSPM's record (created_at), through the real client.
func TestNewAccountWhoseTrustIsBeingPreparedIsPending(t *testing.T) {
	accounts := falconsim.GenerateAccounts(2, []string{"us-east-1", "eu-west-1"})
	joined := &accounts[1]
	joined.TrustsRegistryAssessment, joined.RegisteredAt = false, time.Now().Add(-3*time.Minute)
	r := newRig(t, rigConfig{accounts: accounts})
	r.runner.CredentialRetry = noWait

	report := r.run(t)

	assert.Len(t, report.Registries.Created, 2, "the account onboarded before")
	assert.Empty(t, report.Registries.Failed)
	require.Len(t, report.Registries.Pending, 1, "one write per credential")
	p := report.Registries.Pending[0]
	assert.Equal(t, joined.ID, p.AccountID)
	assert.Contains(t, p.Hint, "CSPM registered this account 3m0s ago")
	assert.NotContains(t, p.Hint, "add it to its trust policy")
	require.Len(t, report.Registries.Waiting, 1)
	assert.Equal(t, joined.ID, report.Registries.Waiting[0].AccountID)
	assert.Equal(t, 1, report.Coverage.Missing.Pending)
	assert.Equal(t, 1, report.Coverage.Missing.Waiting)
	assert.False(t, report.Coverage.Clean)

	r.sim.AddRole(joined.RoleARN, joined.ExternalID, true) // the member setup's repair lands
	report = r.run(t)
	assert.Len(t, report.Registries.Created, 2)
	assert.Empty(t, report.Registries.Pending)
	assert.True(t, report.Coverage.Clean)
}

// The same rejection for an account CSPM registered long ago (the
// simulator's default: a month) is a failure, with what to fix.
func TestOldAccountWhoseTrustIsMissingFails(t *testing.T) {
	accounts := falconsim.GenerateAccounts(1, []string{"us-east-1"})
	accounts[0].TrustsRegistryAssessment = false
	r := newRig(t, rigConfig{accounts: accounts})
	r.runner.CredentialRetry = noWait

	report := r.run(t)

	assert.Empty(t, report.Registries.Pending)
	require.Len(t, report.Registries.Failed, 1)
	assert.Contains(t, report.Registries.Failed[0].Hint, "add it to its trust policy")
}

// A CSPM stack update rewrote an onboarded role's trust policy: Falcon
// reports the registration in error, the run re-asserts it, and the PATCH
// is rejected until the member setup re-prepares the role. Meanwhile the
// registration is pending (Falcon's state_changed_at is recent), not a
// credential failure.
func TestRegistrationWhoseTrustIsBeingRepairedIsPending(t *testing.T) {
	accounts := falconsim.GenerateAccounts(1, []string{"us-east-1"})
	a := accounts[0]
	r := newRig(t, rigConfig{accounts: accounts})
	r.runner.CredentialRetry = noWait
	require.Len(t, r.run(t).Registries.Created, 1)

	r.sim.AddRole(a.RoleARN, a.ExternalID, false) // the CSPM stack update drops the principal
	require.True(t, r.sim.SetRegistryState(r.sim.Registries()[0].ID, "error", false))
	report := r.run(t)

	assert.Empty(t, report.Registries.Failed)
	require.Len(t, report.Registries.Pending, 1)
	assert.Contains(t, report.Registries.Pending[0].Hint, `Falcon reported the registration "error"`)

	r.sim.AddRole(a.RoleARN, a.ExternalID, true) // repaired
	report = r.run(t)
	assert.Len(t, report.Registries.Updated, 1)
	assert.Empty(t, report.Registries.Pending)
}
