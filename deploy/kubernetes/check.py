#!/usr/bin/python3
"""Offline checks of deploy/kubernetes (no cluster, no schema download): every file parses as YAML, every object has
apiVersion/kind/metadata.name and a current API (batch/v1 CronJob, apps/v1 Deployment), pods meet the restricted Pod
Security Standard (non-root, no privilege escalation, all capabilities dropped, RuntimeDefault seccomp, read-only
root file system, restricted volume types), the RBAC confines Secret access as documented, and the Deployment takes the
PostgreSQL connection from a Secret. Prints one line per problem; exit 1 when there is any.
usage: deploy/kubernetes/check.py [DIR]"""
import glob, os, sys
import yaml

root = sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.abspath(__file__))
problems = []
objects = []
current = {"Deployment": "apps/v1", "CronJob": "batch/v1", "Service": "v1", "ServiceAccount": "v1",
           "PersistentVolumeClaim": "v1", "Role": "rbac.authorization.k8s.io/v1", "RoleBinding": "rbac.authorization.k8s.io/v1",
           "Kustomization": "kustomize.config.k8s.io/v1beta1"}
allowed_volumes = {"configMap", "secret", "emptyDir", "projected", "downwardAPI", "persistentVolumeClaim", "ephemeral", "csi"}

for path in sorted(glob.glob(os.path.join(root, "**", "*.yaml"), recursive=True)):
    rel = os.path.relpath(path, root)
    try:
        docs = [d for d in yaml.safe_load_all(open(path)) if d is not None]
    except yaml.YAMLError as e:
        problems.append(f"{rel}: not YAML: {e}")
        continue
    for d in docs:
        kind = d.get("kind")
        if not kind or not d.get("apiVersion"):
            problems.append(f"{rel}: an object without apiVersion or kind")
            continue
        if current.get(kind) not in (None, d["apiVersion"]):
            problems.append(f"{rel}: {kind} uses {d['apiVersion']}, not {current[kind]}")
        if kind != "Kustomization" and not (d.get("metadata") or {}).get("name"):
            problems.append(f"{rel}: {kind} without metadata.name")
        objects.append((rel, d))


def pod_checks(rel, name, pod):
    sc = pod.get("securityContext") or {}
    if sc.get("runAsNonRoot") is not True or not sc.get("runAsUser") or sc.get("runAsGroup") in (None, 0):
        problems.append(f"{rel}: {name}: pod must set runAsNonRoot and a non-zero runAsUser/runAsGroup")
    if (sc.get("seccompProfile") or {}).get("type") not in ("RuntimeDefault", "Localhost"):
        problems.append(f"{rel}: {name}: pod seccompProfile must be RuntimeDefault")
    for c in pod.get("containers", []):
        csc = c.get("securityContext") or {}
        if csc.get("allowPrivilegeEscalation") is not False:
            problems.append(f"{rel}: {name}/{c['name']}: allowPrivilegeEscalation must be false")
        if csc.get("readOnlyRootFilesystem") is not True:
            problems.append(f"{rel}: {name}/{c['name']}: readOnlyRootFilesystem must be true")
        if (csc.get("capabilities") or {}).get("drop") != ["ALL"] or (csc.get("capabilities") or {}).get("add"):
            problems.append(f"{rel}: {name}/{c['name']}: capabilities must drop ALL and add nothing")
        if not c.get("image"):
            problems.append(f"{rel}: {name}/{c['name']}: no image")
        mounts = {m["name"] for m in c.get("volumeMounts", [])}
        volumes = {v["name"] for v in pod.get("volumes", [])}
        if mounts - volumes:
            problems.append(f"{rel}: {name}/{c['name']}: mounts undeclared volumes {sorted(mounts - volumes)}")
        if not any(m["mountPath"] == "/tmp" for m in c.get("volumeMounts", [])):
            problems.append(f"{rel}: {name}/{c['name']}: a read-only root needs a writable /tmp")
    for v in pod.get("volumes", []):
        types = set(v) - {"name"}
        if not types <= allowed_volumes:
            problems.append(f"{rel}: {name}: volume {v['name']} has a type the restricted profile forbids: {sorted(types)}")


kinds = {}
for rel, d in objects:
    kinds.setdefault(d["kind"], []).append((rel, d))
    if d["kind"] == "Deployment":
        spec = d["spec"]
        if spec["selector"]["matchLabels"].items() - spec["template"]["metadata"]["labels"].items():
            problems.append(f"{rel}: the selector does not match the pod template's labels")
        pod = spec["template"]["spec"]
        pod_checks(rel, d["metadata"]["name"], pod)
        env = {e["name"]: e for c in pod["containers"] for e in c.get("env", [])}
        store = env.get("KEYWARD_STORE", {}).get("valueFrom", {}).get("secretKeyRef")
        if not store:
            problems.append(f"{rel}: the PostgreSQL connection must come from a Secret (env KEYWARD_STORE secretKeyRef)")
        args = pod["containers"][0].get("args", [])
        if args[:1] != ["serve"] or "$(KEYWARD_STORE)" not in args:
            problems.append(f"{rel}: the container must run `serve --store $(KEYWARD_STORE)`")
    if d["kind"] == "CronJob":
        spec = d["spec"]
        if spec.get("concurrencyPolicy") != "Forbid":
            problems.append(f"{rel}: a single-writer CronJob needs concurrencyPolicy: Forbid")
        for key in ("startingDeadlineSeconds", "successfulJobsHistoryLimit", "failedJobsHistoryLimit"):
            if key not in spec:
                problems.append(f"{rel}: CronJob without {key}")
        pod = spec["jobTemplate"]["spec"]["template"]["spec"]
        pod_checks(rel, d["metadata"]["name"], pod)
        if pod["containers"][0].get("args", [])[:1] != ["apply"]:
            problems.append(f"{rel}: the CronJob must run `apply`")
    if d["kind"] == "Role":
        for rule in d["rules"]:
            if "secrets" in rule["resources"]:
                if set(rule["verbs"]) - {"get", "patch", "create"}:
                    problems.append(f"{rel}: Secrets verbs beyond get/patch/create: {rule['verbs']}")
                if set(rule["verbs"]) & {"get", "patch"} and not rule.get("resourceNames"):
                    problems.append(f"{rel}: get/patch on Secrets must be limited by resourceNames")

names = {(d["kind"], d["metadata"]["name"]) for _, d in objects if d["kind"] != "Kustomization"}
for rel, d in objects:
    if d["kind"] == "RoleBinding":
        if ("Role", d["roleRef"]["name"]) not in names:
            problems.append(f"{rel}: binds a Role that is not defined")
        for s in d["subjects"]:
            if ("ServiceAccount", s["name"]) not in names:
                problems.append(f"{rel}: binds a ServiceAccount that is not defined")
    if d["kind"] in ("Deployment", "CronJob"):
        pod = d["spec"]["template"]["spec"] if d["kind"] == "Deployment" else d["spec"]["jobTemplate"]["spec"]["template"]["spec"]
        if ("ServiceAccount", pod.get("serviceAccountName")) not in names:
            problems.append(f"{rel}: runs as a ServiceAccount that is not defined")
    if d["kind"] == "Kustomization":
        base = os.path.dirname(os.path.join(root, rel))
        for r in d.get("resources", []):
            if not os.path.exists(os.path.join(base, r)):
                problems.append(f"{rel}: lists {r}, which does not exist")

for kind in ("Deployment", "CronJob", "Service", "ServiceAccount", "Role", "RoleBinding"):
    if kind not in kinds:
        problems.append(f"no {kind} in {root}")

for p in problems:
    print(p)
print(f"check: {len(objects)} objects, {len(problems)} problems", file=sys.stderr)
sys.exit(1 if problems else 0)
