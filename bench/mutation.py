"""K1: mutation testing of the rule modules, one module at a time against its own fast tests.

A small AST mutation runner (see docs/mutation.md for why not mutmut): each mutant is one change
to one node of the module (a comparison or boolean operator flipped, ``not`` dropped, a constant
changed, ``any``/``all`` swapped, ``|=`` made ``=``, a ``raise`` or ``return`` value removed,
``partition``/``rpartition``-style method swaps, a keyword of an ORM ``filter``/``create``/
``update`` call dropped...). The parent process imports the heavy
libraries once, then forks one child per mutant; the child imports the mutated module in place of
the file (an import hook; the worktree is never written) and runs the module's tests with ``-x``.
A mutant is killed when the tests fail (or time out), survives when they pass.

    python bench/mutation.py [module-key ...] [--list] [--show N] [--only N,M] [--json out.json]

Not part of ``make test``: CPU-heavy. ``make mutation`` runs it under ``nice``.
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import importlib.abc
import importlib.util
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# Each rule module and ITS fast tests: the unit tests and the few emulator tests that exercise the
# rule; the page and worker tests that also reach it are left out (a run would take hours here).
# Missing files are skipped.
MODULES = {
    "matching": (
        "integrations.salesforce.matching",
        [
            "tests/integrations/salesforce/test_k2_matching.py",
            "tests/integrations/salesforce/test_phones.py::test_p2_email_stays_exact_in_any_format_mode",
            "tests/integrations/salesforce/test_phones.py::test_p3_p6_same_number_in_any_format_one_query",
            "tests/integrations/salesforce/test_phones.py::test_p3_a_different_number_never_matches",
            "tests/integrations/salesforce/test_phones.py::test_p4_exact_mode_hints_the_same_number_with_both_values_in_one_query",
            "tests/integrations/salesforce/test_phones.py::test_p4_country_codes_no_longer_hide_the_hint",
        ],
    ),
    "soql": (
        "integrations.salesforce.soql",
        [
            "tests/integrations/salesforce/test_k2_soql.py",
            "tests/hardening/test_injection.py::test_s07_soql_metacharacters_in_phone_find_nothing_with_one_well_formed_query",
            "tests/hardening/test_injection.py::test_s07_soql_metacharacters_in_email_find_nothing",
            "tests/hardening/test_injection.py::test_b1_like_wildcards_in_email_are_literal_in_the_lookup_query",
            "tests/hardening/test_injection.py::test_s07_field_names_cannot_carry_soql",
        ],
    ),
    "urlsafety": (
        "api.urlsafety",
        [
            "tests/api/test_h5_embedded_ipv4.py",
            "tests/api/test_webhook_pinning.py::test_o6_forbidden_ranges_include_metadata_and_mapped_addresses",
            "tests/api/test_webhooks.py::test_o6_webhook_urls_must_be_https_and_public",
            "tests/api/test_webhooks.py::test_o6_public_https_url_is_accepted_and_the_switch_lifts_the_rules",
            "tests/api/test_k2_urlsafety.py",
        ],
    ),
    "phones": (
        "contacts.phones",
        [
            "tests/integrations/salesforce/test_phones.py::test_p3_p6_same_number_in_any_format_one_query",
            "tests/integrations/salesforce/test_phones.py::test_p3_a_different_number_never_matches",
            "tests/integrations/salesforce/test_phones.py::test_p4_country_codes_no_longer_hide_the_hint",
            "tests/integrations/salesforce/test_phones.py::test_p7_corpus_any_format_finds_every_same_number_and_no_other",
            "tests/contacts/test_k2_phones.py",
        ],
    ),
    "emails": (
        "workspace.emails",
        [
            "tests/api/test_h1_email_identity.py::test_h1_email_key_normalises_one_way",
            "tests/api/test_h1_email_identity.py::test_h1_look_alikes_have_other_keys_and_capitals_the_same",
            "tests/workspace/test_k2_emails.py",
        ],
    ),
    # O5's find-or-create: the K2 unit tests, then the API tests that store messages (live
    # server, SQLite). The advisory locks only run on PostgreSQL: with DATABASE_URL set to one,
    # the same tests run there (docs/mutation.md, "PostgreSQL-only mutants").
    "inbound": (
        "api.inbound",
        [
            "tests/api/test_k2_inbound.py",
            "tests/api/test_inbound_api.py::test_o5_message_finds_the_contact_opens_a_conversation_and_answers_201",
            "tests/api/test_inbound_api.py::test_o5_email_match_ignores_case_and_phone_matches_exactly",
            "tests/api/test_inbound_api.py::test_o5_unknown_sender_gets_a_new_contact_and_later_messages_append",
            "tests/api/test_inbound_api.py::test_n7_a_customer_message_reopens_the_closed_conversation",
            "tests/api/test_inbound_api.py::test_o5_same_external_id_answers_200_with_the_same_body_and_stores_nothing",
            "tests/api/test_inbound_api.py::test_o5_concurrent_repeats_store_exactly_one_message",
            "tests/api/test_inbound_api.py::test_o5_first_messages_from_one_new_customer_make_one_contact",
            "tests/api/test_inbound_api.py::test_o5_receive_message_function_is_idempotent_in_process",
        ],
    ),
    # K1 "the token refresh decisions": the unit tests first (no emulator, so most mutants die
    # before it starts), then the emulator tests that drive a refresh, keep-alive or approval.
    # The tests that refresh in other processes are left out: those run the unmutated module.
    "tokens": (
        "integrations.salesforce.tokens",
        [
            "tests/integrations/salesforce/test_k2_tokens.py",
            "tests/integrations/salesforce/test_client.py::test_s15_expired_session_is_refreshed_once_and_saved",
            "tests/integrations/salesforce/test_client.py::test_s15_revoked_refresh_token_marks_reconnect_needed",
            "tests/integrations/salesforce/test_client.py::test_s15_t1_stale_copy_refreshes_with_the_stored_token_not_its_own",
            "tests/integrations/salesforce/test_token_lifecycle.py::test_t1_many_threads_meeting_an_expired_session_cause_one_refresh_grant",
            "tests/integrations/salesforce/test_token_lifecycle.py::test_t1_refresh_saves_access_token_and_timestamp_in_one_write",
            "tests/integrations/salesforce/test_token_lifecycle.py::test_t3_keepalive_refreshes_only_connections_older_than_the_setting",
            "tests/integrations/salesforce/test_token_lifecycle.py::test_t3_keepalive_exits_non_zero_and_names_the_failure",
            "tests/integrations/salesforce/test_token_lifecycle.py::test_t3_keepalive_skips_a_connection_refreshed_meanwhile",
            "tests/integrations/salesforce/test_token_lifecycle.py::test_t5_sixth_approval_marks_the_oldest_and_names_it",
            "tests/integrations/salesforce/test_token_lifecycle.py::test_t1_rotation_many_threads_one_grant_no_reuse_and_the_new_token_is_kept",
            "tests/integrations/salesforce/test_token_lifecycle.py::test_t2_lost_answer_then_invalid_grant_says_why_and_what_to_do",
            "tests/integrations/salesforce/test_token_lifecycle.py::test_t3_keepalive_keeps_an_idle_expiring_token_alive",
            "tests/integrations/salesforce/test_token_lifecycle.py::test_t3_without_keepalive_an_idle_token_expires",
            "tests/integrations/salesforce/test_token_lifecycle.py::test_t4_immediate_expiry_set_later_marks_reconnect_needed",
            "tests/integrations/salesforce/test_enterprise.py::test_e5_refresh_after_a_my_domain_move_stores_the_new_instance_and_retries_there",
            "tests/integrations/salesforce/test_enterprise.py::test_e5_keepalive_refresh_also_takes_the_new_instance",
            "tests/integrations/salesforce/test_enterprise.py::test_e4_an_expired_session_is_renewed_by_the_same_flow",
        ],
    ),
}

# Libraries imported once in the parent so each forked child starts warm. No product module may
# be imported here: the child must import the mutated one.
WARM = [
    "django",
    "django.test",
    "django.db.models",
    "pytest",
    "pytest_django",
    "phonenumbers",
    "requests",
    "responses",
    "simple_salesforce",
    "idna",
    "hypothesis",
    "cryptography.fernet",
]

COMPARE_SWAPS = {
    ast.Eq: ast.NotEq,
    ast.NotEq: ast.Eq,
    ast.Lt: ast.LtE,
    ast.LtE: ast.Lt,
    ast.Gt: ast.GtE,
    ast.GtE: ast.Gt,
    ast.In: ast.NotIn,
    ast.NotIn: ast.In,
    ast.Is: ast.IsNot,
    ast.IsNot: ast.Is,
}
BINOP_SWAPS = {
    ast.Add: ast.Sub,
    ast.Sub: ast.Add,
    ast.Mult: ast.FloorDiv,
    ast.BitOr: ast.BitAnd,
    ast.BitAnd: ast.BitOr,
    ast.Mod: ast.Add,
}
NAME_SWAPS = {"any": "all", "all": "any", "min": "max", "max": "min"}
METHOD_SWAPS = {
    "partition": "rpartition",
    "rpartition": "partition",
    "lower": "upper",
    "upper": "lower",
    "strip": "lstrip",
    "startswith": "endswith",
    "endswith": "startswith",
    "split": "rsplit",
    "append": "remove",
}
# ORM calls whose keyword arguments are the rule (a filter's workspace, a field an update sets):
# each keyword dropped is a mutant ("the repeat lookup without its workspace filter").
QUERY_METHODS = {
    "filter",
    "exclude",
    "get",
    "create",
    "update",
    "get_or_create",
    "update_or_create",
}


@dataclass
class Mutant:
    index: int
    line: int
    description: str


def _docstring_ids(tree: ast.AST) -> set[int]:
    ids = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if (
                body
                and isinstance(body[0], ast.Expr)
                and isinstance(body[0].value, ast.Constant)
                and isinstance(body[0].value.value, str)
            ):
                ids.add(id(body[0].value))
    return ids


def _annotation_ids(tree: ast.AST) -> set[int]:
    """Annotations never run (``from __future__ import annotations``): not mutated."""
    ids = set()
    for node in ast.walk(tree):
        parts = []
        if isinstance(node, ast.arg | ast.AnnAssign) and node.annotation is not None:
            parts.append(node.annotation)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.returns is not None:
            parts.append(node.returns)
        for part in parts:
            ids.update(id(n) for n in ast.walk(part))
    return ids


class Mutator(ast.NodeTransformer):
    """Walks the tree; with ``target`` None it only counts sites, else it applies mutant ``target``."""

    def __init__(self, skip: set[int], target: int | None = None):
        self.skip = skip
        self.target = target
        self.count = 0
        self.found: list[Mutant] = []
        self.applied: str | None = None

    def visit(self, node):
        if id(node) in self.skip:  # an annotation or a docstring: never run, never mutated
            return node
        return super().visit(node)

    def _site(self, node, description: str) -> bool:
        """Register one mutant at ``node``; True when it is the one to apply."""
        index = self.count
        self.count += 1
        self.found.append(Mutant(index, getattr(node, "lineno", 0), description))
        if index == self.target:
            self.applied = description
            return True
        return False

    def visit_Compare(self, node):
        self.generic_visit(node)
        for i, op in enumerate(node.ops):
            swap = COMPARE_SWAPS.get(type(op))
            if swap and self._site(node, f"{type(op).__name__} -> {swap.__name__}"):
                node.ops[i] = swap()
        return node

    def visit_BoolOp(self, node):
        self.generic_visit(node)
        other = ast.Or if isinstance(node.op, ast.And) else ast.And
        if self._site(node, f"{type(node.op).__name__} -> {other.__name__}"):
            node.op = other()
        for i in range(len(node.values)):
            if len(node.values) > 1 and self._site(
                node, f"drop operand {i + 1} of {type(node.op).__name__}"
            ):
                values = node.values[:i] + node.values[i + 1 :]
                return values[0] if len(values) == 1 else ast.BoolOp(op=node.op, values=values)
        return node

    def visit_UnaryOp(self, node):
        self.generic_visit(node)
        if isinstance(node.op, ast.Not) and self._site(node, "not x -> x"):
            return node.operand
        return node

    def visit_BinOp(self, node):
        self.generic_visit(node)
        swap = BINOP_SWAPS.get(type(node.op))
        if swap and self._site(node, f"{type(node.op).__name__} -> {swap.__name__}"):
            node.op = swap()
        return node

    def visit_AugAssign(self, node):
        self.generic_visit(node)
        if self._site(node, f"{type(node.op).__name__}= -> ="):
            return ast.Assign(targets=[node.target], value=node.value, lineno=node.lineno)
        return node

    def visit_Constant(self, node):
        if id(node) in self.skip:
            return node
        value = node.value
        if isinstance(value, bool):
            return ast.Constant(not value) if self._site(node, f"{value} -> {not value}") else node
        if isinstance(value, int):
            if self._site(node, f"{value} -> {value + 1}"):
                return ast.Constant(value + 1)
            if value != 0 and self._site(node, f"{value} -> 0"):
                return ast.Constant(0)
        elif isinstance(value, str) and self._site(node, f"{value[:30]!r} -> 'XX' + ..."):
            return ast.Constant("XX" + value + "XX")
        return node

    def visit_Name(self, node):
        if id(node) not in self.skip and node.id in NAME_SWAPS and isinstance(node.ctx, ast.Load):
            other = NAME_SWAPS[node.id]
            if self._site(node, f"{node.id} -> {other}"):
                return ast.Name(id=other, ctx=ast.Load())
        return node

    def visit_Attribute(self, node):
        self.generic_visit(node)
        if node.attr in METHOD_SWAPS and isinstance(node.ctx, ast.Load):
            other = METHOD_SWAPS[node.attr]
            if self._site(node, f".{node.attr} -> .{other}"):
                node.attr = other
        return node

    def visit_Call(self, node):
        self.generic_visit(node)
        if isinstance(node.func, ast.Attribute) and node.func.attr in QUERY_METHODS:
            for i, keyword in enumerate(node.keywords):
                if keyword.arg is not None and self._site(
                    node, f"drop {node.func.attr}({keyword.arg}=...)"
                ):
                    node.keywords = node.keywords[:i] + node.keywords[i + 1 :]
                    break
        return node

    def visit_Raise(self, node):
        self.generic_visit(node)
        if self._site(node, "raise -> pass"):
            return ast.Pass()
        return node

    def visit_Return(self, node):
        self.generic_visit(node)
        if (
            node.value is not None
            and not (isinstance(node.value, ast.Constant) and node.value.value is None)
            and self._site(node, "return x -> return None")
        ):
            return ast.Return(value=None)
        return node

    def visit_Slice(self, node):
        self.generic_visit(node)
        if node.upper is not None and node.lower is None and self._site(node, "[:n] -> [n:]"):
            return ast.Slice(lower=node.upper, upper=None, step=None)
        return node

    def visit_If(self, node):
        self.generic_visit(node)
        if self._site(node, "if c -> if not c"):
            node.test = ast.UnaryOp(op=ast.Not(), operand=node.test)
        return node


def _skip_ids(tree) -> set[int]:
    return _docstring_ids(tree) | _annotation_ids(tree)


def mutants_of(source: str) -> list[Mutant]:
    tree = ast.parse(source)
    mutator = Mutator(_skip_ids(tree))
    mutator.visit(tree)
    return mutator.found


def mutated_source(source: str, index: int) -> str:
    tree = ast.parse(source)
    mutator = Mutator(_skip_ids(tree), target=index)
    tree = ast.fix_missing_locations(mutator.visit(tree))
    assert mutator.applied is not None, index
    return ast.unparse(tree)


class _MutantFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def __init__(self, name: str, path: Path, source: str):
        self.name, self.path, self.source = name, path, source

    def find_spec(self, fullname, path=None, target=None):
        if fullname != self.name:
            return None
        return importlib.util.spec_from_file_location(fullname, self.path, loader=self)

    def create_module(self, spec):
        return None

    def exec_module(self, module):
        exec(compile(self.source, str(self.path), "exec"), module.__dict__)  # noqa: S102


def _run_child(name: str, path: Path, source: str | None, tests: list[str], quiet: bool) -> int:
    """Fork; the child runs the tests with ``source`` as module ``name``. Returns the exit code
    (-1 on timeout)."""
    pid = os.fork()
    if pid == 0:
        try:
            os.setpgid(0, 0)
            if quiet:
                devnull = os.open(os.devnull, os.O_WRONLY)
                os.dup2(devnull, 1)
                os.dup2(devnull, 2)
            if source is not None:
                sys.meta_path.insert(0, _MutantFinder(name, path, source))
            import pytest

            code = pytest.main([*tests, "-x", "-q", "-p", "no:randomly", "-p", "no:cacheprovider"])
            os._exit(int(code))
        except BaseException:  # noqa: BLE001 - anything in the child is a failed run
            os._exit(99)
    deadline = time.monotonic() + TIMEOUT
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        if time.monotonic() > deadline:
            os.killpg(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            return -1
        time.sleep(0.05)


TIMEOUT = 120


def _source(path: Path, rev: str | None) -> str:
    if rev is None:
        return path.read_text()
    relative = path.relative_to(ROOT).as_posix()
    return subprocess.run(
        ["git", "show", f"{rev}:{relative}"], cwd=ROOT, check=True, capture_output=True, text=True
    ).stdout


def run_module(
    key: str,
    *,
    show: bool = False,
    before: bool = False,
    rev: str | None = None,
    every: int = 1,
    k2_only: bool = False,
    only: set[int] | None = None,
) -> dict:
    name, tests = MODULES[key]
    # --before: the suite as it was before K2 (its files are named test_k2_*).
    tests = [
        t
        for t in tests
        if (ROOT / t.split("::")[0]).exists()
        and not (before and "/test_k2_" in t)
        and not (k2_only and "/test_k2_" not in t)
    ]
    path = ROOT / (name.replace(".", "/") + ".py")
    source = _source(path, rev)
    # --every N: a systematic sample (every Nth mutant) when a full run would not fit the time.
    found = mutants_of(source)[::every]
    # --only N,M: just these mutants (e.g. the PostgreSQL-only ones, run with DATABASE_URL set).
    if only is not None:
        found = [m for m in found if m.index in only]
    started = time.monotonic()
    if _run_child(name, path, source, tests, quiet=True) != 0:
        raise SystemExit(f"{key}: its tests fail on the unmutated code ({' '.join(tests)})")
    survivors = []
    for mutant in found:
        code = _run_child(name, path, mutated_source(source, mutant.index), tests, quiet=True)
        if code == 0:
            survivors.append(mutant)
            if show:
                print(f"  survived #{mutant.index} line {mutant.line}: {mutant.description}")
    total, killed = len(found), len(found) - len(survivors)
    result = {
        "module": name,
        "rev": rev or "worktree",
        "tests": tests,
        "mutants": total,
        "killed": killed,
        "score": round(100 * killed / total, 1) if total else 100.0,
        "seconds": round(time.monotonic() - started, 1),
        "sampled_every": every,
        "k2_only": k2_only,
        "only": sorted(only) if only is not None else None,
        "database": os.environ.get("DATABASE_URL", "sqlite (default)").split("@")[-1],
        "survivors": [
            {"index": m.index, "line": m.line, "mutation": m.description} for m in survivors
        ],
    }
    note = f", every {every}th mutant" if every > 1 else ""
    note += ", test_k2_* only (a lower bound)" if k2_only else ""
    note += f", only mutants {','.join(str(m.index) for m in found)}" if only is not None else ""
    print(
        f"{name}: {killed}/{total} killed, score {result['score']}% "
        f"({result['seconds']} s, {len(tests)} test ids{note})",
        flush=True,
    )
    return result


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("modules", nargs="*", help=f"any of {', '.join(MODULES)} (default: all)")
    parser.add_argument("--list", action="store_true", help="list the mutants, run nothing")
    parser.add_argument("--show", type=int, help="print mutant N's source diff line, run nothing")
    parser.add_argument("--survivors", action="store_true", help="print each survivor")
    parser.add_argument("--json", help="write the results to this file")
    parser.add_argument("--before", action="store_true", help="leave out the K2 test files")
    parser.add_argument("--rev", help="mutate the module as it was at this git commit")
    parser.add_argument("--every", type=int, default=1, help="run only every Nth mutant")
    parser.add_argument(
        "--k2-only",
        action="store_true",
        help="only the test_k2_* files: no emulator, a lower bound of the score",
    )
    parser.add_argument("--only", help="run only these mutants: N,M,... (numbers of --list)")
    args = parser.parse_args(argv)
    only = {int(n) for n in args.only.split(",")} if args.only else None
    keys = args.modules or list(MODULES)
    os.chdir(ROOT)
    sys.path.insert(0, str(ROOT))
    if args.list or args.show is not None:
        for key in keys:
            name, _ = MODULES[key]
            source = _source(ROOT / (name.replace(".", "/") + ".py"), args.rev)
            if args.show is not None:
                print(mutated_source(source, args.show))
                continue
            for m in mutants_of(source):
                print(f"{key} #{m.index} line {m.line}: {m.description}")
        return 0
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    for module in WARM:
        with contextlib.suppress(ImportError):
            importlib.import_module(module)
    results = [
        run_module(
            key,
            show=args.survivors,
            before=args.before,
            rev=args.rev,
            every=args.every,
            k2_only=args.k2_only,
            only=only,
        )
        for key in keys
    ]
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
