package falcon_test

// PRUNE deletes for an account only once CSPM has confirmed it is gone.

import (
	"net/http"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/crowdstrike-ecr/ecr-onboard/internal/falconsim"
)

// A CSPM listing whose pages shift while it is paged — one account
// deregistered, another registered between the first page and the rest —
// adds up (distinct IDs = total) yet leaves a live account out. PRUNE must
// not take that for the account leaving CSPM: the absence is confirmed by
// asking CSPM for exactly those accounts, and a record that comes back
// keeps the account's registrations.
func TestPruneConfirmsAnAbsenceBeforeDeleting(t *testing.T) {
	all := falconsim.GenerateAccounts(7, []string{"us-east-1"})
	accounts, newcomer := all[:6], all[6]
	gone, hidden := accounts[0].ID, accounts[2].ID
	var armed, shifted atomic.Bool
	r := newRig(t, rigConfig{
		opts:     falconsim.Options{AccountPageMax: 2},
		accounts: accounts,
		env:      map[string]string{"PRUNE": "true"},
		wrap: func(sim *falconsim.Sim, next http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
				next.ServeHTTP(w, req)
				if req.URL.Path == accountsQ && req.URL.Query().Get("offset") == "0" && armed.Load() && shifted.CompareAndSwap(false, true) {
					// Pages of 2 over 6 accounts: after the first page
					// ([0 1]) account 0 leaves and 6 arrives, so the next
					// pages serve [3 4] [5 6] and account 2 is never listed.
					require.True(t, sim.RemoveAccount(gone))
					sim.AddAccounts(newcomer)
				}
			})
		},
	})
	first := r.run(t)
	require.Len(t, first.Registries.Created, 6)
	armed.Store(true)

	report := r.run(t)

	require.True(t, shifted.Load(), "the pages shifted")
	for _, d := range report.Registries.Deleted {
		assert.NotEqual(t, hidden, d.AccountID, "a live account's registration was pruned")
	}
	held := map[string]bool{}
	for _, reg := range r.sim.Registries() {
		held[reg.URL] = true
	}
	assert.True(t, held[falconsim.ECRURL(hidden, "us-east-1")], "the live account left out of the listing keeps its registration")
	assert.Empty(t, report.Registries.DeleteFailed)
}
