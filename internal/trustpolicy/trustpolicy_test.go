package trustpolicy

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/crowdstrike-ecr/ecr-onboard/internal/crowdstrike"
)

const (
	extID   = "a1b2c3d4e5f60718293a4b5c6d7e8f90"
	cspm    = "arn:aws:iam::292230061137:role/CrowdStrikeCSPMConnector"
	reg     = "arn:aws:iam::292230061137:role/CrowdStrikeCustomerRegistryAssessmentRole"
	govCSPM = "arn:aws-us-gov:iam::358431324613:role/CrowdStrikeCSPMConnector"
	govReg  = "arn:aws-us-gov:iam::358431324613:role/CrowdStrikeCustomerRegistryAssessmentRole"
)

// The constants above are the table's, spelled out so a change to the
// table shows up here.
func TestPrincipalsAreTheTable(t *testing.T) {
	for partition, want := range map[string][2]string{"aws": {cspm, reg}, "aws-us-gov": {govCSPM, govReg}} {
		p, err := crowdstrike.For(partition)
		require.NoError(t, err)
		assert.Equal(t, want, [2]string{p.CSPMConnector, p.RegistryAssessment})
	}
}

var commercial = Want{Partition: "aws", ExternalID: extID, CSPMPrincipal: cspm}

// cspmOnly is the policy CSPM registration leaves on its role.
const cspmOnly = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"` + cspm + `"},"Action":"sts:AssumeRole","Condition":{"StringEquals":{"sts:ExternalId":"` + extID + `"}}}]}`

// decoded parses a document for semantic comparisons.
func decoded(t *testing.T, doc []byte) map[string]any {
	t.Helper()
	var m map[string]any
	require.NoError(t, json.Unmarshal(doc, &m))
	return m
}

func statements(t *testing.T, doc []byte) []any {
	t.Helper()
	switch s := decoded(t, doc)["Statement"].(type) {
	case []any:
		return s
	case map[string]any:
		return []any{s}
	}
	t.Fatalf("no statements in %s", doc)
	return nil
}

func TestAnalyze(t *testing.T) {
	for name, tc := range map[string]struct {
		policy  string
		want    Want
		refused []string // substrings, one per refusal
		missing []string // substrings, one per change
		check   func(t *testing.T, a *Analysis)
	}{
		"CSPM-only policy gets the registry principal added to its statement": {
			policy:  cspmOnly,
			want:    commercial,
			missing: []string{"registry-assessment principal " + reg + " is not trusted"},
			check: func(t *testing.T, a *Analysis) {
				st := statements(t, a.Updated)
				require.Len(t, st, 1)
				s := st[0].(map[string]any)
				assert.Equal(t, []any{cspm, reg}, s["Principal"].(map[string]any)["AWS"])
				assert.Equal(t, map[string]any{"StringEquals": map[string]any{"sts:ExternalId": extID}}, s["Condition"])
			},
		},
		"already correct: one statement with both principals": {
			policy: `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":["` + cspm + `","` + reg + `"]},"Action":["sts:AssumeRole"],"Condition":{"StringEquals":{"sts:ExternalId":["` + extID + `"]}}}]}`,
			want:   commercial,
		},
		"already correct: registry principal in its own statement (deploy/apply-trust-policy.sh)": {
			policy: `{"Version":"2012-10-17","Statement":[
				{"Effect":"Allow","Principal":{"AWS":"` + cspm + `"},"Action":"sts:AssumeRole","Condition":{"StringEquals":{"sts:ExternalId":"` + extID + `"}}},
				{"Sid":"CrowdStrikeRegistryAssessment","Effect":"Allow","Principal":{"AWS":"` + reg + `"},"Action":"sts:AssumeRole","Condition":{"StringEquals":{"sts:ExternalId":"` + extID + `"}}}]}`,
			want: commercial,
		},
		"statement as a single object stays an object": {
			policy:  `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":{"AWS":"` + cspm + `"},"Action":"sts:AssumeRole","Condition":{"StringEquals":{"sts:ExternalId":"` + extID + `"}}}}`,
			want:    commercial,
			missing: []string{"is not trusted"},
			check: func(t *testing.T, a *Analysis) {
				s, ok := decoded(t, a.Updated)["Statement"].(map[string]any)
				require.True(t, ok, "Statement is still an object: %s", a.Updated)
				assert.Equal(t, []any{cspm, reg}, s["Principal"].(map[string]any)["AWS"])
			},
		},
		"principal as array keeps its other entries": {
			policy:  `{"Statement":[{"Effect":"Allow","Principal":{"AWS":["` + cspm + `","arn:aws:iam::292230061137:role/Other"]},"Action":"sts:AssumeRole","Condition":{"StringEquals":{"sts:ExternalId":"` + extID + `"}}}]}`,
			want:    commercial,
			missing: []string{"is not trusted"},
			check: func(t *testing.T, a *Analysis) {
				s := statements(t, a.Updated)[0].(map[string]any)
				assert.Equal(t, []any{cspm, "arn:aws:iam::292230061137:role/Other", reg}, s["Principal"].(map[string]any)["AWS"])
			},
		},
		"unrelated statements are preserved untouched, unknown fields included": {
			policy: `{"Version":"2012-10-17","Id":"keep-me","Statement":[
				{"Sid":"Ec2","Effect":"Allow","Principal":{"Service":["ec2.amazonaws.com"]},"Action":"sts:AssumeRole","X-Custom":{"n":1.50}},
				{"Sid":"Ours","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:role/Admin"},"Action":["sts:AssumeRole","sts:TagSession"],"Condition":{"Bool":{"aws:MultiFactorAuthPresent":"true"}}},
				{"Sid":"NoOIDC","Effect":"Deny","Principal":"*","Action":"sts:AssumeRoleWithWebIdentity"},
				{"Sid":"CSPM","Effect":"Allow","Principal":{"AWS":"` + cspm + `"},"Action":"sts:AssumeRole","Condition":{"StringEquals":{"sts:ExternalId":"` + extID + `"}}}]}`,
			want:    commercial,
			missing: []string{`statement 4 ("CSPM")`},
			check: func(t *testing.T, a *Analysis) {
				before, after := statements(t, a.Before), statements(t, a.Updated)
				require.Len(t, after, 4)
				assert.Equal(t, before[:3], after[:3])
				assert.Contains(t, string(a.Updated), `"n":1.50`, "numbers kept as written")
				assert.Equal(t, "keep-me", decoded(t, a.Updated)["Id"])
			},
		},
		"missing condition on the CSPM statement is refused (seeds 003/004)": {
			policy:  `{"Statement":[{"Effect":"Allow","Principal":{"AWS":"` + cspm + `"},"Action":"sts:AssumeRole"}]}`,
			want:    commercial,
			refused: []string{"has no sts:ExternalId condition"},
		},
		"IfExists condition does not require the ID: refused": {
			policy:  `{"Statement":[{"Effect":"Allow","Principal":{"AWS":"` + cspm + `"},"Action":"sts:AssumeRole","Condition":{"StringEqualsIfExists":{"sts:ExternalId":"` + extID + `"}}}]}`,
			want:    commercial,
			refused: []string{"does not require the external ID (sts:ExternalId only under StringEqualsIfExists)"},
		},
		"registry principal without condition is refused": {
			policy:  `{"Statement":[` + cspmStatement(cspm, extID) + `,{"Effect":"Allow","Principal":{"AWS":"` + reg + `"},"Action":"sts:AssumeRole"}]}`,
			want:    commercial,
			refused: []string{"lets " + reg + " assume the role but has no sts:ExternalId condition"},
		},
		"wrong external ID on the CSPM statement is refused, showing both": {
			policy:  `{"Statement":[{"Effect":"Allow","Principal":{"AWS":"` + cspm + `"},"Action":"sts:AssumeRole","Condition":{"StringEquals":{"sts:ExternalId":"someone-elses-id"}}}]}`,
			want:    Want{Partition: "aws", ExternalID: extID}, // CSPM gave no principal: the default is checked
			refused: []string{"trusts the CSPM principal " + cspm + " with another sts:ExternalId than CSPM's for this account"},
		},
		"CSPM statement that also accepts another ID is refused": {
			policy:  `{"Statement":[{"Effect":"Allow","Principal":{"AWS":"` + cspm + `"},"Action":"sts:AssumeRole","Condition":{"StringEquals":{"sts:ExternalId":["` + extID + `","other"]}}}]}`,
			want:    commercial,
			refused: []string{"with another sts:ExternalId than CSPM's for this account (or with more than one)"},
		},
		`Principal "*" is refused`: {
			policy:  `{"Statement":[` + cspmStatement(cspm, extID) + `,{"Effect":"Allow","Principal":"*","Action":"sts:AssumeRole","Condition":{"StringEquals":{"aws:PrincipalOrgID":"o-123"}}}]}`,
			want:    commercial,
			refused: []string{`statement 2 lets any AWS principal ("*") assume the role`},
		},
		`AWS "*" with sts:* is refused`: {
			policy:  `{"Statement":[` + cspmStatement(cspm, extID) + `,{"Effect":"Allow","Principal":{"AWS":["arn:aws:iam::111122223333:root","*"]},"Action":"sts:*"}]}`,
			want:    commercial,
			refused: []string{`any AWS principal ("*")`},
		},
		"NotPrincipal with Allow is refused": {
			policy:  `{"Statement":[` + cspmStatement(cspm, extID) + `,{"Effect":"Allow","NotPrincipal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"sts:AssumeRole"}]}`,
			want:    commercial,
			refused: []string{"NotPrincipal"},
		},
		"registry principal under an old external ID is moved to the CSPM statement": {
			policy: `{"Statement":[` + cspmStatement(cspm, extID) + `,` +
				`{"Sid":"CrowdStrikeRegistryAssessment","Effect":"Allow","Principal":{"AWS":"` + reg + `"},"Action":"sts:AssumeRole","Condition":{"StringEquals":{"sts:ExternalId":"old-id"}}}]}`,
			want:    commercial,
			missing: []string{`statement 2 ("CrowdStrikeRegistryAssessment") trusts the registry-assessment principal with another sts:ExternalId`, "is not trusted"},
			check: func(t *testing.T, a *Analysis) {
				st := statements(t, a.Updated)
				require.Len(t, st, 1, "the emptied old statement is dropped")
				assert.Equal(t, []any{cspm, reg}, st[0].(map[string]any)["Principal"].(map[string]any)["AWS"])
			},
		},
		"CSPM principal taken from the policy when CSPM gives none": {
			policy:  cspmStatementDoc("arn:aws:iam::292230061137:role/CrowdStrikeCSPMConnector-EU", extID),
			want:    Want{Partition: "aws", ExternalID: extID},
			missing: []string{"is not trusted"},
			check: func(t *testing.T, a *Analysis) {
				assert.Equal(t, "arn:aws:iam::292230061137:role/CrowdStrikeCSPMConnector-EU", a.CSPM)
				assert.Equal(t, SourcePolicy, a.CSPMSource)
			},
		},
		"no CSPM statement at all: new statement with both principals": {
			policy:  `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}]}`,
			want:    Want{Partition: "aws", ExternalID: extID},
			missing: []string{"no statement trusts the CSPM principal " + cspm},
			check: func(t *testing.T, a *Analysis) {
				assert.Equal(t, SourceDefault, a.CSPMSource)
				st := statements(t, a.Updated)
				require.Len(t, st, 2)
				added := st[1].(map[string]any)
				assert.Equal(t, StatementSid, added["Sid"])
				assert.Equal(t, []any{cspm, reg}, added["Principal"].(map[string]any)["AWS"])
			},
		},
		"GovCloud uses the GovCloud principals": {
			policy:  cspmStatementDoc(govCSPM, extID),
			want:    Want{Partition: "aws-us-gov", ExternalID: extID},
			missing: []string{"registry-assessment principal " + govReg},
			check: func(t *testing.T, a *Analysis) {
				assert.Equal(t, govCSPM, a.CSPM)
				assert.Equal(t, govReg, a.Registry)
				assert.NotContains(t, string(a.Updated), "arn:aws:iam::")
			},
		},
		"GovCloud default CSPM principal": {
			policy:  `{"Statement":[]}`,
			want:    Want{Partition: "aws-us-gov", ExternalID: extID},
			missing: []string{"no statement trusts the CSPM principal " + govCSPM},
			check: func(t *testing.T, a *Analysis) {
				assert.Equal(t, SourceDefault, a.CSPMSource)
				assert.Equal(t, []any{govCSPM, govReg}, statements(t, a.Updated)[0].(map[string]any)["Principal"].(map[string]any)["AWS"])
			},
		},
	} {
		t.Run(name, func(t *testing.T) {
			a, err := Analyze(tc.policy, tc.want)
			require.NoError(t, err)
			assertNoExternalID(t, append(a.Refusals, a.Missing...)...)
			require.Len(t, a.Refusals, len(tc.refused), "refusals: %q", a.Refusals)
			for i, r := range tc.refused {
				assert.Contains(t, a.Refusals[i], r)
			}
			if len(tc.refused) > 0 {
				assert.Nil(t, a.Updated, "nothing to write when refused")
				assert.False(t, a.Correct())
				return
			}
			require.Len(t, a.Missing, len(tc.missing), "missing: %q", a.Missing)
			for i, m := range tc.missing {
				assert.Contains(t, a.Missing[i], m)
			}
			if len(tc.missing) == 0 {
				assert.True(t, a.Correct())
				assert.Nil(t, a.Updated, "no change needed")
				assert.Equal(t, a.Before, a.After)
				return
			}
			require.NotNil(t, a.Updated)
			assert.Equal(t, decoded(t, a.Updated), decoded(t, a.After))
			// The merged policy is itself correct, and never trusts more
			// than the two principals beyond what it trusted before.
			again, err := Analyze(string(a.Updated), tc.want)
			require.NoError(t, err)
			assert.True(t, again.Correct(), "merged policy still missing: %q %q", again.Missing, again.Refusals)
			assert.Subset(t, append(awsPrincipals(t, a.Before), a.CSPM, a.Registry), awsPrincipals(t, a.Updated))
			if tc.check != nil {
				tc.check(t, a)
			}
		})
	}
}

// assertNoExternalID: refusals and changes describe statements, never the
// IDs in them (they go to reports, logs and CloudFormation events).
func assertNoExternalID(t *testing.T, texts ...string) {
	t.Helper()
	for _, text := range texts {
		for _, id := range []string{extID, "someone-elses-id", "old-id", `"other"`} {
			assert.NotContains(t, text, id)
		}
	}
}

func cspmStatement(principal, id string) string {
	return `{"Effect":"Allow","Principal":{"AWS":"` + principal + `"},"Action":"sts:AssumeRole","Condition":{"StringEquals":{"sts:ExternalId":"` + id + `"}}}`
}

func cspmStatementDoc(principal, id string) string {
	return `{"Version":"2012-10-17","Statement":[` + cspmStatement(principal, id) + `]}`
}

func awsPrincipals(t *testing.T, doc []byte) []string {
	var out []string
	for _, s := range statements(t, doc) {
		p, _ := s.(map[string]any)["Principal"].(map[string]any)
		l, _ := stringList(p["AWS"])
		out = append(out, l...)
	}
	return out
}

func TestAnalyzeRejectsBadInput(t *testing.T) {
	for name, tc := range map[string]struct {
		policy string
		want   Want
		err    string
	}{
		"not JSON":                            {"{", commercial, "not valid JSON"},
		"not an object":                       {"[]", commercial, "not a JSON object"},
		"statement is a string":               {`{"Statement":"x"}`, commercial, "neither an object nor an array"},
		"AWS is a number":                     {`{"Statement":[{"Effect":"Allow","Principal":{"AWS":1},"Action":"sts:AssumeRole"}]}`, commercial, "Principal.AWS"},
		"China partition":                     {cspmOnly, Want{Partition: "aws-cn", ExternalID: extID}, "aws-cn"},
		"empty external ID":                   {cspmOnly, Want{Partition: "aws", ExternalID: " "}, "external ID"},
		"CSPM principal in another partition": {cspmOnly, Want{Partition: "aws-us-gov", ExternalID: extID, CSPMPrincipal: cspm}, "partition aws-us-gov"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := Analyze(tc.policy, tc.want)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.err)
		})
	}
}

func TestDocument(t *testing.T) {
	p, err := Resolve(Want{Partition: "aws", ExternalID: extID}, "")
	require.NoError(t, err)
	assert.Equal(t, Principals{CSPM: cspm, CSPMSource: SourceDefault, Registry: reg}, p)
	want := `{
  "Version": "2012-10-17",
  "Statement": [
    {
      "Sid": "CrowdStrikeCSPMAndRegistryAssessment",
      "Effect": "Allow",
      "Principal": {
        "AWS": [
          "arn:aws:iam::292230061137:role/CrowdStrikeCSPMConnector",
          "arn:aws:iam::292230061137:role/CrowdStrikeCustomerRegistryAssessmentRole"
        ]
      },
      "Action": "sts:AssumeRole",
      "Condition": {
        "StringEquals": {
          "sts:ExternalId": "` + extID + `"
        }
      }
    }
  ]
}
`
	assert.Equal(t, want, string(Document(p, extID)))

	// Resolve prefers CSPM's own answer, then the policy.
	p, err = Resolve(commercial, cspmStatementDoc("arn:aws:iam::292230061137:role/X", extID))
	require.NoError(t, err)
	assert.Equal(t, SourceCSPM, p.CSPMSource)
	p, err = Resolve(Want{Partition: "aws", ExternalID: extID}, cspmStatementDoc("arn:aws:iam::292230061137:role/X", extID))
	require.NoError(t, err)
	assert.Equal(t, Principals{CSPM: "arn:aws:iam::292230061137:role/X", CSPMSource: SourcePolicy, Registry: reg}, p)
}

func TestDiff(t *testing.T) {
	a, err := Analyze(cspmOnly, commercial)
	require.NoError(t, err)
	d := Diff("before", a.Before, "after", a.After)
	assert.True(t, strings.HasPrefix(d, "--- before\n+++ after\n"))
	assert.Contains(t, d, "-         \"AWS\": \""+cspm+"\"\n")
	assert.Contains(t, d, "+           \""+reg+"\"\n")
	assert.Contains(t, d, "  \"Version\": \"2012-10-17\",\n")
	for _, l := range strings.Split(strings.TrimSpace(d), "\n")[2:] {
		assert.Regexp(t, `^[ +-] `, l)
	}
}

func TestGlob(t *testing.T) {
	for pattern, want := range map[string]bool{
		"sts:AssumeRole": true, "STS:assumerole": true, "sts:*": true, "*": true, "sts:Assume*": true,
		"sts:AssumeRol?": true, "sts:AssumeRoleWithSAML": false, "sts:TagSession": false, "iam:*": false,
	} {
		assert.Equal(t, want, matchesAssumeRole(pattern), pattern)
	}
}
