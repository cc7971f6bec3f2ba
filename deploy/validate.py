"""`make lint`'s offline check of the deployment files (no container daemon or cluster needed).

- deploy/compose.yaml against the Compose specification's JSON schema (deploy/schemas/);
- the Kubernetes manifests with kubernetes-validate (--strict): each file of the base, and the
  base and every overlay as `kubectl kustomize` renders them when kubectl is installed;
- the Dockerfiles with hadolint (deploy/hadolint.yaml).
Exits non-zero naming each problem.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import jsonschema
import yaml

DEPLOY = Path(__file__).resolve().parent
BIN = Path(sys.executable).parent


def compose_problems() -> list[str]:
    schema = json.loads((DEPLOY / "schemas" / "compose-spec.json").read_text())
    document = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    validator = jsonschema.Draft201909Validator(schema)
    return [
        f"deploy/compose.yaml: {'/'.join(map(str, error.path)) or '(top)'}: {error.message}"
        for error in validator.iter_errors(document)
    ]


def _run(args: list[str]) -> list[str]:
    out = subprocess.run(args, capture_output=True, text=True, check=False)
    if out.returncode == 0:
        return []
    return [f"{Path(args[0]).name}: {(out.stdout + out.stderr).strip()}"]


def kubernetes_problems() -> list[str]:
    base = DEPLOY / "kubernetes" / "base"
    manifests = sorted(p for p in base.glob("*.yaml") if p.name != "kustomization.yaml")
    validate = [str(BIN / "kubernetes-validate"), "--strict", "--quiet"]
    problems = _run([*validate, *map(str, manifests)])
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        print("deploy/validate.py: no kubectl: checked the files, not the Kustomize renders")
        return problems
    folders = [base, *sorted((DEPLOY / "kubernetes" / "overlays").iterdir())]
    with tempfile.TemporaryDirectory() as tmp:
        for folder in folders:
            render = subprocess.run(
                [kubectl, "kustomize", str(folder)], capture_output=True, text=True, check=False
            )
            if render.returncode != 0:
                problems.append(f"kubectl kustomize {folder.name}: {render.stderr.strip()}")
                continue
            rendered = Path(tmp) / f"{folder.name}.yaml"
            rendered.write_text(render.stdout)
            problems += _run([*validate, str(rendered)])
    return problems


def dockerfile_problems() -> list[str]:
    hadolint = [str(BIN / "hadolint"), "--config", str(DEPLOY / "hadolint.yaml")]
    return _run([*hadolint, str(DEPLOY / "Dockerfile"), str(DEPLOY / "Dockerfile.cuda")])


def main() -> None:
    problems = compose_problems() + kubernetes_problems() + dockerfile_problems()
    for problem in problems:
        print(problem, file=sys.stderr)
    if problems:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
