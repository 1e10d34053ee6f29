package falcon_test

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/crowdstrike-ecr/ecr-onboard/internal/falconsim"
	"github.com/crowdstrike-ecr/ecr-onboard/internal/onboard"
)

// Each registration state means something for the plan (onboard.StateOf):
// a service's verdict on an owned registration re-asserts its credential;
// a transient state is waited out; a person's choice (paused) is left
// alone; a state this version does not know is reported, neither trusted
// as healthy nor written.
func TestRegistrationStatesAsThePlanReadsThem(t *testing.T) {
	states := []string{"pending", "paused", "error", "failed", "offline", "quarantined"}
	regions := []string{"us-east-1", "us-east-2", "us-west-1", "us-west-2", "eu-west-1", "eu-west-2"}
	accounts := falconsim.GenerateAccounts(2, regions)
	r := newRig(t, rigConfig{accounts: accounts})
	// The second account's registrations are someone else's.
	theirs := map[string]string{}
	for _, region := range regions {
		reg := r.sim.AddRegistry(falconsim.Registry{URL: falconsim.ECRURL(accounts[1].ID, region), Alias: "platform-team",
			RoleARN: accounts[1].RoleARN, ExternalID: accounts[1].ExternalID})
		theirs[reg.ID] = region
	}
	require.Len(t, r.run(t).Registries.Created, 6)
	ours := map[string]string{}
	for _, reg := range r.sim.Registries() {
		_, region, ok := onboard.ParseECRURL(reg.URL)
		require.True(t, ok)
		state := states[indexOf(regions, region)]
		if _, isTheirs := theirs[reg.ID]; !isTheirs {
			ours[reg.ID] = state
		}
		require.True(t, r.sim.SetRegistryState(reg.ID, state, false), "in the same states")
	}

	report := r.run(t)

	updated := map[string]bool{}
	for _, u := range report.Registries.Updated {
		updated[ours[u.RegistryID]] = true
		assert.Contains(t, u.Reason, fmt.Sprintf("state %q", ours[u.RegistryID]))
	}
	assert.Equal(t, map[string]bool{"error": true, "failed": true, "offline": true}, updated, "a verdict re-asserts an owned registration")
	unhealthy := map[string]bool{}
	for _, f := range report.Registries.NotOwned.Unhealthy {
		unhealthy[f.Region] = true
	}
	assert.Equal(t, map[string]bool{"us-west-1": true, "us-west-2": true, "eu-west-1": true}, unhealthy, "someone else's, reported with a hint")
	unknown := report.Registries.UnknownState
	assert.Equal(t, 2, unknown.Count, "ours and theirs")
	assert.Equal(t, map[string]int{"quarantined": 2}, unknown.States)
	require.Len(t, unknown.Sample, 2)
	for _, u := range unknown.Sample {
		assert.Equal(t, "eu-west-2", u.Region)
		assert.Contains(t, u.Reason, `"quarantined"`)
	}
	assert.NotEmpty(t, unknown.Hint)
	require.Len(t, report.Registries.Paused, 2, "ours and theirs")
	for _, p := range report.Registries.Paused {
		assert.Equal(t, "us-east-2", p.Region)
	}
	assert.Equal(t, 12-3, report.Registries.Unchanged)
	assert.NoError(t, report.Balanced())
}

func indexOf(list []string, v string) int {
	for i, x := range list {
		if x == v {
			return i
		}
	}
	return -1
}

// A registration a person paused is left alone, even when its credential
// drifted from CSPM's: a PATCH carries no state, and whether the live
// service puts a re-asserted registration back to pending is not public
// (the simulator does by default; with PatchKeepsState it does not).
// Either way it stays paused, and the report says why it was not repaired.
func TestPausedRegistrationIsLeftAloneEvenWhenItsCredentialDrifted(t *testing.T) {
	for _, keeps := range []bool{false, true} {
		t.Run(fmt.Sprintf("PatchKeepsState=%t", keeps), func(t *testing.T) {
			accounts := falconsim.GenerateAccounts(1, []string{"us-east-1"})
			r := newRig(t, rigConfig{opts: falconsim.Options{PatchKeepsState: keeps}, accounts: accounts})
			r.run(t)
			reg := r.sim.Registries()[0]
			require.True(t, r.sim.SetRegistryState(reg.ID, "paused", false))
			r.sim.RegenerateExternalID(accounts[0].ID)
			writes := r.sim.Stats().Writes()

			report := r.run(t)

			assert.Equal(t, writes, r.sim.Stats().Writes(), "never written")
			assert.Equal(t, "paused", r.sim.Registries()[0].State)
			assert.Empty(t, report.Registries.Updated)
			assert.Equal(t, 1, report.Registries.Unchanged)
			require.Len(t, report.Registries.Paused, 1)
			p := report.Registries.Paused[0]
			assert.Contains(t, p.Error, "paused")
			assert.Contains(t, p.Error, "CSPM's role ARN or external ID changed", "says what was not repaired")
			assert.Contains(t, p.Hint, "resume")
		})
	}
}
