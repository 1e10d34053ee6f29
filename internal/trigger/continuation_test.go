package trigger_test

import (
	"context"
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/crowdstrike-ecr/ecr-onboard/internal/demo"
	"github.com/crowdstrike-ecr/ecr-onboard/internal/falconsim"
	"github.com/crowdstrike-ecr/ecr-onboard/internal/onboard"
	"github.com/crowdstrike-ecr/ecr-onboard/internal/trigger"
)

const queueARN = "arn:aws:sqs:us-east-1:123456789012:ecr-onboard-continuation"

// fakeQueue is a continuation queue: messages sent wait until popped; the
// one popped last is being processed until the next pop (or done).
type fakeQueue struct {
	mu         sync.Mutex
	msgs       []string
	processing bool
}

func (q *fakeQueue) InFlight(context.Context) (int, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	n := len(q.msgs)
	if q.processing {
		n++
	}
	return n, nil
}

// done marks the message popped last as processed (deleted).
func (q *fakeQueue) done() {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.processing = false
}

func (q *fakeQueue) Send(_ context.Context, body string) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.msgs = append(q.msgs, body)
	return nil
}

func (q *fakeQueue) pop() (string, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.msgs) == 0 {
		q.processing = false
		return "", false
	}
	m := q.msgs[0]
	q.msgs = q.msgs[1:]
	q.processing = true
	return m, true
}

func sqsEvent(t *testing.T, body string) []byte {
	b, err := json.Marshal(events.SQSEvent{Records: []events.SQSMessage{{
		MessageId: "m", Body: body, EventSource: "aws:sqs", EventSourceARN: queueARN,
	}}})
	require.NoError(t, err)
	return b
}

// A run far too big for one invocation completes across invocations that
// continue each other through the queue, with zero duplicates.
func TestWorkBeyondOneDeadlineCompletesThroughContinuations(t *testing.T) {
	sim := falconsim.New(falconsim.Options{ClientID: demo.ClientID, ClientSecret: demo.ClientSecret})
	accounts := falconsim.GenerateAccounts(60, []string{"us-east-1", "eu-west-1"})
	sim.AddAccounts(accounts...)
	e := newEnvWith(t, sim, map[string]string{"MAX_CONCURRENCY": "2"})
	q := &fakeQueue{}
	e.h.Queue, e.h.QueueARN = q, queueARN
	// Every invocation runs out of time after 48 + 2 creates.
	w := &writeCutoff{Free: 48}
	w.install(e.h)

	invokeShort := func(payload []byte) onboard.Report {
		ctx, cancel, _ := w.context()
		defer cancel()
		rep, err := e.invoke(ctx, t, payload)
		require.NoError(t, err)
		return rep
	}

	first := invokeShort([]byte(`{"regions":["us-east-1","eu-west-1"]}`))
	require.False(t, first.Complete, "the first invocation cannot finish")
	created := len(first.Registries.Created)
	invocations := 1
	for {
		body, ok := q.pop()
		if !ok {
			break
		}
		var c trigger.Continuation
		require.NoError(t, json.Unmarshal([]byte(body), &c))
		assert.Equal(t, first.RunID, c.RunID)
		assert.Equal(t, invocations, c.Depth)
		assert.Equal(t, []string{"us-east-1", "eu-west-1"}, c.Regions, "the narrowing travels with the chain")
		rep := invokeShort(sqsEvent(t, body))
		assert.Equal(t, onboard.TriggerContinuation, rep.Trigger)
		assert.Equal(t, first.RunID, rep.Continues)
		assert.Empty(t, rep.Registries.Failed)
		created += len(rep.Registries.Created)
		invocations++
		require.Less(t, invocations, 50, "the chain must end")
	}

	assert.Equal(t, 3, invocations, "50 + 50 + 20")
	assert.Equal(t, 120, created)
	urls := map[string]int{}
	for _, r := range sim.Registries() {
		urls[onboard.NormalizeURL(r.URL)]++
	}
	assert.Len(t, urls, 120)
	for u, n := range urls {
		assert.Equal(t, 1, n, "duplicate registration of %s", u)
	}
	assert.Equal(t, 120, sim.Stats().CreatesSucceeded)
	t.Logf("120 registries in %d invocations", invocations)
}

func TestContinuationMessagesAreStrict(t *testing.T) {
	e := newEnv(t, falconsim.Options{}, nil)
	e.h.QueueARN = queueARN
	for name, body := range map[string]string{
		"external id":  `{"run_id":"r","depth":1,"external_id":"x"}`,
		"no depth":     `{"run_id":"r"}`,
		"bad account":  `{"run_id":"r","depth":1,"account_ids":["1"]}`,
		"not json":     `garbage`,
		"widen scope?": `{"run_id":"r","depth":1,"exclude_account_ids":[]}`,
	} {
		_, err := e.invoke(context.Background(), t, sqsEvent(t, body))
		assert.ErrorIs(t, err, trigger.ErrUnsupportedEvent, name)
	}
	assert.Zero(t, e.sim.Stats().Requests)
}

func TestCompleteRunsAreNotContinued(t *testing.T) {
	e := newEnv(t, falconsim.Options{}, nil)
	q := &fakeQueue{}
	e.h.Queue, e.h.QueueARN = q, queueARN
	rep, err := e.invoke(context.Background(), t, []byte(`{}`))
	require.NoError(t, err)
	assert.True(t, rep.Complete)
	assert.Empty(t, q.msgs)
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
