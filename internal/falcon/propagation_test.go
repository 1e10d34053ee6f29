package falcon_test

// A create right after a trust-policy change: Falcon validates the
// credential by assuming the role, and while IAM propagates the change it
// answers 400 "failed to validate registry credential".

import (
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/crowdstrike-ecr/ecr-onboard/internal/falconsim"
	"github.com/crowdstrike-ecr/ecr-onboard/internal/onboard"
)

// noWait retries as production does, without waiting between sends (the
// simulator's propagation is counted in validations, not seconds).
var noWait = onboard.Retry{Attempts: 5}

func creates(sim *falconsim.Sim) int { return sim.Stats().ByOperation["POST "+registriesPath] }

// The create is sent again while the trust policy propagates — a change is
// plausible: CSPM registered the account minutes ago — and succeeds within
// the run: created once, no failure.
func TestCreateRetriedWhileTrustPropagates(t *testing.T) {
	accounts := falconsim.GenerateAccounts(1, []string{"us-east-1"})
	accounts[0].RegisteredAt = time.Now().Add(-2 * time.Minute)
	r := newRig(t, rigConfig{accounts: accounts})
	r.runner.CredentialRetry = noWait
	r.sim.PropagateTrust(accounts[0].RoleARN, 3)

	report := r.run(t)

	requireAllCreatedOnce(t, r.sim, report, 1)
	assert.Equal(t, 4, creates(r.sim), "3 rejected while the change propagated, then created")
}

// A role still being prepared that never lets Falcon in within the run: one
// create is sent 1 + 5 times, the account's other registry waits for that
// credential and is never sent; the rejection is pending, and its hint says
// what was tried.
func TestCreateRejectedAfterEveryRetryIsPendingSayingSo(t *testing.T) {
	accounts := falconsim.GenerateAccounts(1, []string{"us-east-1", "us-west-2"})
	accounts[0].TrustsRegistryAssessment, accounts[0].RegisteredAt = false, time.Now().Add(-2*time.Minute)
	r := newRig(t, rigConfig{accounts: accounts, env: map[string]string{"MAX_CONCURRENCY": "1"}})
	r.runner.CredentialRetry = noWait

	report := r.run(t)

	require.Len(t, report.Registries.Pending, 1)
	require.Len(t, report.Registries.Waiting, 1)
	assert.Equal(t, 6, creates(r.sim), "one registry sent 1 + 5 times; the other, of the same credential, not at all")
	p := report.Registries.Pending[0]
	assert.Contains(t, p.Error, "rejected the credential")
	assert.Contains(t, p.Hint, "sent 6 times")
	assert.Contains(t, p.Hint, "still being prepared")
	assert.Contains(t, report.Registries.Waiting[0].Reason, "Falcon rejected role "+accounts[0].RoleARN)
	assert.Empty(t, r.sim.Registries())
}

// A role that has refused Falcon since long before the setup window (the
// simulator's accounts were registered a month ago): one create a run, no
// wait, and a failure whose hint says why it was not sent again.
func TestRoleRefusingForDaysCostsOneCreateAndNoWait(t *testing.T) {
	accounts := falconsim.GenerateAccounts(1, []string{"us-east-1", "us-west-2", "eu-west-1"})
	accounts[0].TrustsRegistryAssessment = false
	r := newRig(t, rigConfig{accounts: accounts})
	r.runner.CredentialRetry = onboard.Retry{Attempts: 5, Wait: time.Hour} // a wait would hold the test

	report := r.run(t)

	require.Len(t, report.Registries.Failed, 1)
	assert.Len(t, report.Registries.Waiting, 2)
	assert.Equal(t, 1, creates(r.sim))
	assert.Contains(t, report.Registries.Failed[0].Hint, "sent once")
	assert.Contains(t, report.Registries.Failed[0].Hint, "arn:aws:iam::292230061137:role/CrowdStrikeCustomerRegistryAssessmentRole")
}

// Falcon may keep the record of a create it answered "failed to validate":
// after the rejection the URL is looked up, and a registration found with
// the alias sent is the one this run created (never a second one).
func TestCreateRejectedButKeptIsFoundByListing(t *testing.T) {
	accounts := falconsim.GenerateAccounts(1, []string{"us-east-1"})
	r := newRig(t, rigConfig{accounts: accounts})
	r.runner.CredentialRetry = onboard.Retry{}
	r.sim.InjectFault(falconsim.Fault{Method: http.MethodPost, Path: registriesPath, Status: http.StatusBadRequest, AfterWrite: true,
		Body: `{"meta":{"query_time":0.001,"trace_id":"t"},"errors":[{"code":400,"message":"failed to validate registry credential"}]}`})

	report := r.run(t)

	requireAllCreatedOnce(t, r.sim, report, 1)
	assert.Equal(t, 1, creates(r.sim), "looked up, not sent again")
}

// untrustedOrganization is n accounts x the 17 regions whose roles do not
// trust the registry-assessment principal, registered with CSPM a month
// ago (the simulator's default): the first deploy of an organisation
// before its member roles are prepared.
func untrustedOrganization(n int) []falconsim.Account {
	accounts := falconsim.GenerateAccounts(n, allRegions)
	for i := range accounts {
		accounts[i].TrustsRegistryAssessment = false
	}
	return accounts
}

// First contact with an organisation whose roles do not trust Falcon yet:
// one create per account a run (the others wait for their credential), no
// propagation wait, the second run the same; once 10 roles are fixed, the
// next run registers their 170 registries. BenchmarkUntrustedOrganization
// measures the same at 1,000 accounts.
func TestUntrustedOrganizationCostsOneCreatePerAccount(t *testing.T) {
	const n = 100
	accounts := untrustedOrganization(n)
	r := newRig(t, rigConfig{accounts: accounts})
	r.runner.CredentialRetry = onboard.Retry{Attempts: 5, Wait: time.Hour} // a wait would hold the test

	for run := 1; run <= 2; run++ {
		before := creates(r.sim)
		report := r.run(t)
		assert.Equal(t, n, creates(r.sim)-before, "run %d", run)
		assert.Len(t, report.Registries.Failed, n, "run %d", run)
		assert.Len(t, report.Registries.Waiting, n*16, "run %d", run)
		assert.Equal(t, n*17, report.Coverage.Missing.Failed+report.Coverage.Missing.Waiting, "run %d", run)
		require.NoError(t, report.Balanced())
	}

	for _, a := range accounts[:10] {
		r.sim.AddRole(a.RoleARN, a.ExternalID, true)
	}
	before := creates(r.sim)
	report := r.run(t)
	assert.Equal(t, n-10+170, creates(r.sim)-before)
	assert.Len(t, report.Registries.Created, 170)
	assert.Equal(t, 170, report.Coverage.Present)
	assert.Len(t, r.sim.Registries(), 170)
}
