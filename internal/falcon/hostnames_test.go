package falcon_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/crowdstrike-ecr/ecr-onboard/internal/falconsim"
	"github.com/crowdstrike-ecr/ecr-onboard/internal/onboard"
)

// One private registry answers under several hostnames (AWS, "Amazon ECR
// endpoints and quotas": dkr.ecr, dkr.ecr-fips, and the dual-stack
// dkr-ecr / dkr-ecr-fips under on.aws). A registration under any of them,
// with a path or a trailing slash, covers that account and region: no
// second registration is made beside it. An http:// registration does not
// (ECR serves only HTTPS): it is reported unusable, and the registry is
// registered over https.
func TestEveryHostnameOfARegistryIsTheSameRegistry(t *testing.T) {
	accounts := falconsim.GenerateAccounts(3, []string{"us-east-1", "us-west-2"})
	r := newRig(t, rigConfig{accounts: accounts})
	owner := onboard.Owner("ecr-onboard")
	alias := func(a falconsim.Account, region string) string {
		return owner.Alias(a.ID, region, onboard.Credential{RoleARN: a.RoleARN, ExternalID: a.ExternalID})
	}
	a, b, c := accounts[0], accounts[1], accounts[2]
	add := func(url, alias string, acc falconsim.Account) falconsim.Registry {
		return r.sim.AddRegistry(falconsim.Registry{URL: url, Alias: alias, RoleARN: acc.RoleARN, ExternalID: acc.ExternalID})
	}
	add("https://"+a.ID+".dkr.ecr-fips.us-east-1.amazonaws.com", "team-fips", a)
	add("https://"+a.ID+".dkr-ecr.us-west-2.on.aws", alias(a, "us-west-2"), a)
	add("https://"+b.ID+".dkr-ecr-fips.us-east-1.on.aws/", alias(b, "us-east-1"), b)
	add("https://"+b.ID+".dkr.ecr.us-west-2.amazonaws.com/v2/", "team-path", b)
	plain := add("http://"+c.ID+".dkr.ecr.us-east-1.amazonaws.com", "team-http", c)

	report := r.run(t)

	created := map[string]bool{}
	for _, x := range report.Registries.Created {
		created[x.URL] = true
	}
	assert.Equal(t, map[string]bool{falconsim.ECRURL(c.ID, "us-east-1"): true, falconsim.ECRURL(c.ID, "us-west-2"): true}, created,
		"only the registries no https registration covers")
	assert.Empty(t, report.Registries.Updated, "the owned ones under other hostnames are in order")
	assert.Equal(t, 4, report.Registries.Unchanged)
	assert.Equal(t, 2, report.Registries.NotOwned.Count)
	require.Len(t, report.Registries.Unusable, 1)
	u := report.Registries.Unusable[0]
	assert.Equal(t, plain.URL, u.URL)
	assert.Equal(t, c.ID, u.AccountID)
	assert.Contains(t, u.Error, "http://")
	assert.Contains(t, u.Hint, "delete")
	assert.Len(t, r.sim.Registries(), 7, "5 there before, 2 created")
}
