"""A small demo application's data: a files tree, a SQLite database, a PostgreSQL database.

Each has a way to change it and a snapshot that compares byte for byte.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

PG = ["-h", "127.0.0.1", "-p", "5432", "-U", "postgres"]


def make_files(root: Path) -> None:
    (root / "avatars" / "2026").mkdir(parents=True)
    (root / "empty-dir").mkdir()
    (root / "README.txt").write_text("uploads of the demo shop\n")
    (root / "avatars" / "2026" / "ada.png").write_bytes(os.urandom(50_000))
    (root / "avatars" / "2026" / "zero").write_bytes(b"")
    secret = root / "avatars" / "private.key"
    secret.write_bytes(bytes(range(256)) * 4)
    secret.chmod(0o600)
    (root / "latest.png").symlink_to("avatars/2026/ada.png")


def change_files(root: Path) -> None:
    (root / "README.txt").write_text("defaced\n")
    (root / "avatars" / "2026" / "ada.png").unlink()
    (root / "avatars" / "private.key").chmod(0o644)
    (root / "added-later.txt").write_text("not in the backup\n")


def files_snapshot(root: Path) -> dict[str, tuple[str, int, str]]:
    """relative path -> (kind, mode, sha256 of content or link target)."""
    snap: dict[str, tuple[str, int, str]] = {".": ("dir", root.stat().st_mode & 0o7777, "")}
    for path in sorted(root.rglob("*")):
        rel = str(path.relative_to(root))
        st = path.lstat()
        if path.is_symlink():
            snap[rel] = ("link", 0, os.readlink(path))
        elif path.is_dir():
            snap[rel] = ("dir", st.st_mode & 0o7777, "")
        else:
            snap[rel] = ("file", st.st_mode & 0o7777, hashlib.sha256(path.read_bytes()).hexdigest())
    return snap


def make_sqlite(path: Path) -> None:
    with sqlite3.connect(path) as db:
        db.executescript(
            """
            CREATE TABLE session (id TEXT PRIMARY KEY, user_id INTEGER, data BLOB);
            CREATE INDEX session_user ON session(user_id);
            """
        )
        db.executemany(
            "INSERT INTO session VALUES (?, ?, ?)", [(uuid.uuid4().hex, i, os.urandom(64)) for i in range(200)]
        )
    db.close()


def change_sqlite(path: Path) -> None:
    with sqlite3.connect(path) as db:
        db.execute("DELETE FROM session WHERE user_id < 100")
        db.execute("INSERT INTO session VALUES ('intruder', 1, x'00')")
        db.execute("CREATE TABLE added_later (x)")
    db.close()


def sqlite_snapshot(path: Path) -> str:
    db = sqlite3.connect(path)
    try:
        return "\n".join(db.iterdump())
    finally:
        db.close()


def psql(database: str, sql: str) -> str:
    return subprocess.run(
        ["psql", *PG, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", database, "-c", sql],
        check=True,
        capture_output=True,
        text=True,
    ).stdout


@contextmanager
def postgres_database(prefix: str = "rr_test") -> Iterator[str]:
    """A fresh database for one test, dropped afterwards."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    subprocess.run(["createdb", *PG, name], check=True, capture_output=True)
    try:
        yield name
    finally:
        subprocess.run(["dropdb", *PG, "--if-exists", "--force", name], check=True, capture_output=True)


def fill_postgres(database: str) -> None:
    psql(
        database,
        """
        CREATE TABLE customer (id serial PRIMARY KEY, name text NOT NULL, balance numeric(12,2));
        CREATE TABLE purchase (id serial PRIMARY KEY, customer_id int REFERENCES customer(id), item text,
                               at timestamptz DEFAULT '2026-01-01T00:00:00Z');
        INSERT INTO customer (name, balance) SELECT 'customer ' || g, g * 1.5 FROM generate_series(1, 300) g;
        INSERT INTO purchase (customer_id, item) SELECT 1 + g % 300, 'item ' || g FROM generate_series(1, 900) g;
        CREATE VIEW big_spenders AS SELECT name FROM customer WHERE balance > 100;
    """,
    )


def change_postgres(database: str) -> None:
    psql(
        database,
        """
        DELETE FROM purchase WHERE id % 3 = 0;
        UPDATE customer SET balance = 0 WHERE id < 50;
        INSERT INTO customer (name, balance) VALUES ('mallory', 1e6);
    """,
    )


def postgres_snapshot(database: str) -> str:
    """The whole database as plain SQL: schema and every row, in a stable order."""
    text = subprocess.run(
        ["pg_dump", *PG, "--no-owner", "--format=plain", database], check=True, capture_output=True, text=True
    ).stdout
    # pg_dump >= 15.14 brackets its output with a random \restrict key: not data.
    return "\n".join(line for line in text.splitlines() if not line.startswith(("\\restrict", "\\unrestrict")))
