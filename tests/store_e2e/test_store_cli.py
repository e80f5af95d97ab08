"""`connector store migrate` and `restricted-role`: the operator's steps before a node logs in with a role that
cannot change evidence, run as the operator runs them."""

from __future__ import annotations

import zipfile

import psycopg
from nodekit import cli, make_participant, write_config

from connector.store.migrations import MIGRATIONS


def test_the_owner_migrates_then_the_node_s_role_is_made_from_the_printed_sql(authority, tmp_path, postgres_url):
    config = write_config(make_participant(authority, tmp_path, "org-a"), tmp_path)
    config.write_text(config.read_text() + f'\n[store]\nurl = "{postgres_url}"\n')
    ran = cli("store", "migrate", "--config", str(config))
    assert ran.returncode == 0, ran.stderr
    assert f"schema version {MIGRATIONS[-1].version}" in ran.stdout

    ran = cli("store", "restricted-role", "node_cli", "--config", str(config))
    assert ran.returncode == 0, ran.stderr
    assert "REVOKE UPDATE, DELETE, TRUNCATE ON evidence_records" in ran.stdout
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(ran.stdout)  # type: ignore[arg-type]
        try:
            rights = conn.execute(
                "SELECT privilege_type FROM information_schema.role_table_grants "
                "WHERE grantee = 'node_cli' AND table_name = 'evidence_records' ORDER BY 1"
            ).fetchall()
            assert rights == [("INSERT",), ("SELECT",)]
        finally:
            conn.execute("DROP OWNED BY node_cli")
            conn.execute("DROP ROLE node_cli")


def test_a_role_is_only_for_postgresql_and_the_commands_need_a_configuration(authority, tmp_path):
    config = write_config(make_participant(authority, tmp_path, "org-a"), tmp_path)
    ran = cli("store", "restricted-role", "node", "--config", str(config))
    assert ran.returncode == 2 and "store.url" in ran.stderr
    ran = cli("store", "copy", "--to", str(tmp_path / "x.sqlite"))
    assert ran.returncode == 2 and "--config" in ran.stderr


def test_a_folder_where_the_new_file_goes_is_a_usage_error(authority, tmp_path):
    config = write_config(make_participant(authority, tmp_path, "org-a"), tmp_path)
    assert cli("store", "migrate", "--config", str(config)).returncode == 0  # the node's store exists
    folder = tmp_path / "a-folder"
    folder.mkdir()
    for command in (("store", "copy", "--to"), ("export", "--all", "--out"), ("store", "backup", "--to")):
        ran = cli(*command, str(folder), "--config", str(config))
        assert ran.returncode == 2 and "unexpected" not in ran.stderr and str(folder) in ran.stderr, ran.stderr
    assert list(folder.iterdir()) == [] and sorted(p.name for p in tmp_path.iterdir() if "a-folder" in p.name) == [
        "a-folder"
    ]


def test_an_existing_file_is_not_replaced_unless_overwrite_is_given(authority, tmp_path):
    config = write_config(make_participant(authority, tmp_path, "org-a"), tmp_path)
    assert cli("store", "migrate", "--config", str(config)).returncode == 0  # the node's store exists
    taken = tmp_path / "taken.zip"
    taken.write_text("keep me\n")
    for command in (("export", "--all", "--out"), ("store", "backup", "--to")):
        ran = cli(*command, str(taken), "--config", str(config))
        assert ran.returncode == 2 and "unexpected" not in ran.stderr and str(taken) in ran.stderr, ran.stderr
        assert taken.read_text() == "keep me\n", command
    ran = cli("export", "--all", "--out", str(taken), "--config", str(config))
    assert "already exists (use --overwrite to replace it) [--out]" in ran.stderr, ran.stderr
    ran = cli("export", "--all", "--out", str(taken), "--overwrite", "--config", str(config))
    assert ran.returncode == 0 and f"wrote {taken}" in ran.stdout, ran.stderr
    assert zipfile.is_zipfile(taken)
