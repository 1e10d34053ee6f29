package deploytest

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The continuation queue and its event source are set as AWS recommends for
// a Lambda event source (Lambda Developer Guide, "Creating and configuring
// an Amazon SQS event source mapping": a visibility timeout of at least six
// times the function timeout), and each link is claimed in the stack's own
// table, which the function may only put items in and read.
func TestContinuationQueueAndLinks(t *testing.T) {
	d := loadTemplate(t)

	queue := d.properties("ContinuationQueue")
	timeout := d.section("Parameters")["Timeout"].(map[string]any)
	assert.GreaterOrEqual(t, toFloat(queue["VisibilityTimeout"]), 6*toFloat(timeout["MaxValue"]),
		"six times the longest function timeout")

	esm := d.resource("EcrOnboardFunctionContinuation")
	require.NotNil(t, esm)
	assert.Equal(t, "AWS::Lambda::EventSourceMapping", esm["Type"])
	props := d.properties("EcrOnboardFunctionContinuation")
	assert.Equal(t, map[string]any{"Fn::GetAtt": "ContinuationQueue.Arn"}, props["EventSourceArn"])
	assert.Equal(t, map[string]any{"Ref": functionID}, props["FunctionName"])
	assert.InDelta(t, 1, toFloat(props["BatchSize"]), 0, "one link, one invocation")
	assert.InDelta(t, 2, toFloat(props["ScalingConfig"].(map[string]any)["MaximumConcurrency"]), 0, "one link at a time; 2 is the least Lambda accepts")

	table := d.resource("ContinuationLinks")
	require.NotNil(t, table)
	assert.Equal(t, "AWS::DynamoDB::Table", table["Type"])
	tp := d.properties("ContinuationLinks")
	assert.Equal(t, []any{map[string]any{"AttributeName": "link", "KeyType": "HASH"}}, tp["KeySchema"])
	assert.Equal(t, map[string]any{"AttributeName": "expires_at", "Enabled": true}, tp["TimeToLiveSpecification"])
	assert.Equal(t, "PAY_PER_REQUEST", tp["BillingMode"])

	env := d.properties(functionID)["Environment"].(map[string]any)["Variables"].(map[string]any)
	assert.Equal(t, map[string]any{"Ref": "ContinuationLinks"}, env["CONTINUATION_TABLE"])
	var grants []statement
	for _, st := range iamStatements(d) {
		for _, a := range stringList(st.body["Action"]) {
			if len(a) > 9 && a[:9] == "dynamodb:" {
				grants = append(grants, st)
				break
			}
		}
	}
	require.Len(t, grants, 1)
	assert.ElementsMatch(t, []string{"dynamodb:PutItem", "dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:BatchWriteItem"}, stringList(grants[0].body["Action"]),
		"the function puts items (claims, the chain, the mark) and reads them (the chain, the mark), and reads and writes the re-sends in batches: nothing else")
	assert.Equal(t, map[string]any{"Fn::GetAtt": "ContinuationLinks.Arn"}, grants[0].body["Resource"])
}
