package awsapi_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/crowdstrike-ecr/ecr-onboard/internal/awsapi"
	"github.com/crowdstrike-ecr/ecr-onboard/internal/awsapi/orgtest"
	"github.com/crowdstrike-ecr/ecr-onboard/internal/mototest"
	"github.com/crowdstrike-ecr/ecr-onboard/internal/onboard"
)

const (
	connector = "arn:aws:iam::292230061137:role/CrowdStrikeCSPMConnector"
	registry  = "arn:aws:iam::292230061137:role/CrowdStrikeCustomerRegistryAssessmentRole"
)

func statement(principals, condition string) string {
	if condition != "" {
		condition = `,"Condition":` + condition
	}
	return `{"Effect":"Allow","Principal":{"AWS":` + principals + `},"Action":"sts:AssumeRole"` + condition + `}`
}

func doc(statements ...string) string {
	return `{"Version":"2012-10-17","Statement":[` + strings.Join(statements, ",") + `]}`
}

func withID(id string) string { return `{"StringEquals":{"sts:ExternalId":"` + id + `"}}` }

// TestTrustReader runs VERIFY_TRUST's check through the real AWS SDK against
// moto: a member account per case, each with its CSPM role and (mostly) the
// member stack's trust reader, moto enforcing every caller's permissions.
func TestTrustReader(t *testing.T) {
	org := orgtest.New(t)
	both := `["` + connector + `","` + registry + `"]`
	type member struct {
		id, externalID string
		policy         string
		reader         string // "": no reader role; "cspm": reads the CSPM role; else reads that ARN
		roleARN        string // CSPM's record of the role (default: the role created)
	}
	cases := map[string]struct {
		member
		refused []string // substrings of the reason; none: passes
	}{
		"CSPM statement with the ID, registry principal in it": {
			member: member{id: "111111111111", externalID: "ext-1111", policy: doc(statement(both, withID("ext-1111"))), reader: "cspm"},
		},
		"CSPM statement with the ID, registry principal not yet trusted": {
			member: member{id: "111111111112", externalID: "ext-1112", policy: doc(statement(`"`+connector+`"`, withID("ext-1112"))), reader: "cspm"},
		},
		"no sts:ExternalId condition": {
			member:  member{id: "222222222222", externalID: "ext-2222", policy: doc(statement(both, "")), reader: "cspm"},
			refused: []string{"VERIFY_TRUST: the trust policy of arn:aws:iam::222222222222:role/cspm/CrowdStrikeCSPMReader lets CrowdStrike (or anyone) in without CSPM's external ID", "statement 1 lets " + connector + ", " + registry + " assume the role but has no sts:ExternalId condition"},
		},
		"another account's external ID": {
			member:  member{id: "222222222223", externalID: "ext-2223", policy: doc(statement(both, withID("ext-1111"))), reader: "cspm"},
			refused: []string{"with another sts:ExternalId than CSPM's"},
		},
		`"*"`: {
			member:  member{id: "333333333333", externalID: "ext-3333", policy: doc(statement(both, withID("ext-3333")), statement(`"*"`, "")), reader: "cspm"},
			refused: []string{`statement 2 lets any AWS principal ("*") assume the role`},
		},
		"no trust reader deployed": {
			// AWS: AccessDenied on sts:AssumeRole ("cannot assume"). moto hands
			// out credentials for a role that does not exist; the read then fails.
			member:  member{id: "444444444444", externalID: "ext-4444", policy: doc(statement(both, withID("ext-4444")))},
			refused: []string{"VERIFY_TRUST: cannot read the trust policy of arn:aws:iam::444444444444:role/cspm/CrowdStrikeCSPMReader as EcrOnboardTrustReader: HTTP 500"},
		},
		"reader prepared for another role": {
			member:  member{id: "555555555555", externalID: "ext-5555", policy: doc(statement(both, withID("ext-5555"))), reader: "arn:aws:iam::555555555555:role/Other"},
			refused: []string{"cannot read the trust policy of arn:aws:iam::555555555555:role/cspm/CrowdStrikeCSPMReader as EcrOnboardTrustReader: UnknownError (HTTP 403)", "check its CspmRoleName"},
		},
		"CSPM's ARN has another path than the role": {
			member:  member{id: "666666666666", externalID: "ext-6666", policy: doc(statement(both, withID("ext-6666"))), reader: "*", roleARN: "arn:aws:iam::666666666666:role/CrowdStrikeCSPMReader"},
			refused: []string{"the account's role of that name is arn:aws:iam::666666666666:role/cspm/CrowdStrikeCSPMReader"},
		},
	}
	accounts := map[string]onboard.Account{}
	for name, c := range cases {
		m := org.Member(c.id)
		arn := m.CSPMRole("CrowdStrikeCSPMReader", "/cspm/", c.policy)
		switch c.reader {
		case "":
		case "cspm":
			m.TrustReader(arn)
		default:
			m.TrustReader(c.reader)
		}
		if c.roleARN != "" {
			arn = c.roleARN
		}
		accounts[name] = onboard.Account{ID: c.id, Type: "commercial", RoleARN: arn, ExternalID: c.externalID}
	}
	cfg := org.FunctionConfig()
	org.Enforce()
	verifier := awsapi.TrustReader{STS: sts.NewFromConfig(cfg), AWS: cfg, RoleName: orgtest.ReaderRole, HomePartition: "aws"}

	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			before := len(org.Calls())
			r := verifier.VerifyTrust(context.Background(), accounts[name])
			assert.Equal(t, []string{"STS.AssumeRole", "IAM.GetRole"}, org.Calls()[before:], "two calls per account")
			if len(c.refused) == 0 {
				assert.Nil(t, r)
				return
			}
			require.NotNil(t, r)
			for _, want := range c.refused {
				assert.Contains(t, r.Reason, want)
			}
			for _, other := range cases {
				assert.NotContains(t, r.Reason, other.externalID, "no external ID in a reason")
			}
		})
	}
}

// TestTrustReaderCannotAssume: the function may assume only the configured
// reader name (the template's grant); any other name is denied by moto's
// permission check, as AWS would.
func TestTrustReaderCannotAssume(t *testing.T) {
	org := orgtest.New(t)
	m := org.Member("111111111111")
	arn := m.CSPMRole("CSPM", "/", doc(statement(`"`+connector+`"`, withID("ext-1"))))
	m.TrustReader(arn)
	cfg := org.FunctionConfig()
	org.Enforce()

	verifier := awsapi.TrustReader{STS: sts.NewFromConfig(cfg), AWS: cfg, RoleName: "SomeOtherReader", HomePartition: "aws"}
	r := verifier.VerifyTrust(context.Background(), onboard.Account{ID: "111111111111", RoleARN: arn, ExternalID: "ext-1"})
	require.NotNil(t, r)
	assert.Equal(t, "VERIFY_TRUST: cannot assume arn:aws:iam::111111111111:role/SomeOtherReader: AccessDenied (HTTP 403) — deploy the member stack (deploy/member/template.yaml) in account 111111111111 with TrustReader=true and OnboardingRoleArn set to this function's role", r.Reason)
	assert.Equal(t, []string{"STS.AssumeRole"}, org.Calls(), "nothing read without the reader")
}

// TestTrustReaderRefusesWithoutACall: what is wrong before any AWS call.
func TestTrustReaderRefusesWithoutACall(t *testing.T) {
	verifier := awsapi.TrustReader{STS: nil, RoleName: orgtest.ReaderRole, HomePartition: "aws"} // a call would panic
	for name, tc := range map[string]struct {
		account onboard.Account
		want    string
	}{
		"GovCloud role from a commercial function": {
			onboard.Account{ID: "111111111111", RoleARN: "arn:aws-us-gov:iam::111111111111:role/CSPM", ExternalID: "x"},
			"VERIFY_TRUST: the CSPM role is in partition aws-us-gov and this function runs in aws: its trust policy cannot be read from here",
		},
		"role of another account": {
			onboard.Account{ID: "111111111111", RoleARN: "arn:aws:iam::222222222222:role/CSPM", ExternalID: "x"},
			"VERIFY_TRUST: CSPM's role ARN is not a role of account 111111111111: nothing to read",
		},
	} {
		t.Run(name, func(t *testing.T) {
			r := verifier.VerifyTrust(context.Background(), tc.account)
			require.NotNil(t, r)
			assert.Equal(t, tc.want, r.Reason)
		})
	}
}

// signingRegions records the region each request to STS was signed for
// (the credential scope of its SigV4 Authorization header: what AWS routes
// and checks), around the real HTTP client.
type signingRegions struct {
	next    aws.HTTPClient
	mu      sync.Mutex
	regions []string
}

var credentialScope = regexp.MustCompile(`Credential=[^/]+/[0-9]+/([a-z0-9-]+)/sts/aws4_request`)

func (s *signingRegions) Do(req *http.Request) (*http.Response, error) {
	if m := credentialScope.FindStringSubmatch(req.Header.Get("Authorization")); m != nil {
		s.mu.Lock()
		s.regions = append(s.regions, m[1])
		s.mu.Unlock()
	}
	return s.next.Do(req)
}

// A function deployed in an opt-in region (af-south-1) reads trust policies
// through STS in us-east-1, where every account of the partition can be
// reached: STS in an opt-in region issues credentials only for accounts
// that enabled that region (IAM User Guide, "Manage AWS STS in an AWS
// Region"), and us-east-1's STS is active in every account and cannot be
// deactivated ("AWS STS Regions and endpoints"). Against moto, which answers
// in any region: the check passes and each AssumeRole was signed for
// us-east-1.
func TestTrustReaderAssumesWhereEveryAccountIsReachable(t *testing.T) {
	org := orgtest.New(t)
	m := org.Member("111111111111")
	arn := m.CSPMRole("CSPM", "/", doc(statement(`["`+connector+`","`+registry+`"]`, withID("ext-1"))))
	m.TrustReader(arn)
	cfg := org.FunctionConfig()
	org.Enforce()
	cfg.Region = "af-south-1" // the function's own region: an opt-in region
	signed := &signingRegions{next: mototest.HTTPClient()}
	cfg.HTTPClient = signed

	verifier := awsapi.TrustReader{STS: sts.NewFromConfig(cfg), AWS: cfg, RoleName: orgtest.ReaderRole, HomePartition: "aws"}
	r := verifier.VerifyTrust(context.Background(), onboard.Account{ID: "111111111111", RoleARN: arn, ExternalID: "ext-1"})

	assert.Nil(t, r)
	assert.Equal(t, []string{"STS.AssumeRole", "IAM.GetRole"}, org.Calls())
	assert.Equal(t, []string{"us-east-1"}, signed.regions)
}

// stsError is an STS endpoint that answers every call with one error, as
// AWS words it (moto never answers these).
func stsError(t *testing.T, status int, code, message string) aws.Config {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/xml")
		w.WriteHeader(status)
		fmt.Fprintf(w, `<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>Sender</Type>`+
			`<Code>%s</Code><Message>%s</Message></Error><RequestId>4d5e6f70-0000-4000-8000-000000000000</RequestId></ErrorResponse>`, code, message)
	}))
	t.Cleanup(srv.Close)
	return aws.Config{Region: "us-east-1", BaseEndpoint: aws.String(srv.URL), RetryMaxAttempts: 1, HTTPClient: mototest.HTTPClient(),
		Credentials: credentials.NewStaticCredentialsProvider("AKIDEXAMPLE", "secret", "")}
}

// When STS still cannot issue the reader's credentials, the reason names the
// cause, not "deploy the member stack", which cannot fix it.
func TestTrustReaderNamesWhySTSRefused(t *testing.T) {
	account := onboard.Account{ID: "111111111111", RoleARN: "arn:aws:iam::111111111111:role/CSPM", ExternalID: "ext-1"}
	for name, tc := range map[string]struct {
		status        int
		code, message string
		want          string
	}{
		"region not active for the member account": {403, "RegionDisabledException",
			"STS is not activated in this region for account:111111111111. Your account administrator can activate STS in this region using the IAM Console.",
			"VERIFY_TRUST: cannot assume arn:aws:iam::111111111111:role/EcrOnboardTrustReader: STS in us-east-1 is not active for account 111111111111 " +
				"(RegionDisabledException (HTTP 403)) — activate it in that account (IAM, Account settings, Security Token Service endpoints); the member stack cannot fix this"},
		"the function's own credentials refused": {403, "InvalidClientTokenId", "The security token included in the request is invalid.",
			"VERIFY_TRUST: cannot assume arn:aws:iam::111111111111:role/EcrOnboardTrustReader: STS in us-east-1 refused this function's own credentials " +
				"(InvalidClientTokenId (HTTP 403)), so no member account could be read; the member stack cannot fix this"},
	} {
		t.Run(name, func(t *testing.T) {
			cfg := stsError(t, tc.status, tc.code, tc.message)
			verifier := awsapi.TrustReader{STS: sts.NewFromConfig(cfg), AWS: cfg, RoleName: orgtest.ReaderRole, HomePartition: "aws"}
			r := verifier.VerifyTrust(context.Background(), account)
			require.NotNil(t, r)
			assert.Equal(t, tc.want, r.Reason)
			assert.NotContains(t, r.Reason, "deploy the member stack")
		})
	}
}
