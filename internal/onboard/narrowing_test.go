package onboard

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A run whose request names accounts or regions says so, and its coverage
// speaks for no tenant; a run over the whole scope (a continuation of one
// included) speaks for it.
func TestNarrowedRunSpeaksForNoTenant(t *testing.T) {
	a, b := acct("100000000001", "us-east-1", "eu-west-1"), acct("100000000002", "us-east-1")
	b.ExternalID = "" // skipped: the tenant is not clean
	rn := &Runner{Falcon: &fakeFalcon{accounts: []Account{a, b}}, Owner: "p"}

	full := runOn(t, rn, Request{Trigger: TriggerSchedule})
	assert.False(t, full.Narrowed)
	assert.Nil(t, full.Narrowing)
	assert.Same(t, full.Coverage, full.TenantCoverage())
	assert.False(t, full.Coverage.Clean)

	for _, n := range []Narrowing{{AccountIDs: []string{a.ID}}, {Regions: []string{"us-east-1"}}} {
		r := runOn(t, rn, Request{Trigger: TriggerManual, Narrowing: n})
		assert.True(t, r.Narrowed)
		assert.Equal(t, &n, r.Narrowing)
		assert.NotNil(t, r.Coverage, "it judged the part it ran over")
		assert.Nil(t, r.TenantCoverage())
		j, err := json.Marshal(r)
		require.NoError(t, err)
		assert.Contains(t, string(j), `"narrowed":true,"narrowing":{`)
		var s strings.Builder
		r.WriteSummary(&s)
		assert.Contains(t, s.String(), "  narrowed:   to "+n.String()+"; its coverage is of that part of the scope only\n")
	}
	clean := runOn(t, rn, Request{Trigger: TriggerManual, Narrowing: Narrowing{AccountIDs: []string{a.ID}}})
	assert.True(t, clean.Coverage.Clean, "the narrowed part is clean")

	// A continuation of the whole run carries no narrowing: it is the whole run.
	cont := runOn(t, rn, Request{Trigger: TriggerContinuation, Continues: full.RunID})
	assert.False(t, cont.Narrowed)
	assert.NotNil(t, cont.TenantCoverage())
	j, err := json.Marshal(cont)
	require.NoError(t, err)
	assert.Contains(t, string(j), `"narrowed":false`)
	assert.NotContains(t, string(j), `"narrowing"`)
}

// The summary memory: a narrowed run between two unclean runs over the
// whole scope changes nothing of it (the second is not told: its verdict
// was); a clean run over the whole scope forgets the verdicts told, so the
// next unclean one is told at once.
func TestSummaryMemoryIsTheTenants(t *testing.T) {
	var s summaries
	now := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	unclean := Report{Complete: true, Coverage: &Coverage{Attention: []string{"1 account(s) skipped …"}},
		Accounts: AccountsReport{Skipped: []Skip{{AccountID: "100000000002", Reason: "CSPM has no external ID for this account"}}}}
	clean := Report{Complete: true, Coverage: &Coverage{Clean: true}}
	narrowed := func(r Report) Report {
		r.Narrowed, r.Narrowing = true, &Narrowing{AccountIDs: []string{"100000000001"}}
		return r
	}

	assert.True(t, s.due(unclean, nil, now), "a new verdict")
	assert.False(t, s.due(narrowed(clean), nil, now.Add(time.Minute)), "a clean part is not the tenant clean again")
	assert.False(t, s.due(narrowed(unclean), nil, now.Add(2*time.Minute)), "nor is an unclean part a verdict on it")
	assert.False(t, s.due(unclean, nil, now.Add(time.Hour)), "the tenant's verdict, told already")
	assert.True(t, s.due(clean, nil, now.Add(2*time.Hour)), "clean again: say so")
	assert.True(t, s.due(unclean, nil, now.Add(3*time.Hour)), "unclean again: told, though this verdict was told 3 hours ago")
	assert.False(t, s.due(unclean, nil, now.Add(4*time.Hour)))

	changed := narrowed(clean)
	changed.Registries.Created = []RegistryRef{{URL: "https://x"}}
	assert.True(t, s.due(changed, nil, now.Add(5*time.Hour)), "a narrowed run that changed something is told")
	assert.False(t, s.due(unclean, nil, now.Add(6*time.Hour)), "and leaves the memory as it was")
	assert.True(t, s.due(narrowed(clean), context.DeadlineExceeded, now.Add(7*time.Hour)), "a failed run is always told")

	// A summary published for a change tells its verdict too.
	var s2 summaries
	withChange := unclean
	withChange.Registries.Created = []RegistryRef{{URL: "https://x"}}
	assert.True(t, s2.due(withChange, nil, now))
	assert.False(t, s2.due(unclean, nil, now.Add(time.Hour)), "its verdict was in the summary of the change")
}

// Through the Runner: the narrowed run publishes nothing when it changed
// nothing, clean or not.
func TestNarrowedRunPublishesOnlyWhatItChanged(t *testing.T) {
	a, b := acct("100000000001", "us-east-1"), acct("100000000002", "us-east-1")
	b.ExternalID = ""
	n := &fakeNotifier{}
	rn := &Runner{Falcon: &fakeFalcon{accounts: []Account{a, b}}, Owner: "p", Notifier: n}
	runOn(t, rn, Request{Trigger: TriggerSchedule}) // creates a's: told
	runOn(t, rn, Request{Trigger: TriggerManual, Narrowing: Narrowing{AccountIDs: []string{a.ID}}})
	runOn(t, rn, Request{Trigger: TriggerSchedule})
	require.Len(t, n.reports, 1, "neither the clean narrowed run nor the same verdict again is told")
}
