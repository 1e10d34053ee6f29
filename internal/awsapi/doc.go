// Package awsapi is the AWS edge besides Secrets Manager: who and where the
// tool runs (STS GetCallerIdentity), the VERIFY_TRUST probe (STS AssumeRole
// without an external ID) and run summaries (SNS Publish).
package awsapi
