package falcon_test

// A create right after a trust-policy change: Falcon validates the
// credential by assuming the role, and while IAM propagates the change it
// answers 400 "failed to validate registry credential".

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/crowdstrike-ecr/ecr-onboard/internal/falconsim"
	"github.com/crowdstrike-ecr/ecr-onboard/internal/onboard"
)

// noWait retries as production does, without waiting between sends (the
// simulator's propagation is counted in validations, not seconds).
var noWait = onboard.Retry{Attempts: 5}

func creates(sim *falconsim.Sim) int { return sim.Stats().ByOperation["POST "+registriesPath] }

// The create is sent again while the trust policy propagates, and succeeds
// within the run: created once, no failure.
func TestCreateRetriedWhileTrustPropagates(t *testing.T) {
	accounts := falconsim.GenerateAccounts(1, []string{"us-east-1"})
	r := newRig(t, rigConfig{accounts: accounts})
	r.runner.CredentialRetry = noWait
	r.sim.PropagateTrust(accounts[0].RoleARN, 3)

	report := r.run(t)

	requireAllCreatedOnce(t, r.sim, report, 1)
	assert.Equal(t, 4, creates(r.sim), "3 rejected while the change propagated, then created")
}

// A trust policy that never lets Falcon in: the create is sent 1 + 5 times,
// then reported failed with a hint that says what was tried; the account's
// other registries do not each wait out the same retries again.
func TestCreateRejectedAfterEveryRetryIsAFailureSayingSo(t *testing.T) {
	accounts := falconsim.GenerateAccounts(1, []string{"us-east-1", "us-west-2"})
	accounts[0].TrustsRegistryAssessment = false
	r := newRig(t, rigConfig{accounts: accounts, env: map[string]string{"MAX_CONCURRENCY": "1"}})
	r.runner.CredentialRetry = noWait

	report := r.run(t)

	require.Len(t, report.Registries.Failed, 2)
	assert.Equal(t, 6+1, creates(r.sim), "one registry retried 5 times; the other, of the same credential, once")
	for _, f := range report.Registries.Failed {
		assert.Contains(t, f.Error, "rejected the credential")
		assert.Contains(t, f.Hint, "arn:aws:iam::292230061137:role/CrowdStrikeCustomerRegistryAssessmentRole")
		assert.Contains(t, f.Hint, "propagat", "the hint allows for a trust policy just changed")
	}
	assert.Contains(t, report.Registries.Failed[0].Hint, "6 times")
	assert.Empty(t, r.sim.Registries())
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
