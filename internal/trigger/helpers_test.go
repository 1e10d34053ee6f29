package trigger_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/cfn"
	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/crowdstrike-ecr/ecr-onboard/internal/demo"
	"github.com/crowdstrike-ecr/ecr-onboard/internal/falconsim"
	"github.com/crowdstrike-ecr/ecr-onboard/internal/onboard"
	"github.com/crowdstrike-ecr/ecr-onboard/internal/trigger"
)

const (
	testStackID   = "arn:aws:cloudformation:us-east-1:123456789012:stack/ecr-onboard/5b8c2a10-6f1e-11f0-9c2e-0a1b2c3d4e5f"
	testLogicalID = "InitialReconcile"
	testFunction  = "ecr-onboard-test"
)

// ownResource is the custom resource of the stack the test handlers belong
// to (STACK_ID, STACK_CUSTOM_RESOURCE).
var ownResource = trigger.CustomResource{StackID: testStackID, LogicalID: testLogicalID}

// env is a Handler wired as in production (through the environment) against
// the Falcon simulator, with its logs and metrics captured.
type env struct {
	sim     *falconsim.Sim
	h       *trigger.Handler
	logs    *syncBuffer
	metrics *syncBuffer
}

// newEnv starts a simulator with the demo accounts (see falconsim.DemoFixtures).
func newEnv(t *testing.T, opts falconsim.Options, extraEnv map[string]string) *env {
	t.Helper()
	opts.ClientID, opts.ClientSecret = demo.ClientID, demo.ClientSecret
	sim := falconsim.New(opts)
	falconsim.DemoFixtures(sim)
	return newEnvWith(t, sim, extraEnv)
}

func newEnvWith(t *testing.T, sim *falconsim.Sim, extraEnv map[string]string) *env {
	t.Helper()
	srv := falconsim.StartTLS(sim)
	t.Cleanup(srv.Close)
	rn, err := demo.NewRunner(context.Background(), srv.URL, srv.Client(), extraEnv)
	require.NoError(t, err)
	e := &env{sim: sim, logs: &syncBuffer{}, metrics: &syncBuffer{}}
	e.h = &trigger.Handler{
		Runner:       rn,
		Resource:     ownResource,
		Links:        newMemLinks(),
		Logger:       slog.New(slog.NewJSONHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Metrics:      e.metrics,
		FunctionName: testFunction,
		Settle:       func(context.Context) error { return nil }, // a test forces what is in flight by hand
	}
	require.Zero(t, sim.Stats().Requests, "building the runner must not call the API")
	return e
}

// invoke calls the handler through aws-lambda-go's own (de)serialization.
func (e *env) invoke(ctx context.Context, t *testing.T, payload []byte) (onboard.Report, error) {
	t.Helper()
	return invoke(ctx, t, e.h, payload)
}

func invoke(ctx context.Context, t *testing.T, h *trigger.Handler, payload []byte) (onboard.Report, error) {
	t.Helper()
	if _, ok := lambdacontext.FromContext(ctx); !ok {
		ctx = lambdacontext.NewContext(ctx, &lambdacontext.LambdaContext{
			AwsRequestID:       "c6af9ac6-7b61-11e6-9a41-93e812345678",
			InvokedFunctionArn: "arn:aws:lambda:us-east-1:123456789012:function:" + testFunction,
		})
	}
	out, err := lambda.NewHandler(h).Invoke(ctx, payload) // as lambda.Start(h) runs it
	if err != nil {
		return onboard.Report{}, err
	}
	var rep onboard.Report
	require.NoError(t, json.Unmarshal(out, &rep), string(out))
	return rep, nil
}

// counted is how many entries a list of an answer (a bounded report) has:
// listed, its length, and those left out.
func counted(rep onboard.Report, path string, listed int) int { return listed + rep.Truncated[path] }

// logLines parses the captured JSON log lines.
func (e *env) logLines(t *testing.T) []map[string]any {
	t.Helper()
	return jsonLines(t, e.logs.String())
}

// metricLines parses the captured EMF lines.
func (e *env) metricLines(t *testing.T) []map[string]any {
	t.Helper()
	return jsonLines(t, e.metrics.String())
}

func jsonLines(t *testing.T, s string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(s), "\n") {
		if line == "" {
			continue
		}
		var m map[string]any
		require.NoError(t, json.Unmarshal([]byte(line), &m), line)
		out = append(out, m)
	}
	return out
}

// cfnServer stands in for the presigned S3 URL CloudFormation waits on.
type cfnServer struct {
	*httptest.Server
	got      chan cfnReceived
	failures int // answer this many PUTs with 500 first
	mu       sync.Mutex
}

type cfnReceived struct {
	Method   string
	Response cfn.Response
	At       time.Time
}

func newCFNServer(t *testing.T) *cfnServer {
	t.Helper()
	s := &cfnServer{got: make(chan cfnReceived, 10)}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		fail := s.failures > 0
		if fail {
			s.failures--
		}
		s.mu.Unlock()
		if fail {
			http.Error(w, "SlowDown", http.StatusInternalServerError)
			return
		}
		body, _ := io.ReadAll(r.Body)
		var resp cfn.Response
		if err := json.Unmarshal(body, &resp); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		s.got <- cfnReceived{Method: r.Method, Response: resp, At: time.Now()}
	}))
	t.Cleanup(s.Close)
	return s
}

// one waits for exactly one response.
func (s *cfnServer) one(t *testing.T) cfnReceived {
	t.Helper()
	select {
	case r := <-s.got:
		select {
		case extra := <-s.got:
			t.Fatalf("a second CloudFormation response: %+v", extra)
		default:
		}
		return r
	case <-time.After(5 * time.Second):
		t.Fatal("no CloudFormation response")
		return cfnReceived{}
	}
}

// none checks that no response was PUT (the handler answers before it
// returns, so nothing can still be on its way).
func (s *cfnServer) none(t *testing.T) {
	t.Helper()
	select {
	case r := <-s.got:
		t.Fatalf("a CloudFormation response was sent: %+v", r)
	default:
	}
}

// event is a request of the test stack's custom resource whose ResponseURL
// is the server's.
func (s *cfnServer) event(t *testing.T, requestType, physicalID string, props map[string]any) []byte {
	t.Helper()
	return s.eventOf(t, testStackID, testLogicalID, requestType, physicalID, props)
}

// eventOf is a request of any stack's resource whose ResponseURL is the server's.
func (s *cfnServer) eventOf(t *testing.T, stackID, logicalID, requestType, physicalID string, props map[string]any) []byte {
	t.Helper()
	ev := map[string]any{
		"RequestType":        requestType,
		"ServiceToken":       "arn:aws:lambda:us-east-1:123456789012:function:" + testFunction,
		"ResponseURL":        s.URL + "/cloudformation-response?X-Amz-Signature=test",
		"StackId":            stackID,
		"RequestId":          "req-" + requestType,
		"LogicalResourceId":  logicalID,
		"ResourceType":       "Custom::EcrOnboardReconcile",
		"ResourceProperties": map[string]any{"ServiceToken": "arn:aws:lambda:us-east-1:123456789012:function:x", "ConfigVersion": "v1"},
	}
	if physicalID != "" {
		ev["PhysicalResourceId"] = physicalID
	}
	if props != nil {
		ev["ResourceProperties"] = props
	}
	b, err := json.Marshal(ev)
	require.NoError(t, err)
	return b
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// panicFalcon panics on the first call: a bug anywhere in a run.
type panicFalcon struct{}

func (panicFalcon) Accounts(context.Context) ([]onboard.Account, error) { panic("boom in Accounts") }
func (panicFalcon) Registries(context.Context) ([]onboard.Registry, error) {
	panic("boom in Registries")
}
func (panicFalcon) CreateRegistry(context.Context, onboard.Registry) (onboard.Registry, error) {
	panic("boom in CreateRegistry")
}
func (panicFalcon) UpdateRegistry(context.Context, onboard.Registry) (onboard.Registry, error) {
	panic("boom")
}
func (panicFalcon) ReadRegistries(context.Context, []string) ([]onboard.Registry, error) {
	panic("boom")
}
func (panicFalcon) DeleteRegistry(context.Context, onboard.Registry) error { panic("boom") }

func discard() *slog.Logger { return slog.New(slog.DiscardHandler) }

// assertReported checks a partial run's report against Falcon: every
// registry reported created exists, and every registry that exists was
// reported (created, or failed as uncertain when the deadline cut its
// request: the next run confirms it).
func assertReported(t *testing.T, sim *falconsim.Sim, rep onboard.Report) {
	t.Helper()
	inSim := map[string]bool{}
	for _, r := range sim.Registries() {
		inSim[r.URL] = true
	}
	reported := map[string]bool{}
	for _, c := range rep.Registries.Created {
		assert.True(t, inSim[c.URL], "reported created but not in Falcon: %s", c.URL)
		reported[c.URL] = true
	}
	for _, f := range rep.Registries.Failed {
		reported[f.URL] = true
	}
	for u := range inSim {
		assert.True(t, reported[u], "written but not reported: %s", u)
	}
}
