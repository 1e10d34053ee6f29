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
	GetItem(ctx context.Context, in *dynamodb.GetItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
}

// Links is the stack's table of continuation links (trigger.Links; the
// design is there): one item per link, keyed by "RUN_ID/DEPTH",
//
//	{"link": S, "state": S "running" | "done", "until": N (Unix seconds, while running), "expires_at": N (Unix seconds)}
//
// and two items beside them, whose keys have no "/":
//
//	{"link": "chain", "run_id": S, "until": N, "expires_at": N}      the current chain (StartChain, HoldChain, Chain)
//	{"link": "disconnecting", "run_id": S, "since": N}              the stack is being deleted (MarkDisconnecting)
//
// written only with dynamodb:PutItem and read only with dynamodb:GetItem
// (strongly consistent). The table also holds the runs' re-sends, keyed
// "resend/REGISTRATION_ID" (Resends: no run ID is "resend"). expires_at is the table's time to live: an item
// is kept LinkRetention, longer than the continuation queue keeps a
// message (a day), so no delivery outlives its link's item. The
// disconnecting mark never expires: the table goes with the stack.
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

// Keys of the items that are not links (a link's key has a "/").
const (
	chainKey         = "chain"
	disconnectingKey = "disconnecting"
)

// StartChain records runID's chain as the current one, whatever was: a
// link of any other chain is superseded from now on (HoldChain).
func (l Links) StartChain(ctx context.Context, runID string) error {
	_, err := l.DynamoDB.PutItem(ctx, &dynamodb.PutItemInput{
		TableName: aws.String(l.Table),
		Item: map[string]types.AttributeValue{
			"link":       &types.AttributeValueMemberS{Value: chainKey},
			"run_id":     &types.AttributeValueMemberS{Value: runID},
			"until":      unix(time.Unix(0, 0)),
			"expires_at": unix(time.Now().Add(LinkRetention)),
		},
	})
	if err != nil {
		return fmt.Errorf("dynamodb:PutItem (chain) in %s: %w", l.Table, err)
	}
	return nil
}

// HoldChain records that a link of runID's chain runs until until (a live
// claim), if that chain is the current one or none is recorded; false,
// and nothing written, when another chain superseded it.
func (l Links) HoldChain(ctx context.Context, runID string, until time.Time) (bool, error) {
	_, err := l.DynamoDB.PutItem(ctx, &dynamodb.PutItemInput{
		TableName: aws.String(l.Table),
		Item: map[string]types.AttributeValue{
			"link":       &types.AttributeValueMemberS{Value: chainKey},
			"run_id":     &types.AttributeValueMemberS{Value: runID},
			"until":      unix(until),
			"expires_at": unix(until.Add(LinkRetention)),
		},
		ConditionExpression:       aws.String("attribute_not_exists(#link) OR #run = :run"),
		ExpressionAttributeNames:  map[string]string{"#link": "link", "#run": "run_id"},
		ExpressionAttributeValues: map[string]types.AttributeValue{":run": &types.AttributeValueMemberS{Value: runID}},
	})
	var superseded *types.ConditionalCheckFailedException
	switch {
	case errors.As(err, &superseded):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("dynamodb:PutItem (chain) in %s: %w", l.Table, err)
	}
	return true, nil
}

// Chain returns the current chain's run ID and until when the claim of
// its running link lapses ("" and the zero time when none is recorded).
func (l Links) Chain(ctx context.Context) (runID string, until time.Time, err error) {
	item, err := l.get(ctx, chainKey)
	if err != nil || item == nil {
		return "", time.Time{}, err
	}
	run, ok := item["run_id"].(*types.AttributeValueMemberS)
	n, ok2 := item["until"].(*types.AttributeValueMemberN)
	secs, perr := strconv.ParseInt(valueOf(n), 10, 64)
	if !ok || !ok2 || perr != nil {
		return "", time.Time{}, fmt.Errorf("dynamodb:GetItem (chain) in %s: malformed item", l.Table)
	}
	return run.Value, time.Unix(secs, 0), nil
}

// MarkDisconnecting records that the stack is being deleted and its
// registrations disconnected (by run runID): from now on every run reads
// it (Disconnecting) and writes nothing.
func (l Links) MarkDisconnecting(ctx context.Context, runID string) error {
	_, err := l.DynamoDB.PutItem(ctx, &dynamodb.PutItemInput{
		TableName: aws.String(l.Table),
		Item: map[string]types.AttributeValue{
			"link":   &types.AttributeValueMemberS{Value: disconnectingKey},
			"run_id": &types.AttributeValueMemberS{Value: runID},
			"since":  unix(time.Now()),
		},
	})
	if err != nil {
		return fmt.Errorf("dynamodb:PutItem (disconnecting) in %s: %w", l.Table, err)
	}
	return nil
}

// Disconnecting reports whether MarkDisconnecting was called.
func (l Links) Disconnecting(ctx context.Context) (bool, error) {
	item, err := l.get(ctx, disconnectingKey)
	return item != nil, err
}

// get reads one item, strongly consistent; nil when there is none.
func (l Links) get(ctx context.Context, key string) (map[string]types.AttributeValue, error) {
	out, err := l.DynamoDB.GetItem(ctx, &dynamodb.GetItemInput{
		TableName:      aws.String(l.Table),
		Key:            map[string]types.AttributeValue{"link": &types.AttributeValueMemberS{Value: key}},
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return nil, fmt.Errorf("dynamodb:GetItem (%s) in %s: %w", key, l.Table, err)
	}
	if len(out.Item) == 0 {
		return nil, nil
	}
	return out.Item, nil
}

func valueOf(n *types.AttributeValueMemberN) string {
	if n == nil {
		return ""
	}
	return n.Value
}

func unix(t time.Time) *types.AttributeValueMemberN {
	return &types.AttributeValueMemberN{Value: strconv.FormatInt(t.Unix(), 10)}
}
