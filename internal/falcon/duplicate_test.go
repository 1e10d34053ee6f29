package falcon_test

import (
	"net/http"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/crowdstrike-ecr/ecr-onboard/internal/falconsim"
)

// A create of a URL Falcon already has may be answered 200 with an empty
// body (noted in CrowdStrike's Terraform provider, whose create reader
// accepts an empty 200). When someone else registered the URL between
// this run's listing and its create, the run reports what happened: the
// registry already existed — not "created", and never with somebody
// else's registry ID.
func TestDuplicateCreateAnswered200WithoutBodyIsNotCreated(t *testing.T) {
	for _, variant := range []struct {
		name string
		opts falconsim.Options
	}{
		{"409, as the spec says", falconsim.Options{}},
		{"200 with an empty body", falconsim.Options{DuplicateCreateEmpty200: true}},
	} {
		t.Run(variant.name, func(t *testing.T) {
			accounts := falconsim.GenerateAccounts(1, []string{"us-east-1"})
			a := accounts[0]
			var theirs falconsim.Registry
			var raced atomic.Bool
			r := newRig(t, rigConfig{opts: variant.opts, accounts: accounts,
				wrap: func(sim *falconsim.Sim, next http.Handler) http.Handler {
					return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
						if req.Method == http.MethodPost && req.URL.Path == registriesPath && raced.CompareAndSwap(false, true) {
							// Another tool registers it just before this create lands.
							theirs = sim.AddRegistry(falconsim.Registry{URL: falconsim.ECRURL(a.ID, "us-east-1"), Alias: "team-x",
								RoleARN: a.RoleARN, ExternalID: a.ExternalID})
						}
						next.ServeHTTP(w, req)
					})
				}})

			report := r.run(t)

			require.True(t, raced.Load())
			assert.Empty(t, report.Registries.Created, "not created by this run")
			assert.Empty(t, report.Registries.Failed)
			assert.Equal(t, 1, report.Registries.Unchanged, "it already existed")
			assert.Equal(t, 1, report.Registries.NotOwned.Count, "and it is somebody else's")
			require.Len(t, r.sim.Registries(), 1)
			assert.Equal(t, theirs.ID, r.sim.Registries()[0].ID)
			assert.NoError(t, report.Balanced())
		})
	}
}
