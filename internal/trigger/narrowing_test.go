package trigger_test

// A request's narrowing (a manual payload, a continuation message) only
// narrows the configured scope, through the handler and the simulator.

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/crowdstrike-ecr/ecr-onboard/internal/falconsim"
	"github.com/crowdstrike-ecr/ecr-onboard/internal/onboard"
)

func registered(sim *falconsim.Sim, account string) []string {
	var out []string
	for _, r := range sim.Registries() {
		if strings.Contains(r.URL, "//"+account+".") {
			out = append(out, r.URL)
		}
	}
	return out
}

// With REGIONS unset, a request's regions do not stand in for the active
// regions CSPM does not list (888888888888 has none): it stays skipped.
func TestRequestRegionsNeverWiden(t *testing.T) {
	e := newEnv(t, falconsim.Options{}, nil)
	rep, err := e.invoke(context.Background(), t, []byte(`{"regions":["eu-west-1"]}`))
	require.NoError(t, err)
	assert.Empty(t, registered(e.sim, "888888888888"))
	assert.Contains(t, rep.Accounts.Skipped, onboard.Skip{AccountID: "888888888888",
		Reason: "CSPM lists no active region for this account (set REGIONS to onboard it anyway)", Action: onboard.SkipFix})

	// The same through a continuation message.
	q := &fakeQueue{}
	e.h.Queue, e.h.QueueARN = q, queueARN
	_, err = e.invoke(context.Background(), t, sqsEvent(t, `{"run_id":"r","depth":1,"regions":["eu-central-1"]}`))
	require.NoError(t, err)
	assert.Empty(t, registered(e.sim, "888888888888"))
}

// With REGIONS=us-east-1, a request for eu-west-1 has nothing in common with
// the configuration: nothing is written (it once POSTed
// https://888888888888.dkr.ecr.-.amazonaws.com).
func TestNoOverlapWritesNothing(t *testing.T) {
	e := newEnv(t, falconsim.Options{}, map[string]string{"REGIONS": "us-east-1"})
	rep, err := e.invoke(context.Background(), t, []byte(`{"regions":["eu-west-1"]}`))
	require.NoError(t, err)
	assert.Zero(t, e.sim.Stats().Writes())
	assert.Zero(t, rep.Registries.Desired)
	for _, r := range e.sim.Registries() {
		assert.NotContains(t, r.URL, ".-.")
	}
}
