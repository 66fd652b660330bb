#!/usr/bin/env bash
# Runs gpiobridge against a real Home Assistant: 2025.1.4 (the last series for Python 3.12, with
# device-based MQTT discovery) on pyenv's Python 3.12.1, installed with Home Assistant's own
# constraints file into a virtual environment cached outside the clone, so a warm run starts at
# once (a cold install takes about 4 minutes). The test itself is scripts/ha/home_assistant_test.py.
#
#   scripts/ha/test-home-assistant.sh [path to the gpiobridge binary [--keep]]
set -euo pipefail
cd "$(dirname "$0")/../.."
binary=${1:-.build/debug/gpiobridge}
version=2025.1.4
python_version=3.12.1
cache=${GPIOBRIDGE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/gpiobridge}
venv=$cache/home-assistant-$version-python-$python_version

python=$(pyenv root 2>/dev/null || echo "$HOME/.pyenv")/versions/$python_version/bin/python
if [ ! -x "$python" ]; then
    echo "Home Assistant $version needs Python $python_version from pyenv (not found at $python)" >&2
    exit 1
fi

# The integrations the test loads and everything they depend on; their requirements are
# installed up front (Home Assistant runs with --skip-pip, so nothing is installed mid-test).
integrations="frontend mqtt onboarding api config tasmota"
if [ ! -e "$venv/.complete" ]; then
    echo "installing Home Assistant $version into $venv"
    rm -rf "$venv"
    "$python" -m venv "$venv"
    "$venv/bin/pip" install --quiet --upgrade pip
    "$venv/bin/pip" install --quiet "homeassistant==$version"
    package=$("$venv/bin/python" -c 'import homeassistant, os; print(os.path.dirname(homeassistant.__file__))')
    requirements=$("$venv/bin/python" - "$package/components" $integrations <<'EOF'
import json, os, sys
components, wanted = sys.argv[1], sys.argv[2:]
seen, requirements = set(), set()
def walk(name):
    manifest = os.path.join(components, name, "manifest.json")
    if name in seen or not os.path.exists(manifest):
        return
    seen.add(name)
    with open(manifest) as file:
        data = json.load(file)
    requirements.update(data.get("requirements", []))
    for dependency in data.get("dependencies", []):
        walk(dependency)
for name in wanted:
    walk(name)
print("\n".join(sorted(requirements)))
EOF
)
    # shellcheck disable=SC2086
    "$venv/bin/pip" install --quiet -c "$package/package_constraints.txt" $requirements
    touch "$venv/.complete"
fi

exec "$venv/bin/python" scripts/ha/home_assistant_test.py --gpiobridge "$binary" "${@:2}"
