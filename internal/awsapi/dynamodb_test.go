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
