package main

import (
	"context"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	dbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/crowdstrike-ecr/ecr-onboard/internal/demo"
	"github.com/crowdstrike-ecr/ecr-onboard/internal/falconsim"
)

// A registration Falcon keeps in error after its current credential was
// sent again is not sent it again by the next run, even in a new sandbox:
// the real bootstrap remembers the re-send in the stack's table (moto's
// DynamoDB), not in its process.
func TestBootstrapRemembersResendsInTheStacksTableUnderEmulator(t *testing.T) {
	sim := falconsim.New(falconsim.Options{ClientID: demo.ClientID, ClientSecret: demo.ClientSecret, VerdictSurvivesResend: true})
	sim.AddAccounts(falconsim.GenerateAccounts(2, []string{"us-east-1"})...)
	d := deploy(t, sim)
	patches := func() int { return sim.Stats().ByOperation["PATCH /container-security/entities/registries/v1"] }

	fn := d.start(t, time.Minute)
	r := fn.Invoke(t, "onboard", []byte(scheduled))
	require.False(t, r.Failed(), r.ErrorMessage)
	require.Len(t, sim.Registries(), 2)
	held := sim.Registries()[0]
	require.True(t, sim.SetRegistryState(held.ID, "error", false))

	r = fn.Invoke(t, "re-send", []byte(scheduled))
	require.False(t, r.Failed(), r.ErrorMessage)
	require.Equal(t, 1, patches(), "sent its credential again once")
	item, err := dynamodb.NewFromConfig(d.moto.Config()).GetItem(context.Background(), &dynamodb.GetItemInput{
		TableName: aws.String(linksTable), ConsistentRead: aws.Bool(true),
		Key: map[string]dbtypes.AttributeValue{"link": &dbtypes.AttributeValueMemberS{Value: "resend/" + held.ID}}})
	require.NoError(t, err)
	require.NotEmpty(t, item.Item, "the re-send is in the stack's table")
	assert.Equal(t, &dbtypes.AttributeValueMemberS{Value: "error"}, item.Item["verdict"])
	checkOutput(t, fn.Stop())

	fn = d.start(t, time.Minute) // a new sandbox: nothing in its memory
	r = fn.Invoke(t, "cold", []byte(scheduled))
	require.False(t, r.Failed(), r.ErrorMessage)
	assert.Equal(t, 1, patches(), "not sent again within 6 hours")
	checkOutput(t, fn.Stop())
}
