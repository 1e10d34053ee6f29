package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/cfn"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/crowdstrike-ecr/ecr-onboard/internal/demo"
	"github.com/crowdstrike-ecr/ecr-onboard/internal/falconsim"
	"github.com/crowdstrike-ecr/ecr-onboard/internal/onboard"
)

// runtimeAPI is a stand-in for the Lambda Runtime API
// (https://docs.aws.amazon.com/lambda/latest/dg/runtimes-api.html).
type runtimeAPI struct {
	*httptest.Server
	events    chan invocation
	results   chan result
	cfn       chan cfn.Response
	firstPoll chan time.Time
	once      sync.Once
}

type invocation struct {
	id      string
	payload string
}

type result struct {
	id   string
	ok   bool // response (true) or error (false)
	body []byte
}

const runtimePrefix = "/2018-06-01/runtime/"

func newRuntimeAPI(t testing.TB) *runtimeAPI {
	rt := &runtimeAPI{
		events:    make(chan invocation),
		results:   make(chan result, 10),
		cfn:       make(chan cfn.Response, 10),
		firstPoll: make(chan time.Time, 1),
	}
	rt.Server = httptest.NewServer(http.HandlerFunc(rt.serve))
	t.Cleanup(rt.Close)
	return rt
}

func (rt *runtimeAPI) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	path := strings.TrimPrefix(r.URL.Path, runtimePrefix)
	switch {
	case r.Method == http.MethodGet && path == "invocation/next":
		rt.once.Do(func() { rt.firstPoll <- time.Now() })
		select {
		case inv := <-rt.events:
			h := w.Header()
			h.Set("Lambda-Runtime-Aws-Request-Id", inv.id)
			h.Set("Lambda-Runtime-Deadline-Ms", strconv.FormatInt(time.Now().Add(60*time.Second).UnixMilli(), 10))
			h.Set("Lambda-Runtime-Invoked-Function-Arn", "arn:aws:lambda:us-east-1:123456789012:function:ecr-onboard-e2e")
			h.Set("Lambda-Runtime-Trace-Id", "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1")
			_, _ = io.WriteString(w, inv.payload)
		case <-r.Context().Done():
		}
	case r.Method == http.MethodPost && strings.HasPrefix(path, "invocation/"):
		parts := strings.Split(path, "/") // invocation/{id}/response|error
		if len(parts) != 3 {
			http.NotFound(w, r)
			return
		}
		rt.results <- result{id: parts[1], ok: parts[2] == "response", body: body}
		w.WriteHeader(http.StatusAccepted)
	case r.Method == http.MethodPost && path == "init/error":
		rt.results <- result{id: "init", body: body}
		w.WriteHeader(http.StatusAccepted)
	case r.Method == http.MethodPost && r.URL.Path == "/" && strings.Contains(string(body), "Action=GetCallerIdentity"):
		// STS stand-in (AWS_ENDPOINT_URL): the function's identity.
		w.Header().Set("Content-Type", "text/xml")
		_, _ = io.WriteString(w, `<GetCallerIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><GetCallerIdentityResult>`+
			`<Arn>arn:aws:sts::123456789012:assumed-role/ecr-onboard-e2e/ecr-onboard-e2e</Arn><UserId>AROAEXAMPLE:ecr-onboard-e2e</UserId>`+
			`<Account>123456789012</Account></GetCallerIdentityResult><ResponseMetadata><RequestId>1</RequestId></ResponseMetadata></GetCallerIdentityResponse>`)
	case r.Method == http.MethodPut && r.URL.Path == "/cfn-response":
		var resp cfn.Response
		_ = json.Unmarshal(body, &resp)
		rt.cfn <- resp
	default:
		http.NotFound(w, r)
	}
}

// invoke sends one event to the function and waits for its outcome.
func (rt *runtimeAPI) invoke(t *testing.T, id, payload string) result {
	t.Helper()
	select {
	case rt.events <- invocation{id: id, payload: payload}:
	case <-time.After(20 * time.Second):
		t.Fatalf("%s: the function did not poll for the next invocation", id)
	}
	select {
	case r := <-rt.results:
		require.Equal(t, id, r.id, "outcome of another invocation: %s", r.body)
		return r
	case <-time.After(20 * time.Second):
		t.Fatalf("%s: no outcome", id)
		return result{}
	}
}

// The real bootstrap binary against the Runtime API stand-in and the
// simulator served over HTTPS, configured only through the environment.
func TestBootstrapEndToEnd(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "bootstrap")
	build := exec.Command(goTool(), "build", "-tags", "lambda.norpc", "-o", bin, ".")
	out, err := build.CombinedOutput()
	require.NoError(t, err, "go build: %s", out)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sim := falconsim.New(falconsim.Options{ClientID: demo.ClientID, ClientSecret: demo.ClientSecret})
	falconsim.DemoFixtures(sim)
	certFile := filepath.Join(dir, "falcon-sim.pem")
	simURL, err := falconsim.ListenAndServeTLS(ctx, "127.0.0.1:0", sim, certFile)
	require.NoError(t, err)

	rt := newRuntimeAPI(t)
	var stdout, stderr syncBuffer
	cmd := exec.Command(bin)
	cmd.Env = []string{
		"PATH=" + os.Getenv("PATH"),
		"AWS_LAMBDA_RUNTIME_API=" + strings.TrimPrefix(rt.URL, "http://"),
		"AWS_LAMBDA_FUNCTION_NAME=ecr-onboard-e2e",
		"AWS_LAMBDA_FUNCTION_MEMORY_SIZE=256",
		"FALCON_BASE_URL=" + simURL,
		"FALCON_CLIENT_ID=" + demo.ClientID,
		"FALCON_CLIENT_SECRET=" + demo.ClientSecret,
		"SSL_CERT_FILE=" + certFile,
		// AWS side (sts:GetCallerIdentity at cold start) against the stand-in.
		"AWS_REGION=us-east-1",
		"AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLE",
		"AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
		"AWS_EC2_METADATA_DISABLED=true",
		"AWS_ENDPOINT_URL=" + rt.URL, // awsapi.EnvConfig: one endpoint for every AWS service
	}
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	started := time.Now()
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("function stdout:\n%s\nstderr:\n%s", stdout.String(), stderr.String())
		}
	})

	select {
	case at := <-rt.firstPoll:
		t.Logf("init time (process start to first /next poll): %v", at.Sub(started))
	case <-time.After(10 * time.Second):
		t.Fatal("the function never polled /invocation/next")
	}
	assert.Zero(t, sim.Stats().Requests, "the cold start calls no Falcon API (base URL given, token on first use)")

	// A scheduled event registers the registries.
	r := rt.invoke(t, "req-schedule", `{"version":"0","id":"e2e","detail-type":"Scheduled Event","source":"aws.events",`+
		`"account":"123456789012","time":"2026-01-01T06:00:00Z","region":"us-east-1","resources":[],"detail":{}}`)
	require.True(t, r.ok, "error: %s", r.body)
	var rep onboard.Report
	require.NoError(t, json.Unmarshal(r.body, &rep), string(r.body))
	assert.Equal(t, onboard.TriggerSchedule, rep.Trigger)
	assert.Len(t, rep.Registries.Created, 7)
	assert.Contains(t, string(r.body), `"home_account":"123456789012"`, "cold start looked up the function's account")
	assert.Len(t, sim.Registries(), 10)
	writes := sim.Stats().Writes()

	// Garbage returns an error and writes nothing.
	for i, garbage := range []string{`{"Records":[{"eventSource":"aws:sqs","body":"{}"}]}`, `not json at all`} {
		r = rt.invoke(t, fmt.Sprintf("req-garbage-%d", i), garbage)
		assert.False(t, r.ok, "garbage answered: %s", r.body)
		var e struct {
			ErrorMessage string `json:"errorMessage"`
		}
		require.NoError(t, json.Unmarshal(r.body, &e), string(r.body))
		assert.NotEmpty(t, e.ErrorMessage)
		if i == 0 {
			assert.Contains(t, e.ErrorMessage, "unsupported event")
		}
	}
	assert.Equal(t, writes, sim.Stats().Writes())

	// A CloudFormation Create is answered at its ResponseURL.
	ev, _ := json.Marshal(map[string]any{
		"RequestType": "Create", "ResponseURL": rt.URL + "/cfn-response", "StackId": "arn:aws:cloudformation:us-east-1:123456789012:stack/e2e/1",
		"RequestId": "cfn-1", "LogicalResourceId": "InitialReconcile", "ResourceType": "Custom::EcrOnboardReconcile",
		"ResourceProperties": map[string]any{"ServiceToken": "arn:aws:lambda:us-east-1:123456789012:function:ecr-onboard-e2e"},
	})
	r = rt.invoke(t, "req-cfn", string(ev))
	require.True(t, r.ok, "error: %s", r.body)
	select {
	case resp := <-rt.cfn:
		assert.Equal(t, cfn.StatusSuccess, resp.Status, resp.Reason)
		assert.Equal(t, "0", resp.Data["Created"])
	case <-time.After(5 * time.Second):
		t.Fatal("no CloudFormation response")
	}

	// Logs and metrics: JSON lines on stdout, one EMF record per run.
	var emf, logs int
	for _, line := range strings.Split(strings.TrimSpace(stdout.String()), "\n") {
		var m map[string]any
		require.NoError(t, json.Unmarshal([]byte(line), &m), "not a JSON line: %s", line)
		if _, ok := m["_aws"]; ok {
			emf++
			assert.Equal(t, "ecr-onboard-e2e", m["FunctionName"])
			continue
		}
		logs++
		assert.NotEmpty(t, m["run_id"], "log line without run_id: %s", line)
	}
	assert.Equal(t, 2, emf, "schedule and CloudFormation runs")
	assert.Positive(t, logs)
	assert.NotContains(t, stdout.String()+stderr.String(), demo.ClientSecret)
}

func goTool() string {
	if p := filepath.Join(os.Getenv("GOROOT"), "bin", "go"); os.Getenv("GOROOT") != "" {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return "go"
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
