"""wtb-env-python-example: a WTB environment provider written in Python.

Each variant (combination) gets a working directory of its own, with the
block's `files` written into it, and environment variables: the block's
`env` with the variant's merged over it. A variant's settings come from its
`environment = { ... }` in the bench file: `files` and `env` as such, any
other key as an environment variable.

    environment "sandbox" {
      plugin = "python-example"
      env    = { MODE = "test" }
      files  = { "prompt.txt" = "Answer in one word." }
    }

`make build` writes the launcher bin/plugins/wtb-env-python-example, which
runs this file with the Python SDK's pinned environment.
"""

import hashlib
import json
import os
import re
import shutil
import tempfile
import threading

from wtb_plugin import (Attribute, ConfigError, EnvironmentProvider, Info, RuntimeEnv, attribute_error,
                        serve_environment)

VERSION = "0.1.0"
ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def check_spec(spec):
    """Raises ConfigError for environment settings a node could not use."""
    env, files = spec.get("env") or {}, spec.get("files") or {}
    if not isinstance(env, dict) or not all(isinstance(v, str) for v in env.values()):
        raise ConfigError(attribute_error("env", "env must map names to strings"))
    bad = sorted(k for k in env if not ENV_NAME.match(k))
    if bad:
        raise ConfigError(attribute_error("env", "%r is not an environment variable name" % bad[0],
                                          "use letters, digits and _, not starting with a digit"))
    if not isinstance(files, dict) or not all(isinstance(v, str) for v in files.values()):
        raise ConfigError(attribute_error("files", "files must map file names to their contents"))
    for name in files:
        norm = os.path.normpath(name)
        if os.path.isabs(name) or norm == ".." or norm.startswith(".." + os.sep):
            raise ConfigError(attribute_error("files", "file names must be relative paths inside the working directory",
                                              "got %r" % name))


class SandboxProvider(EnvironmentProvider):
    def __init__(self):
        self.lock = threading.Lock()
        self.base = {"env": {}, "files": {}}
        self.root = ""
        self.owns_root = False
        self.envs = {}  # variant id -> RuntimeEnv

    def info(self):
        return Info(
            name="python-example", version=VERSION,
            description="A working directory per variant with files written into it, and merged environment variables.",
            attributes=[
                Attribute("env", "map(string)", default={}, description="Environment variables for every node."),
                Attribute("files", "map(string)", default={},
                          description="Files (name = content) written into each variant's working directory."),
                Attribute("root", "string", default="",
                          description="Where the working directories are made; a temporary directory by default."),
            ])

    def configure(self, config):
        base = {"env": config.get("env") or {}, "files": config.get("files") or {}}
        check_spec(base)
        root = config.get("root") or ""
        owns = False
        if root:
            try:
                os.makedirs(root, exist_ok=True)
            except OSError as e:
                raise ConfigError(attribute_error("root", "cannot create the root directory", str(e)))
        else:
            root, owns = tempfile.mkdtemp(prefix="wtb-pyenv-"), True
        with self.lock:
            self.base, self.root, self.owns_root = base, root, owns

    def create_environment(self, batch_id, variant_id, config):
        settings = {k: v for k, v in config.items() if k in ("env", "files")}
        check_spec(settings)
        with self.lock:
            if variant_id in self.envs:
                return self.envs[variant_id]
            spec = {
                "env": {**self.base["env"], **(settings.get("env") or {})},
                "files": {**self.base["files"], **(settings.get("files") or {})},
            }
            digest = hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:12]
            safe = re.sub(r"[^A-Za-z0-9_.=-]+", "_", variant_id)[:80]
            workdir = os.path.join(self.root, batch_id or "batch", "%s-%s" % (safe, digest))
            os.makedirs(workdir, exist_ok=True)
            for name, content in spec["files"].items():
                path = os.path.join(workdir, name)
                os.makedirs(os.path.dirname(path), exist_ok=True)
                with open(path, "w", encoding="utf-8") as f:
                    f.write(content)
            env = RuntimeEnv(id="python-example:" + variant_id, env=spec["env"], working_dir=workdir,
                             labels={"provider": "python-example", "spec": digest})
            self.envs[variant_id] = env
            return env

    def runtime_env(self, variant_id):
        with self.lock:
            return self.envs.get(variant_id)

    def cleanup_environment(self, variant_id):
        with self.lock:
            env = self.envs.pop(variant_id, None)
        if env is not None:
            shutil.rmtree(env.working_dir, ignore_errors=True)

    def shutdown(self):
        with self.lock:
            envs, self.envs = list(self.envs.values()), {}
            root, owns = self.root, self.owns_root
        for env in envs:
            shutil.rmtree(env.working_dir, ignore_errors=True)
        if owns and root:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    serve_environment(SandboxProvider())
