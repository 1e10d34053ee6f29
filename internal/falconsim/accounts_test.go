package falconsim

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/crowdstrike/gofalcon/falcon/client/cloud_aws_registration"
	"github.com/crowdstrike/gofalcon/falcon/models"
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
		ok, multi, err := e.aws.CloudRegistrationAwsQueryAccounts(accountQuery().
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
		ok, _, err := e.aws.CloudRegistrationAwsQueryAccounts(accountQuery().WithLimit(&limit))
		require.NoError(t, err)
		assert.Len(t, ok.Payload.Resources, int(tc.want), "limit %d", tc.in)
	}
	// Past the end: empty but valid.
	off := int64(5000)
	ok, _, err := e.aws.CloudRegistrationAwsQueryAccounts(accountQuery().WithOffset(&off))
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

// An AWS Organization reads back as CSPM registers one: every account with
// the organization's ID, the same external ID and role name (each role in
// its own account), CSPM's intermediate role, and only the management
// account is_master. A standalone account has its own external ID and no
// organization.
func TestOrganizationAccountsAsCSPMRegistersThem(t *testing.T) {
	e := newEnv(t, Options{})
	org := Organization{ID: "o-example0001", FirstAccount: 300000000000, Size: 4, Regions: testRegions}
	members := org.Accounts()
	require.Len(t, members, 4)
	standalone := GenerateAccounts(1, testRegions)[0]
	e.sim.AddAccounts(append(members, standalone)...)

	ok, _, err := e.aws.CloudRegistrationAwsGetAccounts(cloud_aws_registration.NewCloudRegistrationAwsGetAccountsParams().
		WithIds([]string{"300000000000", "300000000001", "300000000002", "300000000003", standalone.ID}))
	require.NoError(t, err)
	require.NoError(t, ok.Payload.Validate(strfmt.Default))
	require.Len(t, ok.Payload.Resources, 5)
	byID := map[string]*models.DomainCloudAWSAccountV1{}
	for _, r := range ok.Payload.Resources {
		byID[r.AccountID] = r
	}
	mgmt := byID["300000000000"]
	roleName := strings.TrimPrefix(mgmt.ResourceMetadata.IamRoleArn, "arn:aws:iam::300000000000:role/")
	assert.Regexp(t, `^CrowdStrikeCSPMReader-[0-9a-z]{12}$`, roleName)
	for i, id := range []string{"300000000000", "300000000001", "300000000002", "300000000003"} {
		r := byID[id]
		assert.Equal(t, "o-example0001", r.OrganizationID, id)
		assert.Equal(t, i == 0, r.IsMaster, "%s: only the management account is_master", id)
		assert.Equal(t, mgmt.ResourceMetadata.ExternalID, r.ResourceMetadata.ExternalID, "%s: one external ID for the organization", id)
		assert.Equal(t, "arn:aws:iam::"+id+":role/"+roleName, r.ResourceMetadata.IamRoleArn, "%s: one role name, the role in its own account", id)
		assert.Equal(t, "arn:aws:iam::292230061137:role/CrowdStrikeCSPMConnector", r.ResourceMetadata.IntermediateRoleArn, id)
		assert.Equal(t, StatusOperational, r.RegistrationStatus, id)
		assert.Equal(t, testRegions, r.ActiveRegions, id)
	}
	s := byID[standalone.ID]
	assert.Empty(t, s.OrganizationID)
	assert.False(t, s.IsMaster)
	assert.NotEqual(t, mgmt.ResourceMetadata.ExternalID, s.ResourceMetadata.ExternalID)
	assert.Equal(t, "arn:aws:iam::292230061137:role/CrowdStrikeCSPMConnector", s.ResourceMetadata.IntermediateRoleArn)

	another := Organization{ID: "o-example0002", FirstAccount: 400000000000, Size: 1}.Accounts()
	assert.NotEqual(t, members[0].ExternalID, another[0].ExternalID, "organizations do not share external IDs")
	assert.NotEqual(t, roleName, strings.TrimPrefix(another[0].RoleARN, "arn:aws:iam::400000000000:role/"))
}

// CSPM regenerating an organization's external ID changes every member's at
// once, and the members' roles accept only the new one; other accounts keep
// theirs.
func TestRegenerateOrganizationExternalID(t *testing.T) {
	s := New(Options{})
	members := Organization{ID: "o-example0001", FirstAccount: 300000000000, Size: 3, Regions: testRegions}.Accounts()
	standalone := GenerateAccounts(1, testRegions)[0]
	s.AddAccounts(append(members, standalone)...)
	old := members[0].ExternalID

	fresh := s.RegenerateOrganizationExternalID("o-example0001")

	require.NotEmpty(t, fresh)
	require.NotEqual(t, old, fresh)
	for _, m := range members {
		assert.Equal(t, fresh, s.externalIDOf(m.ID), m.ID)
		assert.True(t, s.accepts(m.RoleARN, fresh), "%s: the role accepts the new ID", m.ID)
		assert.False(t, s.accepts(m.RoleARN, old), "%s: and no longer the old one", m.ID)
	}
	assert.Equal(t, standalone.ExternalID, s.externalIDOf(standalone.ID))
	assert.True(t, s.accepts(standalone.RoleARN, standalone.ExternalID))
	assert.Empty(t, s.RegenerateOrganizationExternalID("o-unknown0001"), "no such organization")
}

// accepts says whether the registry-assessment principal could assume arn
// with externalID.
func (s *Sim) accepts(arn, externalID string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.assumeRole(arn, externalID) == ""
}

func (s *Sim) externalIDOf(accountID string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.accounts[accountID].ExternalID
}

// An account CSPM registered but has not finished onboarding says so in
// registration_status, and has no role anything could assume yet.
func TestProvisionedAccountHasNoRoleYet(t *testing.T) {
	e := newEnv(t, Options{})
	pending := GenerateAccounts(1, testRegions)[0]
	pending.RegistrationStatus = StatusProvisioned
	e.sim.AddAccounts(pending)

	ok, _, err := e.aws.CloudRegistrationAwsGetAccounts(cloud_aws_registration.NewCloudRegistrationAwsGetAccountsParams().WithIds([]string{pending.ID}))
	require.NoError(t, err)
	require.Len(t, ok.Payload.Resources, 1)
	assert.Equal(t, "provisioned", ok.Payload.Resources[0].RegistrationStatus)
	assert.Equal(t, pending.ExternalID, ok.Payload.Resources[0].ResourceMetadata.ExternalID, "CSPM generated the ID at registration")
	assert.False(t, e.sim.accepts(pending.RoleARN, pending.ExternalID), "no role deployed")
}

// CSPM's account query requires products and features, as CrowdStrike's
// current API specification says (LenientAccountQuery: gofalcon's model,
// where both are optional); it selects the accounts registered with them.
func TestAccountQueryRequiresProductsAndFeatures(t *testing.T) {
	e := newEnv(t, Options{})
	iom, other := GenerateAccounts(2, testRegions)[0], GenerateAccounts(2, testRegions)[1]
	other.Features = []string{"dspm"}
	e.sim.AddAccounts(iom, other)

	_, _, err := e.aws.CloudRegistrationAwsQueryAccounts(cloud_aws_registration.NewCloudRegistrationAwsQueryAccountsParams())
	var bad *cloud_aws_registration.CloudRegistrationAwsQueryAccountsBadRequest
	require.ErrorAs(t, err, &bad)
	assert.Contains(t, *bad.Payload.Errors[0].Message, "products and features are required")
	_, _, err = e.aws.CloudRegistrationAwsQueryAccounts(cloud_aws_registration.NewCloudRegistrationAwsQueryAccountsParams().WithProducts([]string{"cspm"}))
	require.ErrorAs(t, err, &bad, "features too")

	ok, _, err := e.aws.CloudRegistrationAwsQueryAccounts(accountQuery())
	require.NoError(t, err)
	assert.Equal(t, []string{iom.ID}, ok.Payload.Resources, "only accounts registered with feature iom")

	lenient := newEnv(t, Options{LenientAccountQuery: true})
	lenient.sim.AddAccounts(iom, other)
	ok, _, err = lenient.aws.CloudRegistrationAwsQueryAccounts(cloud_aws_registration.NewCloudRegistrationAwsQueryAccountsParams())
	require.NoError(t, err)
	assert.Len(t, ok.Payload.Resources, 2)
}
