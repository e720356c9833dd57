#!/usr/bin/env bash
# `make demo`: a whole trail life in a temporary folder, using only the CLI.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
ft="$here/.venv/bin/fairtrail"
py="$here/.venv/bin/python"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
export FAIRTRAIL_TRAIL="$work/trail"
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "1. Create a trail (log key + root admin key; entry 0 registers the admin)"
"$ft" init

step "2. Register two actors: a data steward and an ML engineer"
"$ft" keys create dana --role data-steward
"$ft" keys create mo --role ml-engineer
"$ft" keys list

step "3. Record statements, each signed by its author's key"
sha() { "$py" -c 'import hashlib,sys; print(hashlib.sha256(sys.argv[1].encode()).hexdigest())' "$1"; }
cat > "$work/dataset.json" <<JSON
{"_type": "https://in-toto.io/Statement/v1",
 "subject": [{"name": "german-credit.csv", "digest": {"sha256": "$(sha german-credit)"}}],
 "predicateType": "https://fairtrail.dev/dataset/v1",
 "predicate": {"license": "CC-BY-4.0", "source": "UCI Statlog (German Credit Data)"}}
JSON
cat > "$work/model.json" <<JSON
{"_type": "https://in-toto.io/Statement/v1",
 "subject": [{"name": "credit-model.skops", "digest": {"sha256": "$(sha credit-model)"}}],
 "predicateType": "https://fairtrail.dev/model/v1",
 "predicate": {"framework": "scikit-learn", "trained_on": ["$(sha german-credit)"]}}
JSON
"$ft" record "$work/dataset.json" --as dana
"$ft" record "$work/model.json" --as mo
"$ft" log

step "4. Sign a checkpoint (the log audits itself before signing)"
"$ft" checkpoint

step "5. Prove that entry 4 (the model) is in the log, and that the log only grew since entry 0"
"$ft" prove inclusion 4
"$ft" prove consistency 1 5

step "6. Verify everything: every leaf, stored hash, checkpoint and signature"
"$ft" verify

step "7. A statement signed by a stranger is refused, and nothing is written"
"$py" -c 'from fairtrail.crypto import SigningKey; from pathlib import Path; SigningKey.generate().save(Path("'"$work"'/stranger.key"))'
if "$ft" record "$work/model.json" --key "$work/stranger.key"; then echo "UNEXPECTED: accepted"; exit 1; fi

step "8. Tamper with a copy of the trail: rewrite entry 3 (the dataset) in the database"
cp -r "$work/trail" "$work/tampered"
"$py" - "$work/tampered/log.db" <<'PY'
import base64, json, sqlite3, struct, sys
db = sqlite3.connect(sys.argv[1])
db.execute("DROP TRIGGER bundles_append_only_u")  # an attacker with the file can do this
# each `fairtrail record` is its own one-entry bundle: (first index, lengths, data)
envelope = json.loads(db.execute("SELECT data FROM bundles WHERE first = 3").fetchone()[0])
payload = base64.b64decode(envelope["payload"]).replace(b"CC-BY-4.0", b"CC0-1.0")
envelope["payload"] = base64.b64encode(payload).decode()
data = json.dumps(envelope).encode()
db.execute(
    "UPDATE bundles SET lengths = ?, data = ? WHERE first = 3", (struct.pack(">I", len(data)), data)
)
db.commit()
print("entry 3: dataset licence CC-BY-4.0 quietly rewritten to CC0-1.0")
PY
set +e
FAIRTRAIL_TRAIL="$work/tampered" "$ft" verify
rc=$?
set -e
echo "verify exit code: $rc (3 = tampering found)"
test "$rc" -eq 3
printf '\n\033[1mDemo finished: the original trail verifies, the tampered copy is caught at entry 3.\033[0m\n'
