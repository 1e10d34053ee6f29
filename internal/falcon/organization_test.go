package falcon_test

// CSPM tenants as they are: AWS Organizations registered with one external
// ID and one role name for every member, standalone accounts beside them,
// and accounts CSPM cannot give Container Security yet.

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/crowdstrike-ecr/ecr-onboard/internal/falconsim"
	"github.com/crowdstrike-ecr/ecr-onboard/internal/onboard"
)

// An account CSPM has registered but not finished onboarding (its role is
// not deployed yet) and one in aws-cn, where Container Security has no
// registry-assessment principal, are skipped with their reasons on every
// run: never written, never failed.
func TestAccountsContainerSecurityCannotUseYetAreSkippedNotFailed(t *testing.T) {
	accounts := falconsim.GenerateAccounts(3, []string{"us-east-1", "eu-west-1"})
	pending, china := &accounts[1], &accounts[2]
	pending.RegistrationStatus = falconsim.StatusProvisioned
	china.Type, china.RoleARN, china.Regions = "china", "arn:aws-cn:iam::"+china.ID+":role/CrowdStrikeCSPMReader", []string{"cn-north-1"}
	r := newRig(t, rigConfig{accounts: accounts})

	for run := range 2 {
		report := r.run(t)
		require.Empty(t, report.Registries.Failed, "run %d", run+1)
		reasons := map[string]string{}
		for _, s := range report.Accounts.Skipped {
			reasons[s.AccountID] = s.Reason
		}
		assert.Equal(t, map[string]string{
			pending.ID: `CSPM has not finished onboarding this account (registration_status "provisioned"): its CSPM role is not deployed yet`,
			china.ID:   `Container Security has no registry-assessment principal in partition "aws-cn": it cannot assess this account's registries`,
		}, reasons, "run %d", run+1)
	}
	assert.Equal(t, 2, r.sim.Stats().Writes(), "only the healthy account's two registries, once")
	for _, reg := range r.sim.Registries() {
		assert.Contains(t, reg.URL, accounts[0].ID)
	}
}

// The organization is onboarded like any account; when CSPM regenerates
// its external ID, the next run PATCHes exactly its members' registrations
// and the run after writes nothing. Through the live service's behaviour
// at the size of a real organization, and through each documented variant
// of it at a smaller one.
func TestOrganizationSharingOneExternalIDIsOnboardedAndFollowsItsRegeneration(t *testing.T) {
	regions := []string{"us-east-1", "us-west-2", "eu-west-1"}
	for name, c := range map[string]struct {
		opts                falconsim.Options
		members, standalone int
	}{
		"live service":                  {members: 500, standalone: 20},
		"create 201":                    {opts: falconsim.Options{CreateStatus: http.StatusCreated}, members: 40, standalone: 5},
		"details: full":                 {opts: falconsim.Options{Details: falconsim.DetailsFull}, members: 40, standalone: 5},
		"both query pages capped at 30": {opts: falconsim.Options{RegistryPageMax: 30, AccountPageMax: 30}, members: 40, standalone: 5},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			org := falconsim.GenerateOrganization(c.members, regions)
			member := map[string]bool{}
			for _, a := range org {
				member[a.ID] = true
			}
			r := newRig(t, rigConfig{opts: c.opts, accounts: append(org, falconsim.GenerateAccounts(c.standalone, regions)...)})
			desired := (c.members + c.standalone) * len(regions)

			first := r.run(t)
			requireAllCreatedOnce(t, r.sim, first, desired)
			assert.Empty(t, first.Accounts.Skipped)
			assert.Equal(t, c.members+c.standalone, first.Accounts.Eligible)

			writes := r.sim.Stats().Writes()
			second := r.run(t)
			assert.Equal(t, writes, r.sim.Stats().Writes(), "the second run writes nothing")
			assert.Equal(t, desired, second.Registries.Unchanged)

			fresh := r.sim.RegenerateOrganizationExternalID(falconsim.GeneratedOrganizationID)
			third := r.run(t)
			require.Empty(t, third.Registries.Failed)
			assert.Empty(t, third.Registries.Created)
			require.Len(t, third.Registries.Updated, c.members*len(regions), "exactly the members' registrations")
			for _, u := range third.Registries.Updated {
				assert.True(t, member[u.AccountID], "%s: only the organization's registrations", u.URL)
			}
			assert.Equal(t, writes+c.members*len(regions), r.sim.Stats().Writes())
			for _, reg := range r.sim.Registries() {
				if id, _, _ := onboard.ParseECRURL(reg.URL); member[id] {
					assert.Equal(t, fresh, reg.ExternalID, "%s carries the organization's new ID", reg.URL)
				}
			}

			fourth := r.run(t)
			assert.Equal(t, writes+c.members*len(regions), r.sim.Stats().Writes(), "the run after writes nothing")
			assert.Equal(t, desired, fourth.Registries.Unchanged)
		})
	}
}
