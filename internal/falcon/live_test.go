package falcon_test

// The product against a simulator that behaves like the live
// Falcon API (README, "Talking to the Falcon API") — creates answered 200, credentials never read
// back, pages shorter than asked — and each documented variant of it.

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/crowdstrike-ecr/ecr-onboard/internal/falconsim"
	"github.com/crowdstrike-ecr/ecr-onboard/internal/onboard"
)

func TestLiveServiceVariants(t *testing.T) {
	regions := []string{"us-east-1", "eu-west-1"}
	for name, opts := range map[string]falconsim.Options{
		"live: create 200, no details":  {},
		"create 201":                    {CreateStatus: http.StatusCreated},
		"details: role only":            {Details: falconsim.DetailsRole},
		"details: masked external id":   {Details: falconsim.DetailsMasked},
		"details: full":                 {Details: falconsim.DetailsFull},
		"registry pages capped at 100":  {RegistryPageMax: 100},
		"both query pages capped at 30": {RegistryPageMax: 30, AccountPageMax: 30},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			accounts := falconsim.GenerateAccounts(130, regions) // 260 registries: several pages at a cap of 100
			r := newRig(t, rigConfig{opts: opts, accounts: accounts})
			desired := len(accounts) * len(regions)

			first := r.run(t)
			requireAllCreatedOnce(t, r.sim, first, desired)
			assert.Equal(t, 3, len(first.Accounts.Skipped)+3, "no account skipped")

			writes := r.sim.Stats().Writes()
			second := r.run(t)
			assert.Equal(t, writes, r.sim.Stats().Writes(), "the second run writes nothing")
			assert.Equal(t, desired, second.Registries.Unchanged)
			page := opts.RegistryPageMax
			if page == 0 {
				page = falconsim.DefaultRegistryPageMax
			}
			minimum := int64(paginationMinimum(len(accounts), desired, page))
			if opts.AccountPageMax == 30 {
				minimum += 4 // 130 accounts: 5 pages of 30 instead of 1
			}
			assert.LessOrEqual(t, second.APICalls, minimum*105/100, "no-op run within 5%% of the pagination minimum (%d)", minimum)

			// CSPM regenerates one account's external ID: the next run
			// PATCHes exactly that account's registrations, the one after
			// writes nothing.
			rotated := accounts[7].ID
			r.sim.RegenerateExternalID(rotated)
			third := r.run(t)
			require.Empty(t, third.Registries.Failed)
			require.Len(t, third.Registries.Updated, len(regions))
			for _, u := range third.Registries.Updated {
				assert.Equal(t, rotated, u.AccountID)
				assert.Equal(t, "CSPM's role ARN or external ID changed since it was registered", u.Reason)
			}
			assert.Empty(t, third.Registries.Created)
			assert.Equal(t, writes+len(regions), r.sim.Stats().Writes())
			for _, reg := range r.sim.Registries() {
				if id, _, _ := onboard.ParseECRURL(reg.URL); id == rotated {
					cred := onboard.Credential{RoleARN: reg.RoleARN, ExternalID: reg.ExternalID}
					assert.Equal(t, "ecr-onboard-"+rotated+"-"+regionOf(reg.URL)+"-"+cred.Fingerprint(), reg.Alias, "the alias records the new credential")
				}
			}
			fourth := r.run(t)
			assert.Equal(t, writes+len(regions), r.sim.Stats().Writes(), "the run after writes nothing")
			assert.Equal(t, desired, fourth.Registries.Unchanged)
		})
	}
}

func regionOf(url string) string {
	_, region, _ := onboard.ParseECRURL(url)
	return region
}

// Registrations made before the alias recorded a fingerprint are
// re-asserted once (credential and alias), then left alone; registrations
// someone else made are never written.
func TestEarlierAliasFormIsReassertedOnceAndForeignOnesNeverWritten(t *testing.T) {
	accounts := falconsim.GenerateAccounts(2, []string{"us-east-1"})
	r := newRig(t, rigConfig{accounts: accounts})
	legacy := r.sim.AddRegistry(falconsim.Registry{URL: falconsim.ECRURL(accounts[0].ID, "us-east-1"),
		Alias: "ecr-onboard-" + accounts[0].ID + "-us-east-1", RoleARN: accounts[0].RoleARN, ExternalID: accounts[0].ExternalID})
	foreign := r.sim.AddRegistry(falconsim.Registry{URL: falconsim.ECRURL(accounts[1].ID, "us-east-1"),
		Alias: "platform-team", RoleARN: accounts[1].RoleARN, ExternalID: "someone-elses"})
	r.sim.SetRegistryState(foreign.ID, "error", true)

	report := r.run(t)
	require.Len(t, report.Registries.Updated, 1)
	assert.Equal(t, legacy.ID, report.Registries.Updated[0].RegistryID)
	assert.Equal(t, 1, report.Registries.Unchanged)
	assert.Equal(t, 1, report.Registries.NotOwned.Count)
	require.Len(t, report.Registries.NotOwned.Unhealthy, 1)
	assert.Contains(t, report.Registries.NotOwned.Unhealthy[0].Hint, `alias "platform-team"`)
	for _, reg := range r.sim.Registries() {
		if reg.ID == foreign.ID {
			assert.Equal(t, "someone-elses", reg.ExternalID, "never written")
		}
	}

	writes := r.sim.Stats().Writes()
	r.run(t)
	assert.Equal(t, writes, r.sim.Stats().Writes(), "re-asserted once")
}

// An owned registration Falcon reports expired or in error is re-asserted.
func TestOwnedRegistrationInTroubleIsReasserted(t *testing.T) {
	accounts := falconsim.GenerateAccounts(1, []string{"us-east-1", "us-west-2"})
	r := newRig(t, rigConfig{accounts: accounts})
	r.run(t)
	regs := r.sim.Registries()
	r.sim.SetRegistryState(regs[0].ID, "pending", true)
	r.sim.SetRegistryState(regs[1].ID, "error", false)

	report := r.run(t)
	require.Len(t, report.Registries.Updated, 2)
	assert.Equal(t, 0, len(report.Registries.Failed))
	assert.Equal(t, 2, r.run(t).Registries.Unchanged, "PATCHed once: Falcon no longer reports it expired")
}

// queryRewrite serves a query endpoint through next and lets edit change the
// answer (its ids and pagination) before it is sent.
func queryRewrite(path string, edit func(offset int, body map[string]any)) func(*falconsim.Sim, http.Handler) http.Handler {
	return answerRewrite(http.MethodGet, path, func(req *http.Request, body map[string]any) {
		offset, _ := strconv.Atoi(req.URL.Query().Get("offset"))
		edit(offset, body)
	})
}

func pagination(body map[string]any) map[string]any {
	return body["meta"].(map[string]any)["pagination"].(map[string]any)
}

func TestListingsCompleteOrFailed(t *testing.T) {
	const n = 60 // registered already: a listing that lost any would re-create them
	accounts := falconsim.GenerateAccounts(n, []string{"us-east-1"})
	// lose drops ids from every answer: the server loses them for good.
	lose := func(body map[string]any, drop func(id string) bool) {
		ids := body["resources"].([]any)
		kept := []any{}
		for _, id := range ids {
			if !drop(id.(string)) {
				kept = append(kept, id)
			}
		}
		body["resources"] = kept
	}
	lostAccounts := map[string]bool{}
	for _, a := range accounts[10:25] {
		lostAccounts[a.ID] = true
	}
	for name, c := range map[string]struct {
		path  string
		edit  func(calls int32, offset int, body map[string]any, regIDs []string)
		error string // "" = the listing recovers
	}{
		"ids lost from a page, every time": {registriesQ, func(_ int32, _ int, body map[string]any, regIDs []string) {
			lose(body, func(id string) bool { return slices.Contains(regIDs[25:35], id) })
		}, "incomplete listing from GET /container-security/queries/registries/v1: 50 distinct ids for a reported total of 60, read twice"},
		"a page shorter than the others, every time (stepping by what was served recovers)": {registriesQ, func(_ int32, offset int, body map[string]any, _ []string) {
			if offset == 20 {
				body["resources"] = body["resources"].([]any)[:10]
			}
		}, ""},
		"ids lost once": {registriesQ, func(calls int32, _ int, body map[string]any, regIDs []string) {
			if calls <= 3 { // the parallel read
				lose(body, func(id string) bool { return slices.Contains(regIDs[25:35], id) })
			}
		}, ""},
		"the total changes while paging": {registriesQ, func(_ int32, offset int, body map[string]any, _ []string) {
			if offset > 0 {
				pagination(body)["total"] = 61
			}
		}, "incomplete listing from GET /container-security/queries/registries/v1: the total changed from 60 to 61 while paging, read twice"},
		"a total the ids never reach": {registriesQ, func(_ int32, _ int, body map[string]any, _ []string) {
			pagination(body)["total"] = 65
		}, "60 distinct ids for a reported total of 65, read twice"},
		"no total": {registriesQ, func(_ int32, _ int, body map[string]any, _ []string) {
			delete(body["meta"].(map[string]any), "pagination")
		}, "no meta.pagination.total"},
		"CSPM accounts lost from the listing, with PRUNE": {accountsQ, func(_ int32, _ int, body map[string]any, _ []string) {
			lose(body, func(id string) bool { return lostAccounts[id] })
		}, "incomplete listing from GET /cloud-security-registration-aws/queries/account/v1: 45 distinct ids for a reported total of 60, read twice"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			var calls atomic.Int32
			var active atomic.Bool
			var regIDs []string
			r := newRig(t, rigConfig{
				opts:     falconsim.Options{RegistryPageMax: 20},
				accounts: accounts,
				env:      map[string]string{"PRUNE": "true"},
				wrap: queryRewrite(c.path, func(offset int, body map[string]any) {
					if active.Load() {
						c.edit(calls.Add(1), offset, body, regIDs)
					}
				}),
			})
			r.run(t)
			for _, reg := range r.sim.Registries() {
				regIDs = append(regIDs, reg.ID)
			}
			active.Store(true)
			writes := r.sim.Stats().Writes()

			report, err := r.runner.Run(context.Background(), onboard.Request{})

			if c.error == "" {
				require.NoError(t, err)
				assert.Equal(t, n, report.Registries.Unchanged)
			} else {
				require.Error(t, err)
				assert.Contains(t, err.Error(), c.error)
			}
			assert.Equal(t, writes, r.sim.Stats().Writes(), "no write (no create, no PRUNE delete)")
			assert.Len(t, r.sim.Registries(), n)
		})
	}
}

// A registry the query lists but the entity call leaves out is asked for
// once more; still missing, the listing fails.
func TestRegistryMissingFromTheEntityAnswer(t *testing.T) {
	for _, persistent := range []bool{false, true} {
		t.Run(fmt.Sprintf("persistent=%t", persistent), func(t *testing.T) {
			accounts := falconsim.GenerateAccounts(3, []string{"us-east-1"})
			var dropped atomic.Int32
			var victim atomic.Value
			r := newRig(t, rigConfig{accounts: accounts, wrap: func(_ *falconsim.Sim, next http.Handler) http.Handler {
				return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
					if v, _ := victim.Load().(string); v != "" && req.Method == http.MethodGet && req.URL.Path == registriesPath &&
						(persistent || dropped.Load() == 0) {
						q := req.URL.Query()
						for i, id := range q["ids"] {
							if id == v {
								dropped.Add(1)
								q["ids"][i] = "00000000-0000-4000-8000-000000000000" // unknown: left out of the answer
							}
						}
						req.URL.RawQuery = q.Encode()
					}
					next.ServeHTTP(w, req)
				})
			}})
			r.run(t)
			victim.Store(r.sim.Registries()[1].ID)
			writes := r.sim.Stats().Writes()

			report, err := r.runner.Run(context.Background(), onboard.Request{})

			assert.Equal(t, writes, r.sim.Stats().Writes())
			if persistent {
				require.Error(t, err)
				assert.Contains(t, err.Error(), "incomplete listing from GET /container-security/entities/registries/v1: 1 of 3 listed registries not returned")
				return
			}
			require.NoError(t, err)
			assert.Equal(t, 3, report.Registries.Unchanged)
		})
	}
}

// A 207 leaving an account's record out is asked once more; an account still
// missing is skipped with that reason, and its registrations are not pruned.
func TestAccountRecordMissingFrom207(t *testing.T) {
	for _, persistent := range []bool{false, true} {
		t.Run(fmt.Sprintf("persistent=%t", persistent), func(t *testing.T) {
			accounts := falconsim.GenerateAccounts(3, []string{"us-east-1"})
			victim := accounts[1].ID
			var asked atomic.Int32
			r := newRig(t, rigConfig{accounts: accounts, env: map[string]string{"PRUNE": "true"},
				wrap: func(_ *falconsim.Sim, next http.Handler) http.Handler {
					return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
						if req.Method == http.MethodGet && req.URL.Path == accountEntities && asked.Load() >= 0 {
							q := req.URL.Query()
							for i, id := range q["ids"] {
								if id == victim && (persistent || asked.Add(1) == 1) {
									q["ids"][i] = "999999999999" // unknown: the simulator answers 207
								}
							}
							req.URL.RawQuery = q.Encode()
						}
						next.ServeHTTP(w, req)
					})
				}})
			r.sim.AddRegistry(falconsim.Registry{URL: falconsim.ECRURL(victim, "us-east-1"),
				Alias: "ecr-onboard-" + victim + "-us-east-1", RoleARN: accounts[1].RoleARN, ExternalID: accounts[1].ExternalID})

			report := r.run(t)

			assert.Empty(t, report.Registries.Deleted, "never pruned")
			if !persistent {
				assert.Empty(t, report.Accounts.Skipped)
				return
			}
			assert.Equal(t, []onboard.Skip{{AccountID: victim, Reason: "CSPM did not return this account's record (listed, but missing from the entity answer twice)", Action: onboard.SkipFix}},
				report.Accounts.Skipped)
			assert.Len(t, r.sim.Registries(), 3)
		})
	}
}

// A rate-limited onboarding cut by its deadline: writes that would wait past
// the write deadline are not sent, and are not failures.
func TestRateLimitedOnboardingCutByItsDeadline(t *testing.T) {
	accounts := falconsim.GenerateAccounts(40, []string{"us-east-1"})
	r := newRig(t, rigConfig{accounts: accounts, opts: falconsim.Options{RateLimitPerMinute: 120, RateLimitBurst: 8}})
	r.runner.WriteMargin = 2 * time.Second
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()

	report, err := r.runner.Run(ctx, onboard.Request{})

	require.NoError(t, err)
	g := report.Registries
	assert.Empty(t, g.Failed)
	assert.False(t, report.Complete)
	assert.Positive(t, g.NotAttempted)
	assert.Equal(t, 40, len(g.Created)+g.NotAttempted)
	assert.Equal(t, len(g.Created), r.sim.Stats().CreatesSucceeded)
}

// A panic in a goroutine a listing starts becomes the run's error, not the
// end of the process (which would leave CloudFormation waiting).
func TestPanicInAListingGoroutineIsTheRunsError(t *testing.T) {
	for _, path := range []string{accountEntities, registriesQ} {
		t.Run(path, func(t *testing.T) {
			var armed atomic.Bool
			r := newRig(t, rigConfig{
				opts:     falconsim.Options{RegistryPageMax: 2},
				accounts: falconsim.GenerateAccounts(5, []string{"us-east-1"}),
				observe: func(req *http.Request, _ *http.Response, _ error, _ time.Time) {
					if req.URL.Path == path && req.URL.Query().Get("offset") != "0" && armed.Load() {
						panic("boom in a listing goroutine")
					}
				},
			})
			r.run(t)
			armed.Store(true)
			writes := r.sim.Stats().Writes()

			_, err := r.runner.Run(context.Background(), onboard.Request{})

			require.Error(t, err)
			assert.Contains(t, err.Error(), "internal error while listing: boom in a listing goroutine")
			assert.Equal(t, writes, r.sim.Stats().Writes())
		})
	}
}

// An account whose record CSPM returns twice: identical records are one
// account; records that disagree on the credential refuse it.
func TestAccountListedTwice(t *testing.T) {
	for name, c := range map[string]struct {
		rotate bool
		skip   []onboard.Skip
	}{
		"identical records": {false, nil},
		"conflicting records": {true, []onboard.Skip{{AccountID: "100000000000",
			Reason: "CSPM lists this account 2 times with different credentials", Action: onboard.SkipFix}}},
	} {
		t.Run(name, func(t *testing.T) {
			accounts := falconsim.GenerateAccounts(2, []string{"us-east-1"})
			r := newRig(t, rigConfig{accounts: accounts, wrap: queryRewrite(accountEntities, func(_ int, body map[string]any) {
				resources := body["resources"].([]any)
				b, _ := json.Marshal(resources[0])
				var twin map[string]any
				_ = json.Unmarshal(b, &twin)
				if c.rotate {
					twin["resource_metadata"].(map[string]any)["external_id"] = "rotated-external-id"
				}
				body["resources"] = append(resources, twin)
			})})

			report := r.run(t)

			assert.Equal(t, c.skip, nilIfEmpty(report.Accounts.Skipped))
			assert.Equal(t, 2, report.Accounts.Discovered)
			assert.Len(t, report.Registries.Created, 2-len(c.skip))
		})
	}
}

func nilIfEmpty[T any](s []T) []T {
	if len(s) == 0 {
		return nil
	}
	return s
}
