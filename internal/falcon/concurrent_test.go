package falcon_test

// Two invocations at once over the same tenant (a schedule and a
// manual run overlapping, or two Lambda retries).

import (
	"context"
	"net/http"
	"sync"
	"sync/atomic"
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
		// Creates wait until both runs have listed the registries, so both
		// plan the same creates and race for every one of them, however the
		// two goroutines happen to be scheduled.
		listed := make(chan struct{})
		var queries atomic.Int32
		r := newRig(t, rigConfig{accounts: accounts, wrap: func(_ *falconsim.Sim, next http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
				switch {
				case req.Method == http.MethodGet && req.URL.Path == registriesQ:
					if queries.Add(1) == 2 {
						close(listed)
					}
				case req.Method == http.MethodPost && req.URL.Path == registriesPath:
					select {
					case <-listed:
					case <-req.Context().Done():
					case <-time.After(30 * time.Second): // hang guard
					}
				}
				next.ServeHTTP(w, req)
			})
		}})
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
	assert.Positive(t, conflicts, "the runs must have raced for this test to mean anything")
}
