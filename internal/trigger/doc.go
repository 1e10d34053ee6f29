// Package trigger turns a Lambda invocation into a reconcile (README, "The Lambda function"):
// it tells an EventBridge schedule, a CloudFormation custom resource request
// and a manual console payload apart by their shape, refuses everything else
// before any API call, obeys CloudFormation requests of its own stack's
// custom resource only (CustomResource), runs the onboard.Runner within the
// invocation's deadline, answers CloudFormation whatever happens, continues
// runs that ran out of time through the continuation queue (each link once,
// however often SQS delivers it: Links), writes nothing once a stack Delete
// marked the stack as disconnecting (disconnect), and emits the run's
// CloudWatch Embedded Metric Format line.
package trigger
