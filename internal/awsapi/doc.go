// Package awsapi is the AWS edge besides Secrets Manager: who and where the
// tool runs (STS GetCallerIdentity), the VERIFY_TRUST check (TrustReader:
// sts:AssumeRole into a member account's trust-reader role, iam:GetRole of the
// CSPM role, trustpolicy.Verify), run summaries (SNS Publish), the
// continuation queue (SQS) and the table where each continuation link is
// claimed once (Links: DynamoDB).
package awsapi
