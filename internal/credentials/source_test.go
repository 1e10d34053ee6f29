package credentials

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/crowdstrike-ecr/ecr-onboard/internal/config"
	"github.com/crowdstrike-ecr/ecr-onboard/internal/mototest"
)

// clock is a settable time.
type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

// stagedSM records the version stage each read asked for.
type stagedSM struct {
	fakeSM
	stages []string
}

func (s *stagedSM) GetSecretValue(ctx context.Context, in *secretsmanager.GetSecretValueInput, opts ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error) {
	s.stages = append(s.stages, aws.ToString(in.VersionStage))
	return s.fakeSM.GetSecretValue(ctx, in, opts...)
}

func TestSourceRefreshReportsAChange(t *testing.T) {
	ctx := context.Background()
	sm := &stagedSM{fakeSM: fakeSM{secret: `{"client_id":"abc","client_secret":"old"}`}}
	src, err := NewSource(ctx, config.Config{SecretARN: arn}, sm, nil)
	require.NoError(t, err)
	id, secret := src.Current()
	assert.Equal(t, "abc", id)
	assert.Equal(t, "old", secret)
	assert.Equal(t, arn, src.Where())

	changed, err := src.Refresh(ctx)
	require.NoError(t, err)
	assert.False(t, changed, "same secret")

	sm.secret = `{"client_id":"abc","client_secret":"new"}`
	changed, err = src.Refresh(ctx)
	require.NoError(t, err)
	assert.True(t, changed)
	_, secret = src.Current()
	assert.Equal(t, "new", secret)

	// A read that fails, or a secret that no longer parses, keeps what is held.
	sm.err = errors.New("AccessDeniedException")
	_, err = src.Refresh(ctx)
	assert.ErrorContains(t, err, arn)
	sm.err, sm.secret = nil, `{"client_id":"abc"}`
	_, err = src.Refresh(ctx)
	require.Error(t, err)
	assert.NotContains(t, err.Error(), "new")
	_, secret = src.Current()
	assert.Equal(t, "new", secret)

	assert.Equal(t, 5, sm.calls)
	for _, st := range sm.stages {
		assert.Equal(t, "AWSCURRENT", st, "every read asks for the current version, never a pending one")
	}
}

func TestSourceGoesStaleAfterMaxAge(t *testing.T) {
	ctx := context.Background()
	c := &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	sm := &fakeSM{secret: `{"client_id":"abc","client_secret":"s3cr3t"}`}
	src, err := NewSource(ctx, config.Config{SecretARN: arn}, sm, c.now)
	require.NoError(t, err)
	c.t = c.t.Add(MaxAge)
	assert.False(t, src.Stale())
	c.t = c.t.Add(time.Second)
	assert.True(t, src.Stale())
	_, err = src.Refresh(ctx)
	require.NoError(t, err)
	assert.False(t, src.Stale(), "a read makes it fresh")
}

func TestSourceFromTheEnvironmentNeverChanges(t *testing.T) {
	ctx := context.Background()
	c := &clock{t: time.Now()}
	sm := &fakeSM{}
	src, err := NewSource(ctx, config.Config{ClientID: "abc", ClientSecret: "s3cr3t"}, sm, c.now)
	require.NoError(t, err)
	c.t = c.t.Add(24 * time.Hour)
	assert.False(t, src.Stale())
	changed, err := src.Refresh(ctx)
	require.NoError(t, err)
	assert.False(t, changed)
	assert.Empty(t, src.Where())
	assert.Zero(t, sm.calls)
}

// moto's Secrets Manager: a version staged AWSPENDING (a rotation in
// progress) is not read; put-secret-value's default stage is.
func TestSourceIgnoresAPendingVersion(t *testing.T) {
	ctx := context.Background()
	sm := secretsmanager.NewFromConfig(mototest.Start(t).Config())
	created, err := sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{
		Name:         aws.String("falcon"),
		SecretString: aws.String(`{"client_id":"abc","client_secret":"current"}`),
	})
	require.NoError(t, err)
	secretARN := aws.ToString(created.ARN)
	src, err := NewSource(ctx, config.Config{SecretARN: secretARN}, sm, nil)
	require.NoError(t, err)

	_, err = sm.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{
		SecretId:      aws.String(secretARN),
		SecretString:  aws.String(`{"client_id":"abc","client_secret":"pending"}`),
		VersionStages: []string{"AWSPENDING"},
	})
	require.NoError(t, err)
	pending, err := sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(secretARN), VersionStage: aws.String("AWSPENDING")})
	require.NoError(t, err)
	require.Contains(t, aws.ToString(pending.SecretString), "pending", "moto keeps the pending version apart")
	changed, err := src.Refresh(ctx)
	require.NoError(t, err)
	assert.False(t, changed)
	_, secret := src.Current()
	assert.Equal(t, "current", secret)

	_, err = sm.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{
		SecretId:     aws.String(secretARN),
		SecretString: aws.String(`{"client_id":"abc","client_secret":"rotated"}`),
	})
	require.NoError(t, err)
	changed, err = src.Refresh(ctx)
	require.NoError(t, err)
	assert.True(t, changed)
	_, secret = src.Current()
	assert.Equal(t, "rotated", secret)
}
