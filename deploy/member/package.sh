#!/usr/bin/env bash
# Build the member setup function (cmd/member-setup) for Lambda (provided.al2023, arm64) and zip
# it as dist/member-setup.zip; with --bucket, upload it for deploy/member/template.yaml.
#
#   deploy/member/package.sh                                   # build dist/member-setup.zip
#   deploy/member/package.sh --bucket my-artifacts [--key ecr-onboard/member-setup.zip] [--org-id o-a1b2c3d4e5]
#
# The bucket must be in the region the stacks are deployed to. For a StackSet, --org-id lets the
# organisation's accounts read the object: deploy/member/org-read-policy.sh adds one statement
# (Sid EcrOnboardOrgReadsMemberSetup) to the bucket's policy and keeps every other one.
# Needs Go; zip (or python3) to pack; the AWS CLI (and jq, for --org-id) to upload.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."

bucket="" key="ecr-onboard/member-setup.zip" org_id=""
while [ $# -gt 0 ]; do
  case "$1" in
    --bucket) bucket="${2:?--bucket needs a value}"; shift 2 ;;
    --key) key="${2:?--key needs a value}"; shift 2 ;;
    --org-id) org_id="${2:?--org-id needs a value}"; shift 2 ;;
    -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
    *) echo "package.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
[ -z "$org_id" ] || [ -n "$bucket" ] || { echo "package.sh: --org-id goes with --bucket" >&2; exit 2; }

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
  [ -z "$org_id" ] || deploy/member/org-read-policy.sh --bucket "$bucket" --key "$key" --org-id "$org_id"
  echo "parameters: CodeS3Bucket=$bucket CodeS3Key=$key"
fi
