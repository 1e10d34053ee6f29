package falcon_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/crowdstrike-ecr/ecr-onboard/internal/falconsim"
	"github.com/crowdstrike-ecr/ecr-onboard/internal/onboard"
)

// Changing ALIAS_PREFIX orphans the registrations made under the old one:
// they are no longer this configuration's, so nothing repairs, prunes or
// disconnects them. The report names them, with the prefix that owns them
// and what to do, instead of counting them unchanged in silence.
func TestRegistrationsOfAnotherPrefixAreReported(t *testing.T) {
	accounts := falconsim.GenerateAccounts(2, []string{"us-east-1"})
	r := newRig(t, rigConfig{accounts: accounts, env: map[string]string{"ALIAS_PREFIX": "renamed"}})
	old := onboard.Owner("ecr-onboard")
	for _, a := range accounts {
		r.sim.AddRegistry(falconsim.Registry{URL: falconsim.ECRURL(a.ID, "us-east-1"),
			Alias:   old.Alias(a.ID, "us-east-1", onboard.Credential{RoleARN: a.RoleARN, ExternalID: "rotated-since"}),
			RoleARN: a.RoleARN, ExternalID: "rotated-since"})
	}

	report := r.run(t)

	assert.Empty(t, report.Registries.Created)
	assert.Empty(t, report.Registries.Updated, "not this configuration's to repair")
	assert.Equal(t, 2, report.Registries.NotOwned.Count)
	require.Len(t, report.Registries.NotOwned.OtherPrefix, 2)
	for _, o := range report.Registries.NotOwned.OtherPrefix {
		assert.Contains(t, o.Error, `ALIAS_PREFIX="ecr-onboard"`)
		assert.Contains(t, o.Hint, "ALIAS_PREFIX=ecr-onboard")
	}
}
