package trigger_test

// Promises of CONTRACT §1, §3 and §6 that once broke, through the handler
// and the simulator.

import (
	"context"
	"encoding/json"
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
	"github.com/crowdstrike-ecr/ecr-onboard/internal/trigger"
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

// A continuation chain goes on only while its invocations write: registries
// that already existed are not progress.
func TestNoProgressEndsTheChain(t *testing.T) {
	e := newEnv(t, falconsim.Options{}, nil)
	q := &fakeQueue{}
	e.h.Queue, e.h.QueueARN = q, queueARN
	e.h.Runner.WriteMargin = time.Hour // no write may start: every write is left for later
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()

	rep, err := e.invoke(ctx, t, sqsEvent(t, `{"run_id":"r","depth":1}`))

	require.NoError(t, err)
	require.False(t, rep.Complete)
	assert.Positive(t, rep.Registries.Unchanged, "prod-payments was onboarded before")
	assert.Positive(t, rep.Registries.NotAttempted)
	assert.Empty(t, q.msgs, "no write, no continuation")
}

// A scheduled run that finds a continuation chain in flight leaves the work
// to it: no run, no second chain. The chain is seen on the queue (messages
// waiting, delayed or being processed: awsapi.Queue.InFlight).
func TestScheduledRunDefersToAChainInFlight(t *testing.T) {
	e := newEnv(t, falconsim.Options{}, nil)
	q := &fakeQueue{msgs: []string{`{"run_id":"r","depth":3}`}}
	e.h.Queue, e.h.QueueARN = q, queueARN

	rep, err := e.invoke(context.Background(), t, []byte(`{"source":"aws.events","detail-type":"Scheduled Event","detail":{}}`))

	require.NoError(t, err)
	assert.Zero(t, e.sim.Stats().Requests, "no run beside the chain")
	assert.Equal(t, onboard.TriggerSchedule, rep.Trigger)
	assert.Len(t, q.msgs, 1, "no second chain")
	assert.Contains(t, e.logs.String(), "a continuation chain is in flight")

	// Once the chain is over, the schedule runs again.
	q.pop()
	q.done()
	_, err = e.invoke(context.Background(), t, []byte(`{"source":"aws.events","detail-type":"Scheduled Event","detail":{}}`))
	require.NoError(t, err)
	assert.Positive(t, e.sim.Stats().Writes())
}

// recordingQueue notes when a continuation was sent, and how long its
// context gave the call.
type recordingQueue struct {
	mu     sync.Mutex
	sent   []time.Time
	budget []time.Duration // time left on the call's context (0: no deadline)
}

func (q *recordingQueue) Send(ctx context.Context, _ string) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.sent = append(q.sent, time.Now())
	var left time.Duration
	if d, ok := ctx.Deadline(); ok {
		left = time.Until(d)
	}
	q.budget = append(q.budget, left)
	return nil
}

func (q *recordingQueue) InFlight(context.Context) (int, error) { return 0, nil }

// CloudFormation gets its answer before any continuation is queued, and the
// queue call has a deadline of its own (the run's may have passed).
func TestCloudFormationAnswerComesBeforeTheContinuation(t *testing.T) {
	// One create goes through; the others are answered 429 with a retry
	// time past the write deadline, so they are left for a continuation.
	sim := falconsim.New(falconsim.Options{ClientID: demo.ClientID, ClientSecret: demo.ClientSecret})
	sim.AddAccounts(falconsim.GenerateAccounts(5, []string{"us-east-1"})...)
	sim.InjectFault(falconsim.Fault{Method: "POST", Path: "/container-security/entities/registries/v1", Status: 429,
		Skip: 1, Times: 4, RetryAfter: time.Hour})
	e := newEnvWith(t, sim, map[string]string{"MAX_CONCURRENCY": "1"})
	q := &recordingQueue{}
	e.h.Queue, e.h.QueueARN = q, queueARN
	s := newCFNServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	rep, err := e.invoke(ctx, t, s.event(t, "Create", "", nil))

	require.NoError(t, err)
	answer := s.one(t)
	assert.Equal(t, cfn.StatusSuccess, answer.Response.Status)
	require.Len(t, rep.Registries.Created, 1)
	require.Equal(t, 4, rep.Registries.NotAttempted)
	require.Len(t, q.sent, 1)
	assert.True(t, answer.At.Before(q.sent[0]), "answered CloudFormation before queuing")
	assert.Positive(t, q.budget[0], "the queue call has a deadline, and time")
	assert.LessOrEqual(t, q.budget[0], 3*time.Second, "a short one of its own, not what is left of the invocation (about a minute)")
}

// A stack Delete that runs out of time before every owned registration is
// deleted answers SUCCESS (the stack must be able to go) and says what is
// left and how to remove it — not "the next scheduled run", which goes with
// the stack.
func TestStackDeleteOutOfTimeSaysWhatRemains(t *testing.T) {
	sim := falconsim.New(falconsim.Options{ClientID: demo.ClientID, ClientSecret: demo.ClientSecret})
	sim.AddAccounts(falconsim.GenerateAccounts(4, []string{"us-east-1", "eu-west-1"})...)
	e := newEnvWith(t, sim, nil)
	_, err := e.invoke(context.Background(), t, []byte(`{}`))
	require.NoError(t, err)
	require.Len(t, sim.Registries(), 8)
	e.h.DisconnectOnDelete = true
	e.h.Runner.WriteMargin = time.Hour // the deadline is already too close for any delete
	s := newCFNServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()

	_, err = e.invoke(ctx, t, s.event(t, "Delete", trigger.PhysicalResourceID(testStackID, testLogicalID), nil))

	require.NoError(t, err)
	r := s.one(t).Response
	assert.Equal(t, cfn.StatusSuccess, r.Status)
	assert.Contains(t, r.Reason, "8 left in Falcon")
	assert.Contains(t, r.Reason, "REMOVAL_GUIDE.md")
	assert.NotContains(t, r.Reason, "next scheduled run")
	assert.Len(t, sim.Registries(), 8)
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
