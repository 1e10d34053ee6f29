package falconsim

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	csa "github.com/crowdstrike/gofalcon/falcon/client/cloud_security_assets"
	"github.com/crowdstrike/gofalcon/falcon/models"
	"github.com/go-openapi/strfmt"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const ecrFilter = "resource_type:'AWS::ECR::Repository'"

// queryAssets asks the ID query through gofalcon.
func queryAssets(t *testing.T, e *env, filter string, limit int64, after string) *models.AssetsGetResourceIDsResponse {
	t.Helper()
	p := csa.NewCloudSecurityAssetsQueriesParams().WithFilter(&filter).WithLimit(&limit)
	if after != "" {
		p.After = &after
	}
	ok, err := e.csa.CloudSecurityAssetsQueries(p)
	require.NoError(t, err)
	require.NoError(t, ok.Payload.Validate(strfmt.Default))
	return ok.Payload
}

func TestAssetQueryCursorAndLimits(t *testing.T) {
	e := newEnv(t, Options{})
	accounts := GenerateAccounts(3, nil)
	var want []string
	for i := range 1203 {
		want = append(want, e.sim.AddRepository(accounts[i%3].ID, "us-east-1", fmt.Sprintf("repo-%d", i)).ID)
	}
	e.sim.AddResource(Resource{AccountID: accounts[0].ID, Region: "us-east-1", ResourceType: "AWS::S3::Bucket"})

	// Asked for 5,000: served 1,000 (the live cap), silently, with the limit
	// asked echoed, the total, and a cursor to the rest.
	first := queryAssets(t, e, ecrFilter, 5000, "")
	assert.Equal(t, want[:1000], first.Resources)
	assert.EqualValues(t, 5000, *first.Meta.Pagination.Limit)
	assert.EqualValues(t, 1203, *first.Meta.Pagination.Total)
	require.NotEmpty(t, first.Meta.Next)
	last := queryAssets(t, e, ecrFilter, 5000, first.Meta.Next)
	assert.Equal(t, want[1000:], last.Resources)
	assert.Empty(t, last.Meta.Next, "the last page has no cursor")

	// limit 0 (or absent) serves 500.
	assert.Len(t, queryAssets(t, e, ecrFilter, 0, "").Resources, 500)
	// The filter is applied: no filter lists the bucket too; a region
	// filter narrows.
	assert.EqualValues(t, 1204, *queryAssets(t, e, "", 1, "").Meta.Pagination.Total)
	assert.EqualValues(t, 401, *queryAssets(t, e, ecrFilter+"+account_id:\""+accounts[0].ID+"\"", 1, "").Meta.Pagination.Total)
	assert.EqualValues(t, 0, *queryAssets(t, e, ecrFilter+"+region:'eu-west-1'", 1, "").Meta.Pagination.Total)

	for name, q := range map[string]string{
		"unknown field":      "?filter=" + "colour:'red'",
		"bad FQL":            "?filter=resource_type=AWS",
		"offset and after":   "?offset=0&after=" + first.Meta.Next,
		"offset past 10,000": "?offset=10000",
		"bad cursor":         "?after=not-a-cursor",
	} {
		resp := do(t, e.srv, http.MethodGet, pathQueryAssets+strings.ReplaceAll(q, "'", "%27"), mustToken(t, e))
		assert.Equal(t, http.StatusBadRequest, resp.StatusCode, name)
	}
}

func TestAssetPageMaxOption(t *testing.T) {
	e := newEnv(t, Options{AssetPageMax: 7})
	for i := range 20 {
		e.sim.AddRepository("111111111111", "us-east-1", fmt.Sprint(i))
	}
	var got []string
	after, pages := "", 0
	for {
		p := queryAssets(t, e, ecrFilter, 1000, after)
		got, after, pages = append(got, p.Resources...), p.Meta.Next, pages+1
		if after == "" {
			break
		}
	}
	assert.Len(t, got, 20)
	assert.Equal(t, 3, pages)
}

func TestAssetEntities(t *testing.T) {
	e := newEnv(t, Options{})
	e.sim.AddAccounts(GenerateAccounts(1, []string{"us-east-1"})...)
	var ids []string
	for i := range 501 {
		ids = append(ids, e.sim.AddRepository("100000000000", "eu-west-1", fmt.Sprint("repo-", i)).ID)
	}
	ok, err := e.csa.CloudSecurityAssetsEntitiesPost(csa.NewCloudSecurityAssetsEntitiesPostParams().
		WithBody(&models.AssetsGetResourcesRequest{Ids: append(ids[:499:499], "unknown-id")}))
	require.NoError(t, err)
	require.NoError(t, ok.Payload.Validate(strfmt.Default))
	require.Len(t, ok.Payload.Resources, 499, "unknown ids are left out")
	r := ok.Payload.Resources[0]
	assert.Equal(t, []string{"100000000000", "eu-west-1", ResourceTypeECRRepository, "aws", "account-0"},
		[]string{r.AccountID, r.Region, r.ResourceType, r.CloudProvider, r.AccountName})

	_, err = e.csa.CloudSecurityAssetsEntitiesPost(csa.NewCloudSecurityAssetsEntitiesPostParams().
		WithBody(&models.AssetsGetResourcesRequest{Ids: ids}))
	var tooMany *csa.CloudSecurityAssetsEntitiesPostBadRequest
	require.ErrorAs(t, err, &tooMany, "more than 500 ids")

	tok := mustToken(t, e)
	assert.Equal(t, http.StatusOK, do(t, e.srv, http.MethodGet, pathAssetEntities+"?ids="+strings.Join(ids[:100], "&ids="), tok).StatusCode)
	assert.Equal(t, http.StatusBadRequest, do(t, e.srv, http.MethodGet, pathAssetEntities+"?ids="+strings.Join(ids[:101], "&ids="), tok).StatusCode)

	assert.Equal(t, 501, e.sim.RemoveRepositories("100000000000", "eu-west-1"))
	assert.Empty(t, e.sim.Resources())
}
