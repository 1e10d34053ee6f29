package trigger_test

// What a run says about itself, and how much: only a run over the whole
// configured scope speaks for the tenant (the coverage metrics), and the
// answer is bounded while the log holds the whole report.

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/crowdstrike-ecr/ecr-onboard/internal/demo"
	"github.com/crowdstrike-ecr/ecr-onboard/internal/falconsim"
	"github.com/crowdstrike-ecr/ecr-onboard/internal/onboard"
	"github.com/crowdstrike-ecr/ecr-onboard/internal/trigger"
)

var coverageMetrics = []string{trigger.CoveragePercent, trigger.RegistriesMissing, trigger.CoverageIncomplete}

// A manual run narrowed to a clean part of an unclean tenant emits no
// coverage metric (the CoverageAlarm takes the minimum over an hour: its
// 0 would silence it); the runs over the whole scope do, a continuation of
// one included; a continuation of a narrowed run does not.
func TestNarrowedRunsEmitNoCoverageMetric(t *testing.T) {
	e := newEnv(t, falconsim.Options{}, nil)
	e.h.QueueARN = queueARN
	full, err := e.invoke(context.Background(), t, []byte(scheduled))
	require.NoError(t, err)
	require.False(t, full.Coverage.Clean, "the demo tenant has accounts a person must fix")
	clean := full.Registries.Created[0].AccountID

	narrowed, err := e.invoke(context.Background(), t, []byte(`{"account_ids":["`+clean+`"]}`))
	require.NoError(t, err)
	require.True(t, narrowed.Coverage.Clean, "the part it ran over is clean")
	assert.True(t, narrowed.Narrowed)
	assert.Equal(t, &onboard.Narrowing{AccountIDs: []string{clean}}, narrowed.Narrowing)

	for _, link := range []struct {
		chain   string
		payload []byte
	}{
		{"whole", sqsEvent(t, `{"run_id":"whole","depth":1}`)},
		{"part", sqsEvent(t, `{"run_id":"part","depth":1,"account_ids":["`+clean+`"]}`)},
		{"", []byte(scheduled)},
	} {
		if link.chain != "" { // the run that queued the link started its chain
			require.NoError(t, e.h.Links.StartChain(context.Background(), link.chain))
		}
		_, err := e.invoke(context.Background(), t, link.payload)
		require.NoError(t, err)
	}
	m := e.metricLines(t)
	require.Len(t, m, 5)
	for i, want := range []struct {
		what     string
		narrowed bool
	}{{"scheduled", false}, {"manual, one account", true}, {"continuation of a whole run", false}, {"continuation of a narrowed run", true}, {"scheduled", false}} {
		assert.Equal(t, want.narrowed, m[i]["narrowed"], want.what)
		for _, name := range coverageMetrics {
			if want.narrowed {
				assert.NotContains(t, m[i], name, want.what)
				assert.NotContains(t, fmt.Sprint(m[i]["_aws"]), name, "%s: not declared either", want.what)
			} else {
				assert.Contains(t, m[i], name, want.what)
			}
		}
		if !want.narrowed {
			assert.EqualValues(t, 1, m[i]["CoverageIncomplete"], want.what)
		}
	}
}

// The answer lists the first onboard.ListBound entries of each list and
// counts the rest; the log has every entry, one line each.
func TestAnswerIsBoundedAndTheLogHasTheWholeReport(t *testing.T) {
	sim := falconsim.New(falconsim.Options{ClientID: demo.ClientID, ClientSecret: demo.ClientSecret})
	accounts := falconsim.GenerateAccounts(30, []string{"us-east-1", "eu-west-1"})
	for i := range accounts {
		accounts[i].TrustsRegistryAssessment = false // every role refuses Falcon
	}
	sim.AddAccounts(accounts...)
	e := newEnvWith(t, sim, map[string]string{"TRUST_PROPAGATION_WAIT": "0"})
	out, err := e.h.Invoke(context.Background(), []byte(scheduled))
	require.NoError(t, err)
	var rep onboard.Report
	require.NoError(t, json.Unmarshal(out, &rep))
	require.NotEmpty(t, rep.Truncated, "some list was longer than the bound")

	logged := map[string][]any{}
	var whole []map[string]any
	for _, l := range e.logLines(t) {
		switch l["msg"] {
		case "report entry":
			logged[l["list"].(string)] = append(logged[l["list"].(string)], l["entry"])
			assert.Equal(t, rep.RunID, l["run_id"])
		case "report":
			whole = append(whole, l)
		}
	}
	require.Len(t, whole, 1, "one report line per run")
	for list, more := range rep.Truncated {
		assert.Len(t, logged[list], onboard.ListBound+more, "%s: every entry logged", list)
	}
	assert.Len(t, rep.Registries.Failed, min(onboard.ListBound, rep.Failures()))
	require.Len(t, logged["registries.failed"], rep.Failures())
	for i, f := range rep.Registries.Failed {
		entry := logged["registries.failed"][i].(map[string]any)
		assert.Equal(t, f.URL, entry["url"], "the answer lists the first entries")
		assert.Equal(t, f.Hint, entry["hint"])
	}
	assert.True(t, strings.Contains(fmt.Sprint(whole[0]["report"]), "registries.failed"), "the report line counts the lists")
	m := e.metricLines(t)
	require.Len(t, m, 1)
	assert.EqualValues(t, rep.Failures(), m[0]["RegistriesFailed"], "metrics count the whole report")
}

// The CloudFormation response of a tenant whose every registration failed
// holds counts (Data) and a reason cut at MaxReason: under CloudFormation's
// 4 KB, whatever the tenant's size.
func TestCloudFormationResponseOfAFailedTenantIsCounts(t *testing.T) {
	sim := falconsim.New(falconsim.Options{ClientID: demo.ClientID, ClientSecret: demo.ClientSecret})
	accounts := falconsim.GenerateAccounts(60, []string{"us-east-1", "eu-west-1", "ap-south-1"})
	for i := range accounts {
		accounts[i].TrustsRegistryAssessment = false
	}
	sim.AddAccounts(accounts...)
	e := newEnvWith(t, sim, map[string]string{"TRUST_PROPAGATION_WAIT": "0"})
	s := newCFNServer(t)
	rep, err := e.h.Handle(context.Background(), s.event(t, "Create", "", nil))
	require.NoError(t, err)
	r := s.one(t).Response
	body, err := json.Marshal(r)
	require.NoError(t, err)
	assert.Less(t, len(body), 4096)
	assert.LessOrEqual(t, len(r.Reason), trigger.MaxReason)
	assert.Contains(t, r.Reason, "NOT clean")
	assert.Equal(t, fmt.Sprint(rep.Failures()), r.Data["Failed"])
	assert.Equal(t, fmt.Sprint(rep.Coverage.Desired-rep.Coverage.Present), r.Data["RegistriesMissing"])
	assert.Equal(t, "180", fmt.Sprint(rep.Coverage.Desired))
}
