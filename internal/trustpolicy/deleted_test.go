package trustpolicy

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A trust policy that names a deleted role or user shows its unique ID
// (IAM User Guide, "AWS JSON policy elements: Principal"), and IAM refuses
// to save any document that still holds it. These are the shapes.
const (
	deletedRole = "AROADBQP57FF2AEXAMPLE"
	deletedUser = "AIDAJQABLZS4A3QDU576Q"
	// withDeleted: CSPM's statement, and an operator's statement whose
	// role was deleted since.
	withDeleted = `{"Version":"2012-10-17","Statement":[` +
		`{"Effect":"Allow","Principal":{"AWS":"` + cspm + `"},"Action":"sts:AssumeRole","Condition":{"StringEquals":{"sts:ExternalId":"` + extID + `"}}},` +
		`{"Sid":"Ops","Effect":"Allow","Principal":{"AWS":["arn:aws:iam::111122223333:role/Ops","` + deletedRole + `"]},"Action":"sts:AssumeRole"}]}`
)

const deletedText = `statement 2 ("Ops") names ` + deletedRole + `, the unique ID IAM shows in place of a deleted IAM role or user: IAM refuses to save this trust policy while it is there (MalformedPolicyDocument). Remove it from the statement`

// TestDeletedPrincipalIsRefusedBeforeWriting: Prepare (the member setup)
// and Analyze (the trust-policy helper) refuse, naming the statement and
// what to do; nothing is to be written.
func TestDeletedPrincipalIsRefusedBeforeWriting(t *testing.T) {
	p, err := Prepare(withDeleted, "aws")
	require.NoError(t, err)
	require.Len(t, p.Refusals, 1, "%q", p.Refusals)
	assert.Contains(t, p.Refusals[0], deletedText)
	assert.Nil(t, p.Updated)

	a, err := Analyze(withDeleted, commercial)
	require.NoError(t, err)
	require.Len(t, a.Refusals, 1, "%q", a.Refusals)
	assert.Contains(t, a.Refusals[0], deletedText)
	assert.Nil(t, a.Updated)

	// A user's ID, in a Deny statement, in NotPrincipal: IAM refuses
	// them all, whatever the statement says.
	for _, st := range []string{
		`{"Effect":"Deny","Principal":{"AWS":"` + deletedUser + `"},"Action":"sts:AssumeRole"}`,
		`{"Effect":"Deny","NotPrincipal":{"AWS":["` + deletedRole + `"]},"Action":"sts:AssumeRole"}`,
	} {
		doc := `{"Statement":[` + cspmStatement(cspm, extID) + `,` + st + `]}`
		p, err := Prepare(doc, "aws")
		require.NoError(t, err)
		require.Len(t, p.Refusals, 1, "%s: %q", st, p.Refusals)
		assert.Contains(t, p.Refusals[0], "statement 2 names A")
	}

	// Not a unique ID: account IDs, ARNs, look-alikes in lower case.
	for _, principal := range []string{"111122223333", "arn:aws:iam::111122223333:role/AROADBQP57FF2AEXAMPLE", "aroadbqp57ff2aexample"} {
		doc := `{"Statement":[` + cspmStatement(cspm, extID) + `,{"Effect":"Allow","Principal":{"AWS":"` + principal + `"},"Action":"sts:AssumeRole"}]}`
		p, err := Prepare(doc, "aws")
		require.NoError(t, err)
		assert.Empty(t, p.Refusals, principal)
	}
}

// TestDeletedPrincipalOpensNothing: VERIFY_TRUST judges safety, and a
// deleted principal lets nobody in.
func TestDeletedPrincipalOpensNothing(t *testing.T) {
	p, err := Prepare(withDeleted, "aws")
	require.NoError(t, err)
	require.NotEmpty(t, p.Refusals)
	added := `{"Version":"2012-10-17","Statement":[` +
		`{"Effect":"Allow","Principal":{"AWS":["` + cspm + `","` + reg + `"]},"Action":"sts:AssumeRole","Condition":{"StringEquals":{"sts:ExternalId":"` + extID + `"}}},` +
		`{"Sid":"Ops","Effect":"Allow","Principal":{"AWS":"` + deletedRole + `"},"Action":"sts:AssumeRole"}]}`
	refusals, err := Verify(added, commercial)
	require.NoError(t, err)
	assert.Empty(t, refusals)
}

// TestRevertOfAnUnwritablePolicy: Revert answers UnwritableError instead
// of a document IAM would refuse; with nothing to take away, nothing.
func TestRevertOfAnUnwritablePolicy(t *testing.T) {
	added := `{"Version":"2012-10-17","Statement":[` +
		`{"Effect":"Allow","Principal":{"AWS":["` + cspm + `","` + reg + `"]},"Action":"sts:AssumeRole","Condition":{"StringEquals":{"sts:ExternalId":"` + extID + `"}}},` +
		`{"Sid":"Ops","Effect":"Allow","Principal":{"AWS":"` + deletedRole + `"},"Action":"sts:AssumeRole"}]}`
	out, err := Revert(added, "aws", AddedToString)
	var unwritable *UnwritableError
	require.True(t, errors.As(err, &unwritable), "%v", err)
	assert.Nil(t, out)
	require.Len(t, unwritable.Reasons, 1)
	assert.Contains(t, unwritable.Reasons[0], `statement 2 ("Ops") names `+deletedRole)

	out, err = Revert(withDeleted, "aws", AddedToString)
	require.NoError(t, err, "the registry principal is gone already: nothing to write")
	assert.Nil(t, out)
}
