#!/usr/bin/env bash
# Record one run of the demo TFX-shaped pipeline through the REST API, with curl alone.
#
#   ExampleGen → StatisticsGen → SchemaGen → Transform → Trainer → Evaluator → Pusher
#
# under an Experiment context and a PipelineRun context (the run is a child of
# the experiment).  Each step is one POST /api/v1/executions/record: inputs are
# the earlier steps' outputs, named by uri, so no response needs parsing.
# Every write carries an Idempotency-Key derived from the run's name: running
# the script again with the same RUN changes nothing.
#
# Environment:
#   BASE_URL    the site, e.g. http://127.0.0.1:8000            (required)
#   TOKEN       a writer's API token: manage.py create_api_token USER --writer   (required)
#   EXPERIMENT  experiment context name     (default taxi-rest)
#   RUN         pipeline-run context name   (default taxi-rest-run-<epoch seconds>)
#   ROOT        where the artifacts "live"  (default gs://demo-bucket/taxi-rest)
# Names must not contain double quotes or backslashes (they are pasted into JSON).
set -euo pipefail

: "${BASE_URL:?set BASE_URL, e.g. http://127.0.0.1:8000}"
: "${TOKEN:?set TOKEN to a writer token (manage.py create_api_token USER --writer)}"
EXPERIMENT="${EXPERIMENT:-taxi-rest}"
RUN="${RUN:-taxi-rest-run-$(date +%s)}"
ROOT="${ROOT:-gs://demo-bucket/taxi-rest}/${RUN}"
API="${BASE_URL%/}/api/v1"

# post PATH JSON [IDEMPOTENCY_KEY]: POST, fail loudly (with the API's error body) on any non-2xx.
post() {
    local path="$1" body="$2" key="${3:-}"
    local headers=(-H "Authorization: Token ${TOKEN}" -H "Content-Type: application/json" -H "Accept: application/json")
    if [[ -n "$key" ]]; then
        headers+=(-H "Idempotency-Key: ${key}")
    fi
    local out status
    out="$(mktemp)"
    status="$(curl -sS -o "$out" -w '%{http_code}' -X POST "${headers[@]}" --data "$body" "${API}${path}")"
    if [[ "$status" != 2?? ]]; then
        echo "POST ${path} answered ${status}:" >&2
        cat "$out" >&2
        echo >&2
        rm -f "$out"
        return 1
    fi
    rm -f "$out"
    echo "POST ${path}: ${status}"
}

register_types() {
    post /artifact-types '[
      {"name": "Examples", "base_type": "DATASET", "properties": {"span": "INT", "split_names": "STRING"}},
      {"name": "ExampleStatistics", "base_type": "STATISTICS", "properties": {"span": "INT"}},
      {"name": "Schema"},
      {"name": "TransformGraph"},
      {"name": "Model", "base_type": "MODEL", "properties": {"framework": "STRING"}},
      {"name": "ModelEvaluation", "base_type": "METRICS", "properties": {"accuracy": "DOUBLE", "blessed": "BOOLEAN"}},
      {"name": "PushedModel", "properties": {"pushed_destination": "STRING"}}]'
    post /execution-types '[
      {"name": "ExampleGen", "base_type": "PROCESS", "properties": {"input_base": "STRING"}},
      {"name": "StatisticsGen", "base_type": "PROCESS"},
      {"name": "SchemaGen", "base_type": "PROCESS", "properties": {"infer_feature_shape": "BOOLEAN"}},
      {"name": "Transform", "base_type": "TRANSFORM", "properties": {"module_file": "STRING"}},
      {"name": "Trainer", "base_type": "TRAIN",
       "properties": {"train_steps": "INT", "learning_rate": "DOUBLE", "module_file": "STRING"}},
      {"name": "Evaluator", "base_type": "EVALUATE", "properties": {"threshold": "DOUBLE"}},
      {"name": "Pusher", "base_type": "DEPLOY", "properties": {"push_destination": "STRING"}}]'
    post /context-types '[
      {"name": "Experiment", "properties": {"note": "STRING", "owner": "STRING"}},
      {"name": "PipelineRun", "properties": {"pipeline_name": "STRING", "run_number": "INT"}}]'
}

CONTEXTS="[{\"type\": \"Experiment\", \"name\": \"${EXPERIMENT}\", \"properties\": {\"owner\": \"${USER:-pipeline}\"}},
           {\"type\": \"PipelineRun\", \"name\": \"${RUN}\", \"properties\": {\"pipeline_name\": \"taxi\"}}]"

# step TYPE PROPERTIES INPUT_URIS(space-separated) OUTPUTS(JSON list)
step() {
    local type="$1" properties="$2" input_uris="$3" outputs="$4"
    local inputs="" uri
    for uri in $input_uris; do
        inputs+="${inputs:+, }{\"uri\": \"${uri}\"}"
    done
    post /executions/record "{
      \"execution\": {\"type\": \"${type}\", \"name\": \"${RUN}-${type}\", \"state\": \"COMPLETE\",
                    \"properties\": ${properties}, \"custom_properties\": {\"pipeline_run\": \"${RUN}\"}},
      \"inputs\": [${inputs}],
      \"outputs\": ${outputs},
      \"contexts\": ${CONTEXTS}}" "${RUN}-${type}"
}

# output TYPE URI PROPERTIES KEY: one output artifact with its event path.
output() {
    echo "{\"type\": \"$1\", \"uri\": \"$2\", \"properties\": $3, \"path\": [{\"key\": \"$4\"}, {\"index\": 0}]}"
}

echo "Recording run ${RUN} of experiment ${EXPERIMENT} at ${API}"
register_types

step ExampleGen '{"input_base": "gs://demo-bucket/taxi/raw"}' "" \
    "[$(output Examples "${ROOT}/examples" '{"span": 1, "split_names": "[\"train\", \"eval\"]"}' examples)]"
step StatisticsGen '{}' "${ROOT}/examples" \
    "[$(output ExampleStatistics "${ROOT}/statistics" '{"span": 1}' statistics)]"
step SchemaGen '{"infer_feature_shape": true}' "${ROOT}/statistics" \
    "[$(output Schema "${ROOT}/schema" '{}' schema)]"
step Transform '{"module_file": "taxi_utils.py"}' "${ROOT}/examples ${ROOT}/schema" \
    "[$(output TransformGraph "${ROOT}/transform" '{}' transform_graph)]"
step Trainer '{"train_steps": 1000, "learning_rate": 0.01, "module_file": "taxi_utils.py"}' \
    "${ROOT}/examples ${ROOT}/transform ${ROOT}/schema" \
    "[$(output Model "${ROOT}/model" '{"framework": "tensorflow"}' model)]"
step Evaluator '{"threshold": 0.75}' "${ROOT}/examples ${ROOT}/model" \
    "[$(output ModelEvaluation "${ROOT}/evaluation" '{"accuracy": 0.78, "blessed": true}' evaluation)]"
step Pusher '{"push_destination": "/serving/taxi"}' "${ROOT}/model ${ROOT}/evaluation" \
    "[$(output PushedModel "/serving/taxi/${RUN}" '{"pushed_destination": "/serving/taxi"}' pushed_model)]"

post /parent-contexts "{\"child\": {\"type\": \"PipelineRun\", \"name\": \"${RUN}\"},
                        \"parent\": {\"type\": \"Experiment\", \"name\": \"${EXPERIMENT}\"}}" "${RUN}-parent"

echo "Recorded ${RUN}: 7 executions under PipelineRun ${RUN}, a child of Experiment ${EXPERIMENT}."
