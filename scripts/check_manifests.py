#!/usr/bin/env python3
"""Checks the deployment files (deploy/, DEPLOYMENT.md) for what matters
beyond their schemas, with no cluster:

- every `modelhost` command line (container args, the Dockerfile's CMD, the
  commands in DEPLOYMENT.md) names a subcommand and flags that exist in the
  CLI source (clap derive: a field `foo_bar` with `#[arg(long)]` is
  `--foo-bar`), gives the required ones and no extra arguments;
- the server listens on every interface, on the containerPorts, and the
  probes hit /v2/health/ready and /v2/health/live on its HTTP port;
- non-root, read-only root filesystem, no privilege escalation, every
  capability dropped, seccomp RuntimeDefault; writable paths on emptyDirs;
  the artifact cache bounded below its emptyDir's sizeLimit;
- terminationGracePeriodSeconds exceeds preStop + --drain-timeout-ms + the
  time the server takes to stop after draining;
- the Service's ports match the containerPorts, the HPA and the PDB select
  the Deployment, the kustomization lists every manifest (and no Secret);
- the KServe ClusterServingRuntime and InferenceService use only fields
  KServe has, and fit each other (format, runtime, protocol v2, the
  placeholders the runtime's args use); their containers are checked
  against the Kubernetes schema when kubernetes-validate is installed;
- the Dockerfile's runtime stage runs as a numeric non-root USER, builds
  with --locked and only Cargo features that exist.

Usage: check_manifests.py [--root DIR] [--source DIR] [-k VERSION ...]
  --root    where deploy/ and DEPLOYMENT.md are (default: this repository)
  --source  where Cargo.toml and src/ are (default: this repository)
  -k        Kubernetes versions for the schema of embedded containers
            (default 1.30.0 and 1.37.0; needs kubernetes-validate)

Every problem is printed as `file: what is wrong`; the exit status is 1 if
there is any.
"""

import argparse
import json
import os
import re
import shlex
import sys
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent.parent

READY = "/v2/health/ready"
LIVE = "/v2/health/live"
ANY_ADDRESS = ("0.0.0.0", "[::]", "::")


class Problems:
    def __init__(self):
        self.items = []

    def add(self, where, message):
        self.items.append(f"{where}: {message}")


# --------------------------------------------------------------------------
# The CLI, read from the clap derive source.


def strip_comments(text):
    """The Rust source without comments; string and char literals kept."""
    out = []
    i, n = 0, len(text)
    while i < n:
        if text.startswith("//", i):
            j = text.find("\n", i)
            i = n if j < 0 else j
        elif text.startswith("/*", i):
            j = text.find("*/", i + 2)
            i = n if j < 0 else j + 2
        elif text[i] == "r" and re.match(r'r#*"', text[i:]) and (i == 0 or not (text[i - 1].isalnum() or text[i - 1] == "_")):
            hashes = re.match(r"r(#*)\"", text[i:]).group(1)
            end = text.find('"' + hashes, i + 2 + len(hashes))
            end = n if end < 0 else end + 1 + len(hashes)
            out.append(text[i:end])
            i = end
        elif text[i] == '"':
            j = i + 1
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            out.append(text[i : j + 1])
            i = j + 1
        elif text[i] == "'":
            m = re.match(r"'(\\.|\\u\{[0-9a-fA-F]+\}|[^\\'])'", text[i:])
            if m:
                out.append(m.group(0))
                i += len(m.group(0))
            else:
                out.append("'")
                i += 1
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


def skip_string(text, i):
    """The index after the string or char literal that starts at i."""
    if text[i] == '"':
        j = i + 1
        while j < len(text) and text[j] != '"':
            j += 2 if text[j] == "\\" else 1
        return j + 1
    m = re.match(r"'(\\.|\\u\{[0-9a-fA-F]+\}|[^\\'])'", text[i:])
    return i + len(m.group(0)) if m else i + 1


def matching(text, i):
    """The index of the bracket closing the one at i."""
    pairs = {"(": ")", "[": "]", "{": "}"}
    stack = []
    j = i
    while j < len(text):
        c = text[j]
        if c in "\"'":
            j = skip_string(text, j)
            continue
        if c in pairs:
            stack.append(pairs[c])
        elif c in ")]}":
            if not stack or stack.pop() != c:
                raise ValueError(f"unbalanced {c!r} at {j}")
            if not stack:
                return j
        j += 1
    raise ValueError("unclosed bracket")


def split_top(text, sep=","):
    """text split at `sep` outside brackets, strings and generics."""
    parts, depth, angle, start, j = [], 0, 0, 0, 0
    while j < len(text):
        c = text[j]
        if c in "\"'":
            j = skip_string(text, j)
            continue
        if c in "([{":
            depth += 1
        elif c in ")]}":
            depth -= 1
        elif depth == 0 and c == "<":
            angle += 1
        elif depth == 0 and c == ">" and angle > 0 and text[j - 1] != "-":
            angle -= 1
        elif depth == 0 and angle == 0 and c == sep:
            parts.append(text[start:j])
            start = j + 1
        j += 1
    parts.append(text[start:])
    return [p.strip() for p in parts if p.strip()]


def leading_attributes(text):
    """(["arg(long)", ...], rest) for an item that starts with #[...]s."""
    attrs = []
    text = text.lstrip()
    while text.startswith("#["):
        end = matching(text, 1)
        attrs.append(text[2:end].strip())
        text = text[end + 1 :].lstrip()
    return attrs, text


def attr_args(attr, names):
    """The key/value pairs of `name(...)` when the attribute is one of names."""
    m = re.match(r"(\w+)\s*\(", attr)
    if not m or m.group(1) not in names:
        return None
    inner = attr[m.end() : matching(attr, m.end() - 1)]
    pairs = []
    for part in split_top(inner):
        key, eq, value = part.partition("=")
        pairs.append((key.strip(), value.strip() if eq else None))
    return pairs


def unquote(value):
    value = value.strip()
    if len(value) >= 2 and value[0] in "\"'" and value[-1] == value[0]:
        return value[1:-1]
    return value


def kebab(name):
    name = name.removeprefix("r#")
    if "_" in name or name.islower():
        return name.replace("_", "-")
    return re.sub(r"(?<!^)(?=[A-Z])", "-", name).lower()


class Arg:
    def __init__(self, field, ty, pairs):
        self.field = field
        self.ty = ty
        keys = dict(pairs)
        self.long = None
        self.short = None
        self.aliases = []
        if "long" in keys:
            self.long = unquote(keys["long"]) if keys["long"] else kebab(field)
        if "short" in keys:
            self.short = unquote(keys["short"]) if keys["short"] else field.removeprefix("r#")[0]
        for key, value in pairs:
            if key in ("alias", "visible_alias") and value:
                self.aliases.append(unquote(value))
            if key in ("aliases", "visible_aliases") and value:
                self.aliases += [unquote(v) for v in split_top(value.strip("[]&"))]
        self.is_global = keys.get("global") == "true"
        self.env = unquote(keys["env"]) if keys.get("env") else None
        action = keys.get("action") or ""
        self.takes_value = not (
            ty == "bool" or any(a in action for a in ("SetTrue", "SetFalse", "Count", "Help", "Version"))
        )
        default = keys.get("default_value_t") or keys.get("default_value")
        self.default = unquote(default) if default else None
        self.optional = (
            ty.startswith("Option<") or ty.startswith("Vec<") or not self.takes_value
            or self.default is not None or "required" in keys and keys["required"] == "false"
        )
        self.multiple = ty.startswith("Vec<")

    def flag(self):
        return f"--{self.long}" if self.long else None


class Command:
    def __init__(self, name):
        self.name = name
        self.flags = {}  # "--long" -> Arg
        self.shorts = {}  # "-d" -> Arg
        self.positionals = []
        self.subcommands = {}
        self.subcommand_required = False
        self.globals = []

    def add(self, arg):
        if arg.long or arg.short:
            if arg.long:
                self.flags[f"--{arg.long}"] = arg
            for alias in arg.aliases:
                self.flags[f"--{alias}"] = arg
            if arg.short:
                self.shorts[f"-{arg.short}"] = arg
            if arg.is_global:
                self.globals.append(arg)
        else:
            self.positionals.append(arg)


class CliSource:
    """The clap derive types of the modelhost binary."""

    def __init__(self, files):
        self.structs = {}  # name -> body
        self.enums = {}
        self.envs = set()
        self.parser = None
        self.fields = {}  # struct name -> {field: Arg}
        for f in files:
            text = strip_comments(Path(f).read_text())
            for m in re.finditer(r"#\[derive\(([^)]*)\)\]", text):
                derives = m.group(1)
                rest = text[m.end() :]
                _, rest_stripped = leading_attributes(rest)
                d = re.match(r"(?:pub(?:\([^)]*\))?\s+)?(struct|enum)\s+(\w+)[^{;]*\{", rest_stripped)
                if not d:
                    continue
                start = len(rest) - len(rest_stripped) + d.end() - 1
                body = rest[start + 1 : matching(rest, start)]
                kind, name = d.group(1), d.group(2)
                if "Subcommand" in derives and kind == "enum":
                    self.enums[name] = body
                elif ("Args" in derives or "Parser" in derives) and kind == "struct":
                    self.structs[name] = body
                    if re.search(r"\bParser\b", derives):
                        self.parser = name
        if not self.parser:
            raise SystemExit("check_manifests: no #[derive(Parser)] struct in the CLI source")
        self.root = self.command("modelhost", self.structs[self.parser])

    def fill(self, cmd, body, struct_name=None):
        for item in split_top(body):
            attrs, rest = leading_attributes(item)
            m = re.match(r"(?:pub(?:\([^)]*\))?\s+)?(r#\w+|\w+)\s*:\s*(.+)$", rest, re.S)
            if not m:
                continue
            field, ty = m.group(1), " ".join(m.group(2).split())
            sub = flatten = False
            pairs = []
            for a in attrs:
                c = attr_args(a, ("command", "clap"))
                if c and any(k == "subcommand" for k, _ in c):
                    sub = True
                if c and any(k == "flatten" for k, _ in c):
                    flatten = True
                p = attr_args(a, ("arg", "clap"))
                if p:
                    pairs += [kv for kv in p if kv[0] not in ("subcommand", "flatten")]
            inner = re.sub(r"^Option<(.*)>$", r"\1", ty).split("::")[-1].strip()
            if sub:
                cmd.subcommand_required = not ty.startswith("Option<")
                self.variants(cmd, self.enums[inner])
            elif flatten:
                self.fill(cmd, self.structs[inner])
            else:
                arg = Arg(field, ty, pairs)
                if arg.env:
                    self.envs.add(arg.env)
                cmd.add(arg)
                if struct_name is not None:
                    self.fields.setdefault(struct_name, {})[field] = arg

    def command(self, name, body, struct_name=None):
        cmd = Command(name)
        self.fill(cmd, body, struct_name)
        return cmd

    def variants(self, parent, body):
        for item in split_top(body):
            attrs, rest = leading_attributes(item)
            m = re.match(r"(\w+)\s*(.*)$", rest, re.S)
            if not m:
                continue
            variant, payload = m.group(1), m.group(2).strip()
            name = kebab(variant)
            aliases = []
            nested_enum = False
            for a in attrs:
                for k, v in attr_args(a, ("command", "clap")) or []:
                    if k == "name" and v:
                        name = unquote(v)
                    if k in ("alias", "visible_alias") and v:
                        aliases.append(unquote(v))
                    if k == "subcommand":
                        nested_enum = True
            if payload.startswith("("):
                ty = payload[1 : matching(payload, 0)].strip().split("::")[-1]
                if nested_enum or ty in self.enums:
                    cmd = Command(name)
                    cmd.subcommand_required = True
                    self.variants(cmd, self.enums[ty])
                else:
                    cmd = self.command(name, self.structs[ty], ty)
            elif payload.startswith("{"):
                cmd = self.command(name, payload[1 : matching(payload, 0)])
            else:
                cmd = Command(name)
            for n in [name] + aliases:
                parent.subcommands[n] = cmd

    def parse(self, tokens, env=()):
        """(subcommand path, {flag: value}, [problems]) for the arguments
        after `modelhost`, with the environment variables in env set."""
        problems = []
        node = self.root
        path = ["modelhost"]
        globals_ = {}
        for a in node.globals:
            for f in [a.flag()] + [f"--{x}" for x in a.aliases]:
                globals_[f] = a
            if a.short:
                globals_[f"-{a.short}"] = a
        given = {}
        seen = set()
        positionals = 0
        i = 0
        while i < len(tokens):
            t = tokens[i]
            if t == "--":
                positionals += len(tokens) - i - 1
                break
            if t.startswith("-") and len(t) > 1 and not t[1].isdigit():
                name, eq, value = t.partition("=")
                if name in ("--help", "-h") or (name in ("--version", "-V") and node is self.root):
                    return path, given, problems
                arg = node.flags.get(name) or node.shorts.get(name) or globals_.get(name)
                if arg is None:
                    known = sorted(f for f in set(node.flags) | set(globals_) if f.startswith("--"))
                    problems.append(f"`{' '.join(path)}` has no flag {name} (it has: {', '.join(known) or 'none'})")
                    i += 1
                    continue
                if arg.takes_value and not eq:
                    if i + 1 >= len(tokens):
                        problems.append(f"{name} needs a value")
                        break
                    value = tokens[i + 1]
                    i += 1
                elif not arg.takes_value and eq:
                    problems.append(f"{name} takes no value")
                given[arg.flag() or name] = value if arg.takes_value else True
                seen.add(id(arg))
            elif node.subcommands and positionals == 0 and not node.positionals:
                if t not in node.subcommands:
                    problems.append(
                        f"`{' '.join(path)}` has no subcommand {t!r} (it has: {', '.join(sorted(node.subcommands))})"
                    )
                    return path, given, problems
                node = node.subcommands[t]
                path.append(t)
                for a in node.globals:
                    globals_[a.flag()] = a
            else:
                positionals += 1
            i += 1
        if node.subcommands and node.subcommand_required:
            problems.append(f"`{' '.join(path)}` needs a subcommand ({', '.join(sorted(node.subcommands))})")
            return path, given, problems
        required_pos = [a for a in node.positionals if not a.optional]
        if positionals < len(required_pos):
            problems.append(
                f"`{' '.join(path)}` needs {len(required_pos)} argument(s) "
                f"({', '.join(a.field.upper() for a in required_pos)}), got {positionals}"
            )
        if positionals > len(node.positionals) and not any(a.multiple for a in node.positionals):
            problems.append(
                f"`{' '.join(path)}` takes at most {len(node.positionals)} argument(s) "
                f"({', '.join(a.field.upper() for a in node.positionals) or 'none'}), got {positionals}"
            )
        for flag, arg in node.flags.items():
            if flag == arg.flag() and not arg.optional and id(arg) not in seen:
                if not (arg.env and arg.env in env):
                    problems.append(f"`{' '.join(path)}` needs {flag}")
        return path, given, problems

    def default(self, struct, field):
        arg = self.fields.get(struct, {}).get(field)
        return arg.default if arg else None


# --------------------------------------------------------------------------
# Helpers for manifests.


def load_docs(path):
    with open(path) as f:
        return [d for d in yaml.safe_load_all(f) if d is not None]


def quantity_bytes(q):
    units = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12}
    m = re.fullmatch(r"(\d+(?:\.\d+)?)([A-Za-z]*)", str(q))
    if not m or (m.group(2) and m.group(2) not in units):
        return None
    return float(m.group(1)) * units.get(m.group(2), 1)


def port_of(addr):
    m = re.fullmatch(r"(.+):(\d+)", addr or "")
    return (m.group(1), int(m.group(2))) if m else (None, None)


def env_value(container, name):
    for e in container.get("env") or []:
        if e.get("name") == name:
            return e.get("value")
    return None


def under(path, mount):
    return path == mount or path.startswith(mount.rstrip("/") + "/")


def labels_match(selector, labels):
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


class Checker:
    def __init__(self, root, source, versions):
        self.root = Path(root)
        self.source = Path(source)
        self.p = Problems()
        self.versions = versions
        self.notes = []
        files = [self.source / "src/bin/modelhost.rs"] + sorted((self.source / "src/bin/modelhost").glob("*.rs"))
        self.cli = CliSource(files)
        self.secrets = {}
        self.validate = None
        if versions:
            try:
                from kubernetes_validate import utils as kv

                self.validate = kv
            except ImportError:
                self.p.add("check_manifests.py", "kubernetes-validate is not installed (run .ci/deploy.sh, or pass -k none)")
        self.shutdown_tail = self.serve_shutdown_tail()

    def rel(self, path):
        try:
            return str(Path(path).relative_to(self.root))
        except ValueError:
            return str(path)

    def serve_shutdown_tail(self):
        """Seconds `modelhost serve` may take after the drain: stopping the
        alias watcher and a batcher (`served.shutdown(...)` in serve.rs)."""
        text = (self.source / "src/bin/modelhost/serve.rs").read_text()
        m = re.search(r"\.shutdown\(Duration::from_(secs|millis)\((\d[\d_]*)\)\)", text)
        if not m:
            return 5.0
        n = int(m.group(2).replace("_", ""))
        return n if m.group(1) == "secs" else n / 1000

    # ---- command lines

    def command_line(self, where, tokens, env=()):
        path, given, problems = self.cli.parse(tokens, set(env))
        for problem in problems:
            self.p.add(where, problem)
        return path, given

    # ---- containers

    def container(self, where, c, pod):
        """Checks a serving container; returns what the pod-level checks need."""
        tokens = list(c.get("args") or [])
        if c.get("command"):
            cmd = list(c["command"])
            if os.path.basename(cmd[0]) != "modelhost":
                self.p.add(where, f"command {cmd[0]!r} is not modelhost")
            tokens = cmd[1:] + tokens
        env_names = {e.get("name") for e in c.get("env") or []}
        path, given = self.command_line(f"{where} args", tokens, env_names)
        if path[1:] != ["serve"]:
            self.p.add(where, f"the container runs `{' '.join(path)}`, not `modelhost serve`")
        ports = {p.get("name"): p["containerPort"] for p in c.get("ports") or []}
        numbers = set(ports.values())

        host, http = port_of(given.get("--addr"))
        if "--addr" not in given:
            self.p.add(where, "no --addr: the default 127.0.0.1:8080 cannot be reached from outside the pod")
        elif host not in ANY_ADDRESS:
            self.p.add(where, f"--addr {given['--addr']} listens on {host}, not every interface (0.0.0.0): probes and Services cannot reach it")
        if http is not None and http not in numbers:
            self.p.add(where, f"--addr port {http} is not a containerPort ({sorted(numbers)})")
        grpc = None
        if "--grpc-addr" in given:
            ghost, grpc = port_of(given["--grpc-addr"])
            if ghost not in ANY_ADDRESS:
                self.p.add(where, f"--grpc-addr {given['--grpc-addr']} does not listen on every interface (0.0.0.0)")
            if grpc not in numbers:
                self.p.add(where, f"--grpc-addr port {grpc} is not a containerPort ({sorted(numbers)})")
        for number in numbers - {http, grpc}:
            self.p.add(where, f"containerPort {number} is neither --addr's nor --grpc-addr's port")

        def probe(name, paths):
            pr = c.get(name)
            if not pr:
                self.p.add(where, f"no {name}")
                return
            get = pr.get("httpGet")
            if not get:
                self.p.add(where, f"{name} is not an httpGet probe of {' or '.join(paths)}")
                return
            if get.get("path") not in paths:
                self.p.add(where, f"{name} path is {get.get('path')!r}, expected {' or '.join(paths)}")
            port = get.get("port")
            number = ports.get(port) if isinstance(port, str) else port
            if number != http:
                self.p.add(where, f"{name} port {port!r} is not the HTTP port ({http}, from --addr)")

        probe("readinessProbe", [READY])
        probe("livenessProbe", [LIVE])
        probe("startupProbe", [LIVE, READY])

        sc = c.get("securityContext") or {}
        psc = pod.get("securityContext") or {}
        if not (sc.get("runAsNonRoot") or (psc.get("runAsNonRoot") and sc.get("runAsNonRoot") is not False)):
            self.p.add(where, "runAsNonRoot is not true (container or pod securityContext)")
        for ctx in (sc, psc):
            if ctx.get("runAsUser") == 0:
                self.p.add(where, "runAsUser is 0 (root)")
        if sc.get("readOnlyRootFilesystem") is not True:
            self.p.add(where, "readOnlyRootFilesystem is not true")
        if sc.get("allowPrivilegeEscalation") is not False:
            self.p.add(where, "allowPrivilegeEscalation is not false")
        if sc.get("privileged"):
            self.p.add(where, "privileged is true")
        if "ALL" not in ((sc.get("capabilities") or {}).get("drop") or []):
            self.p.add(where, "capabilities.drop does not contain ALL")
        seccomp = (sc.get("seccompProfile") or psc.get("seccompProfile") or {}).get("type")
        if seccomp != "RuntimeDefault":
            self.p.add(where, f"seccompProfile is {seccomp!r}, expected RuntimeDefault")

        res = c.get("resources") or {}
        for key in ("cpu", "memory"):
            if key not in (res.get("requests") or {}):
                self.p.add(where, f"no resources.requests.{key}")
        if "memory" not in (res.get("limits") or {}):
            self.p.add(where, "no resources.limits.memory")

        volumes = {v["name"]: v for v in pod.get("volumes") or []}
        mounts = {m["mountPath"]: m for m in c.get("volumeMounts") or []}

        def volume_at(path):
            best = None
            for mount_path, m in mounts.items():
                if under(path, mount_path) and (best is None or len(mount_path) > len(best[0])):
                    best = (mount_path, m)
            if best is None:
                return None, None
            return best[0], volumes.get(best[1]["name"])

        _, tmp = volume_at("/tmp")
        if not tmp or "emptyDir" not in tmp:
            self.p.add(where, "/tmp is not an emptyDir (the root filesystem is read-only)")
        cache = env_value(c, "MODELHOST_CACHE_DIR") or given.get("--cache-dir")
        if cache:
            _, vol = volume_at(cache)
            if not vol or "emptyDir" not in vol:
                self.p.add(where, f"the cache directory {cache} is not on an emptyDir")
            else:
                limit = quantity_bytes((vol["emptyDir"] or {}).get("sizeLimit", "0"))
                default = self.cli.root.flags.get("--cache-max-mb")
                max_mb = env_value(c, "MODELHOST_CACHE_MAX_MB") or given.get("--cache-max-mb") or (default and default.default)
                if not limit:
                    self.p.add(where, f"the cache's emptyDir {vol['name']} has no sizeLimit")
                elif max_mb is None:
                    self.p.add(where, "the cache has no bound (MODELHOST_CACHE_MAX_MB)")
                elif float(str(max_mb).replace("_", "")) * 2**20 >= limit:
                    self.p.add(where, f"the cache may grow to {max_mb} MiB, not below its emptyDir's sizeLimit {vol['emptyDir']['sizeLimit']}: the pod would be evicted")
        for name in env_names:
            if name and name.startswith("MODELHOST_") and name not in self.cli.envs:
                self.p.add(where, f"env {name} is read by no option of the CLI (known: {', '.join(sorted(self.cli.envs))})")
        registry = env_value(c, "MODELHOST_REGISTRY") or given.get("--registry")
        token_file = given.get("--admin-token-file")
        if token_file:
            mount_path, vol = volume_at(token_file)
            if not vol or "secret" not in vol:
                self.p.add(where, f"--admin-token-file {token_file} is not on a Secret volume")
            else:
                rel = token_file[len(mount_path) :].lstrip("/")
                secret = vol["secret"]
                keys = [i["path"] for i in secret.get("items") or []] if secret.get("items") else None
                name = secret.get("secretName")
                if keys is not None and rel not in keys:
                    self.p.add(where, f"--admin-token-file {token_file}: the volume {vol['name']} has no item {rel!r}")
                known = self.secrets.get(name)
                if known is None:
                    self.p.add(where, f"the admin token Secret {name!r} is not in secret.example.yaml")
                else:
                    key = next((i["key"] for i in secret.get("items") or [] if i["path"] == rel), rel)
                    if key not in known:
                        self.p.add(where, f"the Secret {name} in secret.example.yaml has no key {key!r}")
        for ef in c.get("envFrom") or []:
            name = (ef.get("secretRef") or {}).get("name")
            if name and name not in self.secrets:
                self.p.add(where, f"envFrom Secret {name!r} is not in secret.example.yaml")

        pre = ((c.get("lifecycle") or {}).get("preStop")) or {}
        pre_stop = None
        if "sleep" in pre:
            pre_stop = float(pre["sleep"].get("seconds", 0))
        elif "exec" in pre:
            cmd = pre["exec"].get("command") or []
            m = re.search(r"sleep\s+(\d+)", " ".join(cmd))
            pre_stop = float(m.group(1)) if m else None
        if pre_stop is None:
            self.p.add(where, "no preStop sleep: the pod gets SIGTERM while endpoints still send it traffic")
            pre_stop = 0
        drain = given.get("--drain-timeout-ms") or self.cli.default("ServeArgs", "drain_timeout_ms") or "10000"
        drain_s = float(str(drain).replace("_", "")) / 1000
        grace = pod.get("terminationGracePeriodSeconds")
        needed = pre_stop + drain_s + self.shutdown_tail
        if grace is None:
            self.p.add(where, f"terminationGracePeriodSeconds is not set (the default 30 s must be stated; needed: more than {needed:g} s)")
        elif grace <= needed:
            self.p.add(
                where,
                f"terminationGracePeriodSeconds {grace} does not exceed preStop {pre_stop:g} s + --drain-timeout-ms {drain_s:g} s + {self.shutdown_tail:g} s to stop = {needed:g} s",
            )
        return {"http": http, "grpc": grpc, "ports": ports, "registry": registry, "given": given}

    def schema(self, where, doc):
        if not self.validate:
            return
        for version in self.versions:
            try:
                self.validate.validate(doc, version, strict=True)
            except self.validate.ValidationError as e:
                path = ".".join(str(x) for x in e.path)
                self.p.add(where, f"Kubernetes {version} schema: {path}: {e.message}")
            except Exception as e:  # noqa: BLE001 - a schema not found is a problem too
                self.p.add(where, f"Kubernetes {version} schema: {getattr(e, 'message', e)}")

    # ---- files

    def run(self):
        k8s = self.root / "deploy/kubernetes"
        docs = {}
        for f in sorted(k8s.glob("*.yaml")):
            for d in load_docs(f):
                docs.setdefault(d.get("kind"), []).append((f, d))
        for f, d in docs.get("Secret", []):
            self.secrets[d["metadata"]["name"]] = set((d.get("stringData") or {}) | (d.get("data") or {}))
            if f.name != "secret.example.yaml":
                self.p.add(self.rel(f), "a Secret outside secret.example.yaml")
        deployments = docs.get("Deployment", [])
        if len(deployments) != 1:
            self.p.add("deploy/kubernetes", f"{len(deployments)} Deployments, expected 1")
            return self.p
        f, dep = deployments[0]
        where = f"{self.rel(f)}: Deployment {dep['metadata']['name']}"
        pod = dep["spec"]["template"]["spec"]
        pod_labels = dep["spec"]["template"]["metadata"].get("labels") or {}
        if not labels_match(dep["spec"]["selector"].get("matchLabels"), pod_labels):
            self.p.add(where, "spec.selector does not match the pod template's labels")
        containers = pod.get("containers") or []
        if len(containers) != 1:
            self.p.add(where, f"{len(containers)} containers, expected 1")
            return self.p
        c = containers[0]
        info = self.container(f"{where}, container {c['name']}", c, pod)
        reg = info["registry"]
        if not reg:
            self.p.add(where, "no registry (MODELHOST_REGISTRY or --registry)")
        ann = dep["spec"]["template"]["metadata"].get("annotations") or {}
        if ann.get("prometheus.io/scrape") == "true":
            if str(ann.get("prometheus.io/port")) != str(info["http"]):
                self.p.add(where, f"prometheus.io/port {ann.get('prometheus.io/port')} is not the HTTP port {info['http']}")
            if ann.get("prometheus.io/path", "/metrics") != "/metrics":
                self.p.add(where, "prometheus.io/path is not /metrics")
        else:
            self.p.add(where, "no prometheus.io/scrape annotation on the pod template")

        by_number = {n: name for name, n in info["ports"].items()}
        for f2, svc in docs.get("Service", []):
            w = f"{self.rel(f2)}: Service {svc['metadata']['name']}"
            if not labels_match(svc["spec"].get("selector"), pod_labels):
                self.p.add(w, "the selector does not match the Deployment's pod labels")
            exposed = set()
            for sp in svc["spec"].get("ports") or []:
                target = sp.get("targetPort", sp.get("port"))
                number = info["ports"].get(target) if isinstance(target, str) else target
                if number not in by_number:
                    self.p.add(w, f"port {sp.get('name')} targets {target!r}, which is no containerPort of the Deployment ({info['ports']})")
                    continue
                exposed.add(number)
                if number == info["grpc"] and sp.get("appProtocol") not in ("kubernetes.io/h2c", "grpc", "h2c"):
                    self.p.add(w, f"the gRPC port {sp.get('name')} has appProtocol {sp.get('appProtocol')!r}, expected kubernetes.io/h2c")
            for number in set(by_number) - exposed:
                self.p.add(w, f"containerPort {number} ({by_number[number]}) is not exposed")
        if not docs.get("Service"):
            self.p.add("deploy/kubernetes", "no Service")

        hpas = docs.get("HorizontalPodAutoscaler", [])
        if not hpas:
            self.p.add("deploy/kubernetes", "no HorizontalPodAutoscaler")
        for f2, hpa in hpas:
            w = f"{self.rel(f2)}: HPA {hpa['metadata']['name']}"
            ref = hpa["spec"]["scaleTargetRef"]
            if (ref.get("apiVersion"), ref.get("kind"), ref.get("name")) != ("apps/v1", "Deployment", dep["metadata"]["name"]):
                self.p.add(w, f"scaleTargetRef {ref} is not the Deployment {dep['metadata']['name']} (apps/v1)")
            lo, hi = hpa["spec"].get("minReplicas", 1), hpa["spec"]["maxReplicas"]
            if lo < 2 or lo > hi:
                self.p.add(w, f"minReplicas {lo} / maxReplicas {hi}: expected 2 <= min <= max")
            if not lo <= dep["spec"].get("replicas", 1) <= hi:
                self.p.add(w, f"the Deployment's replicas {dep['spec'].get('replicas', 1)} is outside {lo}..{hi}")
            for m in hpa["spec"].get("metrics") or []:
                name = (m.get("resource") or {}).get("name")
                if m.get("type") == "Resource" and name not in ((c.get("resources") or {}).get("requests") or {}):
                    self.p.add(w, f"scales on {name}, which the container does not request")
            down = ((hpa["spec"].get("behavior") or {}).get("scaleDown") or {}).get("stabilizationWindowSeconds")
            if not down:
                self.p.add(w, "no behavior.scaleDown.stabilizationWindowSeconds")
            self.hpa_min = lo

        for f2, pdb in docs.get("PodDisruptionBudget", []):
            w = f"{self.rel(f2)}: PodDisruptionBudget {pdb['metadata']['name']}"
            if not labels_match(pdb["spec"].get("selector", {}).get("matchLabels"), pod_labels):
                self.p.add(w, "the selector does not match the Deployment's pod labels")
            lo = getattr(self, "hpa_min", dep["spec"].get("replicas", 1))
            if isinstance(pdb["spec"].get("minAvailable"), int) and pdb["spec"]["minAvailable"] >= lo:
                self.p.add(w, f"minAvailable {pdb['spec']['minAvailable']} leaves no pod of {lo} to evict: drains would block")
        if not docs.get("PodDisruptionBudget"):
            self.p.add("deploy/kubernetes", "no PodDisruptionBudget")

        for kind in ("Deployment", "Service", "HorizontalPodAutoscaler", "PodDisruptionBudget", "Secret"):
            for f2, d in docs.get(kind, []):
                self.schema(f"{self.rel(f2)}: {kind} {d['metadata']['name']}", d)

        self.kustomization(k8s, c)
        self.dockerfile(info)
        self.kserve()
        self.markdown()
        return self.p

    def kustomization(self, k8s, container):
        f = k8s / "kustomization.yaml"
        if not f.exists():
            self.p.add(self.rel(f), "missing")
            return
        k = load_docs(f)[0]
        listed = set(k.get("resources") or [])
        for r in listed:
            if not (k8s / r).exists():
                self.p.add(self.rel(f), f"lists {r}, which does not exist")
        for manifest in sorted(k8s.glob("*.yaml")):
            name = manifest.name
            if name in ("kustomization.yaml",):
                continue
            kinds = {d.get("kind") for d in load_docs(manifest)}
            if kinds == {"Secret"}:
                if name in listed:
                    self.p.add(self.rel(f), f"lists {name}: applying it would replace real credentials with the example's")
            elif name not in listed:
                self.p.add(self.rel(f), f"does not list {name}")
        image = container["image"].split("@")[0]
        if ":" in image.split("/")[-1]:
            image = image.rsplit(":", 1)[0]
        if not any(i.get("name") == image for i in k.get("images") or []):
            self.p.add(self.rel(f), f"no images entry for the container image {image!r}")

    # ---- Dockerfile

    def dockerfile(self, info):
        f = self.root / "deploy/Dockerfile"
        where = self.rel(f)
        if not f.exists():
            self.p.add(where, "missing")
            return
        lines = []
        buf = ""
        for raw in f.read_text().splitlines():
            if raw.lstrip().startswith("#"):
                continue
            if raw.rstrip().endswith("\\"):
                buf += raw.rstrip()[:-1] + " "
                continue
            lines.append((buf + raw).strip())
            buf = ""
        stages = []
        args = {}
        for line in lines:
            if not line:
                continue
            word, _, rest = line.partition(" ")
            word = word.upper()
            if word == "FROM":
                stages.append({"from": rest, "instructions": []})
            elif stages:
                stages[-1]["instructions"].append((word, rest.strip()))
            if word == "ARG":
                name, _, value = rest.partition("=")
                args.setdefault(name.strip(), unquote(value) if value else None)
        if len(stages) < 2:
            self.p.add(where, "not a multi-stage build (builder and runtime)")
            return
        build = " ".join(r for s in stages[:-1] for w, r in s["instructions"] if w == "RUN")
        if "cargo build" not in build:
            self.p.add(where, "no cargo build in a builder stage")
        for needed in ("--release", "--locked", "--bin modelhost"):
            if needed not in build:
                self.p.add(where, f"cargo build without {needed}")
        features = args.get("FEATURES")
        if not features:
            self.p.add(where, "no ARG FEATURES with a default")
        else:
            cargo = (self.source / "Cargo.toml").read_text()
            try:
                import tomllib

                known = set(tomllib.loads(cargo).get("features", {}))
            except ImportError:
                section = re.search(r"^\[features\]\n(.*?)(?=^\[)", cargo, re.S | re.M)
                known = set(re.findall(r"^([\w-]+)\s*=", section.group(1), re.M)) if section else set()
            for feat in re.split(r"[,\s]+", features.strip()):
                if feat and feat not in known:
                    self.p.add(where, f"ARG FEATURES names {feat!r}, which Cargo.toml does not define")
            for feat in ("cli", "http"):
                if feat not in features.split(","):
                    self.p.add(where, f"ARG FEATURES lacks {feat!r}: the binary would have no `serve`")
        runtime = stages[-1]["instructions"]
        users = [r for w, r in runtime if w == "USER"]
        if not users:
            self.p.add(where, "the runtime stage sets no USER: it would run as root")
        else:
            user = users[-1].split(":")[0]
            if not user.isdigit():
                self.p.add(where, f"the runtime stage's USER {users[-1]} is not numeric: Kubernetes' runAsNonRoot cannot verify it")
            elif int(user) == 0:
                self.p.add(where, "the runtime stage's USER is root (0)")
        entry = [r for w, r in runtime if w == "ENTRYPOINT"]
        if not entry or json.loads(entry[-1]) != ["/usr/local/bin/modelhost"]:
            self.p.add(where, 'ENTRYPOINT is not ["/usr/local/bin/modelhost"]')
        if not any(w == "COPY" and "/usr/local/bin/modelhost" in r for w, r in runtime):
            self.p.add(where, "the runtime stage does not copy the binary to /usr/local/bin/modelhost")
        exposed = {int(p.split("/")[0]) for w, r in runtime if w == "EXPOSE" for p in r.split()}
        for port in (info["http"], info["grpc"]):
            if port and port not in exposed:
                self.p.add(where, f"does not EXPOSE {port}, a port of the Deployment")
        cmd = [r for w, r in runtime if w == "CMD"]
        if not cmd:
            self.p.add(where, "no CMD")
        else:
            try:
                tokens = json.loads(cmd[-1])
            except json.JSONDecodeError:
                self.p.add(where, "CMD is not in the JSON (exec) form")
                return
            path, given = self.command_line(f"{where} CMD", tokens)
            if path[1:] == ["serve"] and port_of(given.get("--addr"))[0] not in ANY_ADDRESS:
                self.p.add(where, "CMD serves without --addr=0.0.0.0:PORT: unreachable from outside the container")

    # ---- KServe

    RUNTIME_SPEC = {
        "supportedModelFormats", "multiModel", "disabled", "protocolVersions", "workerSpec", "containers",
        "volumes", "nodeSelector", "affinity", "tolerations", "labels", "annotations", "imagePullSecrets",
        "hostIPC", "schedulerName", "resourceClaims", "grpcEndpoint", "grpcDataEndpoint", "httpDataEndpoint",
        "replicas", "storageHelper", "builtInAdapter",
    }
    MODEL_FORMAT = {"name", "version", "autoSelect", "priority"}
    PROTOCOLS = {"v1", "v2", "grpc-v1", "grpc-v2"}
    # v1beta1 PredictorSpec: its own fields, the inline PodSpec and
    # ComponentExtensionSpec, and the framework shortcuts.
    PREDICTOR = {
        "model", "storageUris", "storageContainerName", "workerSpec", "sklearn", "xgboost", "tensorflow",
        "pytorch", "triton", "onnx", "huggingface", "pmml", "lightgbm", "paddle",
        "minReplicas", "maxReplicas", "scaleTarget", "scaleMetric", "scaleMetricType", "autoScaling",
        "containerConcurrency", "timeout", "canaryTrafficPercent", "logger", "batcher", "labels",
        "annotations", "deploymentStrategy",
        "volumes", "initContainers", "containers", "ephemeralContainers", "restartPolicy",
        "terminationGracePeriodSeconds", "activeDeadlineSeconds", "dnsPolicy", "nodeSelector",
        "serviceAccountName", "serviceAccount", "automountServiceAccountToken", "nodeName", "hostNetwork",
        "hostPID", "hostIPC", "shareProcessNamespace", "securityContext", "imagePullSecrets", "hostname",
        "subdomain", "affinity", "schedulerName", "tolerations", "hostAliases", "priorityClassName",
        "priority", "dnsConfig", "readinessGates", "runtimeClassName", "enableServiceLinks",
        "preemptionPolicy", "overhead", "topologySpreadConstraints", "setHostnameAsFQDN", "os", "hostUsers",
        "schedulingGates", "resourceClaims", "resources",
    }
    MODEL_OWN = {"modelFormat", "runtime", "storageUri", "runtimeVersion", "protocolVersion", "storage"}

    def kserve(self):
        d = self.root / "deploy/kserve"
        rf, isf = d / "cluster-serving-runtime.yaml", d / "inference-service.yaml"
        for f in (rf, isf):
            if not f.exists():
                self.p.add(self.rel(f), "missing")
                return
        runtime = load_docs(rf)[0]
        w = f"{self.rel(rf)}: ClusterServingRuntime {runtime.get('metadata', {}).get('name')}"
        if (runtime.get("apiVersion"), runtime.get("kind")) != ("serving.kserve.io/v1alpha1", "ClusterServingRuntime"):
            self.p.add(w, f"apiVersion/kind is {runtime.get('apiVersion')}/{runtime.get('kind')}, expected serving.kserve.io/v1alpha1 ClusterServingRuntime")
        spec = runtime.get("spec") or {}
        for key in set(spec) - self.RUNTIME_SPEC:
            self.p.add(w, f"spec.{key} is not a field of ServingRuntimeSpec")
        formats = spec.get("supportedModelFormats") or []
        if not formats:
            self.p.add(w, "no spec.supportedModelFormats")
        for i, fmt in enumerate(formats):
            if not fmt.get("name"):
                self.p.add(w, f"supportedModelFormats[{i}] has no name")
            for key in set(fmt) - self.MODEL_FORMAT:
                self.p.add(w, f"supportedModelFormats[{i}].{key} is not a field of SupportedModelFormat")
            if "version" in fmt and not isinstance(fmt["version"], str):
                self.p.add(w, f"supportedModelFormats[{i}].version must be a string (quote it)")
        protocols = spec.get("protocolVersions") or []
        if "v2" not in protocols:
            self.p.add(w, f"protocolVersions {protocols} does not contain v2")
        for proto in set(protocols) - self.PROTOCOLS:
            self.p.add(w, f"protocolVersions has {proto!r}, not one of {sorted(self.PROTOCOLS)}")
        if spec.get("multiModel"):
            self.p.add(w, "multiModel is true: modelhost serves one model per runtime pod")
        containers = {c.get("name"): c for c in spec.get("containers") or []}
        rc = containers.get("kserve-container")
        if rc is None:
            self.p.add(w, f"no container named kserve-container (has {list(containers)}): KServe merges the predictor into that one")
            return

        isvc = load_docs(isf)[0]
        wi = f"{self.rel(isf)}: InferenceService {isvc.get('metadata', {}).get('name')}"
        if (isvc.get("apiVersion"), isvc.get("kind")) != ("serving.kserve.io/v1beta1", "InferenceService"):
            self.p.add(wi, f"apiVersion/kind is {isvc.get('apiVersion')}/{isvc.get('kind')}, expected serving.kserve.io/v1beta1 InferenceService")
        pred = (isvc.get("spec") or {}).get("predictor") or {}
        for key in set(pred) - self.PREDICTOR:
            self.p.add(wi, f"spec.predictor.{key} is not a field of PredictorSpec")
        model = pred.get("model") or {}
        if not model:
            self.p.add(wi, "no spec.predictor.model")
            return
        mf = model.get("modelFormat") or {}
        match = [f for f in formats if f.get("name") == mf.get("name")]
        if not match:
            self.p.add(wi, f"modelFormat {mf.get('name')!r} is not one the runtime supports ({[f.get('name') for f in formats]})")
        elif "version" in mf and mf["version"] not in [f.get("version") for f in match]:
            self.p.add(wi, f"modelFormat version {mf['version']!r} is not the runtime's ({[f.get('version') for f in match]})")
        if model.get("runtime") != runtime["metadata"]["name"]:
            self.p.add(wi, f"runtime is {model.get('runtime')!r}, not the ClusterServingRuntime {runtime['metadata']['name']!r}")
        if model.get("protocolVersion") != "v2":
            self.p.add(wi, f"protocolVersion is {model.get('protocolVersion')!r}, expected v2")
        elif model["protocolVersion"] not in protocols:
            self.p.add(wi, "protocolVersion is not in the runtime's protocolVersions")
        if "storageUri" in model or "storage" in model or "storageUris" in pred:
            self.p.add(wi, "a storage URI: KServe would copy a snapshot to /mnt/models, which the runtime does not read (it follows the registry alias)")

        # The pod KServe makes: the runtime container merged with the
        # predictor's (env by name, the rest replaced), then placeholders.
        container_part = {k: v for k, v in model.items() if k not in self.MODEL_OWN}
        merged = dict(rc)
        for key, value in container_part.items():
            if key == "env":
                env = {e["name"]: e for e in rc.get("env") or []}
                env.update({e["name"]: e for e in value})
                merged["env"] = list(env.values())
            elif key == "args":
                self.p.add(wi, "the predictor sets args: KServe before 0.20 replaces the runtime's args with them, 0.20 appends; give the model in the modelhostModel annotation instead")
            else:
                merged[key] = value
        meta = isvc.get("metadata") or {}
        text = json.dumps(merged)
        for m in re.finditer(r"\{\{\s*\.(\w+)(?:\.(\w+))?\s*\}\}", text):
            field, key = m.group(1), m.group(2)
            if field == "Name" and not key:
                value = meta.get("name")
            elif field in ("Annotations", "Labels") and key:
                value = (meta.get(field.lower()) or {}).get(key)
            else:
                self.p.add(w, f"placeholder {m.group(0)} is not one KServe fills from the InferenceService's metadata")
                continue
            if value is None:
                self.p.add(wi, f"the runtime uses {m.group(0)}, which metadata.{field.lower()}.{key or ''} does not give")
            text = text.replace(m.group(0), json.dumps(value or "")[1:-1])
        merged = json.loads(text)
        pod = {k: v for k, v in pred.items() if k in self.PREDICTOR and k not in ("model",)}
        pod["volumes"] = spec.get("volumes") or []
        pod.setdefault("securityContext", {})
        info = self.container(f"{wi} (merged with the runtime's kserve-container)", merged, pod)
        if info["registry"] is None:
            self.p.add(wi, "no MODELHOST_REGISTRY in spec.predictor.model.env: the runtime would not know its registry")
        elif not re.match(r"(s3|az|gs|file)://|/", info["registry"]):
            self.p.add(wi, f"MODELHOST_REGISTRY {info['registry']!r} is neither an object-store URL nor an absolute path")
        ports = merged.get("ports") or []
        if ports and ports[0]["containerPort"] != info["http"]:
            self.p.add(w, "the first containerPort is not the HTTP port: KServe's Service sends port 80 to the first one")
        for p in ports:
            if p["containerPort"] == info["grpc"] and not any(s in (p.get("name") or "") for s in ("grpc", "h2c")):
                self.p.add(w, f"the gRPC port is named {p.get('name')!r}: KServe marks HTTP/2 only for names containing grpc or h2c")
        mode = meta.get("annotations", {}).get("serving.kserve.io/deploymentMode")
        if len(ports) > 1 and mode not in ("RawDeployment", "Standard"):
            self.p.add(wi, f"deploymentMode {mode!r} with {len(ports)} container ports: Knative allows one; use RawDeployment")
        ann = spec.get("annotations") or {}
        if str(ann.get("prometheus.kserve.io/port")) != str(info["http"]):
            self.p.add(w, f"prometheus.kserve.io/port {ann.get('prometheus.kserve.io/port')!r} is not the HTTP port {info['http']}")
        # The Kubernetes schema for what KServe passes on as a pod.
        self.schema(
            f"{wi} (merged container, as a Pod)",
            {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "kserve-check"},
             "spec": {**{k: v for k, v in pod.items() if k not in self.PREDICTOR - self.PODSPEC}, "containers": [merged]}},
        )

    PODSPEC = {
        "volumes", "initContainers", "containers", "ephemeralContainers", "restartPolicy",
        "terminationGracePeriodSeconds", "activeDeadlineSeconds", "dnsPolicy", "nodeSelector",
        "serviceAccountName", "serviceAccount", "automountServiceAccountToken", "nodeName", "hostNetwork",
        "hostPID", "hostIPC", "shareProcessNamespace", "securityContext", "imagePullSecrets", "hostname",
        "subdomain", "affinity", "schedulerName", "tolerations", "hostAliases", "priorityClassName",
        "priority", "dnsConfig", "readinessGates", "runtimeClassName", "enableServiceLinks",
        "preemptionPolicy", "overhead", "topologySpreadConstraints", "setHostnameAsFQDN", "os", "hostUsers",
        "schedulingGates", "resourceClaims", "resources",
    }

    # ---- DEPLOYMENT.md

    def markdown(self):
        f = self.root / "DEPLOYMENT.md"
        if not f.exists():
            self.p.add(self.rel(f), "missing")
            return
        in_code = False
        buf = ""
        count = 0
        for n, line in enumerate(f.read_text().splitlines(), 1):
            if line.lstrip().startswith("```"):
                lang = line.strip()[3:].strip()
                in_code = not in_code and lang in ("", "sh", "bash", "shell", "console")
                buf = ""
                continue
            if not in_code:
                continue
            if line.rstrip().endswith("\\"):
                buf += line.rstrip()[:-1] + " "
                continue
            full, buf = buf + line, ""
            try:
                tokens = shlex.split(full, comments=True)
            except ValueError as e:
                self.p.add(f"{self.rel(f)}:{n}", f"cannot split the command: {e}")
                continue
            for i, t in enumerate(tokens):
                image = re.fullmatch(r"(?:.*/)?modelhost:[\w.-]+", t) and tokens[:2] == ["docker", "run"]
                if os.path.basename(t) != "modelhost" and not image:
                    continue
                before = tokens[:i]
                command = all(re.match(r"\w+=", b) for b in before) or (before and before[-1] in ("--", "exec", "|", "&&", ";"))
                if not (command or image):
                    continue
                rest = []
                for t2 in tokens[i + 1 :]:
                    if t2 in ("|", "||", "&&", ";", ">", ">>", "<", "2>&1") or t2.startswith(">"):
                        break
                    rest.append(t2)
                count += 1
                self.command_line(f"{self.rel(f)}:{n}", rest)
                break
        if count == 0:
            self.p.add(self.rel(f), "no `modelhost` command in its code blocks (expected the promote step at least)")
        self.notes.append(f"{count} modelhost commands in DEPLOYMENT.md")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--root", default=str(HERE))
    ap.add_argument("--source", default=str(HERE))
    ap.add_argument("-k", dest="versions", action="append", help="Kubernetes schema version ('none' to skip)")
    a = ap.parse_args()
    versions = a.versions or ["1.30.0", "1.37.0"]
    if versions == ["none"]:
        versions = []
    checker = Checker(a.root, a.source, versions)
    problems = checker.run()
    if problems.items:
        print(f"deployment check: {len(problems.items)} problem(s)", file=sys.stderr)
        for item in problems.items:
            print(f"  {item}", file=sys.stderr)
        return 1
    print(
        "deployment check: ok (Deployment, Service, HPA, PDB, kustomization, Dockerfile, "
        f"KServe runtime and InferenceService; {'; '.join(checker.notes)}; "
        f"schemas: {', '.join(versions) or 'skipped'})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
