#!/usr/bin/python3
"""Regenerates nix/deps.json, the NuGet lock file nix/package.nix gives buildDotnetModule as nugetDeps.

The format is nuget-to-json's (nixpkgs): a JSON list of {"pname", "version", "hash"}, where hash is the SRI sha256
of the .nupkg file as nuget.org serves it. The packages are those the shipped projects (src/*) restore: every
"package" library in each src/*/obj/project.assets.json plus the runtime packs a RID-specific restore downloads
(downloadDependencies); hashes come from the .nupkg files in the restore's package folder (~/.nuget/packages).

usage: nix/update-deps.py [--restore] [--check]
  --restore  run `dotnet restore src/Keyward.Cli` first (so the assets files match the sources)
  --check    write nothing; exit 1 when nix/deps.json differs from what would be written
"""
import base64, glob, hashlib, json, os, subprocess, sys

here = os.path.dirname(os.path.abspath(__file__))
repo = os.path.dirname(here)
out = os.path.join(here, "deps.json")


def packages():
    found = {}
    assets = sorted(glob.glob(os.path.join(repo, "src", "*", "obj", "project.assets.json")))
    if not assets:
        sys.exit("update-deps: no src/*/obj/project.assets.json: restore first (or pass --restore)")
    for path in assets:
        with open(path) as f:
            a = json.load(f)
        folders = list(a.get("packageFolders", {}).keys())
        for key, lib in a["libraries"].items():
            if lib.get("type") != "package":
                continue
            name, version = key.split("/", 1)
            found[(name.lower(), version)] = (name, version, [os.path.join(d, lib["path"]) for d in folders])
        for fw in a.get("project", {}).get("frameworks", {}).values():
            for dep in fw.get("downloadDependencies", []):
                for version in dep["version"].strip("[]").split(";"):
                    version = version.strip().strip("[]").split(",")[0].strip()  # "[1.0, 1.0]" pins one version
                    name = dep["name"]
                    found.setdefault((name.lower(), version),
                                     (name, version, [os.path.join(d, name.lower(), version.lower()) for d in folders]))
    return found


def nupkg_hash(name, version, dirs):
    file = f"{name.lower()}.{version.lower()}.nupkg"
    for d in dirs:
        p = os.path.join(d, file)
        if os.path.isfile(p):
            with open(p, "rb") as f:
                return "sha256-" + base64.b64encode(hashlib.sha256(f.read()).digest()).decode()
    sys.exit(f"update-deps: {file} is not in {', '.join(dirs)}: restore first")


def main(argv):
    if "--restore" in argv:
        subprocess.run(["dotnet", "restore", os.path.join(repo, "src", "Keyward.Cli"), "-v", "quiet", "-nologo"], check=True)
    entries = [{"pname": n, "version": v, "hash": nupkg_hash(n, v, dirs)}
               for (n, v, dirs) in sorted(packages().values(), key=lambda e: (e[0].lower(), e[1]))]
    text = json.dumps(entries, indent=2) + "\n"
    if "--check" in argv:
        current = open(out).read() if os.path.exists(out) else ""
        if current != text:
            print("update-deps: nix/deps.json is out of date: run nix/update-deps.py", file=sys.stderr)
            return 1
        return 0
    with open(out, "w") as f:
        f.write(text)
    print(f"update-deps: wrote {len(entries)} packages to {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
