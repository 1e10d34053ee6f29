package falcon_test

// Fuzzing API response decoding through the real adapter. The
// fuzzed bytes are the body of one endpoint's answer; the rest of the API is
// a fixed in-memory stub (no sockets, no TLS: iterations stay cheap). The
// client is built once per fuzz process.
//
//	go test -run '^$' -fuzz '^FuzzRegistriesResponse$' -fuzztime 30s ./internal/falcon
//	go test -run '^$' -fuzz '^FuzzAccountsResponse$' -fuzztime 30s ./internal/falcon

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/crowdstrike-ecr/ecr-onboard/internal/falcon"
	"github.com/crowdstrike-ecr/ecr-onboard/internal/onboard"
)

// stubAPI answers the token and query endpoints with fixed bodies and one
// entities endpoint with whatever body/status is current.
type stubAPI struct {
	entitiesPath string
	queryBody    string
	body         atomic.Pointer[[]byte]
	status       atomic.Int32
	writes       atomic.Int64
}

func (s *stubAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	switch {
	case r.Method == http.MethodPost && r.URL.Path == tokenPath:
		w.WriteHeader(http.StatusCreated)
		_, _ = w.Write([]byte(`{"access_token":"fuzz-token","token_type":"bearer","expires_in":1800}`))
	case r.Method != http.MethodGet:
		s.writes.Add(1)
		w.WriteHeader(http.StatusInternalServerError)
		_, _ = w.Write([]byte(`{}`))
	case r.URL.Path == s.entitiesPath:
		w.WriteHeader(int(s.status.Load()))
		_, _ = w.Write(*s.body.Load())
	case r.URL.Path == accountsQ || r.URL.Path == registriesQ:
		_, _ = w.Write([]byte(s.queryBody))
	default:
		w.WriteHeader(http.StatusNotFound)
		_, _ = w.Write([]byte(`{}`))
	}
}

// inMemory serves requests with h without a network.
func inMemory(h http.Handler) *http.Client {
	return &http.Client{Transport: rtFunc(func(r *http.Request) (*http.Response, error) {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		resp := rec.Result()
		resp.Request = r
		return resp, nil
	})}
}

func newStubClient(f *testing.F, api *stubAPI) *falcon.Client {
	fc, err := falcon.New(context.Background(), falcon.Config{
		ClientID: "fuzz-id", ClientSecret: "fuzz-secret", BaseURL: "https://falcon.fuzz",
		HTTPClient: inMemory(api), Concurrency: 1,
	})
	if err != nil {
		f.Fatal(err)
	}
	return fc
}

const fuzzQuery = `{"meta":{"query_time":0.001,"trace_id":"t","pagination":{"limit":500,"offset":0,"total":3}},"resources":[%s]}`

func queryOf(ids ...string) string {
	return strings.Replace(fuzzQuery, "%s", `"`+strings.Join(ids, `","`)+`"`, 1)
}

// FuzzRegistriesResponse: any body of GET /container-security/entities/registries/v1
// yields an error or registries that all have an ID and a normalized URL;
// never a panic, never a write.
func FuzzRegistriesResponse(f *testing.F) {
	for _, s := range []string{
		`{"meta":{"query_time":0.001,"trace_id":"t"},"resources":[{"id":"r1","type":"ecr","url":"https://111111111111.dkr.ecr.us-east-1.amazonaws.com","user_defined_alias":"ecr-onboard-111111111111-us-east-1","credential":{"details":{"aws_iam_role":"arn:aws:iam::111111111111:role/R","aws_external_id":"x"}}}]}`,
		`{"resources":[{"id":"r2","type":"ECR","url":"HTTPS://222222222222.DKR.ECR.cn-north-1.amazonaws.com.cn//"}]}`,
		`{"resources":[{"id":"r3","type":"docker","url":"https://index.docker.io/","credential":{"details":"not-an-object"}}]}`,
		`{"resources":[{"id":"","url":"https://x"}]}`,
		`{"resources":[{"id":"r4"}]}`,
		`{"resources":[null]}`,
		`{"resources":null}`,
		`{"resources":{}}`,
		`{"meta":{}}`,
		`{"resources":[{"id":"r5","url":" \t"}]}`,
		`{"resources":[{"id":"r6","url":"https://333333333333.dkr.ecr.us-east-1.amazonaws.com","credential":{"details":{"aws_iam_role":7,"aws_external_id":null}}}]}`,
		`[]`, `null`, ``, `{`, `<html>502</html>`,
	} {
		f.Add([]byte(s))
	}
	api := &stubAPI{entitiesPath: registriesPath, queryBody: queryOf("r1", "r2", "r3")}
	api.status.Store(http.StatusOK)
	fc := newStubClient(f, api)
	f.Fuzz(func(t *testing.T, body []byte) {
		api.body.Store(&body)
		regs, err := fc.Registries(context.Background())
		if api.writes.Load() != 0 {
			t.Fatal("listing registries wrote to the API")
		}
		if err != nil {
			return
		}
		for i, r := range regs {
			if r.ID == "" {
				t.Fatalf("registry %d without ID: %+v", i, r)
			}
			if r.URL == "" || r.URL == "https://" || onboard.NormalizeURL(r.URL) != r.URL {
				t.Fatalf("registry %s: URL %q is empty or not normalized", r.ID, r.URL)
			}
			if r.AccountID != "" || r.Region != "" {
				acc, region, ok := onboard.ParseECRURL(r.URL)
				if !ok || acc != r.AccountID || region != r.Region {
					t.Fatalf("registry %s: account/region %q/%q do not come from its URL %q", r.ID, r.AccountID, r.Region, r.URL)
				}
			}
		}
	})
}

// FuzzAccountsResponse: any body (200 or 207) of GET
// /cloud-security-registration-aws/entities/account/v1 yields an error, or
// accounts covering every listed ID whose plan only ever pairs an account
// with its own role and a unique, non-blank external ID; never a panic,
// never a write.
func FuzzAccountsResponse(f *testing.F) {
	acct := func(id, arn, ext string) string {
		return `{"account_id":"` + id + `","account_type":"commercial","active_regions":["us-east-1"],"resource_metadata":{"iam_role_arn":"` + arn + `","external_id":"` + ext + `"}}`
	}
	for _, s := range []struct {
		body  string
		multi bool
	}{
		{`{"meta":{"query_time":0.001,"trace_id":"t"},"resources":[` + acct("111111111111", "arn:aws:iam::111111111111:role/R", "e1") + `,` + acct("222222222222", "arn:aws:iam::222222222222:role/R", "e2") + `]}`, false},
		{`{"resources":[` + acct("111111111111", "arn:aws:iam::222222222222:role/R", "e1") + `],"errors":[{"code":404,"message":"account 333333333333 not found","id":"333333333333"}]}`, true},
		{`{"resources":[` + acct("111111111111", "arn:aws:iam::111111111111:role/R", "same") + `,` + acct("222222222222", "arn:aws:iam::222222222222:role/R", "same") + `]}`, false},
		{`{"resources":[` + acct("111111111111", "arn:aws:iam::111111111111:role/R", " pad") + `,` + acct("111111111111", "arn:aws:iam::111111111111:role/S", "e9") + `]}`, false},
		{`{"resources":[{"account_id":"333333333333","account_type":"gov","active_regions":["us-gov-west-1","us-east-1"],"resource_metadata":{"iam_role_arn":"arn:aws-us-gov:iam::333333333333:role/R","external_id":"g"}}]}`, false},
		{`{"resources":[{"account_id":"444444444444","active_regions":["../x"],"resource_metadata":null}]}`, true},
		{`{"resources":[null]}`, false},
		{`{"resources":null}`, true},
		{`{"resources":{}}`, false},
		{`{"meta":{}}`, false},
		{``, false},
		{`{`, true},
	} {
		f.Add([]byte(s.body), s.multi)
	}
	listed := []string{"111111111111", "222222222222", "333333333333"}
	api := &stubAPI{entitiesPath: accountEntities, queryBody: queryOf(listed...)}
	fc := newStubClient(f, api)
	f.Fuzz(func(t *testing.T, body []byte, multi bool) {
		api.body.Store(&body)
		api.status.Store(http.StatusOK)
		if multi {
			api.status.Store(http.StatusMultiStatus)
		}
		accounts, err := fc.Accounts(context.Background())
		if api.writes.Load() != 0 {
			t.Fatal("listing accounts wrote to the API")
		}
		if err != nil {
			return
		}
		byID := map[string][]onboard.Account{}
		for _, a := range accounts {
			byID[a.ID] = append(byID[a.ID], a)
		}
		for _, id := range listed {
			if len(byID[id]) == 0 {
				t.Fatalf("listed account %s missing from the result", id)
			}
		}
		plan := onboard.NewPlan(onboard.Observed{Accounts: accounts}, onboard.Policy{Owner: "ecr-onboard"})
		for _, a := range plan.Actions {
			r := a.Registry
			cred := r.Credential
			_, arnAccount, err := onboard.ParseRoleARN(cred.RoleARN)
			switch {
			case a.Kind != onboard.Create:
				t.Fatalf("nothing exists, yet planned %s", a.Kind)
			case err != nil || arnAccount != r.AccountID:
				t.Fatalf("account %s planned with role %q", r.AccountID, cred.RoleARN)
			case cred.ExternalID == "" || strings.TrimSpace(cred.ExternalID) != cred.ExternalID:
				t.Fatalf("account %s planned with external ID %q", r.AccountID, cred.ExternalID)
			}
			ok := false
			for _, src := range byID[r.AccountID] {
				ok = ok || (src.RoleARN == cred.RoleARN && src.ExternalID == cred.ExternalID)
			}
			if !ok {
				t.Fatalf("account %s planned with a credential CSPM did not return for it", r.AccountID)
			}
			if p, _, _ := onboard.ParseRoleARN(cred.RoleARN); onboard.Partition(r.Region) != p {
				t.Fatalf("role %s used for region %s of another partition", cred.RoleARN, r.Region)
			}
			if acc, region, ok := onboard.ParseECRURL(r.URL); !ok || acc != r.AccountID || region != r.Region {
				t.Fatalf("planned URL %q does not match %s/%s", r.URL, r.AccountID, r.Region)
			}
		}
	})
}
