package mototest_test

import (
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/stretchr/testify/require"

	"github.com/crowdstrike-ecr/ecr-onboard/internal/mototest"
)

func TestStartServesSTS(t *testing.T) {
	srv := mototest.Start(t)
	id, err := sts.NewFromConfig(srv.Config()).GetCallerIdentity(context.Background(), &sts.GetCallerIdentityInput{})
	require.NoError(t, err)
	require.Equal(t, mototest.AccountID, *id.Account)
	srv.Reset(t)
}
