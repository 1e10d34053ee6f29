// Command echo is a minimal Lambda function for rietest's own test: it
// prints one line, answers with its payload, and fails with a typed error
// for {"fail": true}.
package main

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"
)

type Refused struct{ Reason string }

func (e *Refused) Error() string { return "refused: " + e.Reason }

func main() {
	lambda.Start(func(ctx context.Context, in json.RawMessage) (json.RawMessage, error) {
		lc, _ := lambdacontext.FromContext(ctx)
		fmt.Printf("echo %s %s\n", lc.AwsRequestID, in)
		var p struct{ Fail bool }
		if json.Unmarshal(in, &p) == nil && p.Fail {
			return nil, &Refused{Reason: "asked to"}
		}
		return in, nil
	})
}
