package deploytest

import (
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"

	"github.com/awslabs/goformation/v7"
	"github.com/awslabs/goformation/v7/cloudformation"
	"github.com/awslabs/goformation/v7/intrinsics"
)

// The checks below return the problems they find instead of failing a test directly, so
// that checks_negative_test.go can prove each one fires on a broken template.

// contractEnv is the function environment (README, "Configuration") that the stack sets. FALCON_CLIENT_ID,
// FALCON_CLIENT_SECRET and FALCON_BASE_URL are for the local CLI / tests and deliberately absent from
// the Lambda (its credential is the secret's). Set by the stack, not by users: CONTINUATION_QUEUE_URL, its
// queue for runs longer than one invocation, and CONTINUATION_TABLE, where their links are claimed
// (README, Organisations too large for one invocation); STACK_ID and STACK_CUSTOM_RESOURCE, its own
// custom resource, the only CloudFormation requests the function obeys (README, The Lambda function).
var contractEnv = []string{
	"FALCON_SECRET_ARN", "FALCON_CLOUD", "REGIONS", "REGION_SOURCE", "ACCOUNT_IDS", "EXCLUDE_ACCOUNT_IDS",
	"DRY_RUN", "ALIAS_PREFIX", "MAX_CONCURRENCY", "RATE_SHARE", "DISCONNECT_ON_DELETE", "VERIFY_TRUST",
	"TRUST_READER_ROLE", "PRUNE", "SNS_TOPIC_ARN", "LOG_LEVEL", "CONTINUATION_QUEUE_URL",
	"STACK_ID", "STACK_CUSTOM_RESOURCE", "CONTINUATION_TABLE", "RUN_ON_DEPLOY", "FALCON_MEMBER_CID", "TRUST_PROPAGATION_WAIT",
}

// externalIDName matches "externalid", "external_id", "External-Id", "EXTERNAL ID", ...
var externalIDName = regexp.MustCompile(`(?i)external.?id`)

// doc is one template seen two ways.
type doc struct {
	// typed is goformation's model. Intrinsics are resolved against parameter defaults
	// (its default processing), because typed fields such as MemorySize (*int) cannot
	// hold an unresolved !Ref. Use it for shape, not for references.
	typed *cloudformation.Template
	// raw is the template as generic JSON with every intrinsic kept in long form
	// ({"Ref": ...}, {"Fn::GetAtt": ...}, {"Fn::If": ...}, {"Fn::Sub": ...}); short-form
	// YAML tags are converted by goformation's own tag handling (NoProcess).
	raw map[string]any
}

func parseTemplate(data []byte) (*doc, error) {
	typed, err := goformation.ParseYAML(data)
	if err != nil {
		return nil, fmt.Errorf("goformation parse: %w", err)
	}
	js, err := intrinsics.ProcessYAML(data, &intrinsics.ProcessorOptions{NoProcess: true})
	if err != nil {
		return nil, fmt.Errorf("raw parse: %w", err)
	}
	var raw map[string]any
	if err := json.Unmarshal(js, &raw); err != nil {
		return nil, fmt.Errorf("raw decode: %w", err)
	}
	return &doc{typed: typed, raw: raw}, nil
}

func (d *doc) section(name string) map[string]any {
	m, _ := d.raw[name].(map[string]any)
	return m
}

func (d *doc) resource(logicalID string) map[string]any {
	m, _ := d.section("Resources")[logicalID].(map[string]any)
	return m
}

func (d *doc) properties(logicalID string) map[string]any {
	m, _ := d.resource(logicalID)["Properties"].(map[string]any)
	return m
}

// unresolvedReferences lists every Ref, GetAtt, Sub variable, Condition and DependsOn that
// names nothing in the template.
func unresolvedReferences(d *doc) []string {
	params := d.section("Parameters")
	resources := d.section("Resources")
	conditions := d.section("Conditions")
	var problems []string
	report := func(path, format string, args ...any) {
		problems = append(problems, path+": "+fmt.Sprintf(format, args...))
	}
	isPseudo := func(name string) bool { return strings.HasPrefix(name, "AWS::") }
	refOK := func(name string, locals map[string]any) bool {
		_, p := params[name]
		_, r := resources[name]
		_, l := locals[name]
		return p || r || l || isPseudo(name)
	}
	getAttOK := func(target string) bool {
		resName, _, found := strings.Cut(target, ".")
		_, ok := resources[resName]
		return found && ok
	}

	var walk func(path string, v any, locals map[string]any)
	walk = func(path string, v any, locals map[string]any) {
		switch node := v.(type) {
		case []any:
			for i, e := range node {
				walk(fmt.Sprintf("%s[%d]", path, i), e, locals)
			}
		case map[string]any:
			for key, val := range node {
				p := path + "." + key
				switch key {
				case "Ref":
					if name, ok := val.(string); !ok || !refOK(name, locals) {
						report(p, "Ref to unknown %v", val)
					}
					continue
				case "Fn::GetAtt":
					target := ""
					switch a := val.(type) {
					case string:
						target = a
					case []any:
						if len(a) == 2 {
							target = fmt.Sprintf("%v.%v", a[0], a[1])
						}
					}
					if !getAttOK(target) {
						report(p, "GetAtt of unknown %v", val)
					}
					continue
				case "Fn::Sub":
					checkSub(p, val, locals, refOK, getAttOK, report)
					// Variables map values may themselves hold intrinsics.
					if a, ok := val.([]any); ok && len(a) == 2 {
						walk(p+"[1]", a[1], locals)
					}
					continue
				case "Fn::If":
					if a, ok := val.([]any); ok && len(a) > 0 {
						if name, _ := a[0].(string); conditions[name] == nil {
							report(p, "Fn::If on unknown condition %v", a[0])
						}
					}
				case "Condition":
					// A string Condition names a template condition; an IAM statement's
					// Condition is a map and is walked normally.
					if name, ok := val.(string); ok {
						if conditions[name] == nil {
							report(p, "unknown condition %q", name)
						}
						continue
					}
				case "DependsOn":
					deps := []any{val}
					if a, ok := val.([]any); ok {
						deps = a
					}
					for _, dep := range deps {
						if name, _ := dep.(string); resources[name] == nil {
							report(p, "DependsOn unknown resource %v", dep)
						}
					}
					continue
				}
				walk(p, val, locals)
			}
		}
	}
	for _, sec := range []string{"Rules", "Conditions", "Resources", "Outputs"} {
		walk(sec, d.raw[sec], nil)
	}
	sort.Strings(problems)
	return problems
}

var subVar = regexp.MustCompile(`\$\{([^}]*)\}`)

func checkSub(path string, val any, locals map[string]any,
	refOK func(string, map[string]any) bool, getAttOK func(string) bool,
	report func(path, format string, args ...any)) {
	var text string
	switch s := val.(type) {
	case string:
		text = s
	case []any:
		if len(s) != 2 {
			report(path, "Fn::Sub list must have 2 elements")
			return
		}
		text, _ = s[0].(string)
		vars, _ := s[1].(map[string]any)
		merged := map[string]any{}
		for k, v := range locals {
			merged[k] = v
		}
		for k, v := range vars {
			merged[k] = v
		}
		locals = merged
	default:
		report(path, "Fn::Sub of unexpected %T", val)
		return
	}
	for _, m := range subVar.FindAllStringSubmatch(text, -1) {
		name := m[1]
		if strings.HasPrefix(name, "!") { // ${!Literal} is an escape
			continue
		}
		if strings.Contains(name, ".") && !strings.HasPrefix(name, "AWS::") {
			if !getAttOK(name) {
				report(path, "Sub variable ${%s}: unknown resource attribute", name)
			}
			continue
		}
		if !refOK(name, locals) {
			report(path, "Sub variable ${%s} resolves to nothing", name)
		}
	}
}

// externalIDKnobs lists parameters, function environment variables and custom-resource
// properties whose name looks like an external ID.
func externalIDKnobs(d *doc) []string {
	var problems []string
	for name := range d.section("Parameters") {
		if externalIDName.MatchString(name) {
			problems = append(problems, "parameter "+name)
		}
	}
	for logicalID, r := range d.section("Resources") {
		res, _ := r.(map[string]any)
		props, _ := res["Properties"].(map[string]any)
		typ, _ := res["Type"].(string)
		if env, ok := props["Environment"].(map[string]any); ok {
			vars, _ := env["Variables"].(map[string]any)
			for name := range vars {
				if externalIDName.MatchString(name) {
					problems = append(problems, logicalID+" environment variable "+name)
				}
			}
		}
		if strings.HasPrefix(typ, "Custom::") || typ == "AWS::CloudFormation::CustomResource" {
			for name := range props {
				if externalIDName.MatchString(name) {
					problems = append(problems, logicalID+" property "+name)
				}
			}
		}
	}
	sort.Strings(problems)
	return problems
}

// statement is one IAM policy statement found anywhere in the template, with the
// template conditions (Fn::If) that guard it.
type statement struct {
	path   string
	body   map[string]any
	guards []string
}

func iamStatements(d *doc) []statement {
	var out []statement
	var walk func(path string, v any, guards []string)
	walk = func(path string, v any, guards []string) {
		switch node := v.(type) {
		case []any:
			for i, e := range node {
				walk(fmt.Sprintf("%s[%d]", path, i), e, guards)
			}
		case map[string]any:
			if ifArgs, ok := node["Fn::If"].([]any); ok && len(ifArgs) == 3 {
				cond, _ := ifArgs[0].(string)
				g := append(append([]string{}, guards...), cond)
				walk(path+".Fn::If[1]", ifArgs[1], g)
				walk(path+".Fn::If[2]", ifArgs[2], append(append([]string{}, guards...), "!"+cond))
				return
			}
			_, hasEffect := node["Effect"]
			_, hasAction := node["Action"]
			_, hasNotAction := node["NotAction"]
			if hasEffect && (hasAction || hasNotAction) {
				out = append(out, statement{path: path, body: node, guards: guards})
				return
			}
			for k, val := range node {
				walk(path+"."+k, val, guards)
			}
		}
	}
	walk("Resources", d.raw["Resources"], nil)
	return out
}

func stringList(v any) []string {
	switch x := v.(type) {
	case string:
		return []string{x}
	case []any:
		var out []string
		for _, e := range x {
			if s, ok := e.(string); ok {
				out = append(out, s)
			} else {
				out = append(out, fmt.Sprint(e))
			}
		}
		return out
	}
	return []string{fmt.Sprint(v)}
}

// withoutResourceType are the actions IAM only grants on Resource "*".
var withoutResourceType = []string{"sts:GetCallerIdentity", "iam:ListRoles", "iam:GetAccountSummary"}

// wildcardActions lists every IAM statement that uses NotAction or a "*" in an Action, and
// every "*" Resource granted for anything but one action without a resource type.
func wildcardActions(d *doc) []string {
	var problems []string
	for _, st := range iamStatements(d) {
		if _, ok := st.body["NotAction"]; ok {
			problems = append(problems, st.path+": NotAction")
		}
		actions := stringList(st.body["Action"])
		for _, a := range actions {
			if strings.Contains(a, "*") {
				problems = append(problems, st.path+": action "+a)
			}
		}
		if res, ok := st.body["Resource"]; ok {
			for _, r := range stringList(res) {
				if r == "*" && !(len(actions) == 1 && slices.Contains(withoutResourceType, actions[0])) {
					problems = append(problems, fmt.Sprintf("%s: Resource * for %v", st.path, actions))
				}
			}
		}
	}
	sort.Strings(problems)
	return problems
}

// envNames returns the environment variable names of a serverless function.
func envNames(d *doc, logicalID string) ([]string, error) {
	fn, err := d.typed.GetServerlessFunctionWithName(logicalID)
	if err != nil {
		return nil, err
	}
	if fn.Environment == nil {
		return nil, nil
	}
	var names []string
	for name := range fn.Environment.Variables {
		names = append(names, name)
	}
	sort.Strings(names)
	return names, nil
}

// envMismatch compares a function's environment with the contract set.
func envMismatch(d *doc, logicalID string) []string {
	names, err := envNames(d, logicalID)
	if err != nil {
		return []string{err.Error()}
	}
	want := map[string]bool{}
	for _, n := range contractEnv {
		want[n] = true
	}
	got := map[string]bool{}
	var problems []string
	for _, n := range names {
		got[n] = true
		if !want[n] {
			problems = append(problems, "unexpected variable "+n)
		}
	}
	for _, n := range contractEnv {
		if !got[n] {
			problems = append(problems, "missing variable "+n)
		}
	}
	sort.Strings(problems)
	return problems
}
