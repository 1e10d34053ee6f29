"""Expands a SAM template as CloudFormation does (AWS::Serverless-2016-10-31,
with the installed aws-sam-translator) and prints the result as JSON.

Usage: python3 sam_transform.py TEMPLATE. The template is read with
cfn-lint's decoder (short-form intrinsics); CodeUri, a local path that only
`sam build` / `aws cloudformation package` turn into an S3 location, is
replaced by a placeholder S3 URI first, as cfn-lint does before it expands.
"""
import json
import os
import sys

os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")

from cfnlint.decode import decode  # noqa: E402
from samtranslator.parser import parser  # noqa: E402
from samtranslator.translator.translator import Translator  # noqa: E402

template, matches = decode(sys.argv[1])
if matches:
    sys.exit("cannot read %s: %s" % (sys.argv[1], matches))
template = json.loads(json.dumps(template))
for resource in template.get("Resources", {}).values():
    if resource.get("Type") == "AWS::Serverless::Function":
        resource.setdefault("Properties", {})["CodeUri"] = "s3://placeholder-bucket/bootstrap.zip"
expanded = Translator(managed_policy_map={}, sam_parser=parser.Parser()).translate(sam_template=template, parameter_values={})
json.dump(expanded, sys.stdout, indent=1, sort_keys=True)
