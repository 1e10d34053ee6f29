package trustpolicy

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestTrustsConnector(t *testing.T) {
	for name, tc := range map[string]struct {
		policy string
		want   ConnectorTrust
	}{
		"CSPM role":                   {cspmOnly, ConnectorWithExternalID},
		"CSPM role, IfExists":         {`{"Statement":[{"Effect":"Allow","Principal":{"AWS":"` + cspm + `"},"Action":"sts:AssumeRole","Condition":{"StringEqualsIfExists":{"sts:ExternalId":"x"}}}]}`, ConnectorWithExternalID},
		"connector without condition": {`{"Statement":[{"Effect":"Allow","Principal":{"AWS":"` + cspm + `"},"Action":"sts:AssumeRole"}]}`, ConnectorWithoutExternalID},
		"one statement with, one without": {`{"Statement":[{"Effect":"Allow","Principal":{"AWS":"` + cspm + `"},"Action":"sts:AssumeRole"},` +
			cspmStatement(cspm, extID) + `]}`, ConnectorWithExternalID},
		"registry principal only":             {cspmStatementDoc(reg, extID), NotConnector},
		"another CrowdStrike role":            {cspmStatementDoc("arn:aws:iam::292230061137:role/Other", extID), NotConnector},
		"a Deny naming it":                    {`{"Statement":[{"Effect":"Deny","Principal":{"AWS":"` + cspm + `"},"Action":"sts:AssumeRole"}]}`, NotConnector},
		"Lambda service role":                 {`{"Statement":[{"Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},"Action":"sts:AssumeRole"}]}`, NotConnector},
		"GovCloud connector, commercial role": {cspmStatementDoc(govCSPM, extID), NotConnector},
	} {
		t.Run(name, func(t *testing.T) {
			got, err := TrustsConnector(tc.policy, "aws")
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
		})
	}
	got, err := TrustsConnector(cspmStatementDoc(govCSPM, extID), "aws-us-gov")
	require.NoError(t, err)
	assert.Equal(t, ConnectorWithExternalID, got)
	_, err = TrustsConnector(cspmOnly, "aws-cn")
	assert.ErrorContains(t, err, "aws-cn")
}

// TestPrepareAndRevert: the registry principal joins the CSPM statement
// under its own condition, and Revert gives back the original document.
func TestPrepareAndRevert(t *testing.T) {
	for name, tc := range map[string]struct {
		policy    string
		partition string
		addition  Addition
		principal []any // the CSPM statement's Principal.AWS after Prepare
	}{
		"CSPM's statement as CSPM writes it": {cspmOnly, "aws", AddedToString, []any{cspm, reg}},
		"principal list": {
			`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":["` + cspm + `","arn:aws:iam::111122223333:role/Ops"]},"Action":"sts:AssumeRole","Condition":{"StringEquals":{"sts:ExternalId":"` + extID + `"}}}]}`,
			"aws", AddedToList, []any{cspm, "arn:aws:iam::111122223333:role/Ops", reg},
		},
		"principal list of one stays a list": {
			`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":["` + cspm + `"]},"Action":["sts:AssumeRole"],"Condition":{"StringEquals":{"sts:ExternalId":["` + extID + `"]}}}]}`,
			"aws", AddedToList, []any{cspm, reg},
		},
		"Statement as one object": {
			`{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":{"AWS":"` + cspm + `"},"Action":"sts:AssumeRole","Condition":{"StringEquals":{"sts:ExternalId":"` + extID + `"}}}}`,
			"aws", AddedToString, []any{cspm, reg},
		},
		"GovCloud": {cspmStatementDoc(govCSPM, extID), "aws-us-gov", AddedToString, []any{govCSPM, govReg}},
		"unrelated statements and fields are kept": {
			`{"Version":"2012-10-17","Id":"keep","Statement":[{"Sid":"Ec2","Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole","X":{"n":1.50}},` +
				`{"Sid":"Cspm","Effect":"Allow","Principal":{"AWS":"` + cspm + `"},"Action":"sts:AssumeRole","Condition":{"StringEquals":{"sts:ExternalId":"` + extID + `"},"Bool":{"aws:SecureTransport":"true"}}}]}`,
			"aws", AddedToString, []any{cspm, reg},
		},
	} {
		t.Run(name, func(t *testing.T) {
			p, err := Prepare(tc.policy, tc.partition)
			require.NoError(t, err)
			require.Empty(t, p.Refusals)
			assert.Equal(t, tc.addition, p.Addition)
			require.NotNil(t, p.Updated)

			// Only the CSPM statement changed, and only by the principal.
			before, after := statements(t, []byte(tc.policy)), statements(t, p.Updated)
			require.Len(t, after, len(before))
			last := len(after) - 1
			assert.Equal(t, before[:last], after[:last])
			want := before[last].(map[string]any)
			want["Principal"] = map[string]any{"AWS": tc.principal}
			assert.Equal(t, want, after[last])

			// The new policy passes the rules with the statement's ID, and
			// preparing it again changes nothing.
			refusals, err := Verify(string(p.Updated), Want{Partition: tc.partition, ExternalID: extID})
			require.NoError(t, err)
			assert.Empty(t, refusals)
			again, err := Prepare(string(p.Updated), tc.partition)
			require.NoError(t, err)
			assert.Equal(t, NotAdded, again.Addition)
			assert.Nil(t, again.Updated)
			assert.Empty(t, again.Refusals)

			// Revert restores the original document (semantically).
			reverted, err := Revert(string(p.Updated), tc.partition, p.Addition)
			require.NoError(t, err)
			assert.Equal(t, decoded(t, []byte(tc.policy)), decoded(t, reverted))
			if strings.Contains(tc.policy, "1.50") {
				assert.Contains(t, string(reverted), `1.50`, "numbers as written")
			}

			// Reverting what is gone already is nothing.
			gone, err := Revert(tc.policy, tc.partition, p.Addition)
			require.NoError(t, err)
			assert.Nil(t, gone)
		})
	}
}

func TestPrepareWhenAlreadyTrusted(t *testing.T) {
	for name, policy := range map[string]string{
		"in the CSPM statement": `{"Statement":[{"Effect":"Allow","Principal":{"AWS":["` + cspm + `","` + reg + `"]},"Action":"sts:AssumeRole","Condition":{"StringEquals":{"sts:ExternalId":"` + extID + `"}}}]}`,
		"in its own statement":  `{"Statement":[` + cspmStatement(cspm, extID) + `,` + cspmStatement(reg, extID) + `]}`,
	} {
		t.Run(name, func(t *testing.T) {
			p, err := Prepare(policy, "aws")
			require.NoError(t, err)
			assert.Empty(t, p.Refusals)
			assert.Equal(t, NotAdded, p.Addition)
			assert.Nil(t, p.Updated)
			// and Revert of NotAdded touches nothing
			out, err := Revert(policy, "aws", NotAdded)
			require.NoError(t, err)
			assert.Nil(t, out)
		})
	}
}

func TestPrepareRefuses(t *testing.T) {
	noCond := `{"Effect":"Allow","Principal":{"AWS":"` + cspm + `"},"Action":"sts:AssumeRole"}`
	for name, tc := range map[string]struct {
		policy  string
		refused []string
	}{
		`"*" next to the CSPM statement`: {
			`{"Statement":[` + cspmStatement(cspm, extID) + `,{"Effect":"Allow","Principal":"*","Action":"sts:AssumeRole"}]}`,
			[]string{`statement 2 lets any AWS principal ("*") assume the role`},
		},
		"CSPM statement without the condition": {
			`{"Statement":[` + noCond + `]}`,
			[]string{"statement 1 lets " + cspm + " assume the role but has no sts:ExternalId condition", "no statement lets the CSPM connector"},
		},
		"CSPM statement only IfExists": {
			`{"Statement":[{"Effect":"Allow","Principal":{"AWS":"` + cspm + `"},"Action":"sts:AssumeRole","Condition":{"StringEqualsIfExists":{"sts:ExternalId":"` + extID + `"}}}]}`,
			[]string{"does not require the external ID", "no statement lets the CSPM connector"},
		},
		"a second CSPM statement without the condition": {
			`{"Statement":[` + cspmStatement(cspm, extID) + `,` + noCond + `]}`,
			[]string{"statement 2 lets " + cspm + " assume the role but has no sts:ExternalId condition"},
		},
		"registry principal without the condition": {
			`{"Statement":[` + cspmStatement(cspm, extID) + `,{"Effect":"Allow","Principal":{"AWS":"` + reg + `"},"Action":"sts:AssumeRole"}]}`,
			[]string{"statement 2 lets " + reg + " assume the role but has no sts:ExternalId condition"},
		},
		"registry principal under another ID": {
			`{"Statement":[` + cspmStatement(cspm, extID) + `,` + cspmStatement(reg, "old-id") + `]}`,
			[]string{"statement 2 lets the registry-assessment principal assume the role with another sts:ExternalId"},
		},
		"connector under two IDs": {
			`{"Statement":[` + cspmStatement(cspm, extID) + `,` + cspmStatement(cspm, "someone-elses-id") + `]}`,
			[]string{"is trusted under 2 different external IDs (statement 1, statement 2)"},
		},
		"connector accepting two IDs in one statement": {
			`{"Statement":[{"Effect":"Allow","Principal":{"AWS":"` + cspm + `"},"Action":"sts:AssumeRole","Condition":{"StringEquals":{"sts:ExternalId":["` + extID + `","other"]}}}]}`,
			[]string{"no statement lets the CSPM connector"},
		},
		"not a CSPM role": {
			`{"Statement":[{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}]}`,
			[]string{"this is not a CSPM role"},
		},
	} {
		t.Run(name, func(t *testing.T) {
			p, err := Prepare(tc.policy, "aws")
			require.NoError(t, err)
			require.Len(t, p.Refusals, len(tc.refused), "%q", p.Refusals)
			for i, r := range tc.refused {
				assert.Contains(t, p.Refusals[i], r)
			}
			assert.Nil(t, p.Updated)
			assert.Equal(t, NotAdded, p.Addition)
			assertNoExternalID(t, p.Refusals...)
		})
	}
	_, err := Prepare(cspmOnly, "aws-cn")
	assert.ErrorContains(t, err, `partition "aws-cn" has no known CrowdStrike principals`)
	_, err = Prepare("[]", "aws")
	assert.ErrorContains(t, err, "not a JSON object")
}

// TestRevertTakesOnlyWhatWasAdded: a registry principal someone else put in
// its own statement stays.
func TestRevertTakesOnlyWhatWasAdded(t *testing.T) {
	own := cspmStatement(reg, extID)
	policy := `{"Statement":[{"Effect":"Allow","Principal":{"AWS":["` + cspm + `","` + reg + `"]},"Action":"sts:AssumeRole","Condition":{"StringEquals":{"sts:ExternalId":"` + extID + `"}}},` + own + `]}`
	out, err := Revert(policy, "aws", AddedToString)
	require.NoError(t, err)
	st := statements(t, out)
	require.Len(t, st, 2)
	assert.Equal(t, cspm, st[0].(map[string]any)["Principal"].(map[string]any)["AWS"])
	assert.Equal(t, decoded(t, []byte(`{"Statement":[`+own+`]}`))["Statement"].([]any)[0], st[1])

	out, err = Revert(`{"Statement":[`+cspmStatement(cspm, extID)+`,`+own+`]}`, "aws", AddedToString)
	require.NoError(t, err)
	assert.Nil(t, out, "the CSPM statement has no registry principal: nothing to take")
}
