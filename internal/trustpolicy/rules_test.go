package trustpolicy

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestVerify(t *testing.T) {
	const (
		ec2      = `{"Sid":"Ec2","Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}`
		admin    = `{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:role/Admin"},"Action":"sts:AssumeRole"}`
		denyAll  = `{"Effect":"Deny","Principal":"*","Action":"sts:AssumeRole","Condition":{"Bool":{"aws:SecureTransport":"false"}}}`
		both     = `{"Effect":"Allow","Principal":{"AWS":["` + cspm + `","` + reg + `"]},"Action":"sts:AssumeRole","Condition":{"StringEquals":{"sts:ExternalId":"` + extID + `"}}}`
		regNoID  = `{"Effect":"Allow","Principal":{"AWS":"` + reg + `"},"Action":"sts:AssumeRole"}`
		regOldID = `{"Effect":"Allow","Principal":{"AWS":"` + reg + `"},"Action":"sts:AssumeRole","Condition":{"StringEquals":{"sts:ExternalId":"old-id"}}}`
	)
	doc := func(statements ...string) string {
		out := `{"Version":"2012-10-17","Statement":[`
		for i, s := range statements {
			if i > 0 {
				out += ","
			}
			out += s
		}
		return out + "]}"
	}
	for name, tc := range map[string]struct {
		policy  string
		want    Want
		refused []string // substrings, one per refusal; none: the role is safe
	}{
		"both principals with CSPM's ID":             {policy: doc(both), want: commercial},
		"CSPM only, with CSPM's ID (not a hole)":     {policy: cspmOnly, want: commercial},
		"unrelated statements are not CrowdStrike's": {policy: doc(ec2, admin, denyAll, both), want: commercial},
		"registry principal in its own statement":    {policy: doc(cspmStatement(cspm, extID), cspmStatement(reg, extID)), want: commercial},
		"GovCloud": {
			policy: doc(`{"Effect":"Allow","Principal":{"AWS":["` + govCSPM + `","` + govReg + `"]},"Action":"sts:AssumeRole","Condition":{"StringEquals":{"sts:ExternalId":"` + extID + `"}}}`),
			want:   Want{Partition: "aws-us-gov", ExternalID: extID},
		},
		"CSPM statement without the condition": {
			policy: doc(`{"Effect":"Allow","Principal":{"AWS":"` + cspm + `"},"Action":"sts:AssumeRole"}`), want: commercial,
			refused: []string{"statement 1 lets " + cspm + " assume the role but has no sts:ExternalId condition"},
		},
		"registry principal without the condition": {
			policy: doc(both, regNoID), want: commercial,
			refused: []string{"statement 2 lets " + reg + " assume the role but has no sts:ExternalId condition"},
		},
		"condition only IfExists": {
			policy:  doc(`{"Effect":"Allow","Principal":{"AWS":"` + cspm + `"},"Action":"sts:AssumeRole","Condition":{"StringEqualsIfExists":{"sts:ExternalId":"` + extID + `"}}}`),
			want:    commercial,
			refused: []string{"does not require the external ID (sts:ExternalId only under StringEqualsIfExists)"},
		},
		"condition with a wildcard": {
			policy:  doc(`{"Effect":"Allow","Principal":{"AWS":"` + cspm + `"},"Action":"sts:AssumeRole","Condition":{"StringLike":{"sts:ExternalId":"*"}}}`),
			want:    commercial,
			refused: []string{"does not require the external ID"},
		},
		"any CrowdStrike principal counts (account root)": {
			policy: doc(both, `{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::292230061137:root"},"Action":"sts:*"}`), want: commercial,
			refused: []string{"lets arn:aws:iam::292230061137:root assume the role but has no sts:ExternalId condition"},
		},
		"CSPM's own intermediate role, wherever it is": {
			policy:  doc(`{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::444455556666:role/Connector"},"Action":"sts:AssumeRole"}`),
			want:    Want{Partition: "aws", ExternalID: extID, CSPMPrincipal: "arn:aws:iam::444455556666:role/Connector"},
			refused: []string{"lets arn:aws:iam::444455556666:role/Connector assume the role but has no sts:ExternalId condition"},
		},
		`"*"`: {
			policy: doc(both, `{"Effect":"Allow","Principal":{"AWS":"*"},"Action":"sts:AssumeRole","Condition":{"StringEquals":{"aws:PrincipalOrgID":"o-abc"}}}`), want: commercial,
			refused: []string{`statement 2 lets any AWS principal ("*") assume the role`},
		},
		"NotPrincipal": {
			policy: doc(both, `{"Effect":"Allow","NotPrincipal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"sts:AssumeRole"}`), want: commercial,
			refused: []string{"NotPrincipal"},
		},
		"CSPM statement bound to another ID": {
			policy: cspmStatementDoc(cspm, "someone-elses-id"), want: commercial,
			refused: []string{"trusts the CSPM principal " + cspm + " with another sts:ExternalId than CSPM's"},
		},
		"CSPM statement that also accepts another ID": {
			policy: doc(`{"Effect":"Allow","Principal":{"AWS":"` + cspm + `"},"Action":"sts:AssumeRole","Condition":{"StringEquals":{"sts:ExternalId":["` + extID + `","other"]}}}`), want: commercial,
			refused: []string{"(or with more than one)"},
		},
		"registry principal under an older ID": {
			policy: doc(cspmStatement(cspm, extID), regOldID), want: commercial,
			refused: []string{"statement 2 lets the registry-assessment principal assume the role with another sts:ExternalId"},
		},
		"several problems, each named": {
			policy: doc(`{"Effect":"Allow","Principal":{"AWS":"`+cspm+`"},"Action":"sts:AssumeRole"}`, regNoID, `{"Effect":"Allow","Principal":"*","Action":"sts:AssumeRole"}`), want: commercial,
			refused: []string{"statement 1 lets", "statement 2 lets", "statement 3 lets any AWS principal"},
		},
	} {
		t.Run(name, func(t *testing.T) {
			refusals, err := Verify(tc.policy, tc.want)
			require.NoError(t, err)
			require.Len(t, refusals, len(tc.refused), "%q", refusals)
			for i, r := range tc.refused {
				assert.Contains(t, refusals[i], r)
			}
			assertNoExternalID(t, refusals...)
		})
	}
}

func TestVerifyCannotJudge(t *testing.T) {
	for name, tc := range map[string]struct {
		policy string
		want   Want
		err    string
	}{
		"not JSON":         {"{", commercial, "not valid JSON"},
		"China":            {cspmOnly, Want{Partition: "aws-cn", ExternalID: extID}, `partition "aws-cn" has no known CrowdStrike principals`},
		"no external ID":   {cspmOnly, Want{Partition: "aws"}, "external ID is empty"},
		"odd principal":    {`{"Statement":[{"Effect":"Allow","Principal":{"AWS":{"x":1}},"Action":"sts:AssumeRole"}]}`, commercial, "Principal.AWS has an unexpected shape"},
		"odd condition":    {`{"Statement":[{"Effect":"Allow","Principal":{"AWS":"x"},"Action":"sts:AssumeRole","Condition":{"StringEquals":{"sts:ExternalId":1}}}]}`, commercial, "unexpected shape"},
		"trailing garbage": {cspmOnly + "{}", commercial, "trailing data"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := Verify(tc.policy, tc.want)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.err)
			assert.NotContains(t, err.Error(), extID)
		})
	}
}
