package falconsim

import (
	"net/http"
	"strings"
	"testing"

	fci "github.com/crowdstrike/gofalcon/falcon/client/falcon_container_image"
	"github.com/crowdstrike/gofalcon/falcon/models"
	"github.com/go-openapi/strfmt"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestRegistryLifecycle(t *testing.T) {
	e := newEnv(t, Options{})
	acct := GenerateAccounts(1, testRegions)[0]
	e.sim.AddAccounts(acct)

	// Create: 201, valid payload.
	created, err := e.img.CreateRegistryEntities(createParams(acct, "us-east-1"))
	require.NoError(t, err)
	require.NoError(t, created.Payload.Validate(strfmt.Default))
	reg := created.Payload.Resources
	require.NotNil(t, reg)
	assert.Equal(t, ECRURL(acct.ID, "us-east-1"), *reg.URL)
	assert.Equal(t, "ecr", *reg.Type)
	assert.Equal(t, "pending", *reg.State)
	assert.Equal(t, "ecr-onboard-"+acct.ID+"-us-east-1", *reg.UserDefinedAlias)
	details := reg.Credential.Details.(map[string]any)
	assert.Equal(t, acct.RoleARN, details["aws_iam_role"])
	assert.Equal(t, acct.ExternalID, details["aws_external_id"])

	_, err = e.img.CreateRegistryEntities(createParams(acct, "us-west-2"))
	require.NoError(t, err)

	// Query in creation order, then read entities by comma-joined ids.
	q, err := e.img.ReadRegistryEntities(fci.NewReadRegistryEntitiesParams())
	require.NoError(t, err)
	require.NoError(t, q.Payload.Validate(strfmt.Default))
	require.Len(t, q.Payload.Resources, 2)
	assert.Equal(t, *reg.ID, q.Payload.Resources[0])
	assert.EqualValues(t, 2, *q.Payload.Meta.Pagination.Total)

	ids := append(q.Payload.Resources, "00000000-0000-4000-8000-000000000000")
	got, err := e.img.ReadRegistryEntitiesByUUID(fci.NewReadRegistryEntitiesByUUIDParams().WithIds(strings.Join(ids, ",")))
	require.NoError(t, err)
	require.NoError(t, got.Payload.Validate(strfmt.Default))
	require.Len(t, got.Payload.Resources, 2, "unknown ids are omitted")

	// Duplicate (case/trailing slash differences) -> 409.
	dup := createParams(acct, "us-east-1")
	*dup.Body.URL = strings.ToUpper(*dup.Body.URL) + "/"
	*dup.Body.URL = strings.Replace(*dup.Body.URL, "HTTPS", "https", 1)
	_, err = e.img.CreateRegistryEntities(dup)
	var conflict *fci.CreateRegistryEntitiesConflict
	require.ErrorAs(t, err, &conflict)
	require.NoError(t, conflict.Payload.Validate(strfmt.Default))
	assert.Contains(t, *conflict.Payload.Errors[0].Message, "already exists")
	assert.EqualValues(t, 409, *conflict.Payload.Errors[0].Code)

	// Patch credential + alias.
	e.sim.AddRole("arn:aws:iam::"+acct.ID+":role/NewRole", "new-ext", true)
	upd, err := e.img.UpdateRegistryEntities(fci.NewUpdateRegistryEntitiesParams().WithID(*reg.ID).WithBody(&models.RegistryassessmentExternalRegistryPatchPayload{
		UserDefinedAlias: "renamed",
		Credential: &models.APICredPayload{Type: ptr("aws_iam_role"), Details: map[string]any{
			"aws_iam_role": "arn:aws:iam::" + acct.ID + ":role/NewRole", "aws_external_id": "new-ext",
		}},
	}))
	require.NoError(t, err)
	require.NoError(t, upd.Payload.Validate(strfmt.Default))
	assert.Equal(t, "renamed", *upd.Payload.Resources.UserDefinedAlias)
	assert.Equal(t, "new-ext", e.sim.Registries()[0].ExternalID)

	// Patch with bad credential -> 400; unknown id -> 404.
	badPatch := &models.RegistryassessmentExternalRegistryPatchPayload{
		Credential: &models.APICredPayload{Type: ptr("aws_iam_role"), Details: map[string]any{
			"aws_iam_role": acct.RoleARN, "aws_external_id": "wrong",
		}},
	}
	_, err = e.img.UpdateRegistryEntities(fci.NewUpdateRegistryEntitiesParams().WithID(*reg.ID).WithBody(badPatch))
	var patchBad *fci.UpdateRegistryEntitiesBadRequest
	require.ErrorAs(t, err, &patchBad)
	assert.Contains(t, *patchBad.Payload.Errors[0].Message, "unable to assume role")
	_, err = e.img.UpdateRegistryEntities(fci.NewUpdateRegistryEntitiesParams().WithID("nope").WithBody(badPatch))
	var notFound *fci.UpdateRegistryEntitiesNotFound
	require.ErrorAs(t, err, &notFound)
	require.NoError(t, notFound.Payload.Validate(strfmt.Default))

	// Delete.
	del, err := e.img.DeleteRegistryEntities(fci.NewDeleteRegistryEntitiesParams().WithIds(*reg.ID))
	require.NoError(t, err)
	require.NoError(t, del.Payload.Validate(strfmt.Default))
	require.Len(t, del.Payload.Resources, 1)
	assert.Len(t, e.sim.Registries(), 1)

	st := e.sim.Stats()
	assert.Equal(t, 2, st.CreatesSucceeded)
	assert.Equal(t, 7, st.Writes()) // 3 creates + 3 patches + 1 delete reached the handler
	assert.Equal(t, 3, st.ByOperation["POST "+pathRegistryEntities])
}

func TestCreateRegistryValidation(t *testing.T) {
	e := newEnv(t, Options{})
	good := GenerateAccounts(1, testRegions)[0]
	untrusted := GenerateAccounts(2, testRegions)[1]
	untrusted.TrustsRegistryAssessment = false
	e.sim.AddAccounts(good, untrusted)

	cases := map[string]struct {
		body *models.RegistryassessmentExternalRegistryPayload
		msg  string
	}{
		"untrusted role":    {createParams(untrusted, "us-east-1").Body, "unable to assume role " + untrusted.RoleARN},
		"wrong external id": {regPayload(ECRURL(good.ID, "us-east-1"), "a", good.RoleARN, "wrong"), "unable to assume role"},
		"unknown role":      {regPayload(ECRURL(good.ID, "us-east-1"), "a", "arn:aws:iam::123456789012:role/Nope", good.ExternalID), "unable to assume role"},
		"bad url":           {regPayload("https://example.com", "a", good.RoleARN, good.ExternalID), "invalid ECR registry url"},
		"bad type": {func() *models.RegistryassessmentExternalRegistryPayload {
			p := createParams(good, "us-east-1").Body
			p.Type = ptr("dockerhub")
			return p
		}(), "unsupported registry type"},
		"missing role": {regPayload(ECRURL(good.ID, "us-east-1"), "a", "", ""), "aws_iam_role is required"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := e.img.CreateRegistryEntities(fci.NewCreateRegistryEntitiesParams().WithBody(tc.body))
			var bad *fci.CreateRegistryEntitiesBadRequest
			require.ErrorAs(t, err, &bad)
			require.NoError(t, bad.Payload.Validate(strfmt.Default))
			assert.Contains(t, *bad.Payload.Errors[0].Message, tc.msg)
		})
	}
	// China partition URLs are accepted.
	_, err := e.img.CreateRegistryEntities(fci.NewCreateRegistryEntitiesParams().WithBody(
		regPayload("https://"+good.ID+".dkr.ecr.cn-north-1.amazonaws.com.cn", "cn", good.RoleARN, good.ExternalID)))
	require.NoError(t, err)

	// Malformed JSON / missing required fields -> 400 (raw).
	tok := mustToken(t, e)
	for _, body := range []string{"{not json", `{"type":"ecr"}`} {
		req, _ := http.NewRequest(http.MethodPost, e.srv.URL+pathRegistryEntities, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := e.srv.Client().Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		assert.Equal(t, http.StatusBadRequest, resp.StatusCode, body)
	}
	assert.Len(t, e.sim.Registries(), 1)
}

func TestRegistryQueryLimits(t *testing.T) {
	e := newEnv(t, Options{})
	for i := range 3 {
		e.sim.AddRegistry(Registry{URL: ECRURL(GenerateAccounts(3, nil)[i].ID, "us-east-1")})
	}
	limit, offset := int64(2), int64(1)
	q, err := e.img.ReadRegistryEntities(fci.NewReadRegistryEntitiesParams().WithLimit(&limit).WithOffset(&offset))
	require.NoError(t, err)
	want := e.sim.Registries()
	assert.Equal(t, []string{want[1].ID, want[2].ID}, q.Payload.Resources)

	tok := mustToken(t, e)
	assert.Equal(t, http.StatusBadRequest, do(t, e.srv, http.MethodGet, pathQueryRegistries+"?limit=501", tok).StatusCode)
	ids := make([]string, 101)
	for i := range ids {
		ids[i] = newUUID()
	}
	assert.Equal(t, http.StatusBadRequest, do(t, e.srv, http.MethodGet, pathRegistryEntities+"?ids="+strings.Join(ids, ","), tok).StatusCode)
}
