package falcon_test

// Coverage is what Falcon shows, never what a run sent: a registration
// Falcon keeps in a verdict is missing, whatever the run wrote to it, and a
// credential that is already CSPM's current one is sent to it again at
// most once every onboard.ResendInterval.

import (
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/crowdstrike-ecr/ecr-onboard/internal/falconsim"
	"github.com/crowdstrike-ecr/ecr-onboard/internal/onboard"
)

func patches(sim *falconsim.Sim) int { return sim.Stats().ByOperation["PATCH "+registriesPath] }

// clock is a Runner's simulated time, moved by the test.
type clock struct{ now time.Time }

func (c *clock) Now() time.Time { return c.now }

// onboarded is a rig whose accounts are all registered, with a clock an
// hour ahead of the simulator's timestamps (so no verdict is fresh enough
// to read as a role still being prepared), and the registration of the
// first account's first region.
func onboarded(t *testing.T, opts falconsim.Options, regions ...string) (*rig, *clock, falconsim.Registry) {
	t.Helper()
	accounts := falconsim.GenerateAccounts(3, regions)
	r := newRig(t, rigConfig{opts: opts, accounts: accounts})
	require.Len(t, r.run(t).Registries.Created, 3*len(regions))
	c := &clock{now: time.Now().Add(time.Hour)}
	r.runner.Clock = c.Now
	for _, reg := range r.sim.Registries() {
		if reg.URL == falconsim.ECRURL(accounts[0].ID, regions[0]) {
			return r, c, reg
		}
	}
	t.Fatal("no registration of the first account")
	return nil, nil, falconsim.Registry{}
}

// Held in error across re-sends (the role lets Falcon in, the assessment
// still fails): missing in every run — failed, with the hint that names
// what else Falcon needs, exit code 3, coverage not clean — and PATCHed at
// most once in any 6 simulated hours, every 10 minutes for 13 hours.
func TestVerdictThatSurvivesAResendIsMissingEveryRun(t *testing.T) {
	r, c, held := onboarded(t, falconsim.Options{VerdictSurvivesResend: true}, "us-east-1", "eu-west-1")
	require.True(t, r.sim.SetRegistryState(held.ID, "error", false))

	var sent []time.Time // when each PATCH was sent, in simulated time
	for run := 0; run <= 13*6; run++ {
		before := patches(r.sim)
		report := r.run(t)
		if patches(r.sim) > before {
			sent = append(sent, c.now)
		}

		require.Len(t, report.Registries.Failed, 1, "run %d", run)
		f := report.Registries.Failed[0]
		assert.Equal(t, held.URL, f.URL)
		assert.Contains(t, f.Hint, "AmazonEC2ContainerRegistryReadOnly", "run %d", run)
		assert.Contains(t, f.Hint, "the trust policy is not the cause", "run %d", run)
		assert.Empty(t, report.Registries.Updated, "run %d: a re-send Falcon answers with its verdict is no update", run)
		assert.Equal(t, 5, report.Coverage.Present, "run %d", run)
		assert.Equal(t, 1, report.Coverage.Missing.Failed, "run %d", run)
		assert.False(t, report.Coverage.Clean, "run %d", run)
		assert.Equal(t, 3, report.ExitCode(), "run %d", run)
		assert.Equal(t, 1, report.Failures(), "run %d: RegistriesFailed", run)
		require.NoError(t, report.Balanced())
		c.now = c.now.Add(10 * time.Minute)
	}
	require.Len(t, sent, 3, "at the first run, 6 h later and 12 h later")
	for i := 1; i < len(sent); i++ {
		assert.Equal(t, onboard.ResendInterval, sent[i].Sub(sent[i-1]))
	}
}

// The live service's PATCH may put the registration back to pending, and
// Falcon's assessment return it to error later. The run that re-sent counts
// it as Falcon's answer shows it (pending: present); the runs after count
// it missing, without a PATCH until 6 hours have passed. A verdict that
// changes (error, then failed) is sent again at once.
func TestVerdictThatReturnsAfterAResend(t *testing.T) {
	r, c, held := onboarded(t, falconsim.Options{}, "us-east-1")
	require.True(t, r.sim.SetRegistryState(held.ID, "error", false))

	report := r.run(t)
	require.Len(t, report.Registries.Updated, 1, "sent again at once")
	assert.True(t, report.Coverage.Clean, "Falcon's answer shows it pending")
	require.Equal(t, 1, patches(r.sim))

	for run := range 6 * 6 {
		c.now = c.now.Add(10 * time.Minute)
		require.True(t, r.sim.SetRegistryState(held.ID, "error", false), "the assessment fails again")
		report = r.run(t)
		if run < 6*6-1 {
			assert.Equal(t, 1, patches(r.sim), "run %d: within 6 hours of the re-send", run)
			assert.Len(t, report.Registries.Failed, 1)
			assert.Contains(t, report.Registries.Failed[0].Error, "not sent again before")
			assert.False(t, report.Coverage.Clean)
		}
	}
	assert.Equal(t, 2, patches(r.sim), "6 hours after the first re-send")

	c.now = c.now.Add(10 * time.Minute)
	require.True(t, r.sim.SetRegistryState(held.ID, "failed", false), "Falcon's verdict changes")
	r.run(t)
	assert.Equal(t, 3, patches(r.sim), "a new verdict is sent its credential at once")
}

// Falcon keeps the record of a create it rejected, in state error: the run
// that finds it listed counts it missing (failed, with the trust-policy
// hint), never created; the runs after send the credential again (one
// write a run, each rejected and never remembered as a re-send) until the
// role lets Falcon in.
func TestKeptRecordOfARejectedCreateIsNeverPresent(t *testing.T) {
	accounts := falconsim.GenerateAccounts(1, []string{"us-east-1"})
	accounts[0].TrustsRegistryAssessment = false
	r := newRig(t, rigConfig{opts: falconsim.Options{KeepRejectedCreates: true}, accounts: accounts})
	// An hour on: Falcon's verdict on the kept record is no longer fresh
	// enough to read as a role still being prepared.
	r.runner.Clock = func() time.Time { return time.Now().Add(time.Hour) }

	report := r.run(t)
	assert.Empty(t, report.Registries.Created)
	require.Len(t, report.Registries.Failed, 1)
	assert.Contains(t, report.Registries.Failed[0].Hint, "add it to its trust policy")
	assert.Zero(t, report.Coverage.Present)
	require.Len(t, r.sim.Registries(), 1, "Falcon kept the record")
	assert.Equal(t, "error", r.sim.Registries()[0].State)

	for run := 1; run <= 2; run++ {
		report = r.run(t)
		assert.Equal(t, run, patches(r.sim), "run %d: sent again, rejected again", run+1)
		require.Len(t, report.Registries.Failed, 1)
		assert.Contains(t, report.Registries.Failed[0].Hint, "add it to its trust policy")
		assert.Zero(t, report.Coverage.Present)
		assert.Equal(t, 3, report.ExitCode())
	}

	r.sim.AddRole(accounts[0].RoleARN, accounts[0].ExternalID, true) // the role is fixed
	report = r.run(t)
	require.Len(t, report.Registries.Updated, 1)
	assert.True(t, report.Coverage.Clean)
	assert.Len(t, r.sim.Registries(), 1, "the kept record was repaired, never duplicated")
}

// A write whose answer shows nothing of the registration is read back by
// ID: it counts as Falcon shows it then. A read back that fails leaves it
// unconfirmed: written, not counted present.
func TestWriteAnsweredWithoutItsStateIsReadBack(t *testing.T) {
	emptyAnswer := falconsim.Fault{Method: http.MethodPatch, Path: registriesPath, Status: http.StatusOK, AfterWrite: true,
		Body: `{"meta":{"query_time":0.001,"trace_id":"t"}}`}
	reads := func(sim *falconsim.Sim) int { return sim.Stats().ByOperation["GET "+registriesPath] }

	t.Run("shown usable", func(t *testing.T) {
		r, _, held := onboarded(t, falconsim.Options{}, "us-east-1")
		require.True(t, r.sim.SetRegistryState(held.ID, "error", false))
		r.sim.InjectFault(emptyAnswer)
		before := reads(r.sim)
		report := r.run(t)
		require.Len(t, report.Registries.Updated, 1)
		assert.Equal(t, before+2, reads(r.sim), "the listing's one batch, and the read back")
		assert.True(t, report.Coverage.Clean)
	})
	t.Run("shown in its verdict", func(t *testing.T) {
		r, _, held := onboarded(t, falconsim.Options{VerdictSurvivesResend: true}, "us-east-1")
		require.True(t, r.sim.SetRegistryState(held.ID, "offline", false))
		r.sim.InjectFault(emptyAnswer)
		report := r.run(t)
		assert.Empty(t, report.Registries.Updated)
		require.Len(t, report.Registries.Failed, 1)
		assert.Contains(t, report.Registries.Failed[0].Error, `state "offline"`)
	})
	t.Run("not readable", func(t *testing.T) {
		r, _, held := onboarded(t, falconsim.Options{}, "us-east-1")
		require.True(t, r.sim.SetRegistryState(held.ID, "error", false))
		r.sim.InjectFault(emptyAnswer)
		r.sim.InjectFault(falconsim.Fault{Method: http.MethodGet, Path: registriesPath, Status: http.StatusForbidden, Skip: 1})
		report := r.run(t)
		require.Len(t, report.Registries.Updated, 1, "what the run did")
		assert.Equal(t, 1, report.Coverage.Missing.Unconfirmed, "not what Falcon shows")
		assert.False(t, report.Coverage.Clean)
		assert.Equal(t, 4, report.ExitCode())
	})
}
