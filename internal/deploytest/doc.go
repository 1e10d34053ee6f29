// Package deploytest holds tests for the deployment artefacts: the SAM template
// (template.yaml), the member template, the IAM trust-policy snippets and scripts under
// deploy/ (the scripts run with the AWS CLI against moto), and the organisation-setup
// commands the docs give.
//
// The tests parse the template the way CloudFormation sees it (with goformation and a
// raw walk of its intrinsic functions) and hold it to the contract: every Ref, GetAtt and
// Sub variable resolves; no parameter or environment variable carries an external ID;
// no IAM statement uses an action wildcard; the function's environment is exactly the
// documented configuration. The template after SAM's transform (the installed
// aws-sam-translator, samtransform_test.go) is held to what only the expansion shows:
// the order in which CloudFormation deletes what invokes the function, and Lambda's retries.
//
// The package has no non-test code. goformation is imported only from its tests, so it is
// never linked into the Lambda or CLI binaries.
package deploytest
