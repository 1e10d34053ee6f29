package readmetest

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestPathCommands(t *testing.T) {
	readme := filepath.Join(t.TempDir(), "README.md")
	require.NoError(t, os.WriteFile(readme, []byte("# x\n\ntext\n\n```sh\n"+
		"ORG_ID=$(aws organizations describe-organization --query Organization.Id --output text)\n"+
		"deploy/member/package.sh --bucket b \\\n  --org-id \"$ORG_ID\"   # a comment\n"+
		"```\n\n```json\n{\"not\": \"shell\"}\n```\n\n## Reference\n\n```sh\nmake never-read\n```\n"), 0o600))

	commands, err := PathCommands(readme)
	require.NoError(t, err)
	require.Len(t, commands, 2, "the substitution's command, the script; nothing after Reference, no json")
	assert.Equal(t, Command{Args: []string{"aws", "organizations", "describe-organization", "--query", "Organization.Id", "--output", "text"}, Line: 6}, commands[0])
	assert.Equal(t, Command{Args: []string{"deploy/member/package.sh", "--bucket", "b", "--org-id", `"$ORG_ID"`}, Line: 7}, commands[1])
	assert.Equal(t, "$ORG_ID", Unquote(commands[1].Args[4]))
	assert.Equal(t, "a b", Unquote(`'a b'`))

	require.NoError(t, os.WriteFile(readme, []byte("# x\n```sh\nmake demo\n```\n"), 0o600))
	_, err = PathCommands(readme)
	assert.ErrorContains(t, err, `no "## Reference" heading`)
}
