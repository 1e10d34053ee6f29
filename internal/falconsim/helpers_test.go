package falconsim

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/crowdstrike/gofalcon/falcon/client/cloud_aws_registration"
	"github.com/crowdstrike/gofalcon/falcon/client/cloud_security_assets"
	"github.com/crowdstrike/gofalcon/falcon/client/falcon_container_image"
	"github.com/crowdstrike/gofalcon/falcon/models"
	httptransport "github.com/go-openapi/runtime/client"
	"github.com/go-openapi/strfmt"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
)

// env wires the real gofalcon service clients to a simulator over TLS.
type env struct {
	sim *Sim
	srv *httptest.Server
	ctx context.Context
	aws cloud_aws_registration.ClientService
	img falcon_container_image.ClientService
	csa cloud_security_assets.ClientService
}

func newEnv(t *testing.T, opts Options) *env {
	t.Helper()
	sim := New(opts)
	srv := StartTLS(sim)
	t.Cleanup(srv.Close)
	ctx := context.WithValue(context.Background(), oauth2.HTTPClient, srv.Client())
	cfg := clientcredentials.Config{
		ClientID:     sim.Options().ClientID,
		ClientSecret: sim.Options().ClientSecret,
		TokenURL:     srv.URL + "/oauth2/token",
		AuthStyle:    oauth2.AuthStyleInParams,
	}
	tr := httptransport.NewWithClient(srv.Listener.Addr().String(), "/", []string{"https"}, cfg.Client(ctx))
	return &env{
		sim: sim,
		srv: srv,
		ctx: context.Background(),
		aws: cloud_aws_registration.New(tr, strfmt.Default),
		img: falcon_container_image.New(tr, strfmt.Default),
		csa: cloud_security_assets.New(tr, strfmt.Default),
	}
}

// rawTransport returns a gofalcon transport without OAuth2 (for the token
// endpoint itself).
func rawTransport(srv *httptest.Server) *httptransport.Runtime {
	return httptransport.NewWithClient(srv.Listener.Addr().String(), "/", []string{"https"}, srv.Client())
}

// do sends a raw request with an optional bearer token.
func do(t *testing.T, srv *httptest.Server, method, path, token string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(method, srv.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

var testRegions = []string{"us-east-1", "us-west-2"}

// createParams builds a create-registry request for acct in region.
func createParams(acct Account, region string) *falcon_container_image.CreateRegistryEntitiesParams {
	return falcon_container_image.NewCreateRegistryEntitiesParams().WithBody(regPayload(ECRURL(acct.ID, region), "ecr-onboard-"+acct.ID+"-"+region, acct.RoleARN, acct.ExternalID))
}

// regPayload builds a create-registry body.
func regPayload(url, alias, roleARN, extID string) *models.RegistryassessmentExternalRegistryPayload {
	return &models.RegistryassessmentExternalRegistryPayload{
		Type:             ptr("ecr"),
		URL:              ptr(url),
		UserDefinedAlias: alias,
		Credential: &models.RegistryassessmentExternalCredPayload{Details: map[string]any{
			"aws_iam_role":    roleARN,
			"aws_external_id": extID,
		}},
	}
}

// getRegistries reads registry entities by ids, one repeated parameter each.
func getRegistries(t *testing.T, e *env, ids ...string) models.DomainExternalRegistryListResponse {
	t.Helper()
	resp := do(t, e.srv, http.MethodGet, pathRegistryEntities+"?ids="+strings.Join(ids, "&ids="), mustToken(t, e))
	require.Equal(t, http.StatusOK, resp.StatusCode)
	var body models.DomainExternalRegistryListResponse
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&body))
	require.NoError(t, body.Validate(strfmt.Default))
	return body
}

// mustToken fetches an access token with a plain form POST.
func mustToken(t *testing.T, e *env) string {
	t.Helper()
	form := url.Values{"client_id": {e.sim.Options().ClientID}, "client_secret": {e.sim.Options().ClientSecret}}
	resp, err := e.srv.Client().PostForm(e.srv.URL+pathToken, form)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusCreated, resp.StatusCode)
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&tok))
	return tok.AccessToken
}

// accountQuery is CSPM's account query with the products and features the
// API specification requires: every account CSPM registers.
func accountQuery() *cloud_aws_registration.CloudRegistrationAwsQueryAccountsParams {
	return cloud_aws_registration.NewCloudRegistrationAwsQueryAccountsParams().WithProducts([]string{"cspm"}).WithFeatures([]string{"iom"})
}
