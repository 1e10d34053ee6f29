#!/usr/bin/env bash
# Let the organisation's accounts read the member setup function's code in the artifact bucket:
# adds (or refreshes) ONE statement, Sid EcrOnboardOrgReadsMemberSetup, in the bucket's policy,
# and keeps every other statement as it is (the policy is read, merged by Sid, written back;
# a bucket without a policy gets one with this statement alone).
#
#   deploy/member/org-read-policy.sh --bucket my-artifacts --org-id o-a1b2c3d4e5 [--key ecr-onboard/member-setup.zip]
#   deploy/member/org-read-policy.sh --bucket my-artifacts --remove     # takes the statement out again
#
# The statement: s3:GetObject on the key's folder (ecr-onboard/* for the default key), for any
# principal whose account is in the organisation (aws:PrincipalOrgID). deploy/member/package.sh
# runs it with --org-id. Needs the AWS CLI and jq; s3:GetBucketPolicy and s3:PutBucketPolicy
# (s3:DeleteBucketPolicy for a --remove that leaves no statement).
set -euo pipefail

sid="EcrOnboardOrgReadsMemberSetup"
bucket="" org_id="" key="ecr-onboard/member-setup.zip" remove=0
die() { echo "org-read-policy: $*" >&2; exit 2; }
while [ $# -gt 0 ]; do
  case "$1" in
    --bucket) bucket="${2:?--bucket needs a value}"; shift 2 ;;
    --org-id) org_id="${2:?--org-id needs a value}"; shift 2 ;;
    --key) key="${2:?--key needs a value}"; shift 2 ;;
    --remove) remove=1; shift ;;
    -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
    *) die "unknown argument $1" ;;
  esac
done
for tool in aws jq; do command -v "$tool" >/dev/null 2>&1 || die "$tool is required"; done
[[ "$bucket" =~ ^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$ ]] || die "--bucket is required: an S3 bucket name"
[ "$remove" -eq 1 ] || [[ "$org_id" =~ ^o-[a-z0-9]{10,32}$ ]] || die "--org-id is required: the organisation's ID (o-…)"

partition="$(aws sts get-caller-identity --query Arn --output text | cut -d: -f2)"
folder="${key%/*}"
resource="arn:$partition:s3:::$bucket/$key"
[ "$folder" != "$key" ] && resource="arn:$partition:s3:::$bucket/$folder/*"

# The current policy; a bucket without one answers NoSuchBucketPolicy.
errors="$(mktemp)"
trap 'rm -f "$errors"' EXIT
if ! current="$(aws s3api get-bucket-policy --bucket "$bucket" --query Policy --output text 2>"$errors")"; then
  grep -q NoSuchBucketPolicy "$errors" || { cat "$errors" >&2; die "could not read the policy of bucket $bucket"; }
  current='{"Version":"2012-10-17","Statement":[]}'
fi

if [ "$remove" -eq 1 ]; then
  merged="$(jq -c --arg sid "$sid" '.Statement |= ([if type == "array" then .[] else . end] | map(select(.Sid != $sid)))' <<<"$current")"
else
  statement="$(jq -cn --arg sid "$sid" --arg res "$resource" --arg org "$org_id" \
    '{Sid: $sid, Effect: "Allow", Principal: "*", Action: "s3:GetObject", Resource: $res,
      Condition: {StringEquals: {"aws:PrincipalOrgID": $org}}}')"
  merged="$(jq -c --arg sid "$sid" --argjson st "$statement" \
    '.Version //= "2012-10-17" | .Statement |= ([if type == "array" then .[] else . end] | map(select(.Sid != $sid)) + [$st])' <<<"$current")"
fi

if [ "$(jq '.Statement | length' <<<"$merged")" -eq 0 ]; then
  aws s3api delete-bucket-policy --bucket "$bucket"
  echo "bucket $bucket: policy removed (it held only $sid)"
else
  aws s3api put-bucket-policy --bucket "$bucket" --policy "$merged"
  echo "bucket $bucket: statement $sid $([ "$remove" -eq 1 ] && echo removed || echo "lets organisation $org_id read $resource"); other statements kept"
fi
