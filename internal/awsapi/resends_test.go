package awsapi

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/crowdstrike-ecr/ecr-onboard/internal/mototest"
	"github.com/crowdstrike-ecr/ecr-onboard/internal/onboard"
)

// Against moto's DynamoDB, in the continuation links' table: re-sends are
// recorded and read back by registration, more than one batch of each; a
// registration never recorded has none, and the last re-send replaces the
// one before.
func TestResendsAgainstMoto(t *testing.T) {
	srv := mototest.Start(t)
	ctx := context.Background()
	client := dynamodb.NewFromConfig(srv.Config())
	createLinksTable(t, client, "links")
	table := Resends{DynamoDB: client, Table: "links"}
	at := time.Unix(time.Now().Unix(), 0)

	var rs []onboard.Resend
	var ids []string
	for i := range 130 {
		id := fmt.Sprintf("reg-%03d", i)
		rs = append(rs, onboard.Resend{RegistryID: id, Fingerprint: "0123abcd", Verdict: "error", At: at.Add(-time.Duration(i) * time.Minute)})
		ids = append(ids, id)
	}
	require.NoError(t, table.RecordResends(ctx, rs))
	got, err := table.LastResends(ctx, append(ids, "never-sent"))
	require.NoError(t, err)
	require.Len(t, got, 130)
	for _, r := range rs {
		assert.Equal(t, r, got[r.RegistryID])
	}

	later := onboard.Resend{RegistryID: "reg-000", Fingerprint: "0123abcd", Verdict: "offline", At: at.Add(time.Hour)}
	require.NoError(t, table.RecordResends(ctx, []onboard.Resend{later}))
	got, err = table.LastResends(ctx, []string{"reg-000"})
	require.NoError(t, err)
	assert.Equal(t, map[string]onboard.Resend{"reg-000": later}, got, "the last re-send replaces the one before")

}
