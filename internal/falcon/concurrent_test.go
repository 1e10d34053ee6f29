package falcon_test

// Issue #5: two invocations at once over the same tenant (a schedule and a
// manual run overlapping, or two Lambda retries).

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/crowdstrike-ecr/ecr-onboard/internal/demo"
	"github.com/crowdstrike-ecr/ecr-onboard/internal/falconsim"
	"github.com/crowdstrike-ecr/ecr-onboard/internal/onboard"
)

func TestConcurrentRunsNeverDuplicate(t *testing.T) {
	regions := []string{"us-east-1", "eu-west-1"}
	conflicts := 0
	for round := range 5 {
		accounts := falconsim.GenerateAccounts(15, regions)
		// Latency makes the two runs' listings and creates overlap.
		r := newRig(t, rigConfig{opts: falconsim.Options{Latency: 3 * time.Millisecond}, accounts: accounts})
		a := accounts[0]
		r.sim.AddRegistry(falconsim.Registry{URL: falconsim.ECRURL(a.ID, "us-east-1"), Alias: "manual", RoleARN: a.RoleARN, ExternalID: a.ExternalID})
		other, err := demo.NewRunner(context.Background(), r.srv.URL, r.client, nil)
		require.NoError(t, err)

		var wg sync.WaitGroup
		reports := make([]onboard.Report, 2)
		errs := make([]error, 2)
		for i, rn := range []*onboard.Runner{r.runner, other} {
			wg.Go(func() { reports[i], errs[i] = rn.Run(context.Background(), onboard.Request{}) })
		}
		wg.Wait()

		const desired = 30
		requireNoDuplicates(t, r.sim)
		require.Len(t, r.urls(), desired, "round %d", round)
		assert.Equal(t, desired-1, r.sim.Stats().CreatesSucceeded, "round %d", round)
		createdBy := map[string]int{}
		for i, rep := range reports {
			require.NoError(t, errs[i], "round %d run %d", round, i)
			assert.Empty(t, rep.Registries.Failed, "round %d run %d: a 409 is 'exists', not a failure", round, i)
			assert.Equal(t, desired, rep.Registries.Desired)
			assert.Equal(t, desired, rep.Registries.Unchanged+len(rep.Registries.Created),
				"round %d run %d: created + unchanged covers every desired registry", round, i)
			assert.True(t, rep.Complete)
			assert.Equal(t, 0, rep.ExitCode())
			for _, c := range rep.Registries.Created {
				require.NotEmpty(t, c.RegistryID)
				createdBy[c.URL]++
			}
		}
		assert.Len(t, createdBy, desired-1, "round %d: between them the runs created every missing registry", round)
		for u, n := range createdBy {
			assert.Equal(t, 1, n, "round %d: %s reported created by both runs", round, u)
		}
		st := r.sim.Stats()
		conflicts += st.ByOperation["POST "+registriesPath] - st.CreatesSucceeded
		// Whatever order they ran in, a third run finds nothing to do.
		third := r.run(t)
		assert.Equal(t, desired, third.Registries.Unchanged)
		assert.Empty(t, third.Registries.Created)
	}
	t.Logf("creates answered 409 (the other run was first) over 5 rounds: %d", conflicts)
	assert.Positive(t, conflicts, "the runs must have overlapped for this test to mean anything")
}
