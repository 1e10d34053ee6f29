package falcon_test

// Fail closed when a listing fails part-way. Every page and batch
// is needed to know what exists; a run that lost one must write nothing.

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/crowdstrike-ecr/ecr-onboard/internal/falconsim"
	"github.com/crowdstrike-ecr/ecr-onboard/internal/onboard"
)

func TestFailClosedWhenAPageOrBatchFailsPartWay(t *testing.T) {
	// 1234 accounts (3 query pages, 13 entity batches), each already
	// registered (1234 registries: 3 pages, 13 batches). Losing any page
	// would make registries look missing and be created again.
	const n = 1234
	accounts := falconsim.GenerateAccounts(n, []string{"us-east-1"})
	for name, c := range map[string]struct {
		path string
		// fails picks the one request that answers 500 every time.
		fails func(q map[string][]string, regIDs []string) bool
	}{
		"accounts page 2 of 3": {accountsQ, func(q map[string][]string, _ []string) bool {
			return first(q["offset"]) == "500"
		}},
		"account batch 5 of 13": {accountEntities, func(q map[string][]string, _ []string) bool {
			return containsID(q["ids"], accounts[400].ID)
		}},
		"registries page 2 of 3": {registriesQ, func(q map[string][]string, _ []string) bool {
			return first(q["offset"]) == "500"
		}},
		"registry batch 5 of 13": {registriesPath, func(q map[string][]string, regIDs []string) bool {
			return containsID(q["ids"], regIDs[400])
		}},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			var regIDs []string
			var failed, served atomic.Int32
			r := newRig(t, rigConfig{
				accounts: accounts,
				wrap: func(_ *falconsim.Sim, next http.Handler) http.Handler {
					return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
						if req.Method == http.MethodGet && req.URL.Path == c.path {
							served.Add(1)
							if c.fails(req.URL.Query(), regIDs) {
								failed.Add(1)
								jsonError(w, http.StatusInternalServerError)
								return
							}
						}
						next.ServeHTTP(w, req)
					})
				},
			})
			for _, a := range accounts {
				reg := r.sim.AddRegistry(falconsim.Registry{URL: falconsim.ECRURL(a.ID, "us-east-1"), Alias: "manual", RoleARN: a.RoleARN, ExternalID: a.ExternalID})
				regIDs = append(regIDs, reg.ID)
			}

			_, err := r.runner.Run(context.Background(), onboard.Request{})

			require.Error(t, err)
			assert.Contains(t, err.Error(), "HTTP 500")
			assert.EqualValues(t, 4, failed.Load(), "the failing request was retried (3 retries) and then given up")
			assert.Greater(t, served.Load(), failed.Load(), "it failed part-way, after other pages/batches succeeded")
			assert.Zero(t, r.sim.Stats().Writes(), "nothing may be written when a listing failed part-way")
			assert.Len(t, r.sim.Registries(), n)
		})
	}
}

// A create answered 5xx is re-checked by listing; if that listing fails, the
// create is not repeated blindly: it is reported failed for the next run.
func TestFailClosedWhenTheReCheckListingFails(t *testing.T) {
	const n = 3
	var queries atomic.Int32
	r := newRig(t, rigConfig{
		accounts: falconsim.GenerateAccounts(n, []string{"us-east-1"}),
		wrap: func(_ *falconsim.Sim, next http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
				if req.Method == http.MethodGet && req.URL.Path == registriesQ && queries.Add(1) > 1 {
					jsonError(w, http.StatusServiceUnavailable)
					return
				}
				next.ServeHTTP(w, req)
			})
		},
	})
	r.sim.InjectFault(falconsim.Fault{Method: http.MethodPost, Path: registriesPath, Status: http.StatusInternalServerError}) // before the write

	report := r.run(t)

	require.Len(t, report.Registries.Failed, 1)
	f := report.Registries.Failed[0]
	assert.Contains(t, f.Error, "re-listing registries to confirm failed")
	assert.NotEmpty(t, f.Hint)
	assert.Len(t, report.Registries.Created, n-1)
	assert.Equal(t, n, r.sim.Stats().ByOperation["POST "+registriesPath], "the uncertain create was not sent again")
	assert.Equal(t, n-1, r.sim.Stats().CreatesSucceeded)
	assert.Equal(t, 3, report.ExitCode())
	requireNoDuplicates(t, r.sim)
}

func jsonError(w http.ResponseWriter, status int) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(`{"meta":{"query_time":0.001,"trace_id":"t"},"errors":[{"code":` + strconv.Itoa(status) + `,"message":"internal error"}]}`))
}

// A gateway or WAF in front of the API answers with an HTML or plain-text
// page. The run fails closed (it does), and the error must still name the
// HTTP status (a 403 is access denied, with the scopes hint).
func TestFailClosedNonJSONErrorPageNamesTheStatus(t *testing.T) {
	for _, path := range []string{accountsQ, accountEntities, registriesQ, registriesPath} {
		for _, status := range []int{http.StatusInternalServerError, http.StatusForbidden} {
			for _, ctype := range []string{"text/html", "text/plain; charset=utf-8"} {
				t.Run(fmt.Sprintf("%s %d %s", path, status, ctype), func(t *testing.T) {
					t.Parallel()
					accounts := falconsim.GenerateAccounts(1, []string{"us-east-1"})
					r := newRig(t, rigConfig{
						accounts: accounts,
						wrap: func(_ *falconsim.Sim, next http.Handler) http.Handler {
							return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
								if req.URL.Path == path && req.Method == http.MethodGet {
									w.Header().Set("Content-Type", ctype)
									w.WriteHeader(status)
									_, _ = fmt.Fprintf(w, "<html><body><h1>%d %s</h1></body></html>", status, http.StatusText(status))
									return
								}
								next.ServeHTTP(w, req)
							})
						},
					})
					a := accounts[0]
					r.sim.AddRegistry(falconsim.Registry{URL: falconsim.ECRURL(a.ID, "us-east-1"), Alias: "manual", RoleARN: a.RoleARN, ExternalID: a.ExternalID})

					_, err := r.runner.Run(context.Background(), onboard.Request{})

					require.Error(t, err)
					assert.Zero(t, r.sim.Stats().Writes())
					assert.Contains(t, err.Error(), fmt.Sprintf("HTTP %d", status))
					assert.NotContains(t, err.Error(), "TextConsumer")
					if status == http.StatusForbidden {
						assert.ErrorIs(t, err, onboard.ErrAccessDenied)
					}
				})
			}
		}
	}
}

func first(vs []string) string {
	if len(vs) == 0 {
		return ""
	}
	return vs[0]
}

func containsID(vs []string, id string) bool {
	for _, v := range vs {
		for _, x := range strings.Split(v, ",") {
			if x == id {
				return true
			}
		}
	}
	return false
}
