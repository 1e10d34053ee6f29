#!/usr/bin/env bash
# Build the member setup function (cmd/member-setup) for Lambda (provided.al2023, arm64) and zip
# it as dist/member-setup.zip; with --bucket, upload it for deploy/member/template.yaml.
#
#   deploy/member/package.sh                                   # build dist/member-setup.zip
#   deploy/member/package.sh --bucket my-artifacts [--key ecr-onboard/member-setup.zip]
#
# The bucket must be in the region the stacks are deployed to. For a StackSet, let the
# organisation's accounts read the object, e.g. a bucket policy statement
#   {"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::my-artifacts/ecr-onboard/*",
#    "Condition":{"StringEquals":{"aws:PrincipalOrgID":"o-xxxxxxxxxx"}}}
# Needs Go; zip (or python3) to pack; the AWS CLI to upload.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."

bucket="" key="ecr-onboard/member-setup.zip"
while [ $# -gt 0 ]; do
  case "$1" in
    --bucket) bucket="${2:?--bucket needs a value}"; shift 2 ;;
    --key) key="${2:?--key needs a value}"; shift 2 ;;
    -h|--help) sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "package.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done

build="dist/member-setup"
rm -rf "$build" && mkdir -p "$build"
CGO_ENABLED=0 GOOS=linux GOARCH=arm64 go build -trimpath -ldflags='-s -w -buildid=' -tags lambda.norpc \
  -o "$build/bootstrap" ./cmd/member-setup
rm -f dist/member-setup.zip
if command -v zip >/dev/null 2>&1; then
  (cd "$build" && zip -q -X ../member-setup.zip bootstrap)
else
  (cd "$build" && python3 -m zipfile -c ../member-setup.zip bootstrap)
fi
echo "built dist/member-setup.zip ($(wc -c < dist/member-setup.zip) bytes)"

if [ -n "$bucket" ]; then
  aws s3 cp dist/member-setup.zip "s3://$bucket/$key"
  echo "parameters: CodeS3Bucket=$bucket CodeS3Key=$key"
fi
