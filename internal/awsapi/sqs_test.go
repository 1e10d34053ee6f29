package awsapi

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestQueueARN(t *testing.T) {
	for url, want := range map[string]string{
		"https://sqs.us-east-1.amazonaws.com/123456789012/ecr-onboard-continuation": "arn:aws:sqs:us-east-1:123456789012:ecr-onboard-continuation",
		"https://sqs.us-gov-west-1.amazonaws.com/123456789012/q":                    "arn:aws-us-gov:sqs:us-gov-west-1:123456789012:q",
		"https://sqs.cn-north-1.amazonaws.com.cn/123456789012/q":                    "arn:aws-cn:sqs:cn-north-1:123456789012:q",
		"http://sqs.us-east-1.amazonaws.com/123456789012/q":                         "",
		"https://evil.example.com/123456789012/q":                                   "",
		"https://sqs.us-east-1.amazonaws.com/1234/q":                                "",
	} {
		got, err := QueueARN(url)
		assert.Equal(t, want, got, url)
		assert.Equal(t, want == "", err != nil, url)
	}
}
