package awsapi

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// DynamoDB is the part of the DynamoDB client used here.
type DynamoDB interface {
	PutItem(ctx context.Context, in *dynamodb.PutItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
}

// Links is the table of continuation links (trigger.Links; the design is
// there): one item per link, keyed by "RUN_ID/DEPTH",
//
//	{"link": S, "state": S "running" | "done", "until": N (Unix seconds, while running), "expires_at": N (Unix seconds)}
//
// written only with dynamodb:PutItem. expires_at is the table's time to
// live: a link is kept LinkRetention, longer than the continuation queue
// keeps a message (a day), so no delivery outlives its link's item.
type Links struct {
	DynamoDB DynamoDB
	Table    string
}

// LinkRetention is how long a link's item is kept.
const LinkRetention = 48 * time.Hour

// claimable: the link is absent, or claimed by an invocation whose claim
// has lapsed. A done link, or one claimed until later, is not.
const claimable = "attribute_not_exists(#link) OR (#state = :running AND #until < :now)"

// Claim takes link until until with a conditional write; false when the
// condition fails (the link is done, or claimed by someone else whose claim
// has not lapsed).
func (l Links) Claim(ctx context.Context, link string, until time.Time) (bool, error) {
	_, err := l.DynamoDB.PutItem(ctx, &dynamodb.PutItemInput{
		TableName: aws.String(l.Table),
		Item: map[string]types.AttributeValue{
			"link":       &types.AttributeValueMemberS{Value: link},
			"state":      &types.AttributeValueMemberS{Value: "running"},
			"until":      unix(until),
			"expires_at": unix(until.Add(LinkRetention)),
		},
		ConditionExpression:      aws.String(claimable),
		ExpressionAttributeNames: map[string]string{"#link": "link", "#state": "state", "#until": "until"},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":running": &types.AttributeValueMemberS{Value: "running"},
			":now":     unix(time.Now()),
		},
	})
	var taken *types.ConditionalCheckFailedException
	switch {
	case errors.As(err, &taken):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("dynamodb:PutItem (claim) in %s: %w", l.Table, err)
	}
	return true, nil
}

// Done records link as done, whatever its item held.
func (l Links) Done(ctx context.Context, link string) error {
	_, err := l.DynamoDB.PutItem(ctx, &dynamodb.PutItemInput{
		TableName: aws.String(l.Table),
		Item: map[string]types.AttributeValue{
			"link":       &types.AttributeValueMemberS{Value: link},
			"state":      &types.AttributeValueMemberS{Value: "done"},
			"expires_at": unix(time.Now().Add(LinkRetention)),
		},
	})
	if err != nil {
		return fmt.Errorf("dynamodb:PutItem (done) in %s: %w", l.Table, err)
	}
	return nil
}

func unix(t time.Time) *types.AttributeValueMemberN {
	return &types.AttributeValueMemberN{Value: strconv.FormatInt(t.Unix(), 10)}
}
