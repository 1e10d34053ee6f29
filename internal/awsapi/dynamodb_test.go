package awsapi

import (
	"context"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/crowdstrike-ecr/ecr-onboard/internal/mototest"
)

// createLinksTable creates the continuation links table as template.yaml
// declares it (key "link", a string).
func createLinksTable(t *testing.T, client *dynamodb.Client, name string) {
	t.Helper()
	_, err := client.CreateTable(context.Background(), &dynamodb.CreateTableInput{
		TableName:            aws.String(name),
		BillingMode:          types.BillingModePayPerRequest,
		AttributeDefinitions: []types.AttributeDefinition{{AttributeName: aws.String("link"), AttributeType: types.ScalarAttributeTypeS}},
		KeySchema:            []types.KeySchemaElement{{AttributeName: aws.String("link"), KeyType: types.KeyTypeHash}},
	})
	require.NoError(t, err)
}

// Against moto's DynamoDB: a link is claimed once; a claim that lapsed (its
// invocation's deadline passed) can be taken over; a link done is never
// claimed again.
func TestLinksAgainstMoto(t *testing.T) {
	srv := mototest.Start(t)
	ctx := context.Background()
	client := dynamodb.NewFromConfig(srv.Config())
	createLinksTable(t, client, "links")
	links := Links{DynamoDB: client, Table: "links"}
	later := time.Now().Add(time.Hour)

	ok, err := links.Claim(ctx, "run-a/1", later)
	require.NoError(t, err)
	assert.True(t, ok, "first delivery")
	ok, err = links.Claim(ctx, "run-a/1", later)
	require.NoError(t, err)
	assert.False(t, ok, "a second delivery while the first may still run")
	ok, err = links.Claim(ctx, "run-a/2", later)
	require.NoError(t, err)
	assert.True(t, ok, "another link")

	require.NoError(t, links.Done(ctx, "run-a/1"))
	ok, err = links.Claim(ctx, "run-a/1", later)
	require.NoError(t, err)
	assert.False(t, ok, "a link done is not run again")

	// A claim whose deadline has passed (the invocation failed) is taken
	// over by the next delivery, and then held by it.
	ok, err = links.Claim(ctx, "run-b/1", time.Now().Add(-time.Minute))
	require.NoError(t, err)
	require.True(t, ok)
	ok, err = links.Claim(ctx, "run-b/1", later)
	require.NoError(t, err)
	assert.True(t, ok, "the lapsed claim is taken over")
	ok, err = links.Claim(ctx, "run-b/1", later)
	require.NoError(t, err)
	assert.False(t, ok)

	// Items expire (the table's time to live) after the queue's retention.
	got, err := client.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String("links"),
		Key: map[string]types.AttributeValue{"link": &types.AttributeValueMemberS{Value: "run-a/1"}}})
	require.NoError(t, err)
	assert.Equal(t, &types.AttributeValueMemberS{Value: "done"}, got.Item["state"])
	require.IsType(t, &types.AttributeValueMemberN{}, got.Item["expires_at"])

	_, err = Links{DynamoDB: client, Table: "no-such-table"}.Claim(ctx, "run-c/1", later)
	assert.ErrorContains(t, err, "dynamodb:PutItem (claim) in no-such-table")
	assert.ErrorContains(t, Links{DynamoDB: client, Table: "no-such-table"}.Done(ctx, "run-c/1"), "dynamodb:PutItem (done) in no-such-table")
}

// Against moto's DynamoDB: the current chain is the one started last; a
// link of it records its claim, a link of a superseded chain records
// nothing; before any chain is recorded, a link holds it (messages queued
// before the record existed). The disconnecting mark is absent, then set.
func TestChainAndDisconnectingMarkAgainstMoto(t *testing.T) {
	srv := mototest.Start(t)
	ctx := context.Background()
	client := dynamodb.NewFromConfig(srv.Config())
	createLinksTable(t, client, "links")
	links := Links{DynamoDB: client, Table: "links"}
	until := time.Unix(time.Now().Add(16*time.Minute).Unix(), 0)

	run, at, err := links.Chain(ctx)
	require.NoError(t, err)
	assert.Empty(t, run)
	assert.True(t, at.IsZero())

	current, err := links.HoldChain(ctx, "old-chain", until)
	require.NoError(t, err)
	assert.True(t, current, "no chain recorded: the link's chain becomes the current one")
	run, at, err = links.Chain(ctx)
	require.NoError(t, err)
	assert.Equal(t, "old-chain", run)
	assert.Equal(t, until, at)

	require.NoError(t, links.StartChain(ctx, "new-chain"))
	run, at, err = links.Chain(ctx)
	require.NoError(t, err)
	assert.Equal(t, "new-chain", run)
	assert.True(t, at.Before(time.Now()), "a chain just started has no link running")

	current, err = links.HoldChain(ctx, "old-chain", until)
	require.NoError(t, err)
	assert.False(t, current, "superseded")
	run, _, err = links.Chain(ctx)
	require.NoError(t, err)
	assert.Equal(t, "new-chain", run, "a superseded link writes nothing")
	current, err = links.HoldChain(ctx, "new-chain", until)
	require.NoError(t, err)
	assert.True(t, current)

	set, err := links.Disconnecting(ctx)
	require.NoError(t, err)
	assert.False(t, set)
	require.NoError(t, links.MarkDisconnecting(ctx, "delete-run"))
	set, err = links.Disconnecting(ctx)
	require.NoError(t, err)
	assert.True(t, set)

	gone := Links{DynamoDB: client, Table: "no-such-table"}
	_, err = gone.Disconnecting(ctx)
	assert.ErrorContains(t, err, "dynamodb:GetItem (disconnecting) in no-such-table")
	_, _, err = gone.Chain(ctx)
	assert.Error(t, err)
	assert.Error(t, gone.MarkDisconnecting(ctx, "r"))
	assert.Error(t, gone.StartChain(ctx, "r"))
	_, err = gone.HoldChain(ctx, "r", until)
	assert.Error(t, err)
}
