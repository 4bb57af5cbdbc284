"""The rule book: which rule versions exist and which one of each rule is active.

Versions are immutable. The shipped default rule sets (rules/defaults/*.yaml) are brought in
by `sync_defaults`; a team can add its own versions. A version becomes active only when all
of its examples pass (the activation gate), and activating it retires the previous version —
alerts keep pointing at the version that fired.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field

from sqlalchemy import ColumnElement, update
from sqlmodel import Session, select, col

from rules import RuleDefinition, activation_problems, default_rules, parse_rule

from ..clock import Clock
from ..models import RuleVersion, RuleVersionStatus

# Parsed definitions and example results by content digest: a digest names one definition
# for ever, so entries never go stale (not even when a database is recreated under a running
# process and ids are reused).
_PARSED: dict[str, RuleDefinition] = {}
_EXAMPLE_PROBLEMS: dict[str, list[str]] = {}


def digest_of(definition: dict) -> str:
    return hashlib.sha256(json.dumps(definition, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


class RuleBookError(Exception):
    def __init__(self, message: str, problems: list[str] | None = None):
        super().__init__(message)
        self.problems = problems or []


def definition_of(version: RuleVersion | InForce) -> RuleDefinition:
    parsed = _PARSED.get(version.digest)
    if parsed is None:
        assert isinstance(version, RuleVersion), "an InForce row's definition is parsed when it is read"
        parsed = _PARSED[version.digest] = parse_rule(version.definition)
    return parsed


def active_versions(session: Session, keys=None) -> dict[str, RuleVersion]:
    query = select(RuleVersion).where(RuleVersion.status == RuleVersionStatus.ACTIVE.value)
    if keys is not None:
        keys = list(keys)
        if not keys:
            return {}
        query = query.where(col(RuleVersion.key).in_(keys))
    return {v.key: v for v in session.exec(query)}


@dataclass(frozen=True, slots=True)
class InForce:
    """An active rule version as an evaluation needs it: no ORM object (every report and sweep
    batch reads a few dozen), and its definition parsed once by digest (definition_of)."""

    id: int
    key: str
    version: int
    digest: str


def in_force(session: Session, keys, *, prefix: str | None = None) -> dict[str, InForce]:
    """The active versions of these rules and of every rule whose key starts with `prefix` (the
    safety net's), as plain rows; the definitions of digests not yet parsed are read and parsed
    in one more query."""
    keys = list(keys)
    if not keys and prefix is None:
        return {}
    wanted: ColumnElement[bool] = col(RuleVersion.key).in_(keys)
    if prefix is not None:
        wanted = wanted | col(RuleVersion.key).startswith(prefix)
    found = {key: InForce(id_, key, version, digest) for id_, key, version, digest in session.execute(
        select(RuleVersion.id, RuleVersion.key, RuleVersion.version, RuleVersion.digest)
        .where(RuleVersion.status == RuleVersionStatus.ACTIVE.value, wanted))}
    unparsed = {v.id for v in found.values() if v.digest not in _PARSED}
    if unparsed:
        for digest, definition in session.execute(select(RuleVersion.digest, RuleVersion.definition)
                                                  .where(col(RuleVersion.id).in_(unparsed))):
            _PARSED[digest] = parse_rule(definition)
    return found


def versions_of(session: Session, key: str) -> list[RuleVersion]:
    return versions_of_rules(session, [key])


def versions_of_rules(session: Session, keys) -> list[RuleVersion]:
    """Every version of these rules, by key and version, in one query."""
    return list(session.exec(select(RuleVersion).where(col(RuleVersion.key).in_(list(keys)))
                             .order_by(col(RuleVersion.key), col(RuleVersion.version))))


def find_version(session: Session, key: str, version: int | None = None) -> RuleVersion | None:
    """A given version of a rule, or its active version."""
    if version is None:
        return active_versions(session, [key]).get(key)
    return session.exec(select(RuleVersion).where(RuleVersion.key == key, RuleVersion.version == version)).first()


def add_version(session: Session, clock: Clock, rule: RuleDefinition, *, origin: str = "custom",
                author_account_id: int | None = None) -> RuleVersion:
    """Store a new version as a draft. Refuses to change an existing version."""
    definition = rule.model_dump(mode="json")
    existing = find_version(session, rule.key, rule.version)
    if existing is not None:
        if existing.digest == digest_of(definition):
            return existing
        raise RuleBookError(f"{rule.key} version {rule.version} exists with a different content; "
                            f"versions are immutable, so store the change as version {_next_version(session, rule.key)}")
    version = RuleVersion(key=rule.key, version=rule.version, definition=definition, digest=digest_of(definition),
                          status=RuleVersionStatus.DRAFT.value, origin=origin, created_at=clock.now(),
                          created_by_account_id=author_account_id)
    session.add(version)
    return version


def activate(session: Session, clock: Clock, version: RuleVersion) -> RuleVersion:
    """Make this version the one in use. Refused while any of its examples fails, or when it
    has none."""
    if version.digest not in _EXAMPLE_PROBLEMS:
        definition = definition_of(version)
        _EXAMPLE_PROBLEMS[version.digest] = activation_problems(definition) if definition.examples else [
            "a rule version needs at least one example to show what it does"]
    problems = _EXAMPLE_PROBLEMS[version.digest]
    if problems:
        raise RuleBookError(f"{version.key} version {version.version} cannot be activated: its examples fail", problems)
    if version.status == RuleVersionStatus.ACTIVE.value:
        return version
    session.execute(update(RuleVersion).where(col(RuleVersion.key) == version.key,
                                              col(RuleVersion.status) == RuleVersionStatus.ACTIVE.value)
                    .values(status=RuleVersionStatus.RETIRED.value))
    session.flush()
    version.status = RuleVersionStatus.ACTIVE.value
    version.activated_at = clock.now()
    session.add(version)
    return version


def _next_version(session: Session, key: str) -> int:
    versions = versions_of(session, key)
    return (versions[-1].version + 1) if versions else 1


@dataclass
class SyncReport:
    added: list[str] = field(default_factory=list)
    unchanged: int = 0
    refused: list[str] = field(default_factory=list)

    def summary(self) -> str:
        return (f"Default rules: {len(self.added)} added, {self.unchanged} unchanged, "
                f"{len(self.refused)} refused.")


def sync_defaults(session: Session, clock: Clock) -> SyncReport:
    """Bring the shipped rule sets into the rule book. Idempotent; safe at every start."""
    report = SyncReport()
    for key, rule in sorted(default_rules().items()):
        existing = find_version(session, key, rule.version)
        if existing is not None and existing.digest == digest_of(rule.model_dump(mode="json")):
            report.unchanged += 1
            continue
        try:
            version = add_version(session, clock, rule, origin="default")
            newest = versions_of(session, key)[-1]
            if version.id == newest.id:
                activate(session, clock, version)
            report.added.append(f"{key} v{rule.version}")
        except RuleBookError as exc:
            session.rollback()
            report.refused.append(f"{key} v{rule.version}: {exc}" + "".join(f"\n    {p}" for p in exc.problems))
    return report
