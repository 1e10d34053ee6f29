package trigger_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/crowdstrike-ecr/ecr-onboard/internal/config"
	"github.com/crowdstrike-ecr/ecr-onboard/internal/demo"
	"github.com/crowdstrike-ecr/ecr-onboard/internal/falconsim"
	"github.com/crowdstrike-ecr/ecr-onboard/internal/onboard"
	"github.com/crowdstrike-ecr/ecr-onboard/internal/trigger"
)

// The two scheduled events a schedule delivers: an EventBridge rule's, whose
// detail is an empty object, and EventBridge Scheduler's, whose detail is a
// JSON string, "{}" (AWS Lambda Developer Guide, "Invoke a Lambda function on
// a schedule").
const (
	scheduled = `{"version":"0","id":"e1","detail-type":"Scheduled Event","source":"aws.events","account":"123456789012",
"time":"2026-01-01T06:00:00Z","region":"us-east-1","resources":["arn:aws:events:us-east-1:123456789012:rule/r"],"detail":{}}`
	scheduledByScheduler = `{"version":"0","id":"8f0ac0ae-5e0b-4f4c-9d0c-1a2b3c4d5e6f","detail-type":"Scheduled Event","source":"aws.scheduler",
"account":"123456789012","time":"2026-01-01T06:00:00Z","region":"us-east-1",
"resources":["arn:aws:scheduler:us-east-1:123456789012:schedule/default/ecr-onboard"],"detail":"{}"}`
)

// Demo fixtures: 4 healthy standalone accounts and 3 of an organization (15
// registries, 3 already there), one with a broken trust policy (1 failure,
// and its other registry waiting for the same credential), five refused
// accounts.
const (
	demoCreated   = 12
	demoFailed    = 1
	demoWaiting   = 1
	demoUnchanged = 3
	demoSkipped   = 5
)

func TestScheduledEventReconciles(t *testing.T) {
	for source, ev := range map[string]string{"aws.events": scheduled, "aws.scheduler": scheduledByScheduler} {
		t.Run(source, func(t *testing.T) {
			e := newEnv(t, falconsim.Options{}, nil)
			rep, err := e.invoke(context.Background(), t, []byte(ev))
			require.NoError(t, err)

			assert.Equal(t, onboard.TriggerSchedule, rep.Trigger)
			assert.True(t, rep.Complete)
			assert.False(t, rep.DryRun)
			assert.Len(t, rep.Registries.Created, demoCreated)
			assert.Len(t, rep.Registries.Failed, demoFailed)
			assert.Equal(t, demoUnchanged, rep.Registries.Unchanged)
			assert.Len(t, rep.Accounts.Skipped, demoSkipped)
			assert.Len(t, e.sim.Registries(), demoCreated+demoUnchanged)
			for _, f := range rep.Registries.Failed {
				assert.Contains(t, f.Hint, "CrowdStrikeCustomerRegistryAssessmentRole")
			}

			// Every log line carries the run's ID; nothing secret is logged.
			lines := e.logLines(t)
			require.NotEmpty(t, lines)
			for _, l := range lines {
				assert.Equal(t, rep.RunID, l["run_id"], "log line without the run_id: %v", l)
				assert.Equal(t, "c6af9ac6-7b61-11e6-9a41-93e812345678", l["aws_request_id"])
			}
			for _, r := range e.sim.Registries() {
				assert.NotContains(t, e.logs.String(), r.ExternalID)
				assert.NotContains(t, e.metrics.String(), r.ExternalID)
			}
			assert.NotContains(t, e.logs.String(), demo.ClientSecret)

			// One EMF line for the run.
			m := e.metricLines(t)
			require.Len(t, m, 1)
			assert.EqualValues(t, demoCreated, m[0]["RegistriesCreated"])
			assert.EqualValues(t, demoFailed, m[0]["RegistriesFailed"])
			assert.Equal(t, rep.RunID, m[0]["run_id"])

			// Safe to repeat: the second run has nothing to create.
			rep2, err := e.invoke(context.Background(), t, []byte(ev))
			require.NoError(t, err)
			assert.Empty(t, rep2.Registries.Created)
			assert.Equal(t, demoCreated+demoUnchanged, rep2.Registries.Unchanged)
			assert.NotEqual(t, rep.RunID, rep2.RunID)
		})
	}
}

func TestMetricsLineIsEMF(t *testing.T) {
	e := newEnv(t, falconsim.Options{}, nil)
	_, err := e.invoke(context.Background(), t, []byte(scheduled))
	require.NoError(t, err)
	m := e.metricLines(t)
	require.Len(t, m, 1)

	aws := m[0]["_aws"].(map[string]any)
	assert.Greater(t, aws["Timestamp"].(float64), float64(time.Now().Add(-time.Minute).UnixMilli()))
	cwm := aws["CloudWatchMetrics"].([]any)
	require.Len(t, cwm, 1)
	d := cwm[0].(map[string]any)
	assert.Equal(t, "EcrOnboard", d["Namespace"])
	assert.Equal(t, []any{[]any{"FunctionName"}}, d["Dimensions"])
	units := map[string]string{}
	for _, x := range d["Metrics"].([]any) {
		mm := x.(map[string]any)
		units[mm["Name"].(string)] = mm["Unit"].(string)
		assert.Contains(t, m[0], mm["Name"], "metric %v has no value", mm["Name"])
	}
	assert.Equal(t, map[string]string{
		"RegistriesCreated": "Count", "RegistriesUpdated": "Count", "RegistriesFailed": "Count",
		"AccountsSkipped": "Count", "RateLimited": "Count", "DurationMs": "Milliseconds", "APICalls": "Count",
		"CoveragePercent": "Percent", "RegistriesMissing": "Count", "CoverageIncomplete": "Count",
		"FullRunCompleted": "Count", // a scheduled run of the whole scope that reached its end
	}, units)
	assert.EqualValues(t, 1, m[0]["FullRunCompleted"])
	assert.NotContains(t, m[0], "RunsDeferred")
	assert.Equal(t, testFunction, m[0]["FunctionName"])
	assert.EqualValues(t, demoSkipped, m[0]["AccountsSkipped"])
	assert.EqualValues(t, 1, m[0]["CoverageIncomplete"], "the demo tenant has accounts a person must fix")
	assert.Positive(t, m[0]["APICalls"])
}

// A tenant where every account is skipped: the run is not clean, and its
// metric says so (the stack's CoverageAlarm watches CoverageIncomplete).
func TestMetricsOfATenantWhereEveryAccountIsSkipped(t *testing.T) {
	sim := falconsim.New(falconsim.Options{ClientID: demo.ClientID, ClientSecret: demo.ClientSecret})
	accounts := falconsim.GenerateAccounts(3, []string{"us-east-1", "eu-west-1"})
	for i := range accounts {
		accounts[i].ExternalID = ""
	}
	sim.AddAccounts(accounts...)
	e := newEnvWith(t, sim, nil)
	rep, err := e.invoke(context.Background(), t, []byte(scheduled))
	require.NoError(t, err)
	require.Len(t, rep.Accounts.Skipped, 3)
	assert.False(t, rep.Coverage.Clean)
	m := e.metricLines(t)
	require.Len(t, m, 1)
	assert.EqualValues(t, 1, m[0]["CoverageIncomplete"])
	assert.EqualValues(t, 0, m[0]["CoveragePercent"])
	assert.EqualValues(t, 6, m[0]["RegistriesMissing"])
}

func TestFunctionNameFromInvokedARN(t *testing.T) {
	e := newEnv(t, falconsim.Options{}, nil)
	e.h.FunctionName = ""
	_, err := e.invoke(context.Background(), t, []byte(`{"dry_run":true}`))
	require.NoError(t, err)
	assert.Equal(t, testFunction, e.metricLines(t)[0]["FunctionName"])
}

func TestManualDryRunWritesNothing(t *testing.T) {
	e := newEnv(t, falconsim.Options{}, nil)
	rep, err := e.invoke(context.Background(), t, []byte(`{"dry_run": true}`))
	require.NoError(t, err)
	assert.Equal(t, onboard.TriggerManual, rep.Trigger)
	assert.True(t, rep.DryRun)
	assert.Len(t, rep.Registries.Created, demoCreated+demoFailed+demoWaiting, "dry run lists what would be created")
	assert.Zero(t, e.sim.Stats().Writes())
	assert.Len(t, e.sim.Registries(), demoUnchanged)
	m := e.metricLines(t)
	require.Len(t, m, 1)
	assert.EqualValues(t, 0, m[0]["RegistriesCreated"], "a dry run created nothing")
	assert.Equal(t, true, m[0]["dry_run"])
}

func TestManualEmptyPayloadReconciles(t *testing.T) {
	e := newEnv(t, falconsim.Options{}, nil)
	rep, err := e.invoke(context.Background(), t, []byte(`{}`))
	require.NoError(t, err)
	assert.Equal(t, onboard.TriggerManual, rep.Trigger)
	assert.Len(t, rep.Registries.Created, demoCreated)
}

func TestManualNarrowsToOneAccountAndRegion(t *testing.T) {
	e := newEnv(t, falconsim.Options{}, nil)
	rep, err := e.invoke(context.Background(), t, []byte(`{"account_ids":["222222222222"],"regions":["us-east-1"]}`))
	require.NoError(t, err)
	require.Len(t, rep.Registries.Created, 1)
	assert.Equal(t, "https://222222222222.dkr.ecr.us-east-1.amazonaws.com", rep.Registries.Created[0].URL)
	assert.Equal(t, 1, e.sim.Stats().Writes())
}

func TestManualCannotWidenConfiguration(t *testing.T) {
	e := newEnv(t, falconsim.Options{}, map[string]string{"ACCOUNT_IDS": "222222222222", "REGIONS": "us-east-1"})
	rep, err := e.invoke(context.Background(), t, []byte(`{"account_ids":["333333333333"],"regions":["us-west-2"]}`))
	require.NoError(t, err)
	assert.Empty(t, rep.Registries.Created)
	assert.Zero(t, e.sim.Stats().Writes())

	// dry_run false does not turn off a configured dry run.
	e = newEnv(t, falconsim.Options{}, map[string]string{"DRY_RUN": "true"})
	rep, err = e.invoke(context.Background(), t, []byte(`{"dry_run":false}`))
	require.NoError(t, err)
	assert.True(t, rep.DryRun)
	assert.Zero(t, e.sim.Stats().Writes())
}

func TestRefusedPayloadsCallNoAPI(t *testing.T) {
	unsupported := map[string]string{
		"null":          `null`,
		"array":         `[]`,
		"array of objs": `[{"dry_run":true}]`,
		"string":        `"run please"`,
		"number":        `42`,
		"boolean":       `true`,
		"unknown field": `{"foo": 1}`,
		"uppercase":     `{"DRY_RUN": true}`,
		"sqs":           `{"Records":[{"messageId":"1","body":"{}","eventSource":"aws:sqs","eventSourceARN":"arn:aws:sqs:us-east-1:123456789012:q"}]}`,
		"s3":            `{"Records":[{"eventVersion":"2.1","eventSource":"aws:s3","eventName":"ObjectCreated:Put","s3":{"bucket":{"name":"b"}}}]}`,
		"sns":           `{"Records":[{"EventSource":"aws:sns","Sns":{"Message":"{}"}}]}`,
		"api gateway":   `{"resource":"/","path":"/","httpMethod":"POST","body":"{}","requestContext":{}}`,
		"http api":      `{"version":"2.0","routeKey":"POST /","rawPath":"/","body":"{}"}`,
		"ecr event":     `{"version":"0","id":"1","detail-type":"ECR Image Action","source":"aws.ecr","detail":{}}`,
		"other rule":    `{"version":"0","id":"1","detail-type":"Scheduled Event","source":"my.app","detail":{}}`,
		"cfn no url":    `{"RequestType":"Create","StackId":"s","RequestId":"r","LogicalResourceId":"l"}`,
	}
	invalid := map[string]string{
		"external_id":         `{"external_id": "abc"}`,
		"ExternalId":          `{"dry_run": true, "ExternalId": "abc"}`,
		"aws_external_id":     `{"aws_external_id": "abc"}`,
		"client_secret":       `{"client_secret": "x"}`,
		"clientId":            `{"clientId": "x"}`,
		"credential":          `{"credential": {"details": {"aws_iam_role": "arn:aws:iam::111111111111:role/x"}}}`,
		"role_arn":            `{"role_arn": "arn:aws:iam::111111111111:role/x"}`,
		"dry_run string":      `{"dry_run": "true"}`,
		"account_ids string":  `{"account_ids": "111111111111"}`,
		"account_ids numbers": `{"account_ids": [111111111111]}`,
		"bad account":         `{"account_ids": ["12345"]}`,
		"empty accounts":      `{"account_ids": []}`,
		"bad region":          `{"regions": ["US East"]}`,
		"regions object":      `{"regions": {"us-east-1": true}}`,
	}
	check := func(t *testing.T, payload string, want error, wantText string) {
		e := newEnv(t, falconsim.Options{}, nil)
		_, err := e.invoke(context.Background(), t, []byte(payload))
		require.Error(t, err)
		assert.ErrorIs(t, err, want)
		assert.Contains(t, err.Error(), wantText)
		assert.Zero(t, e.sim.Stats().Requests, "no API call for a refused payload")
		assert.Empty(t, e.metrics.String())
	}
	for name, p := range unsupported {
		t.Run(name, func(t *testing.T) { check(t, p, trigger.ErrUnsupportedEvent, "unsupported event") })
	}
	for name, p := range invalid {
		t.Run(name, func(t *testing.T) { check(t, p, trigger.ErrInvalidManualRun, "invalid manual run") })
	}
	t.Run("not JSON", func(t *testing.T) {
		// Lambda's Invoke API refuses non-JSON payloads, but the Runtime
		// Interface Emulator passes them on: the handler refuses them.
		check(t, `garbage`, trigger.ErrUnsupportedEvent, "not JSON")
	})
	t.Run("messages name the culprit", func(t *testing.T) {
		_, err := trigger.Parse([]byte(`{"Records":[{"eventSource":"aws:sns"}]}`))
		assert.ErrorContains(t, err, "unsupported event: SNS records")
		e := newEnv(t, falconsim.Options{}, nil)
		_, err = e.invoke(context.Background(), t, []byte(`{"Records":[{"eventSource":"aws:sqs","eventSourceARN":"arn:aws:sqs:us-east-1:111111111111:other","body":"{}"}]}`))
		assert.ErrorContains(t, err, "only this function's continuation queue is accepted")
		_, err = trigger.Parse([]byte(`{"external_id":"x"}`))
		assert.ErrorContains(t, err, `"external_id" is refused`)
		_, err = trigger.Parse([]byte(`{} {"external_id":"x"}`)) // aws-lambda-go drops what follows the first value
		assert.ErrorIs(t, err, trigger.ErrUnsupportedEvent)
		_, err = trigger.Parse([]byte(`{"account_ids":["1"]}`))
		assert.ErrorContains(t, err, `"1" is not a 12-digit AWS account ID`)
	})
}

func TestColdStartConfigErrorFailsEveryRun(t *testing.T) {
	cfgErr := &config.Error{Var: "FALCON_CLOUD", Problem: `unknown cloud "mars-1"`}
	connects := 0
	h := &trigger.Handler{InitErr: cfgErr, Logger: discard(), Metrics: &syncBuffer{},
		Connect: func(context.Context) (*onboard.Runner, error) { connects++; return nil, errors.New("no") }}
	for _, p := range []string{scheduled, `{}`, `{"dry_run":true}`} {
		_, err := invoke(context.Background(), t, h, []byte(p))
		require.Error(t, err)
		assert.ErrorIs(t, err, error(cfgErr))
		assert.Contains(t, err.Error(), "FALCON_CLOUD")
		assert.Contains(t, err.Error(), "stack parameter")
	}
	assert.Zero(t, connects, "a configuration error is not retried")
	// Unsupported events still say so.
	_, err := invoke(context.Background(), t, h, []byte(`[]`))
	assert.ErrorIs(t, err, trigger.ErrUnsupportedEvent)
}

func TestColdStartCredentialErrorIsRetried(t *testing.T) {
	e := newEnv(t, falconsim.Options{}, nil)
	rn := e.h.Runner
	e.h.Runner, e.h.InitErr = nil, errors.New("reading FALCON_SECRET_ARN: AccessDeniedException")
	fail := true
	e.h.Connect = func(context.Context) (*onboard.Runner, error) {
		if fail {
			return nil, errors.New("reading FALCON_SECRET_ARN: still AccessDeniedException")
		}
		return rn, nil
	}
	_, err := e.invoke(context.Background(), t, []byte(scheduled))
	require.ErrorContains(t, err, "still AccessDeniedException")
	assert.Zero(t, e.sim.Stats().Requests)

	fail = false // the operator fixed the secret's policy
	rep, err := e.invoke(context.Background(), t, []byte(scheduled))
	require.NoError(t, err)
	assert.Len(t, rep.Registries.Created, demoCreated)
}

func TestFatalRunReturnsError(t *testing.T) {
	e := newEnv(t, falconsim.Options{}, nil)
	e.sim.InjectFault(falconsim.Fault{Method: "GET", Path: "/cloud-security-registration-aws/queries/account/v1", Status: 403})
	_, err := e.invoke(context.Background(), t, []byte(scheduled))
	require.Error(t, err)
	assert.ErrorIs(t, err, onboard.ErrAccessDenied)
	assert.Contains(t, err.Error(), "Falcon Container Image")
	assert.Zero(t, e.sim.Stats().Writes())
	assert.Len(t, e.metricLines(t), 1, "a fatal run still emits its metrics")
}

func TestPanicBecomesError(t *testing.T) {
	h := &trigger.Handler{Runner: &onboard.Runner{Falcon: panicFalcon{}}, Logger: discard(), Metrics: &syncBuffer{}}
	_, err := invoke(context.Background(), t, h, []byte(scheduled))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "panic")
}

// A run that cannot finish before the deadline stops starting writes and
// returns a partial report instead of being killed mid-write.
func TestNearDeadlineReturnsPartialReport(t *testing.T) {
	sim := falconsim.New(falconsim.Options{ClientID: demo.ClientID, ClientSecret: demo.ClientSecret})
	sim.AddAccounts(falconsim.GenerateAccounts(150, []string{"us-east-1"})...)
	e := newEnvWith(t, sim, map[string]string{"MAX_CONCURRENCY": "4"})
	w := &writeCutoff{Free: 20}
	w.install(e.h)

	ctx, cancel, deadline := w.context()
	defer cancel()
	rep, err := e.h.Handle(ctx, []byte(scheduled)) // the whole report: its answer is bounded
	require.NoError(t, err)
	assert.True(t, time.Now().Before(deadline), "returned after the deadline")
	assert.False(t, rep.Complete)
	assert.Len(t, rep.Registries.Created, 20+4, "the free creates and the 4 held at the cut-off")
	assert.Equal(t, 150-24, rep.Registries.NotAttempted)
	assert.Empty(t, rep.Registries.Failed, "no write was cut off mid-way")
	assertReported(t, sim, rep)
	assert.Equal(t, false, e.metricLines(t)[0]["complete"])
}

func TestReportOfEveryTriggerBalances(t *testing.T) {
	e := newEnv(t, falconsim.Options{}, map[string]string{"PRUNE": "true"})
	for _, payload := range []string{`{"dry_run":true}`, `{}`, `{"source":"aws.events","detail-type":"Scheduled Event","detail":{}}`} {
		rep, err := e.invoke(context.Background(), t, []byte(payload))
		require.NoError(t, err)
		assert.NoError(t, rep.Balanced(), payload)
		b, _ := json.Marshal(rep)
		assert.Contains(t, string(b), `"delete_failed"`)
	}
}
