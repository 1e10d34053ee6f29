#!/usr/bin/env bash
# Add (or remove) the CrowdStrike registry-assessment statement on an account's CSPM IAM role,
# so that Container Security image assessment can assume the same role with the same external ID
# that CSPM already uses. Run it once per AWS account, with credentials for THAT account.
#
# Dry run by default: prints the current and proposed trust policy as a diff and changes nothing.
#
#   deploy/apply-trust-policy.sh --role <role name or ARN> --external-id <CSPM external ID> [--apply]
#   deploy/apply-trust-policy.sh --role <role name or ARN> --remove [--apply]
#
# Options:
#   --role         the CSPM role (resource_metadata.iam_role_arn of the account in CSPM)
#   --external-id  the external ID CrowdStrike generated for this account
#                  (resource_metadata.external_id of the account in CSPM); never make one up:
#                  it must be the one the role's CSPM statement (a CrowdStrike principal under an
#                  sts:ExternalId condition) already requires, or nothing is planned
#   --govcloud     use the GovCloud principal (automatic when --role is an arn:aws-us-gov ARN)
#   --remove       remove the statement instead of adding it (revert)
#   --apply        write the new policy with `aws iam update-assume-role-policy`
# A new policy over the account's IAM quota on a role's trust policy size (iam:GetAccountSummary:
# AssumeRolePolicySizeQuota, whitespace not counted) is refused, naming the quota.
# The AWS CLI's usual AWS_PROFILE / AWS_REGION / credentials apply. Needs aws, jq, diff.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
sid="CrowdStrikeRegistryAssessment"
role="" external_id="" govcloud=0 remove=0 apply=0

die() { echo "apply-trust-policy: $*" >&2; exit 2; }
usage() { sed -n '2,22p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit "${1:-0}"; }

while [ $# -gt 0 ]; do
  case "$1" in
    --role) role="${2:-}"; shift 2 ;;
    --external-id) external_id="${2:-}"; shift 2 ;;
    --govcloud) govcloud=1; shift ;;
    --remove) remove=1; shift ;;
    --apply) apply=1; shift ;;
    -h|--help) usage 0 ;;
    *) echo "unknown argument: $1" >&2; usage 2 ;;
  esac
done

for tool in aws jq diff; do
  command -v "$tool" >/dev/null 2>&1 || die "$tool is required"
done
[ -n "$role" ] || die "--role is required"

role_name="${role##*/}" # update-assume-role-policy takes the name, without any path
case "$role" in
  arn:*)
    IFS=: read -r _ partition _ _ role_account _ <<<"$role"
    [[ "$role" =~ ^arn:aws(-us-gov|-cn)?:iam::[0-9]{12}:role/.+$ ]] || die "malformed role ARN: $role"
    [ "$partition" != "aws-cn" ] || die "no registry-assessment principal is documented for the China partition"
    [ "$partition" = "aws-us-gov" ] && govcloud=1
    caller_account="$(aws sts get-caller-identity --query Account --output text)"
    [ "$caller_account" = "$role_account" ] ||
      die "role belongs to account $role_account but these credentials are for $caller_account"
    ;;
esac

if [ "$remove" -eq 0 ]; then
  [ -n "$external_id" ] || die "--external-id is required (the CSPM external ID of this account)"
  [ "$external_id" != "<CSPM_EXTERNAL_ID>" ] || die "replace the placeholder with the account's CSPM external ID"
  [[ "$external_id" =~ ^[A-Za-z0-9+=,.@:/_-]{2,1224}$ ]] || die "external ID has characters or a length STS does not accept"
fi

snippet="$here/trust-policy.json"
[ "$govcloud" -eq 1 ] && snippet="$here/trust-policy-govcloud.json"
[ -r "$snippet" ] || die "cannot read $snippet"

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

aws iam get-role --role-name "$role_name" --query Role.AssumeRolePolicyDocument --output json >"$tmp/current.json"
jq -e '.Statement' "$tmp/current.json" >/dev/null || die "could not read the trust policy of $role_name"

# All statements as an array (a policy may hold a single statement object).
normalize='.Statement |= (if type == "array" then . else [.] end)'

if [ "$remove" -eq 0 ]; then
  # The external ID only ever comes from CSPM's record or the role itself: the role's CSPM
  # statement (a CrowdStrike principal, account 292230061137 or 358431324613, under an
  # sts:ExternalId condition) already requires it. An ID it does not hold (a typo, another
  # account's, a made-up one) is refused, whatever the flags.
  if ! jq -e --arg id "$external_id" "$normalize"' |
      [.Statement[]
       | select([.Principal.AWS? // empty] | flatten
                | any(test("^arn:aws(-us-gov)?:iam::(292230061137|358431324613):")))
       | (.Condition // {}) | to_entries[] | .value | to_entries[]
       | select(.key | ascii_downcase == "sts:externalid") | .value]
      | flatten | index($id) != null' "$tmp/current.json" >/dev/null; then
    die "the external ID given is not the one $role_name's CSPM statement requires (no statement trusting a CrowdStrike principal has it in its sts:ExternalId condition): nothing planned. Use CSPM's external ID for THIS account (see deploy/README.md, \"The external ID placeholder\"), or let \`ecr-onboard trust-policy --account <id>\` read it from CSPM"
  fi
  jq --arg id "$external_id" '.Condition.StringEquals."sts:ExternalId" = $id' "$snippet" >"$tmp/statement.json"
  jq --arg sid "$sid" --slurpfile st "$tmp/statement.json" \
    "$normalize"' | .Statement = ([.Statement[] | select(.Sid != $sid)] + $st)' \
    "$tmp/current.json" >"$tmp/new.json"
else
  jq --arg sid "$sid" "$normalize"' | .Statement = [.Statement[] | select(.Sid != $sid)]' \
    "$tmp/current.json" >"$tmp/new.json"
fi

# IAM's quota on a role's trust policy: AssumeRolePolicySizeQuota characters, whitespace not
# counted (IAM User Guide, "IAM and AWS STS quotas"); IAM would refuse a longer policy.
if [ "$remove" -eq 0 ]; then
  quota="$(aws iam get-account-summary --query SummaryMap.AssumeRolePolicySizeQuota --output text)" ||
    die "could not read the account's IAM quotas (iam:GetAccountSummary)"
  [[ "$quota" =~ ^[0-9]+$ ]] || die "the account's IAM quota on trust policy size is not a number: $quota"
  size="$(jq -j 'tojson | gsub("\\s"; "") | length' "$tmp/new.json")"
  if [ "$size" -gt "$quota" ]; then
    die "the trust policy of role $role_name would be $size characters (whitespace not counted), over this account's IAM quota of $quota (ACLSizePerRole, \"Role trust policy length\" in Service Quotas): shorten the trust policy (remove statements or principals no longer needed), or request an increase of that quota (up to 4096) in Service Quotas, then run this again. Nothing changed"
  fi
fi

# Compare in the same (array) shape so that the diff shows only what this script changes.
jq -S "$normalize" "$tmp/current.json" >"$tmp/a.json"
jq -S . "$tmp/new.json" >"$tmp/b.json"
if diff -q "$tmp/a.json" "$tmp/b.json" >/dev/null; then
  echo "$role_name: trust policy already up to date; nothing to do."
else
  diff -u --label "$role_name (current)" --label "$role_name (proposed)" "$tmp/a.json" "$tmp/b.json" || true
  if [ "$apply" -eq 1 ]; then
    aws iam update-assume-role-policy --role-name "$role_name" --policy-document "file://$tmp/new.json"
    echo "$role_name: trust policy updated."
  else
    echo "Dry run: nothing changed. Re-run with --apply to write this policy."
  fi
fi

if [ "$remove" -eq 0 ]; then
  attached="$(aws iam list-attached-role-policies --role-name "$role_name" \
    --query 'AttachedPolicies[].PolicyArn' --output text)"
  case "$attached" in
    *AmazonEC2ContainerRegistryReadOnly*) ;;
    *)
      p=aws; [ "$govcloud" -eq 1 ] && p=aws-us-gov
      echo "NOTE: $role_name has no AmazonEC2ContainerRegistryReadOnly attached; image assessment needs ECR read access." >&2
      per_role="$(aws iam get-account-summary --query SummaryMap.AttachedPoliciesPerRoleQuota --output text)"
      count="$(wc -w <<<"$attached")"
      if [[ "$per_role" =~ ^[0-9]+$ ]] && [ "$count" -ge "$per_role" ]; then
        echo "      It has $count managed policies attached, this account's IAM quota (PoliciesPerRole, \"Managed policies per role\" in Service Quotas) is $per_role:" >&2
        echo "      detach a policy the role no longer needs, or request an increase of that quota (up to 20) in Service Quotas, before attaching it." >&2
      else
        echo "      If no other policy grants it: aws iam attach-role-policy --role-name $role_name --policy-arn arn:$p:iam::aws:policy/AmazonEC2ContainerRegistryReadOnly" >&2
      fi
      ;;
  esac
fi
