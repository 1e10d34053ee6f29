package ssmparam

import (
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/crowdstrike-ecr/ecr-onboard/internal/mototest"
)

// TestParameter against moto: absent, created, overwritten, deleted, and
// deleted again.
func TestParameter(t *testing.T) {
	t.Parallel()
	srv := mototest.Start(t)
	ctx := context.Background()
	p := Parameter{SSM: ssm.NewFromConfig(srv.Config()), Name: "/ecr-onboard/member/StackSet-x-1"}

	_, found, err := p.Get(ctx)
	require.NoError(t, err)
	assert.False(t, found)
	require.NoError(t, p.Put(ctx, `{"a":1}`))
	require.NoError(t, p.Put(ctx, `{"a":2}`))
	v, found, err := p.Get(ctx)
	require.NoError(t, err)
	assert.True(t, found)
	assert.Equal(t, `{"a":2}`, v)
	require.NoError(t, p.Delete(ctx))
	require.NoError(t, p.Delete(ctx), "gone already is no error")
	_, found, err = p.Get(ctx)
	require.NoError(t, err)
	assert.False(t, found)

	bad := Parameter{SSM: p.SSM, Name: "/aws/reserved"} // names under aws are AWS's
	assert.ErrorContains(t, bad.Put(ctx, "x"), "ssm:PutParameter")
}
