#!/usr/bin/env bash
# The PR workflow's preview gate (.github/workflows/preview.yml; docs/pull-requests.md): decides, before anything
# is installed, whether `pulumi preview` can run, and says why not.
#   - A Dependabot pull request gets only Dependabot secrets and a read-only token: the preview is skipped with a
#     notice on the run (the test job still tests the update).
#   - Otherwise every secret the backend needs must be set, or the job fails here, one line per missing secret.
# Reads PULUMI_BACKEND_URL, PULUMI_STACK and the credentials from the environment; writes run=true|false to
# $GITHUB_OUTPUT (stdout outside Actions). Exit 1 when a secret is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
output=${GITHUB_OUTPUT:-/dev/stdout}
stack=${PULUMI_STACK:-dev}

if [ "${GITHUB_ACTOR:-}" = "dependabot[bot]" ]; then
  note="pulumi preview skipped: Dependabot pull requests get only Dependabot secrets and a read-only token; the test job checked this update. To preview it, open a pull request of your own from its branch."
  echo "::notice title=preview skipped::$note"
  [ -z "${GITHUB_STEP_SUMMARY:-}" ] || echo "$note" >> "$GITHUB_STEP_SUMMARY"
  echo run=false >> "$output"
  exit 0
fi

missing=()
need() {  # need NAME WHY: NAME must be set and non-empty
  [ -n "${!1:-}" ] || missing+=("$1: $2")
}
url=${PULUMI_BACKEND_URL:-}
self_managed=true
case "$url" in
  "")
    missing+=("PULUMI_BACKEND_URL: the backend holding stack '$stack', e.g. https://api.pulumi.com or s3://BUCKET/sparkstack")
    self_managed=false ;;
  https://*)
    need PULUMI_ACCESS_TOKEN "a Pulumi Cloud access token for $url (pulumi/actions logs in with it)"
    self_managed=false ;;
  s3://*)
    need AWS_ACCESS_KEY_ID "for the S3 backend $url"
    need AWS_SECRET_ACCESS_KEY "for the S3 backend $url"
    case "$url" in *region=*) ;; *) need AWS_REGION "the bucket's region (or add ?region=... to PULUMI_BACKEND_URL)" ;; esac ;;
  gs://*)
    need GOOGLE_CREDENTIALS "a service account key (JSON) for the GCS backend $url" ;;
  azblob://*)
    need AZURE_STORAGE_ACCOUNT "for the Azure Blob backend $url"
    need AZURE_STORAGE_KEY "for the Azure Blob backend $url" ;;
  *)
    missing+=("PULUMI_BACKEND_URL: '$url' is not a backend a runner can share with you (https://, s3://, gs:// or azblob://; file:// and --local start empty on every run)")
    self_managed=false ;;
esac
if $self_managed; then
  # Self-managed backends encrypt the stack's secrets with a passphrase and the salt in Pulumi.<stack>.yaml.
  need PULUMI_CONFIG_PASSPHRASE "the passphrase stack '$stack' was created with"
  if ! grep -q '^encryptionsalt:' "Pulumi.$stack.yaml" 2>/dev/null; then
    missing+=("Pulumi.$stack.yaml: no encryptionsalt; create the stack once (pulumi stack init $stack with the same backend and passphrase) and commit the file")
  fi
fi

if [ ${#missing[@]} -gt 0 ]; then
  echo "pulumi preview cannot run: set these repository secrets (Settings > Secrets and variables > Actions; see docs/pull-requests.md):" >&2
  printf '  %s\n' "${missing[@]}" >&2
  exit 1
fi
echo run=true >> "$output"
