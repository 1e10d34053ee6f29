package trigger_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/cfn"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/crowdstrike-ecr/ecr-onboard/internal/config"
	"github.com/crowdstrike-ecr/ecr-onboard/internal/demo"
	"github.com/crowdstrike-ecr/ecr-onboard/internal/falconsim"
	"github.com/crowdstrike-ecr/ecr-onboard/internal/onboard"
	"github.com/crowdstrike-ecr/ecr-onboard/internal/trigger"
)

var stableID = trigger.PhysicalResourceID(testStackID, testLogicalID)

func TestCloudFormationCreateReconcilesAndAnswers(t *testing.T) {
	e := newEnv(t, falconsim.Options{}, nil)
	s := newCFNServer(t)
	rep, err := e.invoke(context.Background(), t, s.event(t, "Create", "", nil))
	require.NoError(t, err)
	assert.Equal(t, onboard.TriggerCloudFormation, rep.Trigger)
	assert.Len(t, rep.Registries.Created, demoCreated)

	got := s.one(t)
	assert.Equal(t, "PUT", got.Method)
	r := got.Response
	// Per-registry failures are a SUCCESS with counts.
	assert.Equal(t, cfn.StatusSuccess, r.Status)
	assert.Equal(t, stableID, r.PhysicalResourceID)
	assert.Equal(t, "req-Create", r.RequestID)
	assert.Equal(t, testStackID, r.StackID)
	assert.Equal(t, testLogicalID, r.LogicalResourceID)
	assert.Equal(t, map[string]any{
		"RunId": rep.RunID, "Complete": "true", "DryRun": "false",
		"Created": strconv.Itoa(demoCreated), "Updated": "0", "Deleted": "0",
		"Failed": strconv.Itoa(demoFailed), "Waiting": strconv.Itoa(demoWaiting), "Unchanged": strconv.Itoa(demoUnchanged),
		"NotAttempted": "0", "Skipped": strconv.Itoa(demoSkipped),
		"CoveragePercent": strconv.FormatFloat(rep.Coverage.Percent, 'f', 1, 64), "CoverageClean": "false",
		"RegistriesMissing": strconv.Itoa(rep.Coverage.Desired - rep.Coverage.Present),
	}, r.Data)
	assert.Contains(t, r.Reason, strconv.Itoa(demoCreated)+" created")
	assert.Contains(t, r.Reason, "NOT clean: ", "the stack's event says coverage is not clean")
	assert.Contains(t, r.Reason, "trust policy")
	assert.Len(t, e.metricLines(t), 1)
	for _, reg := range e.sim.Registries() {
		assert.NotContains(t, r.Reason, reg.ExternalID)
	}
}

func TestCloudFormationPhysicalIDIsStable(t *testing.T) {
	e := newEnv(t, falconsim.Options{}, nil)
	s := newCFNServer(t)
	_, err := e.invoke(context.Background(), t, s.event(t, "Create", "", nil))
	require.NoError(t, err)
	first := s.one(t).Response.PhysicalResourceID

	_, err = e.invoke(context.Background(), t, s.event(t, "Update", first, nil))
	require.NoError(t, err)
	up := s.one(t).Response
	assert.Equal(t, cfn.StatusSuccess, up.Status)
	assert.Equal(t, first, up.PhysicalResourceID, "an Update keeps the ID (a new one would mean replacement)")
	assert.Equal(t, "0", up.Data["Created"])

	// An Update of the resource under another ID (never sent by this
	// function) answers the resource's own ID: CloudFormation then deletes
	// the other one, which disconnects nothing (below).
	_, err = e.invoke(context.Background(), t, s.event(t, "Update", "some-older-id", nil))
	require.NoError(t, err)
	assert.Equal(t, first, s.one(t).Response.PhysicalResourceID)

	assert.Equal(t, stableID, trigger.PhysicalResourceID(testStackID, testLogicalID))
	assert.Equal(t, stableID, ownResource.PhysicalID())
	assert.NotEqual(t, stableID, trigger.PhysicalResourceID(testStackID, "Other"))
	assert.True(t, strings.HasPrefix(stableID, "ecr-onboard-"))
}

func TestCloudFormationDeleteWithoutDisconnectDoesNothing(t *testing.T) {
	e := newEnv(t, falconsim.Options{}, nil)
	s := newCFNServer(t)
	rep, err := e.invoke(context.Background(), t, s.event(t, "Delete", stableID, nil))
	require.NoError(t, err)
	r := s.one(t).Response
	assert.Equal(t, cfn.StatusSuccess, r.Status)
	assert.Equal(t, stableID, r.PhysicalResourceID)
	assert.Contains(t, r.Reason, "DISCONNECT_ON_DELETE")
	assert.Zero(t, e.sim.Stats().Requests, "no API call")
	assert.Equal(t, onboard.TriggerCloudFormation, rep.Trigger)
	assert.True(t, rep.Complete)
	assert.NotNil(t, rep.Registries.Created)
}

func TestCloudFormationDeleteDisconnectsOwnedRegistries(t *testing.T) {
	e := newEnv(t, falconsim.Options{}, nil)
	e.h.DisconnectOnDelete = true
	foreign := falconsim.Registry{URL: falconsim.ECRURL("222222222222", "eu-west-1"), Alias: "added-by-hand"}
	e.sim.AddRegistry(foreign)
	_, err := e.invoke(context.Background(), t, []byte(scheduled))
	require.NoError(t, err)
	require.Len(t, e.sim.Registries(), demoCreated+demoUnchanged+1)

	s := newCFNServer(t)
	rep, err := e.invoke(context.Background(), t, s.event(t, "Delete", stableID, nil))
	require.NoError(t, err)
	r := s.one(t).Response
	assert.Equal(t, cfn.StatusSuccess, r.Status)
	assert.Equal(t, strconv.Itoa(demoCreated+demoUnchanged), r.Data["Deleted"])
	assert.Len(t, rep.Registries.Deleted, demoCreated+demoUnchanged)
	left := e.sim.Registries()
	require.Len(t, left, 1, "only registries with this tool's alias are removed")
	assert.Equal(t, "added-by-hand", left[0].Alias)
}

// A Delete says exactly what it leaves: owned registrations outside the
// stack's scope (here REGIONS narrowed after they were made) stay, and the
// answer counts them.
func TestCloudFormationDeleteSaysWhatRemains(t *testing.T) {
	e := newEnv(t, falconsim.Options{}, nil)
	_, err := e.invoke(context.Background(), t, []byte(scheduled))
	require.NoError(t, err)
	owned := len(e.sim.Registries())
	e.sim.ResetStats()
	e = newEnvWith(t, e.sim, map[string]string{"REGIONS": "us-east-1"})
	e.h.DisconnectOnDelete = true

	s := newCFNServer(t)
	rep, err := e.invoke(context.Background(), t, s.event(t, "Delete", stableID, nil))
	require.NoError(t, err)
	r := s.one(t).Response
	assert.Equal(t, cfn.StatusSuccess, r.Status)
	require.NotEmpty(t, rep.Registries.Kept)
	assert.Equal(t, owned, len(rep.Registries.Deleted)+len(rep.Registries.Kept))
	assert.Len(t, e.sim.Registries(), len(rep.Registries.Kept))
	assert.Contains(t, r.Reason, fmt.Sprintf("%d outside the scope", len(rep.Registries.Kept)))
}

func TestCloudFormationFatalErrorFailsAndRollbackDeleteSucceeds(t *testing.T) {
	e := newEnv(t, falconsim.Options{}, nil)
	e.h.DisconnectOnDelete = true
	e.sim.InjectFault(falconsim.Fault{Method: "GET", Path: "/cloud-security-registration-aws/queries/account/v1", Status: 403})
	s := newCFNServer(t)
	rep, err := e.invoke(context.Background(), t, s.event(t, "Create", "", nil))
	require.NoError(t, err, "CloudFormation has its answer: no error for async retries")
	assert.Equal(t, onboard.TriggerCloudFormation, rep.Trigger)

	r := s.one(t).Response
	assert.Equal(t, cfn.StatusFailed, r.Status)
	assert.Contains(t, r.Reason, "access denied")
	assert.Contains(t, r.Reason, "Falcon Container Image: Read and Write", "the reason says what to fix")
	assert.Contains(t, r.Reason, rep.RunID)
	assert.LessOrEqual(t, len(r.Reason), trigger.MaxReason)
	assert.NotEqual(t, stableID, r.PhysicalResourceID, "a failed Create is marked")
	assert.Zero(t, e.sim.Stats().Writes())

	// CloudFormation rolls back: Delete of the failed resource succeeds
	// without touching Falcon, even with DISCONNECT_ON_DELETE.
	e.sim.ResetStats()
	_, err = e.invoke(context.Background(), t, s.event(t, "Delete", r.PhysicalResourceID, nil))
	require.NoError(t, err)
	d := s.one(t).Response
	assert.Equal(t, cfn.StatusSuccess, d.Status)
	assert.Equal(t, r.PhysicalResourceID, d.PhysicalResourceID)
	assert.Zero(t, e.sim.Stats().Requests)
}

func TestCloudFormationBadCredentialsFail(t *testing.T) {
	sim := falconsim.New(falconsim.Options{ClientID: demo.ClientID, ClientSecret: "rotated-" + demo.ClientSecret})
	falconsim.DemoFixtures(sim)
	e := newEnvWith(t, sim, nil)
	s := newCFNServer(t)
	_, err := e.invoke(context.Background(), t, s.event(t, "Create", "", nil))
	require.NoError(t, err)
	r := s.one(t).Response
	assert.Equal(t, cfn.StatusFailed, r.Status)
	assert.Contains(t, r.Reason, "client ID/secret")
	assert.NotContains(t, r.Reason, demo.ClientSecret)
	assert.NotContains(t, e.logs.String(), demo.ClientSecret)
}

func TestCloudFormationColdStartFailure(t *testing.T) {
	cfgErr := &config.Error{Var: "FALCON_SECRET_ARN", Problem: "not a Secrets Manager secret ARN"}
	h := &trigger.Handler{InitErr: cfgErr, Resource: ownResource, Logger: discard(), Metrics: &syncBuffer{}}
	s := newCFNServer(t)

	for _, rt := range []string{"Create", "Update"} {
		_, err := invoke(context.Background(), t, h, s.event(t, rt, stableID, nil))
		require.NoError(t, err)
		r := s.one(t).Response
		assert.Equal(t, cfn.StatusFailed, r.Status, rt)
		assert.Contains(t, r.Reason, "FALCON_SECRET_ARN: not a Secrets Manager secret ARN")
	}
	// Delete answers SUCCESS: the stack must be deletable.
	h.DisconnectOnDelete = true
	_, err := invoke(context.Background(), t, h, s.event(t, "Delete", stableID, nil))
	require.NoError(t, err)
	r := s.one(t).Response
	assert.Equal(t, cfn.StatusSuccess, r.Status)
	assert.Contains(t, r.Reason, "nothing disconnected")

	// A credentials failure (not configuration) with DISCONNECT_ON_DELETE
	// cannot disconnect: FAILED, saying how to delete anyway.
	h.InitErr = errors.New("reading FALCON_SECRET_ARN: AccessDeniedException")
	_, err = invoke(context.Background(), t, h, s.event(t, "Delete", stableID, nil))
	require.NoError(t, err)
	r = s.one(t).Response
	assert.Equal(t, cfn.StatusFailed, r.Status)
	assert.Contains(t, r.Reason, "retain")
}

func TestCloudFormationPanicStillAnswers(t *testing.T) {
	h := &trigger.Handler{Runner: &onboard.Runner{Falcon: panicFalcon{}}, Resource: ownResource, Logger: discard(), Metrics: &syncBuffer{}}
	s := newCFNServer(t)
	_, err := invoke(context.Background(), t, h, s.event(t, "Create", "", nil))
	require.NoError(t, err)
	r := s.one(t).Response
	assert.Equal(t, cfn.StatusFailed, r.Status)
	assert.Contains(t, r.Reason, "panic")
	assert.Contains(t, r.Reason, "boom in Accounts")
	assert.NotEqual(t, stableID, r.PhysicalResourceID)

	// A panic during a disconnecting Delete is answered too.
	h.DisconnectOnDelete = true
	_, err = invoke(context.Background(), t, h, s.event(t, "Delete", stableID, nil))
	require.NoError(t, err)
	d := s.one(t).Response
	assert.Equal(t, cfn.StatusFailed, d.Status)
	assert.Equal(t, stableID, d.PhysicalResourceID)
}

func TestCloudFormationNearDeadlineAnswersInTime(t *testing.T) {
	sim := falconsim.New(falconsim.Options{ClientID: demo.ClientID, ClientSecret: demo.ClientSecret})
	sim.AddAccounts(falconsim.GenerateAccounts(150, []string{"us-east-1"})...)
	e := newEnvWith(t, sim, map[string]string{"MAX_CONCURRENCY": "4"})
	w := &writeCutoff{Free: 20}
	w.install(e.h)
	s := newCFNServer(t)

	ctx, cancel, deadline := w.context()
	defer cancel()
	rep, err := e.h.Handle(ctx, s.event(t, "Create", "", nil)) // the whole report: its answer is bounded
	require.NoError(t, err)
	got := s.one(t)
	assert.True(t, got.At.Before(deadline), "answered %v after the deadline", got.At.Sub(deadline))
	r := got.Response
	assert.Equal(t, cfn.StatusSuccess, r.Status, r.Reason)
	assert.Equal(t, "false", r.Data["Complete"])
	assert.Equal(t, strconv.Itoa(rep.Registries.NotAttempted), r.Data["NotAttempted"])
	assert.Contains(t, r.Reason, "left for a continuation or the next scheduled run")
	assert.False(t, rep.Complete)
	assert.Equal(t, "24", r.Data["Created"])
	assert.Equal(t, 150-24, rep.Registries.NotAttempted)
	assertReported(t, sim, rep)
	t.Logf("answered %v before the deadline; created %d, left %d", deadline.Sub(got.At), len(rep.Registries.Created), rep.Registries.NotAttempted)
}

func TestCloudFormationResponseIsRetried(t *testing.T) {
	e := newEnv(t, falconsim.Options{}, nil)
	s := newCFNServer(t)
	s.failures = 2
	_, err := e.invoke(context.Background(), t, s.event(t, "Delete", stableID, nil))
	require.NoError(t, err)
	assert.Equal(t, cfn.StatusSuccess, s.one(t).Response.Status)
}

func TestCloudFormationRefusesCredentialProperties(t *testing.T) {
	e := newEnv(t, falconsim.Options{}, nil)
	s := newCFNServer(t)
	props := map[string]any{"ServiceToken": "arn:aws:lambda:us-east-1:123456789012:function:x", "ExternalId": "abc"}
	_, err := e.invoke(context.Background(), t, s.event(t, "Create", "", props))
	require.NoError(t, err)
	r := s.one(t).Response
	assert.Equal(t, cfn.StatusFailed, r.Status)
	assert.Contains(t, r.Reason, "ResourceProperties.ExternalId is refused")
	assert.NotContains(t, r.Reason, "abc")
	assert.Zero(t, e.sim.Stats().Requests)

	// A Delete never fails on it.
	_, err = e.invoke(context.Background(), t, s.event(t, "Delete", stableID, props))
	require.NoError(t, err)
	assert.Equal(t, cfn.StatusSuccess, s.one(t).Response.Status)
}

func TestCloudFormationUnknownRequestTypeFails(t *testing.T) {
	e := newEnv(t, falconsim.Options{}, nil)
	s := newCFNServer(t)
	_, err := e.invoke(context.Background(), t, s.event(t, "Import", stableID, nil))
	require.NoError(t, err)
	r := s.one(t).Response
	assert.Equal(t, cfn.StatusFailed, r.Status)
	assert.Contains(t, r.Reason, `unsupported RequestType "Import"`)
	assert.Zero(t, e.sim.Stats().Requests)
}

func TestCloudFormationReasonIsBounded(t *testing.T) {
	h := &trigger.Handler{InitErr: errors.New(strings.Repeat("é long error ", 500)), Resource: ownResource, Logger: discard(), Metrics: &syncBuffer{}}
	s := newCFNServer(t)
	_, err := invoke(context.Background(), t, h, s.event(t, "Create", "", nil))
	require.NoError(t, err)
	r := s.one(t).Response
	assert.Equal(t, cfn.StatusFailed, r.Status)
	assert.LessOrEqual(t, len(r.Reason), trigger.MaxReason)
	assert.Contains(t, r.Reason, "run_id")
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

func (q *recordingQueue) Waiting(context.Context) (int, error) { return 0, nil }

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

// A CloudFormation-shaped request that is not for this function's own stack
// and custom resource is refused before anything happens: no Falcon API
// call, no response PUT to the URL it names (errorType
// ForeignCustomResource). With DISCONNECT_ON_DELETE a pasted Delete of
// another stack once removed every owned registration.
func TestCloudFormationRequestsForAnotherResourceAreRefused(t *testing.T) {
	const otherStack = "arn:aws:cloudformation:us-east-1:123456789012:stack/someone-else/0a1b2c3d-0000-11f0-9c2e-0a1b2c3d4e5f"
	e := newEnv(t, falconsim.Options{}, nil)
	e.h.DisconnectOnDelete = true
	_, err := e.invoke(context.Background(), t, []byte(scheduled))
	require.NoError(t, err)
	owned := len(e.sim.Registries())
	require.Equal(t, demoCreated+demoUnchanged, owned)
	s := newCFNServer(t)

	for name, tc := range map[string]struct {
		payload []byte
		want    string
	}{
		"Delete of another stack's resource": {s.eventOf(t, otherStack, testLogicalID, "Delete", trigger.PhysicalResourceID(otherStack, testLogicalID), nil),
			`CloudFormation request of stack "` + otherStack + `" refused: this function answers only its own stack's custom resource (InitialReconcile of ` + testStackID + `)`},
		"Create of another stack's resource": {s.eventOf(t, otherStack, testLogicalID, "Create", "", nil), "answers only its own stack's custom resource"},
		"Delete of another resource of this stack": {s.eventOf(t, testStackID, "SomethingElse", "Delete", trigger.PhysicalResourceID(testStackID, "SomethingElse"), nil),
			`CloudFormation request of resource "SomethingElse" refused: this function answers only InitialReconcile of ` + testStackID},
	} {
		t.Run(name, func(t *testing.T) {
			e.sim.ResetStats()
			_, err := e.invoke(context.Background(), t, tc.payload)
			require.Error(t, err)
			assert.Equal(t, "ForeignCustomResource", errorType(err))
			assert.ErrorIs(t, err, trigger.ErrForeignCustomResource)
			assert.Contains(t, err.Error(), tc.want)
			assert.Zero(t, e.sim.Stats().Requests, "no Falcon API call")
			s.none(t)
			assert.Len(t, e.sim.Registries(), owned, "nothing disconnected")
		})
	}
	refusals := 0
	for _, l := range e.logLines(t) {
		if l["msg"] == "invocation refused" && l["error_type"] == "ForeignCustomResource" {
			refusals++
		}
	}
	assert.Equal(t, 3, refusals, "each refusal is logged")
}

// A function deployed without STACK_ID (and STACK_CUSTOM_RESOURCE) cannot
// tell its own stack's requests from anyone's: it refuses them all, saying so.
func TestCloudFormationRequestsRefusedWithoutTheStack(t *testing.T) {
	e := newEnv(t, falconsim.Options{}, nil)
	e.h.DisconnectOnDelete = true
	e.h.Resource = trigger.CustomResource{}
	s := newCFNServer(t)
	for _, rt := range []string{"Create", "Delete"} {
		_, err := e.invoke(context.Background(), t, s.event(t, rt, stableID, nil))
		require.Error(t, err, rt)
		assert.Equal(t, "ForeignCustomResource", errorType(err))
		assert.Contains(t, err.Error(), "this function was deployed without STACK_ID and STACK_CUSTOM_RESOURCE")
		assert.Contains(t, err.Error(), "template.yaml")
	}
	s.none(t)
	assert.Zero(t, e.sim.Stats().Requests)
}

// Only the physical ID this stack's resource was given disconnects. A
// Delete of its own resource under another ID — CloudFormation's own ID for
// a resource whose Create never answered, or anything else — is answered
// SUCCESS (the stack must be able to go) and disconnects nothing.
func TestCloudFormationDeleteDisconnectsOnlyTheResourcesOwnID(t *testing.T) {
	e := newEnv(t, falconsim.Options{}, nil)
	e.h.DisconnectOnDelete = true
	_, err := e.invoke(context.Background(), t, []byte(scheduled))
	require.NoError(t, err)
	owned := len(e.sim.Registries())
	e.sim.ResetStats()
	s := newCFNServer(t)

	_, err = e.invoke(context.Background(), t, s.event(t, "Delete", "InitialReconcile-AB12CD34EF56", nil))

	require.NoError(t, err)
	r := s.one(t).Response
	assert.Equal(t, cfn.StatusSuccess, r.Status)
	assert.Equal(t, "InitialReconcile-AB12CD34EF56", r.PhysicalResourceID, "a Delete answers the ID it was sent")
	assert.Contains(t, r.Reason, "nothing disconnected")
	assert.Contains(t, r.Reason, stableID)
	assert.Zero(t, e.sim.Stats().Requests)
	assert.Len(t, e.sim.Registries(), owned)
}
