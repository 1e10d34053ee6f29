package app_test

// The Falcon API secret rotates without a redeploy. The Lambda
// handler, built as cmd/lambda builds it (one cold start, then invocations
// of one warm process), with moto's Secrets Manager and the simulator over
// TLS. GetSecretValue calls are counted by wrapping the SDK client.

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/crowdstrike-ecr/ecr-onboard/internal/app"
	"github.com/crowdstrike-ecr/ecr-onboard/internal/config"
	"github.com/crowdstrike-ecr/ecr-onboard/internal/falconsim"
	"github.com/crowdstrike-ecr/ecr-onboard/internal/mototest"
	"github.com/crowdstrike-ecr/ecr-onboard/internal/onboard"
	"github.com/crowdstrike-ecr/ecr-onboard/internal/trigger"
)

const rotationClientID = "rotation-client"

// countingSM counts GetSecretValue calls and the version stages they asked for.
type countingSM struct {
	next   *secretsmanager.Client
	mu     sync.Mutex
	stages []string
}

func (c *countingSM) GetSecretValue(ctx context.Context, in *secretsmanager.GetSecretValueInput, opts ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error) {
	c.mu.Lock()
	c.stages = append(c.stages, aws.ToString(in.VersionStage))
	c.mu.Unlock()
	return c.next.GetSecretValue(ctx, in, opts...)
}

func (c *countingSM) reads() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.stages)
}

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// warmLambda is one Lambda process: a handler after its cold start.
type warmLambda struct {
	sim     *falconsim.Sim
	sm      *secretsmanager.Client // moto, for the operator's side
	counted *countingSM            // the function's side
	arn     string
	clock   *fakeClock
	h       *trigger.Handler
	logs    *bytes.Buffer
	outputs []string // reports and errors returned
}

// newWarmLambda stores stored in moto's Secrets Manager, has the simulator
// accept falconSecret, and cold-starts the handler.
func newWarmLambda(t *testing.T, stored, falconSecret string) *warmLambda {
	t.Helper()
	ctx := context.Background()
	moto := mototest.Start(t)
	awsCfg := moto.Config()
	sm := secretsmanager.NewFromConfig(awsCfg)
	created, err := sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{
		Name: aws.String("ecr-onboard-falcon"), SecretString: aws.String(secretJSON(stored)),
	})
	require.NoError(t, err)

	sim := falconsim.New(falconsim.Options{ClientID: rotationClientID, ClientSecret: falconSecret})
	sim.AddAccounts(falconsim.GenerateAccounts(2, []string{"us-east-1", "eu-west-1"})...)
	srv := falconsim.StartTLS(sim)
	t.Cleanup(srv.Close)

	env := map[string]string{"FALCON_SECRET_ARN": aws.ToString(created.ARN), "FALCON_BASE_URL": srv.URL, "LOG_LEVEL": "debug"}
	cfg, err := config.Load(func(k string) string { return env[k] })
	require.NoError(t, err)

	w := &warmLambda{sim: sim, sm: sm, counted: &countingSM{next: sm}, arn: aws.ToString(created.ARN),
		clock: &fakeClock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}, logs: &bytes.Buffer{}}
	// As cmd/lambda's newHandler, with moto, the simulator and the clock.
	logger := app.NewLogger(w.logs, cfg.LogLevel)
	w.h = &trigger.Handler{Logger: logger, Metrics: io.Discard, FunctionName: "ecr-onboard-rotation"}
	w.h.Connect = func(ctx context.Context) (*onboard.Runner, error) {
		return app.NewRunner(ctx, cfg, app.Deps{Logger: logger, LookupIdentity: true, AWS: &awsCfg,
			SecretsManager: w.counted, HTTPClient: srv.Client(), Clock: w.clock.now})
	}
	w.h.Runner, w.h.InitErr = w.h.Connect(ctx)
	require.NoError(t, w.h.InitErr)
	require.Equal(t, 1, w.counted.reads(), "the cold start reads the secret")
	return w
}

func secretJSON(secret string) string {
	b, _ := json.Marshal(map[string]string{"client_id": rotationClientID, "client_secret": secret})
	return string(b)
}

// invoke sends the scheduled event.
func (w *warmLambda) invoke(t *testing.T) (onboard.Report, error) {
	t.Helper()
	ev, err := os.ReadFile("../../deploy/events/scheduled.json")
	require.NoError(t, err)
	rep, err := w.h.Handle(context.Background(), ev)
	b, _ := json.Marshal(rep)
	w.outputs = append(w.outputs, string(b))
	if err != nil {
		w.outputs = append(w.outputs, err.Error())
	}
	return rep, err
}

// put stores secret as the secret's AWSCURRENT version (put-secret-value),
// or with the given stages.
func (w *warmLambda) put(t *testing.T, secret string, stages ...string) {
	t.Helper()
	_, err := w.sm.PutSecretValue(context.Background(), &secretsmanager.PutSecretValueInput{
		SecretId: aws.String(w.arn), SecretString: aws.String(secretJSON(secret)), VersionStages: stages,
	})
	require.NoError(t, err)
}

func (w *warmLambda) tokenRequests() int { return w.sim.Stats().ByOperation["POST /oauth2/token"] }

// requireNoLeak: neither secret is in any log line, report or error.
func (w *warmLambda) requireNoLeak(t *testing.T, secrets ...string) {
	t.Helper()
	for _, s := range secrets {
		assert.NotContains(t, w.logs.String(), s, "a secret leaked into the logs")
		for _, out := range w.outputs {
			assert.NotContains(t, out, s, "a secret leaked into a report or error")
		}
	}
}

// reReads are the log lines of re-reads.
func (w *warmLambda) reReads() []map[string]any {
	var out []map[string]any
	for _, line := range strings.Split(w.logs.String(), "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) == nil && strings.Contains(m["msg"].(string), "re-read") {
			out = append(out, m)
		}
	}
	return out
}

func TestRotationBetweenInvocationsOfAWarmProcess(t *testing.T) {
	const oldSecret, newSecret = "old-secret-7f3a9c", "new-secret-2b8e41"
	w := newWarmLambda(t, oldSecret, oldSecret)
	rep, err := w.invoke(t)
	require.NoError(t, err)
	require.Len(t, rep.Registries.Created, 4)
	require.Equal(t, 1, w.counted.reads())

	// Reset in Falcon, then put-secret-value: nothing else.
	w.sim.SetClientSecret(newSecret)
	w.put(t, newSecret)
	rep, err = w.invoke(t)
	require.NoError(t, err)
	assert.Equal(t, 4, rep.Registries.Unchanged)
	assert.Equal(t, 2, w.counted.reads(), "exactly one extra GetSecretValue")

	rep, err = w.invoke(t)
	require.NoError(t, err)
	assert.Equal(t, 4, rep.Registries.Unchanged)
	assert.Equal(t, 2, w.counted.reads(), "none once it works")

	events := w.reReads()
	require.Len(t, events, 1)
	assert.Equal(t, "Falcon API secret re-read", events[0]["msg"])
	assert.Equal(t, "refused", events[0]["reason"])
	assert.Equal(t, true, events[0]["changed"])
	assert.Equal(t, w.arn, events[0]["secret"])
	assert.NotEmpty(t, events[0]["run_id"])
	for _, st := range w.counted.stages {
		assert.Equal(t, "AWSCURRENT", st)
	}
	w.requireNoLeak(t, oldSecret, newSecret)
}

func TestWrongSecretInBothPlacesFailsOnceWithTheHint(t *testing.T) {
	const stored, falconKnows = "stored-secret-51d0e2", "falcon-secret-c94a17"
	w := newWarmLambda(t, stored, falconKnows)
	for i := 1; i <= 3; i++ {
		tokensBefore := w.tokenRequests()
		_, err := w.invoke(t)
		require.Error(t, err)
		assert.Contains(t, err.Error(), w.arn, "the hint names the secret")
		assert.Contains(t, err.Error(), "was re-read")
		assert.Contains(t, err.Error(), "Rotating the Falcon API secret")
		assert.Equal(t, 1+i, w.counted.reads(), "invocation %d: exactly one re-read", i)
		assert.LessOrEqual(t, w.tokenRequests()-tokensBefore, 2, "no retry loop against the token endpoint")
	}
	assert.Empty(t, w.sim.Registries(), "nothing written")
	assert.Len(t, w.reReads(), 3)
	assert.Equal(t, 3, strings.Count(w.logs.String(), `"msg":"run failed"`))
	w.requireNoLeak(t, stored, falconKnows)
}

// A rotation in progress: a new secret staged AWSPENDING is not used, even
// after Falcon refused the old one; once it is AWSCURRENT it is.
func TestPendingVersionIsIgnored(t *testing.T) {
	const oldSecret, newSecret = "old-secret-e0f1a2", "new-secret-93b7c4"
	w := newWarmLambda(t, oldSecret, oldSecret)
	w.put(t, newSecret, "AWSPENDING")
	_, err := w.invoke(t)
	require.NoError(t, err)
	assert.Equal(t, 1, w.counted.reads())

	w.sim.SetClientSecret(newSecret) // Falcon reset; AWSCURRENT still the old one
	_, err = w.invoke(t)
	require.Error(t, err, "the pending version is not picked up")
	assert.Contains(t, err.Error(), "was re-read")
	assert.Equal(t, 2, w.counted.reads())

	w.put(t, newSecret) // put-secret-value: now AWSCURRENT
	_, err = w.invoke(t)
	require.NoError(t, err)
	assert.Equal(t, 3, w.counted.reads())
	for _, st := range w.counted.stages {
		assert.Equal(t, "AWSCURRENT", st)
	}
	w.requireNoLeak(t, oldSecret, newSecret)
}

// A secret read more than an hour ago is read again at the start of a run,
// before any API call: a rotation is picked up without a refusal.
func TestSecretOlderThanAnHourIsReadAgain(t *testing.T) {
	const oldSecret, newSecret = "old-secret-4c2d8e", "new-secret-a61f05"
	w := newWarmLambda(t, oldSecret, oldSecret)
	w.clock.advance(59 * time.Minute)
	_, err := w.invoke(t)
	require.NoError(t, err)
	assert.Equal(t, 1, w.counted.reads(), "59 minutes: not read again")

	w.clock.advance(2 * time.Minute) // read 61 minutes ago
	w.sim.SetClientSecret(newSecret)
	w.put(t, newSecret)
	tokensBefore := w.tokenRequests()
	_, err = w.invoke(t)
	require.NoError(t, err)
	assert.Equal(t, 2, w.counted.reads(), "one read at the start of the run")
	assert.Equal(t, 1, w.tokenRequests()-tokensBefore, "the new secret was used at once: no refused token request")
	events := w.reReads()
	require.Len(t, events, 1)
	assert.Equal(t, "stale", events[0]["reason"])
	assert.NotEmpty(t, events[0]["run_id"])

	w.clock.advance(30 * time.Minute)
	_, err = w.invoke(t)
	require.NoError(t, err)
	assert.Equal(t, 2, w.counted.reads(), "fresh again for an hour")
	w.requireNoLeak(t, oldSecret, newSecret)
}
