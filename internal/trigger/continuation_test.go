package trigger_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
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

// fakeQueue is a continuation queue: messages sent wait until popped (a
// message popped is hidden: the test says whether it is being processed,
// with a live claim in the links table, or its delivery failed).
type fakeQueue struct {
	mu   sync.Mutex
	msgs []string
}

func (q *fakeQueue) Waiting(context.Context) (int, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.msgs), nil
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
		return "", false
	}
	m := q.msgs[0]
	q.msgs = q.msgs[1:]
	return m, true
}

func sqsEvent(t *testing.T, bodies ...string) []byte {
	t.Helper()
	var ev events.SQSEvent
	for i, body := range bodies {
		ev.Records = append(ev.Records, events.SQSMessage{
			MessageId: fmt.Sprintf("m%d", i), Body: body, EventSource: "aws:sqs", EventSourceARN: queueARN,
		})
	}
	b, err := json.Marshal(ev)
	require.NoError(t, err)
	return b
}

// memLinks is the table of continuation links in memory, claimed as
// awsapi.Links claims them in DynamoDB (tested against moto there): a link
// absent, or claimed by an invocation whose time is up, can be claimed; a
// link done, or claimed until later, cannot. Beside the links: the current
// chain and the disconnecting mark.
type memLinks struct {
	mu       sync.Mutex
	links    map[string]memLink
	claimErr error // Claim fails with it
	doneErr  error // Done fails with it
	readErr  error // Disconnecting fails with it

	chainRun      string
	chainUntil    time.Time
	disconnecting bool
}

type memLink struct {
	done  bool
	until time.Time
}

func newMemLinks() *memLinks { return &memLinks{links: map[string]memLink{}} }

func (m *memLinks) Claim(_ context.Context, link string, until time.Time) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.claimErr != nil {
		return false, m.claimErr
	}
	if l, ok := m.links[link]; ok && (l.done || l.until.After(time.Now())) {
		return false, nil
	}
	m.links[link] = memLink{until: until}
	return true, nil
}

func (m *memLinks) Done(_ context.Context, link string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.doneErr != nil {
		return m.doneErr
	}
	m.links[link] = memLink{done: true}
	return nil
}

func (m *memLinks) StartChain(_ context.Context, runID string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.chainRun, m.chainUntil = runID, time.Time{}
	return nil
}

func (m *memLinks) HoldChain(_ context.Context, runID string, until time.Time) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.chainRun != "" && m.chainRun != runID {
		return false, nil
	}
	m.chainRun, m.chainUntil = runID, until
	return true, nil
}

func (m *memLinks) Chain(context.Context) (string, time.Time, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.chainRun, m.chainUntil, nil
}

func (m *memLinks) MarkDisconnecting(context.Context, string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.disconnecting = true
	return nil
}

func (m *memLinks) Disconnecting(context.Context) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.disconnecting, m.readErr
}

func (m *memLinks) get(link string) (memLink, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	l, ok := m.links[link]
	return l, ok
}

// chainEnv is a handler whose every invocation (invokeLink) writes one
// registration and leaves the rest for a continuation: the creates after
// its first are answered 429 with a retry time an hour away, past the
// deadline of its context (no clock involved).
func chainEnv(t *testing.T) (*env, *fakeQueue, *memLinks) {
	t.Helper()
	sim := falconsim.New(falconsim.Options{ClientID: demo.ClientID, ClientSecret: demo.ClientSecret})
	sim.AddAccounts(falconsim.GenerateAccounts(10, []string{"us-east-1"})...)
	e := newEnvWith(t, sim, map[string]string{"MAX_CONCURRENCY": "1"})
	q, links := &fakeQueue{}, newMemLinks()
	e.h.Queue, e.h.QueueARN, e.h.Links = q, queueARN, links
	return e, q, links
}

// invokeLink delivers the bodies as one SQS event to a chainEnv handler.
func (e *env) invokeLink(t *testing.T, bodies ...string) (onboard.Report, error) {
	t.Helper()
	e.sim.ClearFaults()
	e.sim.InjectFault(falconsim.Fault{Method: "POST", Path: "/container-security/entities/registries/v1", Status: 429,
		Skip: 1, Times: 1000, RetryAfter: time.Hour})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	return e.invoke(ctx, t, sqsEvent(t, bodies...))
}

const link1 = `{"run_id":"chain","depth":1}`

// A link SQS delivers twice (a message visible again, a duplicate of
// at-least-once delivery, a batch retried whole) runs and continues once:
// the second delivery finds the link done, calls nothing and queues nothing.
func TestContinuationDeliveredTwiceContinuesOnce(t *testing.T) {
	e, q, links := chainEnv(t)

	rep, err := e.invokeLink(t, link1)
	require.NoError(t, err)
	require.Len(t, rep.Registries.Created, 1)
	require.False(t, rep.Complete)
	require.Len(t, q.msgs, 1, "the link continued")
	assert.JSONEq(t, `{"run_id":"chain","depth":2}`, q.msgs[0])
	l, _ := links.get("chain/1")
	assert.True(t, l.done, "recorded done before the next link was queued")

	requests := e.sim.Stats().Requests
	rep, err = e.invokeLink(t, link1)

	require.NoError(t, err, "answered: SQS deletes the duplicate")
	assert.Equal(t, onboard.TriggerContinuation, rep.Trigger)
	assert.Empty(t, rep.Registries.Created)
	assert.Equal(t, requests, e.sim.Stats().Requests, "no Falcon API call")
	assert.Len(t, q.msgs, 1, "no second chain")
	assert.Contains(t, e.logs.String(), "continuation link already taken by another delivery")
}

// Records of one batch are handled one by one, each link claimed on its
// own: the same link twice in a batch runs once.
func TestContinuationBatchIsHandledPerRecord(t *testing.T) {
	e, q, _ := chainEnv(t)

	rep, err := e.invokeLink(t, link1, link1)

	require.NoError(t, err)
	assert.Len(t, rep.Registries.Created, 1, "one run")
	assert.Equal(t, 1, e.sim.Stats().CreatesSucceeded)
	require.Len(t, q.msgs, 1, "one continuation")
	assert.JSONEq(t, `{"run_id":"chain","depth":2}`, q.msgs[0])
}

// A link claimed by an invocation that may still be running (its claim
// lasts until that invocation's deadline) is left to it.
func TestContinuationClaimedElsewhereIsLeftAlone(t *testing.T) {
	e, q, links := chainEnv(t)
	links.links["chain/1"] = memLink{until: time.Now().Add(time.Hour)}

	_, err := e.invokeLink(t, link1)

	require.NoError(t, err)
	assert.Zero(t, e.sim.Stats().Requests)
	assert.Empty(t, q.msgs)
}

// A link whose invocation failed (an error, a timeout, a crash) is claimed
// until that invocation's deadline only: SQS delivers it again after the
// visibility timeout, and that delivery runs and continues it.
func TestContinuationOfAFailedDeliveryIsRetried(t *testing.T) {
	e, q, links := chainEnv(t)
	links.links["chain/1"] = memLink{until: time.Now().Add(-time.Second)}

	rep, err := e.invokeLink(t, link1)

	require.NoError(t, err)
	assert.Len(t, rep.Registries.Created, 1)
	require.Len(t, q.msgs, 1)
	l, _ := links.get("chain/1")
	assert.True(t, l.done)
}

// When the table cannot tell whether the link was taken, the link is not
// run (an error: SQS delivers it again); when the link cannot be recorded
// done, it is not continued (the next scheduled run carries on): never a
// second chain.
func TestContinuationFailsClosedWithoutTheLinkTable(t *testing.T) {
	t.Run("claim fails", func(t *testing.T) {
		e, q, links := chainEnv(t)
		links.claimErr = errors.New("dynamodb:PutItem: ProvisionedThroughputExceededException")
		_, err := e.invokeLink(t, link1)
		require.Error(t, err)
		assert.Contains(t, err.Error(), "continuation link chain/1: cannot tell whether another delivery took it")
		assert.Zero(t, e.sim.Stats().Requests)
		assert.Empty(t, q.msgs)
	})
	t.Run("done fails", func(t *testing.T) {
		e, q, links := chainEnv(t)
		links.doneErr = errors.New("dynamodb:PutItem: InternalServerError")
		rep, err := e.invokeLink(t, link1)
		require.NoError(t, err)
		assert.Len(t, rep.Registries.Created, 1)
		assert.Empty(t, q.msgs, "not continued")
		var logged bool
		for _, l := range e.logLines(t) {
			if strings.HasPrefix(l["msg"].(string), "could not record the continuation link as done; not continued") {
				logged = assert.Equal(t, "chain/1", l["link"])
			}
		}
		assert.True(t, logged, "logged: %s", e.logs.String())
	})
	t.Run("no table", func(t *testing.T) {
		e, q, _ := chainEnv(t)
		e.h.Links = nil
		_, err := e.invokeLink(t, link1)
		require.Error(t, err)
		assert.Equal(t, "InvalidConfiguration", errorType(err))
		assert.Contains(t, err.Error(), "CONTINUATION_TABLE")
		assert.Zero(t, e.sim.Stats().Requests)
		assert.Empty(t, q.msgs)
	})
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
	created := counted(first, "registries.created", len(first.Registries.Created))
	assert.True(t, first.Narrowed)
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
		assert.True(t, rep.Narrowed, "a link of a narrowed run is narrowed")
		created += counted(rep, "registries.created", len(rep.Registries.Created))
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
// to it: no run, no second chain. Here the chain is seen on the queue (a
// message waiting: awsapi.Queue.Waiting); TestChainInFlightIsALiveClaim
// sees it in the links table.
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
	_, err = e.invoke(context.Background(), t, []byte(`{"source":"aws.events","detail-type":"Scheduled Event","detail":{}}`))
	require.NoError(t, err)
	assert.Positive(t, e.sim.Stats().Writes())
}
