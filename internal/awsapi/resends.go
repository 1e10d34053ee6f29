package awsapi

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/crowdstrike-ecr/ecr-onboard/internal/onboard"
)

// ResendTable is the part of the DynamoDB client Resends uses.
type ResendTable interface {
	BatchGetItem(ctx context.Context, in *dynamodb.BatchGetItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.BatchGetItemOutput, error)
	BatchWriteItem(ctx context.Context, in *dynamodb.BatchWriteItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.BatchWriteItemOutput, error)
}

// Resends is onboard.Resends in the stack's DynamoDB table (the one of the
// continuation links, CONTINUATION_TABLE): one item per registration a run
// sent its current credential again,
//
//	{"link": S "resend/REGISTRATION_ID", "fingerprint": S, "verdict": S, "at": N (Unix seconds), "expires_at": N (Unix seconds)}
//
// read with dynamodb:BatchGetItem (100 keys a call) and written with
// dynamodb:BatchWriteItem (25 items a call). Items expire ResendRetention
// after they were written (the table's time to live), long after
// onboard.ResendInterval: a record older than that would allow a re-send
// anyway. The fingerprint is the one of the alias, never a credential.
type Resends struct {
	DynamoDB ResendTable
	Table    string
}

// ResendRetention is how long a re-send's item is kept.
const ResendRetention = 2 * onboard.ResendInterval

const (
	resendKeyPrefix = "resend/"
	batchGetMax     = 100 // keys of one BatchGetItem
	batchWriteMax   = 25  // items of one BatchWriteItem
	// unprocessedRounds bounds how often keys or items DynamoDB left
	// unprocessed (throttled) are asked for again.
	unprocessedRounds = 3
)

// LastResends implements onboard.Resends.
func (r Resends) LastResends(ctx context.Context, ids []string) (map[string]onboard.Resend, error) {
	out := make(map[string]onboard.Resend, len(ids))
	for start := 0; start < len(ids); start += batchGetMax {
		keys := make([]map[string]types.AttributeValue, 0, batchGetMax)
		for _, id := range ids[start:min(start+batchGetMax, len(ids))] {
			keys = append(keys, map[string]types.AttributeValue{"link": &types.AttributeValueMemberS{Value: resendKeyPrefix + id}})
		}
		request := map[string]types.KeysAndAttributes{r.Table: {Keys: keys, ConsistentRead: aws.Bool(true)}}
		for round := 0; len(request) > 0; round++ {
			if round == unprocessedRounds {
				return nil, fmt.Errorf("dynamodb:BatchGetItem in %s: keys left unprocessed %d times", r.Table, unprocessedRounds)
			}
			got, err := r.DynamoDB.BatchGetItem(ctx, &dynamodb.BatchGetItemInput{RequestItems: request})
			if err != nil {
				return nil, fmt.Errorf("dynamodb:BatchGetItem in %s: %w", r.Table, err)
			}
			for _, item := range got.Responses[r.Table] {
				if rs, ok := resendOf(item); ok {
					out[rs.RegistryID] = rs
				}
			}
			request = got.UnprocessedKeys
		}
	}
	return out, nil
}

// RecordResends implements onboard.Resends.
func (r Resends) RecordResends(ctx context.Context, rs []onboard.Resend) error {
	for start := 0; start < len(rs); start += batchWriteMax {
		writes := make([]types.WriteRequest, 0, batchWriteMax)
		for _, x := range rs[start:min(start+batchWriteMax, len(rs))] {
			writes = append(writes, types.WriteRequest{PutRequest: &types.PutRequest{Item: map[string]types.AttributeValue{
				"link":        &types.AttributeValueMemberS{Value: resendKeyPrefix + x.RegistryID},
				"fingerprint": &types.AttributeValueMemberS{Value: x.Fingerprint},
				"verdict":     &types.AttributeValueMemberS{Value: x.Verdict},
				"at":          unix(x.At),
				"expires_at":  unix(x.At.Add(ResendRetention)),
			}}})
		}
		request := map[string][]types.WriteRequest{r.Table: writes}
		for round := 0; len(request) > 0; round++ {
			if round == unprocessedRounds {
				return fmt.Errorf("dynamodb:BatchWriteItem in %s: items left unprocessed %d times", r.Table, unprocessedRounds)
			}
			done, err := r.DynamoDB.BatchWriteItem(ctx, &dynamodb.BatchWriteItemInput{RequestItems: request})
			if err != nil {
				return fmt.Errorf("dynamodb:BatchWriteItem in %s: %w", r.Table, err)
			}
			request = done.UnprocessedItems
		}
	}
	return nil
}

// resendOf reads a re-send's item; one that is not whole is no record.
func resendOf(item map[string]types.AttributeValue) (onboard.Resend, bool) {
	str := func(k string) string {
		v, _ := item[k].(*types.AttributeValueMemberS)
		if v == nil {
			return ""
		}
		return v.Value
	}
	key, fp, verdict := str("link"), str("fingerprint"), str("verdict")
	at, _ := item["at"].(*types.AttributeValueMemberN)
	if len(key) <= len(resendKeyPrefix) || fp == "" || verdict == "" || at == nil {
		return onboard.Resend{}, false
	}
	secs, err := strconv.ParseInt(at.Value, 10, 64)
	if err != nil {
		return onboard.Resend{}, false
	}
	return onboard.Resend{RegistryID: key[len(resendKeyPrefix):], Fingerprint: fp, Verdict: verdict, At: time.Unix(secs, 0)}, true
}
