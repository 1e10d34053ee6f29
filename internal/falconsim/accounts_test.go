package falconsim

import (
	"fmt"
	"net/http"
	"testing"

	"github.com/crowdstrike/gofalcon/falcon/client/cloud_aws_registration"
	"github.com/go-openapi/strfmt"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestAccountsPaginationAndEntities(t *testing.T) {
	e := newEnv(t, Options{})
	accts := GenerateAccounts(1234, testRegions)
	e.sim.AddAccounts(accts...)

	var ids []string
	pages := 0
	for offset := int64(0); ; {
		limit := int64(500)
		ok, multi, err := e.aws.CloudRegistrationAwsQueryAccounts(cloud_aws_registration.NewCloudRegistrationAwsQueryAccountsParams().
			WithLimit(&limit).WithOffset(&offset))
		require.NoError(t, err)
		require.Nil(t, multi)
		require.NoError(t, ok.Payload.Validate(strfmt.Default))
		pages++
		p := ok.Payload.Meta.Pagination
		assert.EqualValues(t, 1234, *p.Total)
		assert.EqualValues(t, 500, *p.Limit)
		assert.EqualValues(t, offset, *p.Offset)
		ids = append(ids, ok.Payload.Resources...)
		offset += int64(len(ok.Payload.Resources))
		if offset >= *p.Total {
			break
		}
	}
	assert.Equal(t, 3, pages)
	require.Len(t, ids, 1234)
	assert.IsIncreasing(t, ids)
	assert.Equal(t, "100000000000", ids[0])

	byID := map[string]Account{}
	for _, a := range accts {
		byID[a.ID] = a
	}
	for i := 0; i < len(ids); i += 100 {
		batch := ids[i:min(i+100, len(ids))]
		ok, multi, err := e.aws.CloudRegistrationAwsGetAccounts(cloud_aws_registration.NewCloudRegistrationAwsGetAccountsParams().WithIds(batch))
		require.NoError(t, err)
		require.Nil(t, multi)
		require.NoError(t, ok.Payload.Validate(strfmt.Default))
		require.Len(t, ok.Payload.Resources, len(batch))
		for _, r := range ok.Payload.Resources {
			want := byID[r.AccountID]
			assert.Equal(t, want.Name, r.AccountName)
			assert.Equal(t, "commercial", r.AccountType)
			assert.Equal(t, want.Regions, r.ActiveRegions)
			assert.Equal(t, want.RoleARN, r.ResourceMetadata.IamRoleArn)
			assert.Equal(t, want.ExternalID, r.ResourceMetadata.ExternalID)
			assert.Len(t, r.ResourceMetadata.ExternalID, 32)
			assert.Equal(t, fmt.Sprintf("arn:aws:iam::%s:role/CrowdStrikeCSPMReader", r.AccountID), r.ResourceMetadata.IamRoleArn)
		}
	}
}

func TestAccountsLimitClamping(t *testing.T) {
	e := newEnv(t, Options{})
	e.sim.AddAccounts(GenerateAccounts(650, nil)...)
	for _, tc := range []struct{ in, want int64 }{{0, 100}, {1000, 500}, {7, 7}} {
		limit := tc.in
		ok, _, err := e.aws.CloudRegistrationAwsQueryAccounts(cloud_aws_registration.NewCloudRegistrationAwsQueryAccountsParams().WithLimit(&limit))
		require.NoError(t, err)
		assert.Len(t, ok.Payload.Resources, int(tc.want), "limit %d", tc.in)
	}
	// Past the end: empty but valid.
	off := int64(5000)
	ok, _, err := e.aws.CloudRegistrationAwsQueryAccounts(cloud_aws_registration.NewCloudRegistrationAwsQueryAccountsParams().WithOffset(&off))
	require.NoError(t, err)
	assert.Empty(t, ok.Payload.Resources)
	require.NoError(t, ok.Payload.Validate(strfmt.Default))
}

func TestGetAccountsMultiStatus(t *testing.T) {
	e := newEnv(t, Options{})
	e.sim.AddAccounts(GenerateAccounts(3, testRegions)...)

	ok, multi, err := e.aws.CloudRegistrationAwsGetAccounts(cloud_aws_registration.NewCloudRegistrationAwsGetAccountsParams().
		WithIds([]string{"100000000001", "999999999999"}))
	require.NoError(t, err)
	require.Nil(t, ok)
	require.NotNil(t, multi)
	require.NoError(t, multi.Payload.Validate(strfmt.Default))
	require.Len(t, multi.Payload.Resources, 1)
	assert.Equal(t, "100000000001", multi.Payload.Resources[0].AccountID)
	require.Len(t, multi.Payload.Errors, 1)
	assert.EqualValues(t, http.StatusNotFound, *multi.Payload.Errors[0].Code)
	assert.Equal(t, "999999999999", multi.Payload.Errors[0].ID)

	// All unknown: still 207, empty resources.
	ok, multi, err = e.aws.CloudRegistrationAwsGetAccounts(cloud_aws_registration.NewCloudRegistrationAwsGetAccountsParams().
		WithIds([]string{"999999999998", "999999999999"}))
	require.NoError(t, err)
	require.Nil(t, ok)
	require.NotNil(t, multi)
	require.NoError(t, multi.Payload.Validate(strfmt.Default))
	assert.Empty(t, multi.Payload.Resources)
	assert.Len(t, multi.Payload.Errors, 2)

	// A comma-joined value is one (unknown) id, as on the live API.
	resp := do(t, e.srv, http.MethodGet, pathAccountEntities+"?ids=100000000000,100000000002", mustToken(t, e))
	assert.Equal(t, http.StatusMultiStatus, resp.StatusCode)

	// More than 100 ids: 400.
	many := make([]string, 101)
	for i := range many {
		many[i] = fmt.Sprintf("%012d", i)
	}
	_, _, err = e.aws.CloudRegistrationAwsGetAccounts(cloud_aws_registration.NewCloudRegistrationAwsGetAccountsParams().WithIds(many))
	var bad *cloud_aws_registration.CloudRegistrationAwsGetAccountsBadRequest
	require.ErrorAs(t, err, &bad)
	require.NoError(t, bad.Payload.Validate(strfmt.Default))
}
