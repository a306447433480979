#!/usr/bin/env bash
# Validates the Kubernetes manifests under deploy/kubernetes, offline.
#
#   scripts/validate-manifests.sh [DIR_OR_FILE ...]   (default: deploy/kubernetes)
#   scripts/validate-manifests.sh --install-only      (install the validator, then stop)
#
# 1. Every object is checked against the Kubernetes OpenAPI schemas in strict
#    mode (unknown fields are errors) for each version in KUBERNETES_VERSIONS,
#    with kubernetes-validate, a PyPI package that bundles the schemas: no
#    network is used. An unknown kind or apiVersion is an error too.
# 2. Every tenants file in a ConfigMap (keys *.toml, *.yaml, *.yml) must parse
#    and have the shape `connector-host serve` reads (docs/deployment.md).
# 3. Each folder must hang together: referenced Secrets, ConfigMaps, keys and
#    Services exist; selectors match the pod labels; probes name a declared
#    port; tenant secret files are mounted; shard keys match the replicas; no
#    tenant is defined twice; kustomization.yaml lists every manifest.
#
# Reports every problem it finds and exits 1 if there was any (2 if the
# validator cannot be installed).
set -euo pipefail

VALIDATOR_PACKAGE="kubernetes-validate==1.37.0"
# Oldest supported version (the StatefulSet's pod-index label needs 1.28) and a
# recent one. Each must not be newer than the validator's newest schemas.
KUBERNETES_VERSIONS="${KUBERNETES_VERSIONS:-1.28.0 1.33.0}"

install_validator() {
    local need=()
    python3 -c 'import kubernetes_validate' 2>/dev/null || need+=("${VALIDATOR_PACKAGE}")
    # TOML parsing: tomllib from Python 3.11 on, else the tomli package.
    python3 -c 'import tomllib' 2>/dev/null || python3 -c 'import tomli' 2>/dev/null || need+=(tomli)
    [[ ${#need[@]} -eq 0 ]] && return 0
    echo "installing ${need[*]}" >&2
    # As scripts/setup.sh installs zstandard; a Debian system Python also
    # needs --break-system-packages.
    PIP_ROOT_USER_ACTION=ignore python3 -m pip install --quiet --disable-pip-version-check "${need[@]}" \
        || PIP_ROOT_USER_ACTION=ignore python3 -m pip install --quiet --disable-pip-version-check --break-system-packages "${need[@]}"
}

if ! command -v python3 >/dev/null 2>&1; then
    echo "validate-manifests: python3 is required" >&2
    exit 2
fi
if ! install_validator; then
    echo "validate-manifests: could not install ${VALIDATOR_PACKAGE}" >&2
    exit 2
fi
if [[ "${1:-}" == "--install-only" ]]; then
    exit 0
fi
if [[ $# -eq 0 ]]; then
    cd "$(dirname "$0")/.."
    set -- deploy/kubernetes
fi

KUBERNETES_VERSIONS="$KUBERNETES_VERSIONS" exec python3 - "$@" <<'PY'
import os
import re
import sys
from collections import defaultdict
from pathlib import Path

import yaml
import kubernetes_validate.utils as kv

try:
    import tomllib
except ModuleNotFoundError:  # Python < 3.11
    import tomli as tomllib

VERSIONS = os.environ["KUBERNETES_VERSIONS"].split()
errors = []


def error(where, message):
    errors.append(f"{where}: {message}")


def yaml_files(args):
    out = []
    for arg in args:
        p = Path(arg)
        if p.is_dir():
            out += sorted(q for q in p.rglob("*") if q.suffix in (".yaml", ".yml") and q.is_file())
        elif p.is_file():
            out.append(p)
        else:
            error(arg, "no such file or directory")
    return out


# --- 1. schemas --------------------------------------------------------------

def check_schema(where, obj):
    """Validates one object against every version's strict schema."""
    for version in VERSIONS:
        try:
            kv.validate(obj, version, strict=True)
        except kv.ValidationError as e:
            path = ".".join(str(p) for p in e.path) or "(top level)"
            error(where, f"Kubernetes {e.version} schema: {path}: {e.message}")
            return False
        except kv.SchemaNotFoundError as e:
            error(where, e.message)
            return False
        except kv.VersionNotSupportedError:
            error(where, f"the installed kubernetes-validate has no schemas for Kubernetes {version}")
            return False
    return True


# --- 2. tenants files --------------------------------------------------------

ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
HEX64 = re.compile(r"^[0-9a-f]{64}$")
ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
DURATION = re.compile(r"^\s*(\d+\s*(ns|us|ms|s|sec|m|min|h|hr|d|days?)\s*)+$")
TENANT_KEYS = {"id", "component", "sync_interval", "config", "secrets", "limits", "upload", "provisioning"}
LIMITS = {"memory_mb", "cpu_ms_per_call", "wall_seconds_per_call", "max_concurrent_requests",
          "requests_per_second", "sync_concurrency"}


def is_abs(v):
    return isinstance(v, str) and v.startswith("/")


def one_of(where, table, keys):
    """Which one of `keys` the table has; an error unless exactly one."""
    present = [k for k in keys if k in table]
    if len(present) != 1:
        error(where, f"needs exactly one of {', '.join(keys)}, found {sorted(table) or 'none'}")
        return None
    return present[0]


def check_tenants(where, doc):
    """Returns the tenants (dicts) of a parsed tenants file."""
    if not isinstance(doc, dict) or set(doc) != {"tenant"}:
        error(where, "a tenants file has one top-level key, `tenant` (a list of tables)")
        return []
    tenants = doc["tenant"]
    if not isinstance(tenants, list) or not tenants:
        error(where, "`tenant` must be a non-empty list")
        return []
    good = []
    for i, t in enumerate(tenants):
        if not isinstance(t, dict):
            error(f"{where} tenant[{i}]", "must be a table")
            continue
        tid = t.get("id")
        at = f"{where} tenant {tid!r}" if isinstance(tid, str) else f"{where} tenant[{i}]"
        if not isinstance(tid, str) or not ID.match(tid):
            error(at, "id must be a string of letters, digits, '.', '_' or '-'")
        for k in sorted(set(t) - TENANT_KEYS):
            error(at, f"unknown field {k!r}")
        c = t.get("component")
        if not isinstance(c, dict):
            error(at, "component must be { builtin = \"...\" } or { path = \"...\", sha256 = \"...\" }")
        elif "builtin" in c:
            if set(c) != {"builtin"} or not isinstance(c["builtin"], str) or not c["builtin"]:
                error(f"{at} component", "builtin takes a name and nothing else")
        elif set(c) != {"path", "sha256"} or not is_abs(c.get("path")) \
                or not isinstance(c.get("sha256"), str) or not HEX64.match(c["sha256"]):
            error(f"{at} component", "a path component needs an absolute path and a sha256 of 64 lowercase hex digits")
        if "sync_interval" in t and (not isinstance(t["sync_interval"], str) or not DURATION.match(t["sync_interval"])):
            error(f"{at} sync_interval", "must be a duration string such as \"30m\" or \"1h\"")
        if "provisioning" in t and not isinstance(t["provisioning"], bool):
            error(f"{at} provisioning", "must be true or false")
        config = t.get("config", {})
        if not isinstance(config, dict):
            error(f"{at} config", "must be a table")
        else:
            for k, v in config.items():
                if not isinstance(v, (str, int, float, bool)):
                    error(f"{at} config.{k}", "must be a string, number or boolean")
                if "secret" in k.lower() or "password" in k.lower() or "token" in k.lower():
                    error(f"{at} config.{k}", "looks like a secret: put it in [tenant.secrets] as a file or env reference")
        secrets = t.get("secrets", {})
        if not isinstance(secrets, dict):
            error(f"{at} secrets", "must be a table")
        else:
            for k, ref in secrets.items():
                sw = f"{at} secrets.{k}"
                if not isinstance(ref, dict):
                    error(sw, "must be { file = \"/path\" } or { env = \"NAME\" }")
                    continue
                kind = one_of(sw, ref, ["file", "env"])
                if kind and set(ref) != {kind}:
                    error(sw, f"unexpected fields {sorted(set(ref) - {kind})}")
                if kind == "file" and not is_abs(ref["file"]):
                    error(sw, "file must be an absolute path")
                if kind == "env" and (not isinstance(ref["env"], str) or not ENV_NAME.match(ref["env"])):
                    error(sw, "env must be an environment variable name")
        limits = t.get("limits", {})
        if not isinstance(limits, dict):
            error(f"{at} limits", "must be a table")
        else:
            for k, v in limits.items():
                if k not in LIMITS:
                    error(f"{at} limits.{k}", f"unknown limit (known: {', '.join(sorted(LIMITS))})")
                elif isinstance(v, bool) or not isinstance(v, (int, float)) or v <= 0 \
                        or (k != "requests_per_second" and not isinstance(v, int)):
                    error(f"{at} limits.{k}", "must be a positive number" + ("" if k == "requests_per_second" else " (integer)"))
        upload = t.get("upload")
        if upload is not None:
            if not isinstance(upload, dict):
                error(f"{at} upload", "must be { directory = \"/path\" } or { url = \"https://...\" }")
            else:
                kind = one_of(f"{at} upload", upload, ["directory", "url"])
                if kind and set(upload) != {kind}:
                    error(f"{at} upload", f"unexpected fields {sorted(set(upload) - {kind})}")
                if kind == "directory" and not is_abs(upload["directory"]):
                    error(f"{at} upload.directory", "must be an absolute path")
                if kind == "url" and not (isinstance(upload["url"], str) and re.match(r"^https?://[^/\s]+", upload["url"])):
                    error(f"{at} upload.url", "must be an http(s) URL")
        good.append(t)
    return good


# --- 3. consistency within a folder ------------------------------------------

WORKLOADS = {"Deployment", "StatefulSet", "DaemonSet", "Job"}


def secret_keys(secret):
    return set((secret.get("data") or {}) | (secret.get("stringData") or {}))


def under(path, root):
    return path == root or path.startswith(root.rstrip("/") + "/")


def check_folder(folder, objects, files):
    by_kind = defaultdict(dict)
    for where, obj in objects:
        name = obj["metadata"]["name"]
        if name in by_kind[obj["kind"]]:
            error(where, f"{obj['kind']} {name!r} is defined twice in {folder}")
        by_kind[obj["kind"]][name] = (where, obj)
    secrets = {n: o for n, (_, o) in by_kind["Secret"].items()}
    configmaps = {n: o for n, (_, o) in by_kind["ConfigMap"].items()}

    # Tenants files in ConfigMaps.
    tenants_by_cm = {}
    seen_ids = {}
    for name, (where, cm) in by_kind["ConfigMap"].items():
        per_key = {}
        for key, text in (cm.get("data") or {}).items():
            kw = f"{where} ConfigMap {name} key {key}"
            try:
                if key.endswith(".toml"):
                    doc = tomllib.loads(text)
                elif key.endswith((".yaml", ".yml")):
                    doc = yaml.safe_load(text)
                else:
                    continue
            except Exception as e:  # noqa: BLE001 - report any parse error
                error(kw, f"does not parse: {e}")
                continue
            per_key[key] = check_tenants(kw, doc)
            for t in per_key[key]:
                tid = t.get("id")
                if tid in seen_ids:
                    error(kw, f"tenant {tid!r} is also defined in {seen_ids[tid]}: it would be served twice")
                seen_ids.setdefault(tid, key)
        tenants_by_cm[name] = per_key

    services = by_kind["Service"]
    for kind in WORKLOADS:
        for name, (where, wl) in by_kind[kind].items():
            w = f"{where} {kind} {name}"
            spec = wl["spec"]
            pod = spec["template"]
            pod_labels = pod.get("metadata", {}).get("labels", {})
            match = spec.get("selector", {}).get("matchLabels", {})
            if any(pod_labels.get(k) != v for k, v in match.items()):
                error(w, "selector.matchLabels does not match the pod template labels")
            if kind == "StatefulSet" and spec.get("serviceName") not in services:
                error(w, f"serviceName {spec.get('serviceName')!r} is not a Service in {folder}")
            podspec = pod["spec"]
            volumes = {v["name"]: v for v in podspec.get("volumes", [])}
            claims = {c["metadata"]["name"] for c in spec.get("volumeClaimTemplates", [])}

            def secret_files(vol, mount):
                """Files a secret (or projected secret) volume provides under mount."""
                out = set()
                srcs = []
                if "secret" in vol:
                    srcs.append((vol["secret"].get("secretName"), vol["secret"].get("items"), vol["secret"].get("optional")))
                for s in vol.get("projected", {}).get("sources", []):
                    if "secret" in s:
                        srcs.append((s["secret"].get("name"), s["secret"].get("items"), s["secret"].get("optional")))
                for sname, items, optional in srcs:
                    if sname not in secrets:
                        if not optional:
                            error(w, f"volume {vol['name']!r} uses Secret {sname!r}, not defined in {folder}")
                        continue
                    keys = secret_keys(secrets[sname])
                    for it in items or [{"key": k, "path": k} for k in sorted(keys)]:
                        if it["key"] not in keys:
                            error(w, f"volume {vol['name']!r}: Secret {sname!r} has no key {it['key']!r}")
                        out.add(mount.rstrip("/") + "/" + it["path"])
                return out

            for vol in volumes.values():
                cmref = vol.get("configMap", {}).get("name")
                if cmref and cmref not in configmaps and not vol["configMap"].get("optional"):
                    error(w, f"volume {vol['name']!r} uses ConfigMap {cmref!r}, not defined in {folder}")

            for c in podspec.get("containers", []):
                cw = f"{w} container {c['name']}"
                env = {e["name"]: e for e in c.get("env", [])}
                for ef in c.get("envFrom", []):
                    ref = ef.get("secretRef", {}).get("name")
                    if ref and ref not in secrets and not ef["secretRef"].get("optional"):
                        error(cw, f"envFrom Secret {ref!r} is not defined in {folder}")
                    ref = ef.get("configMapRef", {}).get("name")
                    if ref and ref not in configmaps and not ef["configMapRef"].get("optional"):
                        error(cw, f"envFrom ConfigMap {ref!r} is not defined in {folder}")
                for e in env.values():
                    ref = e.get("valueFrom", {}).get("secretKeyRef")
                    if ref and not ref.get("optional"):
                        if ref["name"] not in secrets:
                            error(cw, f"env {e['name']}: Secret {ref['name']!r} is not defined in {folder}")
                        elif ref["key"] not in secret_keys(secrets[ref["name"]]):
                            error(cw, f"env {e['name']}: Secret {ref['name']!r} has no key {ref['key']!r}")
                ports = {p.get("name") for p in c.get("ports", [])} | {p["containerPort"] for p in c.get("ports", [])}
                for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
                    port = c.get(probe, {}).get("httpGet", {}).get("port")
                    if port is not None and port not in ports:
                        error(cw, f"{probe} uses port {port!r}, not declared in ports")
                mounts = {}  # mountPath -> (volume, readOnly)
                provided = set()  # secret files mounted into this container
                for m in c.get("volumeMounts", []):
                    vol = volumes.get(m["name"])
                    if vol is None and m["name"] not in claims:
                        error(cw, f"volumeMount {m['name']!r} has no volume or volumeClaimTemplate")
                        continue
                    mounts[m["mountPath"]] = (vol, m.get("readOnly", False))
                    if vol is not None:
                        provided |= secret_files(vol, m["mountPath"])

                # Which tenants file does this container load?
                tenants_path = env.get("CONNECTOR_HOST_TENANTS", {}).get("value")
                if tenants_path is None:
                    continue
                cm_mount = [(p, v) for p, (v, _) in mounts.items() if v and "configMap" in v and under(tenants_path, p)]
                if not cm_mount:
                    error(cw, f"CONNECTOR_HOST_TENANTS={tenants_path} is not inside a mounted ConfigMap")
                    continue
                mount_path, vol = cm_mount[0]
                per_key = tenants_by_cm.get(vol["configMap"]["name"], {})
                rel = tenants_path[len(mount_path.rstrip("/")) + 1:]
                if "$(" in rel:  # one key per shard, chosen by the pod's ordinal
                    pattern = re.escape(rel).replace(re.escape("$(SHARD)"), r"(\d+)")
                    shards = sorted(int(m.group(1)) for k in per_key if (m := re.fullmatch(pattern, k)))
                    replicas = spec.get("replicas", 1)
                    if kind != "StatefulSet":
                        error(cw, "a per-shard tenants path needs a StatefulSet (its ordinal selects the shard)")
                    if shards != list(range(replicas)):
                        error(cw, f"replicas is {replicas} but the ConfigMap has shard keys {shards}: "
                                  f"they must be 0..{replicas - 1}, one per pod")
                    loaded = [t for k, ts in per_key.items() if re.fullmatch(pattern, k) for t in ts]
                elif rel in per_key:
                    loaded = per_key[rel]
                elif rel == "":
                    loaded = [t for ts in per_key.values() for t in ts]
                else:
                    error(cw, f"CONNECTOR_HOST_TENANTS={tenants_path}: the ConfigMap has no key {rel!r}")
                    continue
                writable = [p for p, (v, ro) in mounts.items() if not ro and (v is None or "emptyDir" in v or "persistentVolumeClaim" in v)]
                for t in loaded:
                    tw = f"{cw} tenant {t.get('id')!r}"
                    for k, ref in (t.get("secrets") or {}).items():
                        if isinstance(ref, dict) and "file" in ref and ref["file"] not in provided:
                            error(tw, f"secret {k}: {ref['file']} is not provided by any mounted Secret")
                        if isinstance(ref, dict) and "env" in ref and ref["env"] not in env and not c.get("envFrom"):
                            error(tw, f"secret {k}: environment variable {ref['env']} is not set on the container")
                    directory = (t.get("upload") or {}).get("directory")
                    if isinstance(directory, str) and not any(under(directory, p) for p in writable):
                        error(tw, f"upload directory {directory} is not on a writable volume")

    for kind in ("Service", "PodDisruptionBudget"):
        for name, (where, obj) in by_kind[kind].items():
            sel = obj["spec"].get("selector") or {}
            sel = sel.get("matchLabels", sel) if kind == "PodDisruptionBudget" else sel
            pods = [wl["spec"]["template"].get("metadata", {}).get("labels", {})
                    for k in WORKLOADS for _, wl in by_kind[k].values()]
            if not any(all(p.get(k) == v for k, v in sel.items()) for p in pods):
                error(f"{where} {kind} {name}", "selector matches no pod template in this folder")

    kust = [f for f in files if f.name in ("kustomization.yaml", "kustomization.yml")]
    for k in kust:
        doc = yaml.safe_load(k.read_text())
        if not isinstance(doc, dict) or doc.get("kind") != "Kustomization":
            error(str(k), "is not a Kustomization")
            continue
        listed = set(doc.get("resources") or [])
        for r in sorted(listed):
            if not (k.parent / r).exists():
                error(str(k), f"resource {r} does not exist")
        for f in files:
            if f not in kust and f.parent == k.parent and f.name not in listed:
                error(str(k), f"{f.name} is not listed in resources")


def main(args):
    files = yaml_files(args)
    if not files:
        error("validate-manifests", "no manifests found")
    by_folder = defaultdict(list)
    objects = defaultdict(list)
    schema_failed = set()
    count = 0
    for f in files:
        by_folder[f.parent].append(f)
        try:
            docs = [d for d in yaml.safe_load_all(f.read_text()) if d is not None]
        except yaml.YAMLError as e:
            error(str(f), f"is not valid YAML: {e}")
            continue
        if f.name in ("kustomization.yaml", "kustomization.yml"):
            continue
        for i, obj in enumerate(docs):
            where = f"{f}#{i}" if len(docs) > 1 else str(f)
            if not isinstance(obj, dict) or not all(k in obj for k in ("apiVersion", "kind", "metadata")) \
                    or not isinstance(obj["metadata"], dict) or "name" not in obj["metadata"]:
                error(where, "not a Kubernetes object (apiVersion, kind, metadata.name)")
                continue
            if not check_schema(where, obj):
                schema_failed.add(f.parent)
            objects[f.parent].append((where, obj))
            count += 1
    for folder in sorted(by_folder):
        if folder in schema_failed:
            error(str(folder), "cross-checks skipped until the schema errors above are fixed")
            continue
        try:
            check_folder(folder, objects[folder], by_folder[folder])
        except (KeyError, TypeError, AttributeError) as e:
            error(str(folder), f"malformed manifest ({type(e).__name__}: {e})")
    for e in errors:
        print(f"ERROR {e}", file=sys.stderr)
    if errors:
        print(f"validate-manifests: {len(errors)} error(s)", file=sys.stderr)
        return 1
    print(f"validate-manifests: {count} objects in {len(files)} files valid "
          f"(Kubernetes {', '.join(VERSIONS)}, strict schemas; tenants files and cross-references checked)")
    return 0


sys.exit(main(sys.argv[1:]))
PY
