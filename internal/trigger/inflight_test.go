package trigger_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	dbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/crowdstrike-ecr/ecr-onboard/internal/awsapi"
	"github.com/crowdstrike-ecr/ecr-onboard/internal/demo"
	"github.com/crowdstrike-ecr/ecr-onboard/internal/falconsim"
	"github.com/crowdstrike-ecr/ecr-onboard/internal/mototest"
	"github.com/crowdstrike-ecr/ecr-onboard/internal/trigger"
)

// A scheduled run that defers to a chain in flight says so: its report
// (deferred) and its metrics line (RunsDeferred = 1, no coverage); a run
// that runs has no RunsDeferred.
func TestDeferredScheduledRunEmitsItsMetric(t *testing.T) {
	e := newEnv(t, falconsim.Options{}, nil)
	q := &fakeQueue{msgs: []string{`{"run_id":"r","depth":2}`}}
	e.h.Queue, e.h.QueueARN = q, queueARN

	rep, err := e.invoke(context.Background(), t, []byte(scheduled))
	require.NoError(t, err)
	assert.Equal(t, "a continuation chain is in flight and does this run's work", rep.Deferred)
	m := e.metricLines(t)
	require.Len(t, m, 1)
	assert.EqualValues(t, 1, m[0][trigger.RunsDeferred])
	assert.NotContains(t, m[0], trigger.CoverageIncomplete, "a deferred run judged no coverage")
	assert.NotContains(t, m[0], trigger.FullRunCompleted)
	assert.Contains(t, metricNames(m[0]), trigger.RunsDeferred)
	assert.Zero(t, e.sim.Stats().Requests)
}

func metricNames(line map[string]any) []string {
	var out []string
	for _, d := range line["_aws"].(map[string]any)["CloudWatchMetrics"].([]any) {
		for _, m := range d.(map[string]any)["Metrics"].([]any) {
			out = append(out, m.(map[string]any)["Name"].(string))
		}
	}
	return out
}

// A chain is in flight while a link of the current chain holds a live
// claim, though its message is hidden; once the claim lapsed (the delivery
// failed, and SQS hides the message for its visibility timeout) it is not,
// and the schedule runs.
func TestChainInFlightIsALiveClaim(t *testing.T) {
	e := newEnv(t, falconsim.Options{}, nil)
	q, links := &fakeQueue{}, newMemLinks()
	e.h.Queue, e.h.QueueARN, e.h.Links = q, queueARN, links

	links.chainRun, links.chainUntil = "r", time.Now().Add(10*time.Minute) // a link runs
	rep, err := e.invoke(context.Background(), t, []byte(scheduled))
	require.NoError(t, err)
	assert.NotEmpty(t, rep.Deferred)
	assert.Zero(t, e.sim.Stats().Requests)

	links.chainUntil = time.Now().Add(-time.Second) // its invocation failed
	rep, err = e.invoke(context.Background(), t, []byte(scheduled))
	require.NoError(t, err)
	assert.Empty(t, rep.Deferred)
	assert.True(t, rep.Complete)
	assert.Len(t, rep.Registries.Created, demoCreated)
}

// The acceptance of "silence is never health", against moto's SQS and
// DynamoDB through the real adapters (awsapi.Queue, awsapi.Links):
//
//  1. link R/1 is delivered (received from the queue, hidden for the
//     visibility timeout) and runs: a scheduled run meanwhile defers, and
//     its metrics line says RunsDeferred = 1;
//  2. the delivery of its successor R/2 fails (the invocation's deadline
//     passed), the message stays hidden, its claim lapses: the next
//     scheduled run runs, and it starts a chain of its own (S);
//  3. R/2's message reappears: its chain was superseded, so it is skipped
//     (no Falcon call, no successor); S carries on alone.
func TestFailedContinuationDeliveryAgainstMoto(t *testing.T) {
	srv := mototest.Start(t)
	// Every invocation has a deadline: a 429 an hour away is past it (no
	// clock involved).
	ctx, cancelAll := context.WithTimeout(context.Background(), time.Minute)
	defer cancelAll()
	sqsClient := sqs.NewFromConfig(srv.Config())
	created, err := sqsClient.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("ecr-onboard-continuation")})
	require.NoError(t, err)
	db := dynamodb.NewFromConfig(srv.Config())
	_, err = db.CreateTable(ctx, &dynamodb.CreateTableInput{ // as template.yaml's ContinuationLinks
		TableName:            aws.String("links"),
		BillingMode:          dbtypes.BillingModePayPerRequest,
		AttributeDefinitions: []dbtypes.AttributeDefinition{{AttributeName: aws.String("link"), AttributeType: dbtypes.ScalarAttributeTypeS}},
		KeySchema:            []dbtypes.KeySchemaElement{{AttributeName: aws.String("link"), KeyType: dbtypes.KeyTypeHash}},
	})
	require.NoError(t, err)

	sim := falconsim.New(falconsim.Options{ClientID: demo.ClientID, ClientSecret: demo.ClientSecret})
	sim.AddAccounts(falconsim.GenerateAccounts(10, []string{"us-east-1"})...)
	e := newEnvWith(t, sim, map[string]string{"MAX_CONCURRENCY": "1"})
	queue := awsapi.Queue{SQS: sqsClient, URL: *created.QueueUrl}
	e.h.Queue, e.h.QueueARN, e.h.Links = queue, queueARN, awsapi.Links{DynamoDB: db, Table: "links"}
	// Every run writes one registration and leaves the rest (answered 429
	// an hour away, past its deadline) for a continuation.
	writeOneEach := func() {
		sim.ClearFaults()
		sim.InjectFault(falconsim.Fault{Method: "POST", Path: "/container-security/entities/registries/v1", Status: 429,
			Skip: 1, Times: 1000, RetryAfter: time.Hour})
	}
	receive := func() []string { // what the event source mapping would deliver now
		out, err := sqsClient.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: created.QueueUrl, MaxNumberOfMessages: 10, VisibilityTimeout: 5400})
		require.NoError(t, err)
		var bodies []string
		for _, m := range out.Messages {
			bodies = append(bodies, aws.ToString(m.Body))
		}
		return bodies
	}
	const linkR = `{"run_id":"chain-r","depth":1}`
	require.NoError(t, queue.Send(ctx, linkR))
	require.Equal(t, []string{linkR}, receive(), "R/1 delivered: hidden from now on")

	// 1. R/1 runs (held at its listing); a scheduled run meanwhile defers.
	paused := pauseAt(e.h.Runner.Falcon, "registries")
	e.h.Runner.Falcon = paused
	running := make(chan error)
	go func() {
		writeOneEach()
		_, err := e.invoke(ctx, t, sqsEvent(t, linkR))
		running <- err
	}()
	<-paused.reached
	rep, err := e.invoke(ctx, t, []byte(scheduled))
	require.NoError(t, err)
	assert.Equal(t, "a continuation chain is in flight and does this run's work", rep.Deferred)
	m := e.metricLines(t)
	require.NotEmpty(t, m)
	assert.EqualValues(t, 1, m[len(m)-1][trigger.RunsDeferred], "the deferral is a metric, not silence")
	close(paused.released)
	require.NoError(t, <-running)
	queued := receive()
	const linkR2 = `{"run_id":"chain-r","depth":2}`
	require.Equal(t, []string{linkR2}, queued, "R/2 delivered: hidden from now on")

	// 2. R/2's delivery fails: its invocation's deadline passed (so its
	// claim has lapsed), and its message stays hidden.
	late, cancel := context.WithDeadline(context.Background(), time.Now().Add(-2*time.Minute))
	defer cancel()
	_, err = e.invoke(late, t, sqsEvent(t, linkR2))
	require.Error(t, err, "the delivery failed")
	waiting, err := queue.Waiting(ctx)
	require.NoError(t, err)
	require.Zero(t, waiting, "nothing visible: R/2 is hidden")

	requests := sim.Stats().Requests
	writeOneEach()
	rep, err = e.invoke(ctx, t, []byte(scheduled))
	require.NoError(t, err)
	assert.Empty(t, rep.Deferred, "a hidden message whose claim lapsed is no chain in flight")
	assert.Greater(t, sim.Stats().Requests, requests)
	require.Len(t, rep.Registries.Created, 1)
	require.False(t, rep.Complete)
	queued = receive()
	require.Len(t, queued, 1, "the scheduled run started a chain of its own")
	var s1 trigger.Continuation
	require.NoError(t, json.Unmarshal([]byte(queued[0]), &s1))
	assert.Equal(t, rep.RunID, s1.RunID)
	assert.Equal(t, 1, s1.Depth)

	// 3. R's message reappears after its visibility timeout: superseded.
	requests = sim.Stats().Requests
	rep, err = e.invoke(ctx, t, sqsEvent(t, linkR2))
	require.NoError(t, err, "answered: SQS deletes it")
	assert.Contains(t, rep.Deferred, "superseded")
	assert.Equal(t, requests, sim.Stats().Requests, "no Falcon call")
	assert.Empty(t, receive(), "no successor of R")
	assert.Contains(t, e.logs.String(), "continuation link of a superseded chain")

	// S carries on.
	writeOneEach()
	rep, err = e.invoke(ctx, t, sqsEvent(t, queued[0]))
	require.NoError(t, err)
	assert.Equal(t, s1.RunID, rep.Continues)
	assert.Len(t, rep.Registries.Created, 1)
	next := receive()
	require.Len(t, next, 1)
	assert.JSONEq(t, `{"run_id":"`+s1.RunID+`","depth":2}`, next[0])
}

// A link that ends its chain (here: the continuation limit) gives up its
// claim, so the next scheduled run does not wait for it to lapse.
func TestChainEndReleasesTheSchedule(t *testing.T) {
	e, q, links := chainEnv(t)
	e.h.MaxContinuations = 1
	rep, err := e.invokeLink(t, link1)
	require.NoError(t, err)
	require.False(t, rep.Complete)
	assert.Empty(t, q.msgs, "not continued: the limit")
	run, until, _ := links.Chain(context.Background())
	assert.Equal(t, "chain", run)
	assert.False(t, until.After(time.Now()), "no live claim left")

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute) // a 429 an hour away is past it
	defer cancel()
	requests := e.sim.Stats().Requests
	rep, err = e.invoke(ctx, t, []byte(scheduled))
	require.NoError(t, err)
	assert.Empty(t, rep.Deferred)
	assert.Greater(t, e.sim.Stats().Requests, requests, "the scheduled run ran")
}
