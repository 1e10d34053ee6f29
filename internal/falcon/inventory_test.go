package falcon_test

// REGION_SOURCE=ecr-inventory — regions from Falcon's cloud asset
// inventory — through gofalcon against the simulator, next to the default.

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/crowdstrike-ecr/ecr-onboard/internal/falconsim"
	"github.com/crowdstrike-ecr/ecr-onboard/internal/onboard"
)

const (
	assetsQueryPath    = "/cloud-security-assets/queries/resources/v1"
	assetsEntitiesPath = "/cloud-security-assets/entities/resources/v1"
)

var ecrInventory = map[string]string{"REGION_SOURCE": "ecr-inventory"}

// inventoryCalls is how many requests reached the cloud asset inventory.
func inventoryCalls(sim *falconsim.Sim) int {
	st := sim.Stats()
	return st.ByOperation["GET "+assetsQueryPath] + st.ByOperation["POST "+assetsEntitiesPath] + st.ByOperation["GET "+assetsEntitiesPath]
}

// createdPairs is what a report created, as "account/region".
func createdPairs(r onboard.Report) []string {
	var out []string
	for _, c := range r.Registries.Created {
		out = append(out, c.AccountID+"/"+c.Region)
	}
	return out
}

func TestRegionSourceBothModes(t *testing.T) {
	regions := []string{"ap-south-1", "eu-west-1", "us-east-1"}
	accounts := falconsim.GenerateAccounts(6, regions)
	inventory := func(sim *falconsim.Sim) {
		sim.AddRepository(accounts[0].ID, "us-east-1", "api")
		sim.AddRepository(accounts[0].ID, "us-east-1", "worker")
		sim.AddRepository(accounts[0].ID, "eu-west-1", "api")
		sim.AddRepository(accounts[1].ID, "ap-south-1", "etl")
		sim.AddRepository(accounts[2].ID, "us-west-2", "old") // not an active region: ignored
		sim.AddRepository("999999999999", "us-east-1", "x")   // an account CSPM does not list: ignored
		sim.AddResource(falconsim.Resource{AccountID: accounts[3].ID, Region: "eu-west-1", ResourceType: "AWS::S3::Bucket"})
	}

	t.Run("active", func(t *testing.T) {
		r := newRig(t, rigConfig{accounts: accounts})
		inventory(r.sim)
		report := r.run(t)
		requireAllCreatedOnce(t, r.sim, report, 18)
		assert.Zero(t, inventoryCalls(r.sim), "active mode never calls the inventory")
		assert.Equal(t, onboard.RegionsActive, report.RegionSource)
		assert.Nil(t, report.Accounts.NoECRRepository)
	})

	t.Run("ecr-inventory, pages of 2", func(t *testing.T) {
		var rec recorder
		r := newRig(t, rigConfig{accounts: accounts, env: ecrInventory, opts: falconsim.Options{AssetPageMax: 2}, observe: rec.observe})
		inventory(r.sim)

		report := r.run(t)

		requireAllCreatedOnce(t, r.sim, report, 3)
		assert.ElementsMatch(t, []string{accounts[0].ID + "/us-east-1", accounts[0].ID + "/eu-west-1", accounts[1].ID + "/ap-south-1"}, createdPairs(report))
		assert.Equal(t, 2, report.Accounts.Eligible)
		assert.Empty(t, report.Accounts.Skipped)
		assert.Equal(t, &onboard.AccountSample{Count: 4, Sample: []string{accounts[2].ID, accounts[3].ID, accounts[4].ID, accounts[5].ID}},
			report.Accounts.NoECRRepository)
		assert.Equal(t, 6, report.Accounts.Discovered, "the inventory's unlisted account is not discovered")
		assert.NoError(t, report.Balanced())

		// 6 repositories, 2 a page: 3 pages by cursor, then one entity read.
		var queries, posts []attempt
		for _, a := range rec.all() {
			switch {
			case a.path == assetsQueryPath:
				queries = append(queries, a)
			case a.path == assetsEntitiesPath:
				posts = append(posts, a)
			}
		}
		require.Len(t, queries, 3)
		assert.Contains(t, queries[0].query, "filter=resource_type%3A%27AWS%3A%3AECR%3A%3ARepository%27")
		assert.Contains(t, queries[0].query, "limit=1000")
		assert.NotContains(t, queries[0].query, "after=")
		assert.Contains(t, queries[1].query, "after=")
		require.Len(t, posts, 1)
		assert.Equal(t, http.MethodPost, posts[0].method)

		second := r.run(t)
		assert.Empty(t, second.Registries.Created)
		assert.Equal(t, 3, second.Registries.Unchanged)
	})
}

// The query serves at most 1,000 IDs a page whatever limit asks, and the
// entity POST takes 500 IDs: 1,203 repositories are 2 pages and 3 reads.
func TestInventoryPagesAndBatchesAtTheLiveMaxima(t *testing.T) {
	accounts := falconsim.GenerateAccounts(401, []string{"us-east-1", "eu-west-1", "ap-south-1"})
	var rec recorder
	r := newRig(t, rigConfig{accounts: accounts, env: map[string]string{"REGION_SOURCE": "ecr-inventory", "DRY_RUN": "true"}, observe: rec.observe})
	for i := range 1203 {
		a := accounts[i%len(accounts)]
		r.sim.AddRepository(a.ID, a.Regions[i%3], fmt.Sprint("repo-", i))
	}

	report := r.run(t)

	assert.Len(t, report.Registries.Created, 1203, "dry run: one per account and region with a repository")
	var pages int
	var batches []int
	for _, a := range rec.all() {
		switch a.path {
		case assetsQueryPath:
			pages++
		case assetsEntitiesPath:
			var body struct{ IDs []string }
			require.NoError(t, json.Unmarshal([]byte(a.body), &body))
			batches = append(batches, len(body.IDs))
		}
	}
	assert.Equal(t, 2, pages)
	assert.ElementsMatch(t, []int{500, 500, 203}, batches)
}

// A region whose first repository appears is onboarded by the next run;
// repositories that disappear never delete a registration, even with
// PRUNE; a region CSPM no longer lists as active still does.
func TestInventoryLagAndPrune(t *testing.T) {
	accounts := falconsim.GenerateAccounts(2, []string{"us-east-1", "eu-west-1"})
	a := accounts[0]
	r := newRig(t, rigConfig{accounts: accounts, env: map[string]string{"REGION_SOURCE": "ecr-inventory", "PRUNE": "true"}})
	r.sim.AddRepository(a.ID, "us-east-1", "api")

	first := r.run(t)
	assert.Equal(t, []string{a.ID + "/us-east-1"}, createdPairs(first))

	r.sim.AddRepository(a.ID, "eu-west-1", "api") // the inventory lists it now
	second := r.run(t)
	assert.Equal(t, []string{a.ID + "/eu-west-1"}, createdPairs(second), "onboarded by the first run after the inventory lists it")
	assert.Equal(t, 1, second.Registries.Unchanged)

	r.sim.RemoveRepositories(a.ID, "us-east-1")
	third := r.run(t)
	assert.Empty(t, third.Registries.Deleted, "repositories gone from the inventory delete nothing")
	assert.Equal(t, 1, third.Registries.Desired)
	assert.Len(t, r.sim.Registries(), 2)

	r.sim.RemoveRepositories(a.ID, "eu-west-1")
	fourth := r.run(t)
	assert.Empty(t, fourth.Registries.Deleted)
	assert.Equal(t, 2, fourth.Accounts.NoECRRepository.Count)
	assert.Len(t, r.sim.Registries(), 2)

	a.Regions = []string{"us-east-1"} // CSPM no longer has eu-west-1 active
	r.sim.AddAccounts(a)
	fifth := r.run(t)
	require.Len(t, fifth.Registries.Deleted, 1, "PRUNE goes by CSPM's active regions")
	assert.Equal(t, "region no longer active in CSPM", fifth.Registries.Deleted[0].Reason)
	assert.Equal(t, "eu-west-1", fifth.Registries.Deleted[0].Region)
}

// assetsRewrite serves the inventory through next and lets edit change a
// JSON answer of method on path before it is sent; n counts such answers
// (from 1).
func assetsRewrite(method, path string, edit func(n int32, body map[string]any)) func(*falconsim.Sim, http.Handler) http.Handler {
	var n atomic.Int32
	return answerRewrite(method, path, func(_ *http.Request, body map[string]any) { edit(n.Add(1), body) })
}

func TestInventoryListingCompleteOrFailed(t *testing.T) {
	accounts := falconsim.GenerateAccounts(5, []string{"us-east-1"})
	meta := func(body map[string]any) map[string]any { return body["meta"].(map[string]any) }
	var firstCursor atomic.Value
	for name, c := range map[string]struct {
		method string
		path   string
		edit   func(n int32, body map[string]any)
		error  string // "" = the listing recovers
	}{
		"ids lost from a page, the cursor skipping them, every time": {http.MethodGet, assetsQueryPath, func(_ int32, body map[string]any) {
			if meta(body)["next"] != nil {
				body["resources"] = body["resources"].([]any)[:1]
			}
		}, "incomplete listing from GET /cloud-security-assets/queries/resources/v1: the cursor ended on page 3 with 3 distinct ids of a reported total of 5, read twice"},
		"ids lost once": {http.MethodGet, assetsQueryPath, func(n int32, body map[string]any) {
			if n == 1 {
				body["resources"] = body["resources"].([]any)[:1]
			}
		}, ""},
		"the cursor repeats": {http.MethodGet, assetsQueryPath, func(n int32, body map[string]any) {
			if n == 1 {
				firstCursor.Store(meta(body)["next"])
			} else if next := meta(body)["next"]; next != nil {
				meta(body)["next"] = firstCursor.Load()
			}
		}, "incomplete listing from GET /cloud-security-assets/queries/resources/v1: the cursor of page 2 repeats an earlier one, read twice"},
		"the cursor ends early": {http.MethodGet, assetsQueryPath, func(_ int32, body map[string]any) {
			delete(meta(body), "next")
		}, "the cursor ended on page 1 with 2 distinct ids of a reported total of 5, read twice"},
		"the total changes while paging": {http.MethodGet, assetsQueryPath, func(n int32, body map[string]any) {
			if meta(body)["next"] == nil {
				meta(body)["pagination"].(map[string]any)["total"] = 6
			}
		}, "the total changed from 5 to 6 while paging, read twice"},
		"no total: complete when the cursor ends": {http.MethodGet, assetsQueryPath, func(_ int32, body map[string]any) {
			delete(meta(body), "pagination")
		}, ""},
		"no resources": {http.MethodGet, assetsQueryPath, func(_ int32, body map[string]any) {
			delete(body, "resources")
		}, "malformed Falcon API response from GET /cloud-security-assets/queries/resources/v1: no resources"},
		"a repository left out of the entity answer, every time": {http.MethodPost, assetsEntitiesPath, func(_ int32, body map[string]any) {
			body["resources"] = body["resources"].([]any)[1:]
		}, "incomplete listing from POST /cloud-security-assets/entities/resources/v1: 1 of 5 listed repositories not returned, twice"},
		"a repository left out once": {http.MethodPost, assetsEntitiesPath, func(n int32, body map[string]any) {
			if n == 1 {
				body["resources"] = body["resources"].([]any)[1:]
			}
		}, ""},
		"a resource that is not a repository": {http.MethodPost, assetsEntitiesPath, func(_ int32, body map[string]any) {
			body["resources"].([]any)[0].(map[string]any)["resource_type"] = "AWS::S3::Bucket"
		}, "is a AWS::S3::Bucket, not an ECR repository (the query's filter was not applied)"},
		"a repository without a region": {http.MethodPost, assetsEntitiesPath, func(_ int32, body map[string]any) {
			delete(body["resources"].([]any)[0].(map[string]any), "region")
		}, "missing account_id or region"},
		"fields the plan never reads in an unexpected shape": {http.MethodPost, assetsEntitiesPath, func(_ int32, body map[string]any) {
			for _, r := range body["resources"].([]any) {
				r.(map[string]any)["creation_time"] = "last tuesday"
				r.(map[string]any)["tags"] = []any{"not", "a", "map"}
			}
		}, ""},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			r := newRig(t, rigConfig{accounts: accounts, env: ecrInventory, opts: falconsim.Options{AssetPageMax: 2},
				wrap: assetsRewrite(c.method, c.path, c.edit)})
			for _, a := range accounts {
				r.sim.AddRepository(a.ID, "us-east-1", "api")
			}

			report, err := r.runner.Run(context.Background(), onboard.Request{})

			if c.error == "" {
				require.NoError(t, err)
				requireAllCreatedOnce(t, r.sim, report, 5)
				return
			}
			require.Error(t, err)
			assert.Contains(t, err.Error(), c.error)
			assert.Contains(t, err.Error(), "REGION_SOURCE=ecr-inventory")
			assert.Zero(t, r.sim.Stats().Writes(), "nothing written on a partial inventory")
			assert.False(t, report.Complete)
		})
	}
}

// The entity read is a POST, which the transport never repeats (elsewhere
// a POST is a create): the inventory asks again after a 5xx itself.
func TestInventoryEntityReadRetriedAfter5xx(t *testing.T) {
	accounts := falconsim.GenerateAccounts(2, []string{"us-east-1"})
	r := newRig(t, rigConfig{accounts: accounts, env: ecrInventory})
	for _, a := range accounts {
		r.sim.AddRepository(a.ID, "us-east-1", "api")
	}
	r.sim.InjectFault(falconsim.Fault{Method: http.MethodPost, Path: assetsEntitiesPath, Status: http.StatusInternalServerError, Times: 2})

	report := r.run(t)

	requireAllCreatedOnce(t, r.sim, report, 2)
	assert.Equal(t, 3, r.sim.Stats().ByOperation["POST "+assetsEntitiesPath])
}

// A client without the inventory's scope: the error names it, nothing is
// written, and the default mode does not need it.
func TestInventoryForbiddenNamesTheScope(t *testing.T) {
	for _, path := range []string{assetsQueryPath, assetsEntitiesPath} {
		t.Run(path, func(t *testing.T) {
			accounts := falconsim.GenerateAccounts(2, []string{"us-east-1"})
			r := newRig(t, rigConfig{accounts: accounts, env: ecrInventory})
			r.sim.AddRepository(accounts[0].ID, "us-east-1", "api")
			r.sim.InjectFault(falconsim.Fault{Path: path, Status: http.StatusForbidden, Times: 100})

			_, err := r.runner.Run(context.Background(), onboard.Request{})

			require.ErrorIs(t, err, onboard.ErrAccessDenied)
			assert.Contains(t, err.Error(), "HTTP 403")
			assert.Contains(t, err.Error(), "REGION_SOURCE=ecr-inventory also needs the scope Cloud Security API Assets: Read")
			assert.False(t, strings.Contains(err.Error(), onboard.ScopesHint), "the hint is about the inventory's scope")
			assert.Zero(t, r.sim.Stats().Writes())

			active := newRig(t, rigConfig{accounts: accounts})
			active.sim.InjectFault(falconsim.Fault{Path: path, Status: http.StatusForbidden, Times: 100})
			requireAllCreatedOnce(t, active.sim, active.run(t), 2)
		})
	}
}
