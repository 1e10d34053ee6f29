# ecr-onboard — see README.md. Everything here needs only Go (modules come from the proxy).
SHELL   := /bin/bash
GO      ?= go
BIN     := bin
LDFLAGS := -s -w -buildid=
GOFLAGS_BUILD := -trimpath -ldflags='$(LDFLAGS)'
LAMBDA_ARCH ?= arm64

.PHONY: all build cli lambda test lint demo fuzz bench clean

all: build

build: cli lambda ## build the CLI and the Lambda bootstrap

cli:
	$(GO) build $(GOFLAGS_BUILD) -o $(BIN)/ecr-onboard ./cmd/ecr-onboard

lambda:
	CGO_ENABLED=0 GOOS=linux GOARCH=$(LAMBDA_ARCH) $(GO) build $(GOFLAGS_BUILD) -tags lambda.norpc -o $(BIN)/lambda-$(LAMBDA_ARCH)/bootstrap ./cmd/lambda

# Fuzz targets as package:Name. `make test` runs their seed corpora (testdata/fuzz) as ordinary
# tests; only `make fuzz` generates random inputs, for FUZZTIME each.
FUZZ_TARGETS := ./internal/onboard:FuzzURL ./internal/onboard:FuzzPlan ./internal/config:FuzzLoad \
	./internal/falcon:FuzzRegistriesResponse ./internal/falcon:FuzzAccountsResponse ./internal/trigger:FuzzParse
FUZZTIME ?= 60s

test: ## vet and every test with the race detector (fuzz seed corpora included; nothing time-boxed or random)
	$(GO) vet ./...
	$(GO) test -race -count=1 ./...

fuzz: ## each fuzz target for FUZZTIME (seed corpora in testdata/fuzz)
	@set -e; for t in $(FUZZ_TARGETS); do \
		echo "fuzz $$t ($(FUZZTIME))"; \
		$(GO) test -run '^$$' -fuzz "^$${t#*:}$$" -fuzztime $(FUZZTIME) "$${t%%:*}"; \
	done

bench: ## benchmarks against the simulator, as a table (README, Performance; about 15 minutes: the 17k onboardings and the rate shares are paced to the rate limit)
	@mkdir -p $(BIN)
	@$(GO) test -run '^$$' -bench . -benchtime 1x -timeout 30m ./... | tee $(BIN)/bench.txt | grep -E '^(Benchmark|FAIL|ok)' || true
	@echo; echo "| benchmark | measurements |"; echo "|---|---|"
	@awk '/^Benchmark/ { name=$$1; sub(/-[0-9]+$$/, "", name); m=sprintf("%.2f s/op, ", $$3/1e9); \
		for (i = 5; i < NF; i += 2) m = m sprintf("%s %s, ", $$i, $$(i+1)); \
		printf "| %s | %s |\n", name, substr(m, 1, length(m)-2) }' $(BIN)/bench.txt

# Every CloudFormation template in the repository: each file that declares AWSTemplateFormatVersion
# (generated copies under dist/, bin/ and .aws-sam/ excluded).
CFN_TEMPLATES = $(shell find . \( -name .git -o -name dist -o -name bin -o -name .aws-sam \) -prune -o \
	-type f \( -name '*.yaml' -o -name '*.yml' -o -name '*.json' -o -name '*.template' \) -print | sort | \
	xargs grep -l 'AWSTemplateFormatVersion' 2>/dev/null)

lint: ## gofmt, go vet, and cfn-lint on every CloudFormation template (template.yaml is SAM: cfn-lint expands it)
	@out=$$(gofmt -l .); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	@test -n "$(CFN_TEMPLATES)" || { echo "lint: no CloudFormation template found" >&2; exit 1; }
	@command -v cfn-lint >/dev/null 2>&1 || { echo "lint: cfn-lint is not installed (pip install cfn-lint); it must check: $(CFN_TEMPLATES)" >&2; exit 1; }
	cfn-lint $(CFN_TEMPLATES)

demo: ## main job against the embedded simulator
	$(GO) run ./cmd/ecr-onboard demo

clean:
	rm -rf $(BIN) .aws-sam

# --- deploy (SAM) ---
# `sam build` runs build-EcrOnboardFunction (template.yaml: Metadata.BuildMethod makefile) with
# ARTIFACTS_DIR set. `make package` / `make deploy` use the SAM CLI when it is on PATH; otherwise
# (or with USE_SAM=0) they build bin/lambda-arm64/bootstrap with `make lambda`, rewrite the
# template's `CodeUri: .` to that directory in dist/template.yaml and use the plain AWS CLI
# (`aws cloudformation package` zips and uploads it to S3_BUCKET). Without the AWS CLI either, the
# AWS commands are printed instead of run. Examples:
#   make deploy                                       # sam build && sam deploy --guided
#   make deploy USE_SAM=0 S3_BUCKET=my-artifacts STACK_NAME=ecr-onboard \
#        PARAMS="FalconSecretArn=arn:aws:secretsmanager:us-east-1:111122223333:secret:falcon-AbCdEf DryRun=true"
STACK_NAME ?= ecr-onboard
S3_BUCKET  ?=
PARAMS     ?=
SAM        ?= sam
AWS        ?= aws
DIST       := dist
USE_SAM    ?= $(if $(shell command -v $(SAM) 2>/dev/null),1,0)
AWS_RUN    := $(if $(shell command -v $(AWS) 2>/dev/null),,@echo "aws CLI not found; run:")
CFN_CAPABILITIES := CAPABILITY_IAM CAPABILITY_AUTO_EXPAND

.PHONY: build-EcrOnboardFunction package deploy validate-template clean-deploy

build-EcrOnboardFunction: ## called by `sam build`; writes $(ARTIFACTS_DIR)/bootstrap
	@test -n "$(ARTIFACTS_DIR)" || { echo "ARTIFACTS_DIR is not set: this target is run by 'sam build' (use 'make lambda' locally)" >&2; exit 2; }
	CGO_ENABLED=0 GOOS=linux GOARCH=arm64 $(GO) build -trimpath -ldflags='-s -w -buildid=' -tags lambda.norpc -o $(ARTIFACTS_DIR)/bootstrap ./cmd/lambda

# template.yaml with CodeUri pointing at the prebuilt bootstrap (paths are relative to dist/).
$(DIST)/template.yaml: template.yaml
	@mkdir -p $(DIST)
	sed 's|^      CodeUri: \.$$|      CodeUri: ../$(BIN)/lambda-arm64/|' template.yaml > $@.tmp
	@grep -q '^      CodeUri: \.\./$(BIN)/lambda-arm64/$$' $@.tmp || { rm -f $@.tmp; echo "template.yaml: line '      CodeUri: .' not found; cannot point it at the prebuilt bootstrap" >&2; exit 1; }
	@mv $@.tmp $@

package: ## build and upload the function code; writes dist/packaged.yaml
	@mkdir -p $(DIST)
ifeq ($(USE_SAM),1)
	$(SAM) build
	$(SAM) package $(if $(S3_BUCKET),--s3-bucket $(S3_BUCKET),--resolve-s3) --output-template-file $(DIST)/packaged.yaml
else
	@test -n "$(S3_BUCKET)" || { echo "S3_BUCKET=<bucket in the target region> is required without the SAM CLI" >&2; exit 2; }
	$(MAKE) lambda LAMBDA_ARCH=arm64
	$(MAKE) $(DIST)/template.yaml
	$(AWS_RUN) $(AWS) cloudformation package --template-file $(DIST)/template.yaml --s3-bucket $(S3_BUCKET) --output-template-file $(DIST)/packaged.yaml
endif

deploy: ## sam build && sam deploy --guided, or package + aws cloudformation deploy
ifeq ($(USE_SAM),1)
	$(SAM) build
	$(SAM) deploy --guided --stack-name $(STACK_NAME) $(if $(PARAMS),--parameter-overrides $(PARAMS))
else
	$(MAKE) package USE_SAM=0
	$(AWS_RUN) $(AWS) cloudformation deploy --template-file $(DIST)/packaged.yaml --stack-name $(STACK_NAME) --capabilities $(CFN_CAPABILITIES) $(if $(PARAMS),--parameter-overrides $(PARAMS))
endif

validate-template: ## template contract tests, plus cfn-lint / sam validate when installed
	$(GO) test -count=1 ./internal/deploytest/
	@if command -v cfn-lint >/dev/null 2>&1; then cfn-lint template.yaml; \
	elif command -v $(SAM) >/dev/null 2>&1; then $(SAM) validate --lint; \
	else echo "cfn-lint / sam not found: lint skipped"; fi

clean-deploy:
	rm -rf $(DIST) .aws-sam
