package deploytest

import (
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// templates are the repository's CloudFormation templates: every file that declares
// AWSTemplateFormatVersion (the same rule as `make lint`).
func templates(t *testing.T) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir("../..", func(path string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if e.IsDir() {
			switch e.Name() {
			case ".git", "dist", "bin", ".aws-sam":
				return filepath.SkipDir
			}
			return nil
		}
		switch filepath.Ext(path) {
		case ".yaml", ".yml", ".json", ".template":
			b, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			if strings.Contains(string(b), "AWSTemplateFormatVersion") {
				out = append(out, path)
			}
		}
		return nil
	})
	require.NoError(t, err)
	return out
}

func TestTemplatesFound(t *testing.T) {
	assert.ElementsMatch(t, []string{"../../deploy/member/template.yaml", "../../template.yaml"}, templates(t),
		"a new template is linted by make lint and checked here: add its contract tests")
}

// TestCfnLint runs cfn-lint (installed on the project's machines and in CI; `make lint` requires
// it) on every template.
func TestCfnLint(t *testing.T) {
	if _, err := exec.LookPath("cfn-lint"); err != nil {
		t.Skip("cfn-lint is not installed (pip install cfn-lint): templates not linted here (make lint requires it)")
	}
	out, err := exec.Command("cfn-lint", templates(t)...).CombinedOutput()
	assert.NoError(t, err, "cfn-lint:\n%s", out)
}
