package deploytest

import (
	"sort"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// expanded is the resources of template.yaml as CloudFormation deploys
// them with the parameters' defaults: after SAM's transform (transformed).
func expanded(t *testing.T) map[string]any {
	t.Helper()
	resources, ok := transformed(t, map[string]string{})["Resources"].(map[string]any)
	require.True(t, ok)
	return resources
}

// After SAM's transform, nothing can start a run of the function once the
// stack's Delete reaches the custom resource: every resource that invokes
// it (the schedule rule, its permission, the queue's event source mapping)
// depends on InitialReconcile, so CloudFormation deletes them first, and
// InitialReconcile is always in the stack (README, "Deleting the stack").
func TestNothingInvokesTheFunctionOnceItsDeleteBegins(t *testing.T) {
	resources := expanded(t)
	custom, ok := resources["InitialReconcile"].(map[string]any)
	require.True(t, ok)
	assert.Nil(t, custom["Condition"], "a conditional InitialReconcile cannot be depended on")

	assert.ElementsMatch(t, []string{"EcrOnboardFunctionScheduledRun", "EcrOnboardFunctionScheduledRunPermission", "EcrOnboardFunctionContinuation"},
		invokers(resources, functionID))
	assert.Empty(t, invokersNotBefore(resources, functionID, "InitialReconcile"))
}

// The check catches the order SAM's own events give: a schedule rule and
// an event source mapping that depend on the function alone.
func TestInvokersNotBeforeCatchesSAMEvents(t *testing.T) {
	resources := map[string]any{
		"Fn":               map[string]any{"Type": "AWS::Lambda::Function"},
		"InitialReconcile": map[string]any{"Type": "Custom::X", "Properties": map[string]any{"ServiceToken": map[string]any{"Fn::GetAtt": []any{"Fn", "Arn"}}}},
		"FnScheduledRun": map[string]any{"Type": "AWS::Events::Rule", "Properties": map[string]any{
			"Targets": []any{map[string]any{"Arn": map[string]any{"Fn::GetAtt": []any{"Fn", "Arn"}}, "Id": "t"}}}},
		"FnContinuation": map[string]any{"Type": "AWS::Lambda::EventSourceMapping", "Properties": map[string]any{"FunctionName": map[string]any{"Ref": "Fn"}}},
		"Ordered": map[string]any{"Type": "AWS::Lambda::Permission", "DependsOn": []any{"Other"},
			"Properties": map[string]any{"FunctionName": map[string]any{"Ref": "Fn"}}},
		"Other": map[string]any{"Type": "AWS::SNS::Topic", "Properties": map[string]any{"Name": map[string]any{"Fn::GetAtt": []any{"InitialReconcile", "Name"}}}},
	}
	assert.Equal(t, []string{"FnContinuation", "FnScheduledRun"}, invokersNotBefore(resources, "Fn", "InitialReconcile"),
		"a dependency through another resource counts")
}

// invokers are the resources that make Lambda invoke function: EventBridge
// rules targeting it, permissions on it, event source mappings to it.
func invokers(resources map[string]any, function string) []string {
	var out []string
	for id, r := range resources {
		res, _ := r.(map[string]any)
		props, _ := res["Properties"].(map[string]any)
		switch res["Type"] {
		case "AWS::Events::Rule", "AWS::Scheduler::Schedule":
			if refersTo(props, function) {
				out = append(out, id)
			}
		case "AWS::Lambda::Permission", "AWS::Lambda::EventSourceMapping":
			if refersTo(props["FunctionName"], function) {
				out = append(out, id)
			}
		}
	}
	sort.Strings(out)
	return out
}

// invokersNotBefore are the invokers of function that do not depend on
// before, directly or through other resources (DependsOn, Ref, Fn::GetAtt,
// Fn::Sub): CloudFormation may delete those after it, or in parallel.
func invokersNotBefore(resources map[string]any, function, before string) []string {
	var out []string
	for _, id := range invokers(resources, function) {
		if !dependsOn(resources, id, before, map[string]bool{}) {
			out = append(out, id)
		}
	}
	return out
}

func dependsOn(resources map[string]any, id, target string, seen map[string]bool) bool {
	if seen[id] {
		return false
	}
	seen[id] = true
	res, _ := resources[id].(map[string]any)
	for _, dep := range directDependencies(resources, res) {
		if dep == target || dependsOn(resources, dep, target, seen) {
			return true
		}
	}
	return false
}

func directDependencies(resources map[string]any, res map[string]any) []string {
	var deps []string
	switch d := res["DependsOn"].(type) {
	case string:
		deps = append(deps, d)
	case []any:
		for _, x := range d {
			if s, ok := x.(string); ok {
				deps = append(deps, s)
			}
		}
	}
	for id := range resources {
		if refersTo(res["Properties"], id) {
			deps = append(deps, id)
		}
	}
	return deps
}

// refersTo reports whether v (a template fragment) references resource id
// with Ref, Fn::GetAtt or a Fn::Sub variable.
func refersTo(v any, id string) bool {
	switch x := v.(type) {
	case map[string]any:
		if ref, ok := x["Ref"].(string); ok && ref == id {
			return true
		}
		if ga, ok := x["Fn::GetAtt"].([]any); ok && len(ga) > 0 && ga[0] == id {
			return true
		}
		if sub, ok := x["Fn::Sub"]; ok {
			text := sub
			if l, ok := sub.([]any); ok && len(l) > 0 {
				text = l[0]
			}
			if s, ok := text.(string); ok {
				for _, m := range subVar.FindAllStringSubmatch(s, -1) {
					if m[1] == id {
						return true
					}
				}
			}
		}
		for _, e := range x {
			if refersTo(e, id) {
				return true
			}
		}
	case []any:
		for _, e := range x {
			if refersTo(e, id) {
				return true
			}
		}
	}
	return false
}

// Lambda does not retry a failed asynchronous invocation of the function
// (a scheduled run, a CloudFormation request): the next scheduled run is
// the retry. After SAM's transform: one EventInvokeConfig, on the version
// every invocation uses ($LATEST), with MaximumRetryAttempts 0.
func TestAsynchronousInvocationsAreNotRetried(t *testing.T) {
	resources := expanded(t)
	var configs []map[string]any
	for _, r := range resources {
		res, _ := r.(map[string]any)
		if res["Type"] == "AWS::Lambda::EventInvokeConfig" {
			configs = append(configs, res["Properties"].(map[string]any))
		}
	}
	require.Len(t, configs, 1)
	c := configs[0]
	assert.Equal(t, map[string]any{"Ref": functionID}, c["FunctionName"])
	assert.Equal(t, "$LATEST", c["Qualifier"])
	assert.EqualValues(t, 0, c["MaximumRetryAttempts"])
}
