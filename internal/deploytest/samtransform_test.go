package deploytest

import (
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// samTransform runs AWS::Serverless-2016-10-31 on template.yaml with
// aws-sam-translator (the transform's own code; a dependency of cfn-lint,
// so installed wherever `make lint` runs), as CloudFormation does at
// deploy with those parameter values, and returns the template it yields.
// CodeUri is set to an S3 location first, as `sam package` does.
const samTransform = `
import json, sys
from samtranslator.translator.transform import transform
from samtranslator.yaml_helper import yaml_parse

class NoManagedPolicies:
    def load(self):
        return {}

template = yaml_parse(open(sys.argv[1]).read())
for r in template["Resources"].values():
    if r.get("Type") == "AWS::Serverless::Function":
        r["Properties"]["CodeUri"] = "s3://artifacts/ecr-onboard.zip"
print(json.dumps(transform(template, json.loads(sys.argv[2]), NoManagedPolicies())))
`

func transformed(t *testing.T, params map[string]string) map[string]any {
	t.Helper()
	python, err := exec.LookPath("python3")
	if err == nil {
		err = exec.Command(python, "-c", "import samtranslator").Run()
	}
	if err != nil {
		t.Skip("aws-sam-translator is not installed for python3 (it comes with cfn-lint: pip install cfn-lint): the SAM transform is not run here")
	}
	p, err := json.Marshal(params)
	require.NoError(t, err)
	cmd := exec.Command(python, "-c", samTransform, templatePath, string(p))
	cmd.Env = append(cmd.Environ(), "AWS_DEFAULT_REGION=us-east-1")
	out, err := cmd.Output()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		t.Fatalf("the SAM transform failed: %v\n%s", err, ee.Stderr)
	}
	require.NoError(t, err)
	var tpl map[string]any
	require.NoError(t, json.Unmarshal(out, &tpl))
	return tpl
}

// functionEnv is the environment of the AWS::Lambda::Function the
// transform made of the function, each variable that is a parameter's Ref
// resolved with params (or the parameter's default).
func functionEnv(t *testing.T, tpl map[string]any, params map[string]string, names ...string) map[string]string {
	t.Helper()
	res, _ := tpl["Resources"].(map[string]any)
	fn, _ := res[functionID].(map[string]any)
	require.Equal(t, "AWS::Lambda::Function", fn["Type"], "the transform makes a Lambda function of %s", functionID)
	props, _ := fn["Properties"].(map[string]any)
	env, _ := props["Environment"].(map[string]any)
	vars, _ := env["Variables"].(map[string]any)
	parameters, _ := tpl["Parameters"].(map[string]any)
	out := map[string]string{}
	for _, name := range names {
		ref, ok := vars[name].(map[string]any)
		require.True(t, ok, "%s is set from a parameter: %v", name, vars[name])
		param, _ := ref["Ref"].(string)
		decl, ok := parameters[param].(map[string]any)
		require.True(t, ok, "%s: Ref %q is a parameter", name, param)
		v, ok := params[param]
		if !ok {
			v = fmt.Sprint(decl["Default"])
		}
		out[name] = v
	}
	return out
}

// TestStackParametersReachTheFunctionAfterTheSAMTransform: after SAM's
// transform, FalconMemberCid and TrustPropagationWait set the deployed
// function's FALCON_MEMBER_CID and TRUST_PROPAGATION_WAIT, and its
// configuration takes them (so an MSSP parent's API client works from a
// stack); left at their defaults, the configuration is config's default.
func TestStackParametersReachTheFunctionAfterTheSAMTransform(t *testing.T) {
	const cid = "0123456789abcdef0123456789ABCDEF-a7"
	// One transform (seconds of Python): the variables are Refs, resolved
	// below for each set of values.
	tpl := transformed(t, map[string]string{"FalconMemberCid": cid, "TrustPropagationWait": "2m30s"})
	for _, tc := range []struct {
		params map[string]string
		cid    string
		wait   time.Duration
	}{
		{map[string]string{"FalconMemberCid": cid, "TrustPropagationWait": "2m30s"}, cid, 150 * time.Second},
		{map[string]string{"TrustPropagationWait": "0"}, "", 0},
		{map[string]string{}, "", 75 * time.Second},
	} {
		t.Run(fmt.Sprint(tc.params), func(t *testing.T) {
			env := functionEnv(t, tpl, tc.params, "FALCON_MEMBER_CID", "TRUST_PROPAGATION_WAIT")
			cfg, err := loadConfig(env)
			require.NoError(t, err)
			assert.Equal(t, tc.cid, cfg.MemberCID)
			assert.Equal(t, tc.wait, cfg.TrustPropagationWait)
		})
	}
}
