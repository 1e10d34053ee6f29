package trigger_test

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-lambda-go/cfn"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/crowdstrike-ecr/ecr-onboard/internal/falconsim"
	"github.com/crowdstrike-ecr/ecr-onboard/internal/onboard"
	"github.com/crowdstrike-ecr/ecr-onboard/internal/trigger"
)

// pausedFalcon holds the first call of one kind (a listing, a create) until
// the test releases it, so a test can land a stack Delete while a run is
// at that point; every other call goes straight through.
type pausedFalcon struct {
	onboard.Falcon
	at       string        // "registries" or "create"
	reached  chan struct{} // closed when the held call arrives
	released chan struct{} // closed by the test
	once     sync.Once
}

func pauseAt(f onboard.Falcon, at string) *pausedFalcon {
	return &pausedFalcon{Falcon: f, at: at, reached: make(chan struct{}), released: make(chan struct{})}
}

func (p *pausedFalcon) pause(at string) {
	if at != p.at {
		return
	}
	held := false
	p.once.Do(func() { held = true })
	if held {
		close(p.reached)
		<-p.released
	}
}

func (p *pausedFalcon) Registries(ctx context.Context) ([]onboard.Registry, error) {
	p.pause("registries")
	return p.Falcon.Registries(ctx)
}

func (p *pausedFalcon) CreateRegistry(ctx context.Context, r onboard.Registry) (onboard.Registry, error) {
	p.pause("create")
	return p.Falcon.CreateRegistry(ctx, r)
}

func ownedIn(sim *falconsim.Sim) int {
	n := 0
	for _, r := range sim.Registries() {
		if strings.HasPrefix(r.Alias, "ecr-onboard-") {
			n++
		}
	}
	return n
}

// After a stack Delete marked the table, nothing runs: not the schedule,
// not a manual run, not a continuation link, not a CloudFormation Update;
// each says why in its report (and log), calls no Falcon API, writes
// nothing, queues nothing.
func TestNothingRunsOnceTheStackIsDisconnecting(t *testing.T) {
	e := newEnv(t, falconsim.Options{}, nil)
	q, links := &fakeQueue{}, newMemLinks()
	e.h.Queue, e.h.QueueARN, e.h.Links, e.h.DisconnectOnDelete = q, queueARN, links, true
	_, err := e.invoke(context.Background(), t, []byte(scheduled))
	require.NoError(t, err)

	s := newCFNServer(t)
	_, err = e.invoke(context.Background(), t, s.event(t, "Delete", stableID, nil))
	require.NoError(t, err)
	r := s.one(t).Response
	require.Equal(t, cfn.StatusSuccess, r.Status, r.Reason)
	require.True(t, links.disconnecting, "the Delete marked the table")
	assert.Zero(t, ownedIn(e.sim))
	requests := e.sim.Stats().Requests

	for name, payload := range map[string][]byte{
		"schedule":     []byte(scheduled),
		"manual":       []byte(`{}`),
		"continuation": sqsEvent(t, `{"run_id":"chain","depth":1}`),
	} {
		rep, err := e.invoke(context.Background(), t, payload)
		require.NoError(t, err, name)
		assert.Equal(t, trigger.ErrDisconnecting.Error(), rep.Deferred, name)
		assert.False(t, rep.Complete, name)
	}
	_, err = e.invoke(context.Background(), t, s.event(t, "Update", stableID, nil))
	require.NoError(t, err)
	r = s.one(t).Response
	assert.Equal(t, cfn.StatusSuccess, r.Status)
	assert.Contains(t, r.Reason, "nothing run: the stack is being deleted")

	assert.Equal(t, requests, e.sim.Stats().Requests, "no Falcon API call")
	assert.Zero(t, ownedIn(e.sim), "nothing re-created")
	assert.Empty(t, q.msgs, "nothing queued")
	_, claimed := links.get("chain/1")
	assert.False(t, claimed, "the link was not even claimed")
	assert.Contains(t, e.logs.String(), `"msg":"not run: the stack is being deleted`)
}

// A run that started before the Delete (it passed the start check and is
// listing when the mark lands) asks the mark before its first write, and
// writes nothing: every planned write is not attempted, and no chain is
// started for them.
func TestRunStartedBeforeTheDeleteWritesNothing(t *testing.T) {
	e := newEnv(t, falconsim.Options{}, nil)
	q, links := &fakeQueue{}, newMemLinks()
	e.h.Queue, e.h.QueueARN, e.h.Links, e.h.DisconnectOnDelete = q, queueARN, links, true
	paused := pauseAt(e.h.Runner.Falcon, "registries")
	e.h.Runner.Falcon = paused

	done := make(chan onboard.Report)
	go func() {
		rep, err := e.invoke(context.Background(), t, []byte(scheduled))
		assert.NoError(t, err)
		done <- rep
	}()
	<-paused.reached // the scheduled run is listing registrations

	s := newCFNServer(t)
	_, err := e.invoke(context.Background(), t, s.event(t, "Delete", stableID, nil))
	require.NoError(t, err)
	require.Equal(t, cfn.StatusSuccess, s.one(t).Response.Status)
	close(paused.released)
	rep := <-done

	assert.Empty(t, rep.Registries.Created)
	assert.Empty(t, rep.Registries.Failed)
	assert.Positive(t, rep.Registries.NotAttempted)
	assert.Equal(t, rep.Registries.Desired-rep.Registries.Unchanged, rep.Registries.NotAttempted, "every write held")
	assert.Zero(t, e.sim.Stats().CreatesSucceeded)
	assert.Zero(t, ownedIn(e.sim))
	assert.Empty(t, q.msgs)
	assert.Contains(t, e.logs.String(), "writes held: no further write of this run starts")
}

// A write already on its way when the mark lands (sent before the run could
// see it) lands after the Delete's first pass: the second pass, after the
// settle, lists again and removes it. The Delete's answer counts both
// passes; the run that made it queues no continuation.
func TestDisconnectRemovesWhatAWriteInFlightLanded(t *testing.T) {
	e := newEnv(t, falconsim.Options{}, map[string]string{"MAX_CONCURRENCY": "1"})
	q, links := &fakeQueue{}, newMemLinks()
	e.h.Queue, e.h.QueueARN, e.h.Links, e.h.DisconnectOnDelete = q, queueARN, links, true
	preexisting := ownedIn(e.sim)
	paused := pauseAt(e.h.Runner.Falcon, "create")
	e.h.Runner.Falcon = paused

	done := make(chan onboard.Report)
	go func() {
		rep, err := e.invoke(context.Background(), t, []byte(scheduled))
		assert.NoError(t, err)
		done <- rep
	}()
	<-paused.reached // the first create passed the hold and is on its way

	var run onboard.Report
	e.h.Settle = func(context.Context) error {
		assert.Zero(t, ownedIn(e.sim), "the first pass removed what was there")
		close(paused.released) // the write in flight lands …
		run = <-done           // … and the run ends
		return nil
	}
	s := newCFNServer(t)
	rep, err := e.invoke(context.Background(), t, s.event(t, "Delete", stableID, nil))
	require.NoError(t, err)
	r := s.one(t).Response
	require.Equal(t, cfn.StatusSuccess, r.Status, r.Reason)

	landed := len(run.Registries.Created)
	require.Positive(t, landed, "the write in flight landed")
	assert.Zero(t, ownedIn(e.sim), "the second pass removed it")
	assert.Len(t, rep.Registries.Deleted, preexisting+landed)
	assert.Equal(t, strconv.Itoa(preexisting+landed), r.Data["Deleted"])
	assert.Empty(t, q.msgs, "no continuation of the run the Delete interrupted")
}

// Without the mark there is no safe disconnect: when the table cannot be
// written, the Delete deletes nothing and fails, saying how to go on; when
// it cannot be read, runs do not start (fail closed).
func TestDisconnectFailsClosedWithoutTheMark(t *testing.T) {
	e := newEnv(t, falconsim.Options{}, nil)
	links := &failingMark{memLinks: newMemLinks()}
	e.h.Links, e.h.DisconnectOnDelete = links, true
	_, err := e.invoke(context.Background(), t, []byte(scheduled))
	require.NoError(t, err)
	owned := ownedIn(e.sim)

	s := newCFNServer(t)
	_, err = e.invoke(context.Background(), t, s.event(t, "Delete", stableID, nil))
	require.NoError(t, err)
	r := s.one(t).Response
	assert.Equal(t, cfn.StatusFailed, r.Status)
	assert.Contains(t, r.Reason, "recording that the stack is being deleted")
	assert.Contains(t, r.Reason, "retain this resource")
	assert.Equal(t, owned, ownedIn(e.sim), "nothing deleted")

	links.readErr = errors.New("dynamodb:GetItem: InternalServerError")
	requests := e.sim.Stats().Requests
	_, err = e.invoke(context.Background(), t, []byte(scheduled))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "cannot tell whether the stack is being deleted")
	assert.Equal(t, requests, e.sim.Stats().Requests)
}

type failingMark struct{ *memLinks }

func (failingMark) MarkDisconnecting(context.Context, string) error {
	return errors.New("dynamodb:PutItem: AccessDeniedException")
}

// RUN_ON_DEPLOY=false: the custom resource (always in the stack, so that its
// Delete can disconnect) answers Create and Update without a run.
func TestNoRunOnDeploy(t *testing.T) {
	e := newEnv(t, falconsim.Options{}, nil)
	e.h.NoRunOnDeploy = true
	s := newCFNServer(t)
	for _, rt := range []string{"Create", "Update"} {
		_, err := e.invoke(context.Background(), t, s.event(t, rt, stableID, nil))
		require.NoError(t, err)
		r := s.one(t).Response
		assert.Equal(t, cfn.StatusSuccess, r.Status, rt)
		assert.Equal(t, stableID, r.PhysicalResourceID, rt)
		assert.Contains(t, r.Reason, "RUN_ON_DEPLOY is false", rt)
	}
	assert.Zero(t, e.sim.Stats().Requests)
}
