package falconsim

import (
	"net/http"
	"strings"
	"testing"

	fci "github.com/crowdstrike/gofalcon/falcon/client/falcon_container_image"
	"github.com/crowdstrike/gofalcon/falcon/models"
	"github.com/go-openapi/runtime"
	"github.com/go-openapi/strfmt"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// specOptions make the simulator answer as the API spec says (create: 201,
// credential details returned), so gofalcon's generated readers read it
// unchanged; the live defaults are pinned by TestLiveServiceDefaults.
var specOptions = Options{CreateStatus: http.StatusCreated, Details: DetailsFull}

func TestRegistryLifecycle(t *testing.T) {
	e := newEnv(t, specOptions)
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

	// Query in creation order, then read entities by repeated ids.
	q, err := e.img.ReadRegistryEntities(fci.NewReadRegistryEntitiesParams())
	require.NoError(t, err)
	require.NoError(t, q.Payload.Validate(strfmt.Default))
	require.Len(t, q.Payload.Resources, 2)
	assert.Equal(t, *reg.ID, q.Payload.Resources[0])
	assert.EqualValues(t, 2, *q.Payload.Meta.Pagination.Total)

	got := getRegistries(t, e, append(q.Payload.Resources, "00000000-0000-4000-8000-000000000000")...)
	require.Len(t, got.Resources, 2, "unknown ids are omitted")

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
		Credential: &models.APICredPayload{Type: ptr("ecr"), Details: map[string]any{
			"aws_iam_role": "arn:aws:iam::" + acct.ID + ":role/NewRole", "aws_external_id": "new-ext",
		}},
	}))
	require.NoError(t, err)
	require.NoError(t, upd.Payload.Validate(strfmt.Default))
	assert.Equal(t, "renamed", *upd.Payload.Resources.UserDefinedAlias)
	assert.Equal(t, "new-ext", e.sim.Registries()[0].ExternalID)

	// Patch with bad credential -> 400; unknown id -> 404.
	badPatch := &models.RegistryassessmentExternalRegistryPatchPayload{
		Credential: &models.APICredPayload{Type: ptr("ecr"), Details: map[string]any{
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
	e := newEnv(t, specOptions)
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
	e := newEnv(t, Options{RegistryPageMax: 2})
	for i := range 3 {
		e.sim.AddRegistry(Registry{URL: ECRURL(GenerateAccounts(3, nil)[i].ID, "us-east-1")})
	}
	want := e.sim.Registries()
	limit, offset := int64(2), int64(1)
	q, err := e.img.ReadRegistryEntities(fci.NewReadRegistryEntitiesParams().WithLimit(&limit).WithOffset(&offset))
	require.NoError(t, err)
	assert.Equal(t, []string{want[1].ID, want[2].ID}, q.Payload.Resources)

	// Asked for more than the page maximum: served the maximum, silently,
	// with the limit asked echoed and the total.
	limit, offset = 3, 0
	q, err = e.img.ReadRegistryEntities(fci.NewReadRegistryEntitiesParams().WithLimit(&limit).WithOffset(&offset))
	require.NoError(t, err)
	assert.Equal(t, []string{want[0].ID, want[1].ID}, q.Payload.Resources)
	assert.EqualValues(t, 3, *q.Payload.Meta.Pagination.Limit)
	assert.EqualValues(t, 3, *q.Payload.Meta.Pagination.Total)

	tok := mustToken(t, e)
	ids := make([]string, 101)
	for i := range ids {
		ids[i] = newUUID()
	}
	assert.Equal(t, http.StatusBadRequest, do(t, e.srv, http.MethodGet, pathRegistryEntities+"?ids="+strings.Join(ids, "&ids="), tok).StatusCode)
}

// The simulator's defaults are the live service's (README, "Reliability under faults"), as
// CrowdStrike's own clients reveal it.
func TestLiveServiceDefaults(t *testing.T) {
	e := newEnv(t, Options{})
	acct := GenerateAccounts(1, testRegions)[0]
	e.sim.AddAccounts(acct)

	// A successful create answers 200 (gofalcon's generated reader, which
	// knows only 201, reads it as an error although the registry exists).
	_, err := e.img.CreateRegistryEntities(createParams(acct, "us-east-1"))
	var apiErr *runtime.APIError
	require.ErrorAs(t, err, &apiErr)
	assert.Equal(t, http.StatusOK, apiErr.Code)
	require.Len(t, e.sim.Registries(), 1)
	id := e.sim.Registries()[0].ID

	// Credential details are write-only: GETs return none.
	got := getRegistries(t, e, id)
	require.Len(t, got.Resources, 1)
	assert.Equal(t, map[string]any{}, got.Resources[0].Credential.Details)
	assert.False(t, *got.Resources[0].Credential.Expired)

	// Entity ids are read one per repeated parameter: a comma-joined value
	// is one unknown id.
	assert.Empty(t, getRegistries(t, e, id+","+id).Resources)

	// The registry query serves at most 500 a page, asked for more.
	assert.Equal(t, DefaultRegistryPageMax, e.sim.Options().RegistryPageMax)
	assert.Equal(t, DefaultAccountPageMax, e.sim.Options().AccountPageMax)
}

func TestDetailsVariantsAndState(t *testing.T) {
	for mode, want := range map[DetailsMode]func(a Account) map[string]any{
		DetailsNone: func(Account) map[string]any { return map[string]any{} },
		DetailsRole: func(a Account) map[string]any { return map[string]any{"aws_iam_role": a.RoleARN} },
		DetailsMasked: func(a Account) map[string]any {
			return map[string]any{"aws_iam_role": a.RoleARN, "aws_external_id": "****"}
		},
		DetailsFull: func(a Account) map[string]any {
			return map[string]any{"aws_iam_role": a.RoleARN, "aws_external_id": a.ExternalID}
		},
	} {
		e := newEnv(t, Options{Details: mode, CreateStatus: http.StatusCreated})
		acct := GenerateAccounts(1, testRegions)[0]
		e.sim.AddAccounts(acct)
		created, err := e.img.CreateRegistryEntities(createParams(acct, "us-east-1"))
		require.NoError(t, err)
		assert.Equal(t, want(acct), created.Payload.Resources.Credential.Details, "create answer, mode %d", mode)
		id := *created.Payload.Resources.ID
		require.True(t, e.sim.SetRegistryState(id, "error", true))
		got := getRegistries(t, e, id).Resources[0]
		assert.Equal(t, want(acct), got.Credential.Details, "GET, mode %d", mode)
		assert.Equal(t, "error", *got.State)
		assert.True(t, *got.Credential.Expired)
	}
}

func TestGovCloudRegistriesSayHowFalconReachesThem(t *testing.T) {
	for _, govFalcon := range []bool{false, true} {
		e := newEnv(t, Options{CreateStatus: http.StatusCreated, GovCloud: govFalcon})
		acct := GenerateAccounts(1, nil)[0]
		acct.RoleARN = "arn:aws-us-gov:iam::" + acct.ID + ":role/CSPM"
		e.sim.AddAccounts(acct)
		body := regPayload(ECRURL(acct.ID, "us-gov-west-1"), "gov", acct.RoleARN, acct.ExternalID)
		_, err := e.img.CreateRegistryEntities(fci.NewCreateRegistryEntitiesParams().WithBody(body))
		var bad *fci.CreateRegistryEntitiesBadRequest
		require.ErrorAs(t, err, &bad, "without aws_gov_using_commercial_connection")
		body.Credential.Details.(map[string]any)["aws_gov_using_commercial_connection"] = govFalcon
		_, err = e.img.CreateRegistryEntities(fci.NewCreateRegistryEntitiesParams().WithBody(body))
		require.ErrorAs(t, err, &bad, "the wrong way round")
		body.Credential.Details.(map[string]any)["aws_gov_using_commercial_connection"] = !govFalcon
		_, err = e.img.CreateRegistryEntities(fci.NewCreateRegistryEntitiesParams().WithBody(body))
		require.NoError(t, err)
	}
}

// A PATCH's state is an action (PSFalcon: pause, resume); a credential
// re-asserted puts the registration back to pending unless PatchKeepsState.
// A role whose trust is still propagating fails validation, then passes.
func TestPatchStateAndTrustPropagation(t *testing.T) {
	for _, keeps := range []bool{false, true} {
		e := newEnv(t, Options{PatchKeepsState: keeps})
		acct := GenerateAccounts(1, testRegions)[0]
		e.sim.AddAccounts(acct)
		reg := e.sim.AddRegistry(Registry{URL: ECRURL(acct.ID, "us-east-1"), Alias: "a", RoleARN: acct.RoleARN, ExternalID: acct.ExternalID})
		patch := func(state string) error {
			_, err := e.img.UpdateRegistryEntities(fci.NewUpdateRegistryEntitiesParams().WithID(reg.ID).WithBody(&models.RegistryassessmentExternalRegistryPatchPayload{
				State: state,
				Credential: &models.APICredPayload{Type: ptr("ecr"), Details: map[string]any{
					"aws_iam_role": acct.RoleARN, "aws_external_id": acct.ExternalID,
				}},
			}))
			return err
		}
		require.NoError(t, patch("pause"))
		assert.Equal(t, "paused", e.sim.Registries()[0].State)
		require.NoError(t, patch(""))
		want := "pending"
		if keeps {
			want = "paused"
		}
		assert.Equal(t, want, e.sim.Registries()[0].State, "PatchKeepsState=%t", keeps)
		require.NoError(t, patch("resume"))
		assert.Equal(t, "pending", e.sim.Registries()[0].State)

		e.sim.PropagateTrust(acct.RoleARN, 2)
		for range 2 {
			var bad *fci.UpdateRegistryEntitiesBadRequest
			require.ErrorAs(t, patch(""), &bad)
			assert.Contains(t, *bad.Payload.Errors[0].Message, "failed to validate registry credential")
		}
		assert.NoError(t, patch(""), "propagated")
	}
}

// VerdictSurvivesResend: a PATCH Falcon accepts leaves a registration in a
// verdict as it was (the role lets Falcon in, something else stops the
// assessment); any other registration goes back to pending as usual.
func TestVerdictSurvivesResend(t *testing.T) {
	for _, survives := range []bool{false, true} {
		e := newEnv(t, Options{VerdictSurvivesResend: survives})
		acct := GenerateAccounts(1, testRegions)[0]
		e.sim.AddAccounts(acct)
		reg := e.sim.AddRegistry(Registry{URL: ECRURL(acct.ID, "us-east-1"), Alias: "a", RoleARN: acct.RoleARN, ExternalID: acct.ExternalID})
		require.True(t, e.sim.SetRegistryState(reg.ID, "error", false))
		answer, err := e.img.UpdateRegistryEntities(fci.NewUpdateRegistryEntitiesParams().WithID(reg.ID).WithBody(&models.RegistryassessmentExternalRegistryPatchPayload{
			Credential: &models.APICredPayload{Type: ptr("ecr"), Details: map[string]any{"aws_iam_role": acct.RoleARN, "aws_external_id": acct.ExternalID}},
		}))
		require.NoError(t, err)
		want := "pending"
		if survives {
			want = "error"
		}
		assert.Equal(t, want, *answer.Payload.Resources.State, "the answer shows what Falcon keeps (VerdictSurvivesResend=%t)", survives)
		assert.Equal(t, want, e.sim.Registries()[0].State)
	}
}

// KeepRejectedCreates: a create whose credential Falcon rejects is answered
// 400, and still recorded in state error with the alias sent.
func TestKeepRejectedCreates(t *testing.T) {
	for _, keep := range []bool{false, true} {
		e := newEnv(t, Options{KeepRejectedCreates: keep})
		acct := GenerateAccounts(1, testRegions)[0]
		acct.TrustsRegistryAssessment = false
		e.sim.AddAccounts(acct)
		_, err := e.img.CreateRegistryEntities(createParams(acct, "us-east-1"))
		var bad *fci.CreateRegistryEntitiesBadRequest
		require.ErrorAs(t, err, &bad)
		if !keep {
			assert.Empty(t, e.sim.Registries())
			continue
		}
		require.Len(t, e.sim.Registries(), 1)
		kept := e.sim.Registries()[0]
		assert.Equal(t, "error", kept.State)
		assert.Equal(t, "ecr-onboard-"+acct.ID+"-us-east-1", kept.Alias)
	}
}
