package deploytest

import (
	"encoding/json"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/crowdstrike-ecr/ecr-onboard/internal/readmetest"
)

// awsCommands checks AWS CLI commands against botocore's service models,
// the API descriptions the AWS CLI itself is generated from (botocore comes
// with moto, which the tests need anyway): the service and the operation
// exist, every option is a parameter of the operation's input (or one of
// the CLI's global options), the keys of a shorthand value (K=V,K2=V2) are
// members of that parameter's structure, and every required parameter is
// given. stdin: [{"args": [...], "where": "..."}]; stdout: the errors.
const awsCommands = `
import json, sys
import botocore.session
from botocore import xform_name

session = botocore.session.get_session()
SERVICE = {"s3api": "s3"}                 # the CLI's names that are not the model's
GLOBAL = {"region", "output", "query", "profile", "endpoint-url", "no-cli-pager", "cli-binary-format", "no-paginate", "debug"}
POSITIONAL = {("lambda", "invoke"): 1}    # the outfile of lambda invoke

def unquote(s):
    return s.replace('"', "").replace("'", "")

errors = []
for c in json.load(sys.stdin):
    args, where = c["args"], c["where"]
    if len(args) < 2:
        errors.append(where + ": an aws command needs a service and an operation")
        continue
    try:
        model = session.get_service_model(SERVICE.get(args[0], args[0]))
    except Exception:
        errors.append(where + ": no AWS service " + args[0])
        continue
    ops = {xform_name(name, "-"): name for name in model.operation_names}
    if args[1] not in ops:
        errors.append(where + ": service " + args[0] + " has no operation " + args[1])
        continue
    shape = model.operation_model(ops[args[1]]).input_shape
    members = {xform_name(k, "-"): (k, v) for k, v in (shape.members.items() if shape else [])}
    given, positional, i = set(), 0, 2
    while i < len(args):
        a = args[i]
        i += 1
        if not a.startswith("--"):
            positional += 1
            continue
        values = []
        while i < len(args) and not args[i].startswith("--"):
            values.append(unquote(args[i]))
            i += 1
        name = a[2:]
        if name in GLOBAL:
            continue
        member = members.get(name) or (members.get(name[3:]) if name.startswith("no-") else None)
        if member is None:
            errors.append(where + ": aws " + args[0] + " " + args[1] + " has no option --" + name)
            continue
        given.add(member[0])
        target = member[1]
        if target.type_name == "list":
            target = target.member
        if target.type_name != "structure":
            continue
        keys = set(target.members)
        for v in values:
            if v.startswith(("{", "[", "file://")) or "=" not in v:
                continue
            for part in v.split(","):
                key = part.split("=", 1)[0]
                if "=" in part and key not in keys:
                    errors.append(where + ": --" + name + " has no key " + key + " (" + ", ".join(sorted(target.members)) + ")")
    if positional > POSITIONAL.get((args[0], args[1]), 0):
        errors.append(where + ": aws " + args[0] + " " + args[1] + " takes no positional argument here")
    for r in (shape.required_members if shape else []):
        if r not in given:
            errors.append(where + ": aws " + args[0] + " " + args[1] + " needs --" + xform_name(r, "-"))
print(json.dumps(errors))
`

// TestReadmePathCommandsAreReal: the README's path (everything before
// "Reference") is what a newcomer runs, in order, so each of its commands
// is held to what it calls: make, a target and the variables of the
// Makefile; aws, an operation of the AWS API with its parameters
// (botocore's model); deploy/, a script of the repository that takes each
// flag given; bin/ecr-onboard, run by cmd/ecr-onboard's
// TestReadmePathCommandsRun. Anything else is not on the path.
func TestReadmePathCommandsAreReal(t *testing.T) {
	commands, err := readmetest.PathCommands("../../README.md")
	require.NoError(t, err)
	require.NotEmpty(t, commands)
	makefile := mustRead(t, "../../Makefile")
	targets := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^([A-Za-z][A-Za-z0-9_-]*):`).FindAllStringSubmatch(makefile, -1) {
		targets[m[1]] = true
	}
	var aws []map[string]any
	for _, c := range commands {
		switch p := c.Program(); {
		case p == "make":
			for _, a := range c.Args[1:] {
				if name, _, isVar := strings.Cut(a, "="); isVar {
					assert.Regexp(t, `(?m)^`+name+`\s*[?:]?=`, makefile, "%s: the Makefile has no variable %s", c, name)
				} else {
					assert.True(t, targets[a], "%s: the Makefile has no target %s", c, a)
				}
			}
		case p == "aws":
			aws = append(aws, map[string]any{"args": c.Args[1:], "where": c.String()})
		case strings.HasPrefix(p, "deploy/"):
			script, err := os.ReadFile("../../" + p)
			require.NoError(t, err, "%s: no script %s", c, p)
			for _, a := range c.Args[1:] {
				if strings.HasPrefix(a, "--") {
					assert.Contains(t, string(script), a, "%s: %s takes no %s", c, p, a)
				}
			}
		case p == "bin/ecr-onboard":
		case slices.Contains([]string{"read", "export", "echo", "cd", "jq"}, p):
		default:
			t.Errorf("%s: %s is not a command the path may use", c, p)
		}
	}
	require.NotEmpty(t, aws)
	assert.Empty(t, checkAWS(t, aws))
}

// checkAWS runs awsCommands on commands ({"args", "where"}) and returns
// the problems it found; the test is skipped where botocore is missing.
func checkAWS(t *testing.T, commands []map[string]any) []string {
	t.Helper()
	python, err := exec.LookPath("python3")
	if err == nil {
		err = exec.Command(python, "-c", "import botocore").Run()
	}
	if err != nil {
		t.Skip("botocore is not installed for python3 (it comes with moto): aws commands are not checked here")
	}
	in, err := json.Marshal(commands)
	require.NoError(t, err)
	cmd := exec.Command(python, "-c", awsCommands)
	cmd.Stdin = strings.NewReader(string(in))
	out, err := cmd.Output()
	require.NoError(t, err)
	var problems []string
	require.NoError(t, json.Unmarshal(out, &problems))
	return problems
}

// The check above can fail: a made-up operation, option, shorthand key or
// a missing required parameter is each caught.
func TestReadmeAWSCheckCanFail(t *testing.T) {
	assert.Equal(t, []string{
		"op: service cloudformation has no operation create-stackset",
		"option: aws cloudformation create-stack-set has no option --colour",
		"key: --operation-preferences has no key FailureTolerance (ConcurrencyMode, FailureToleranceCount, FailureTolerancePercentage, MaxConcurrentCount, MaxConcurrentPercentage, RegionConcurrencyType, RegionOrder)",
		"required: aws secretsmanager create-secret needs --name",
	}, checkAWS(t, []map[string]any{
		{"args": []string{"cloudformation", "create-stackset", "--stack-set-name", "x"}, "where": "op"},
		{"args": []string{"cloudformation", "create-stack-set", "--stack-set-name", "x", "--colour", "blue"}, "where": "option"},
		{"args": []string{"cloudformation", "create-stack-instances", "--stack-set-name", "x", "--regions", "us-east-1",
			"--operation-preferences", "FailureTolerance=1"}, "where": "key"},
		{"args": []string{"secretsmanager", "create-secret", "--secret-string", "{}"}, "where": "required"},
	}))
}

// citation is a reference to a section of the README in code or docs:
// (README, "Report"), README.md, "Configuration", the README's "From the
// console", README "Organisation setup" — comment markers and line breaks
// inside the quotes aside; not deploy/README.md's.
var citation = regexp.MustCompile(`(?:^|[^/])README(?:\.md)?(?:,|'s)? "([^"]+)"`)

// TestReadmeSectionsCitedExist: every README section that code, scripts or
// the other documents cite is a heading of the README, so a citation never
// sends a maintainer to a section that moved or was renamed.
func TestReadmeSectionsCitedExist(t *testing.T) {
	headings := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^#{2,4} (.+)$`).FindAllStringSubmatch(mustRead(t, "../../README.md"), -1) {
		headings[m[1]] = true
	}
	joined := regexp.MustCompile(`\s*\n\s*(?://|#)?\s*`)
	cited := 0
	err := filepath.WalkDir("../..", func(path string, d fs.DirEntry, err error) error {
		switch {
		case err != nil:
			return err
		case d.IsDir() && (d.Name() == ".git" || d.Name() == "bin" || d.Name() == "dist" || d.Name() == "testdata"):
			return filepath.SkipDir
		case d.IsDir() || path == "../../README.md" || !slices.Contains([]string{".go", ".md", ".sh", ".yaml"}, filepath.Ext(path)):
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, m := range citation.FindAllStringSubmatch(joined.ReplaceAllString(string(b), " "), -1) {
			cited++
			assert.True(t, headings[m[1]], "%s cites README section %q, which the README does not have", path, m[1])
		}
		return nil
	})
	require.NoError(t, err)
	assert.Greater(t, cited, 10)
}
