from pathlib import Path

import pytest
from nodekit import make_participant, write_config

from connector.config import Listen, load_config, parse_listen, reference_markdown
from connector.errors import ConfigError


@pytest.fixture
def config_file(authority, tmp_path) -> Path:
    return write_config(make_participant(authority, tmp_path, "org-a"), tmp_path)


def test_a_complete_configuration_loads_with_paths_resolved_against_its_folder(config_file, tmp_path):
    config = load_config(config_file, environ={})
    assert config.node.participant_id.startswith("did:web:localhost%3A")
    assert config.identity.tls_cert.is_file()
    assert config.store_path == config.node.data_dir / "connector.sqlite"
    assert config.management.listen.host == "127.0.0.1"


def test_environment_overrides_keys_with_typed_values(config_file):
    config = load_config(
        config_file,
        environ={
            "CONNECTOR__MANAGEMENT__API_KEY": "from-the-environment-0123",
            "CONNECTOR__TRUST__RELOAD_INTERVAL": "2.5",
            "CONNECTOR__LOG__FORMAT": "json",
        },
    )
    assert config.management.api_key == "from-the-environment-0123"
    assert config.trust.reload_interval == 2.5
    assert config.log.format == "json"


def test_a_bad_value_from_the_environment_names_its_variable(config_file):
    with pytest.raises(ConfigError) as err:
        load_config(config_file, environ={"CONNECTOR__LOG__LEVEL": "loud"})
    assert err.value.where == "log.level"
    assert err.value.reason == "'loud' must be debug, info, warning or error (set by CONNECTOR__LOG__LEVEL)"
    with pytest.raises(ConfigError) as err:  # a key the file got wrong is the file's
        load_config(
            _mutate(config_file, 'level = "warning"', 'level = "loud"'), environ={"CONNECTOR__LOG__FORMAT": "json"}
        )
    assert "CONNECTOR__" not in err.value.reason


def _mutate(config_file: Path, old: str, new: str) -> Path:
    text = config_file.read_text()
    assert old in text, old
    config_file.write_text(text.replace(old, new, 1))
    return config_file


@pytest.mark.parametrize(
    "old,new,where",
    [
        ('participant_id = "did:web:', 'participant_id = "urn:x:', "node.participant_id"),
        ("[protocol]\nlisten = ", "[protocol]\nlistenn = ", "protocol.listenn"),
        ('listen = "127.0.0.1:', 'listen = "127.0.0.1:99999', "protocol.listen"),
        ('api_key = "', 'api_key = "short"\n#', "management.api_key"),
        ("reload_interval = 0.2", "reload_interval = -1", "trust.reload_interval"),
        ("reload_interval = 0.2", 'reload_interval = "soon"', "trust.reload_interval"),
        ('level = "warning"', 'level = "loud"', "log.level"),
        ('tls_cert = "', 'tls_cert = "/nonexistent/', "identity.tls_cert"),
        ("[log]", "[logging]", "logging"),
    ],
)
def test_each_bad_configuration_is_refused_naming_the_key(config_file, old, new, where):
    _mutate(config_file, old, new)
    with pytest.raises(ConfigError) as err:
        load_config(config_file, environ={})
    assert err.value.where == where, err.value


def test_a_missing_required_key_is_named(config_file):
    text = "\n".join(line for line in config_file.read_text().splitlines() if not line.startswith("signing_key"))
    config_file.write_text(text)
    with pytest.raises(ConfigError) as err:
        load_config(config_file, environ={})
    assert err.value.where == "identity.signing_key" and err.value.code == "config.missing_key"


def test_same_port_for_both_listeners_is_refused(config_file):
    config = load_config(config_file, environ={})
    _mutate(config_file, f"127.0.0.1:{config.management.listen.port}", f"127.0.0.1:{config.protocol.listen.port}")
    with pytest.raises(ConfigError) as err:
        load_config(config_file, environ={})
    assert err.value.where == "management.listen"


def test_certificates_are_required_unless_configured_otherwise(config_file):
    config = load_config(config_file, environ={})
    assert (config.protocol.client_certificate, config.data.client_certificate) == ("required", "required")
    assert config.evidence.require_seals is False and config.party_aliases() == {}


def test_optional_certificates_need_trust_lists_and_a_known_mode(config_file):
    with pytest.raises(ConfigError) as err:
        load_config(config_file, environ={"CONNECTOR__PROTOCOL__CLIENT_CERTIFICATE": "optional"})
    assert err.value.where == "protocol.client_certificate" and "trust.lists" in err.value.reason
    with pytest.raises(ConfigError) as err:
        load_config(config_file, environ={"CONNECTOR__DATA__CLIENT_CERTIFICATE": "sometimes"})
    assert err.value.where == "data.client_certificate"
    config = load_config(config_file, environ={"CONNECTOR__DATA__CLIENT_CERTIFICATE": "optional"})
    assert config.data.client_certificate == "optional"


def test_aliases_name_one_participant_each(config_file):
    peer = '\n[[peers]]\nname = "b"\naddress = "https://b.example/dsp/2025-1"\n'
    did = 'participant_id = "did:web:b.example"\n'
    base = config_file.read_text()
    config_file.write_text(
        base.replace("[node]\n", '[node]\naliases = ["BPNL0001"]\n') + peer + did + 'aliases = ["BPNL0002"]\n'
    )
    config = load_config(config_file, environ={})
    assert config.party_aliases() == {"BPNL0001": config.node.participant_id, "BPNL0002": "did:web:b.example"}
    for extra, where in (
        ('aliases = ["BPNL0002"]\n', "peers[0]"),  # no participant_id to stand for
        (did + 'aliases = ["BPNL0001"]\n', "peers[0].aliases"),  # already the node's
        (did + 'aliases = ["did:web:c.example"]\n', "peers[0].aliases"),  # a DID is no alias
    ):
        config_file.write_text(base.replace("[node]\n", '[node]\naliases = ["BPNL0001"]\n') + peer + extra)
        with pytest.raises(ConfigError) as err:
            load_config(config_file, environ={})
        assert err.value.where == where, err.value


def test_toml_syntax_errors_and_missing_files_are_config_errors(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[node\n")
    with pytest.raises(ConfigError) as err:
        load_config(bad, environ={})
    assert err.value.code == "config.syntax"
    with pytest.raises(ConfigError) as err:
        load_config(tmp_path / "nope.toml", environ={})
    assert err.value.code == "config.not_found"


@pytest.mark.parametrize(
    ("content", "said"),
    [
        (b'[node]\nparticipant_id = "\xff\xfe"\n', "not UTF-8 (invalid byte at position 25)"),
        (b"a = " + b"[" * 100_000 + b"]" * 100_000 + b"\n", "nests arrays or tables too deeply"),
    ],
)
def test_a_configuration_no_one_could_have_meant_is_a_syntax_error_naming_the_file(tmp_path, content, said):
    handed = tmp_path / "handed-over.toml"
    handed.write_bytes(content)
    with pytest.raises(ConfigError) as err:
        load_config(handed, environ={})
    assert (err.value.code, err.value.where) == ("config.syntax", str(handed)) and said in err.value.reason, err.value


@pytest.mark.parametrize(
    "text,expected",
    [
        ("0.0.0.0:8443", Listen("0.0.0.0", 8443)),
        ("[::1]:80", Listen("::1", 80)),
        ("localhost:0", Listen("localhost", 0)),
    ],
)
def test_listen_addresses_parse(text, expected):
    assert parse_listen(text, "x") == expected


@pytest.mark.parametrize("text", ["8443", "host:", ":80", "[zz::1]:80", "a:b"])
def test_malformed_listen_addresses_are_refused(text):
    with pytest.raises(ConfigError):
        parse_listen(text, "x")


def test_reference_documents_every_section():
    ref = reference_markdown()
    for section in ("[node]", "[identity]", "[protocol]", "[management]", "[trust]", "[store]", "[log]"):
        assert section in ref


def test_readme_configuration_reference_is_the_generated_one():
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    start = readme.index("<!-- config-reference:start")
    start = readme.index("-->", start) + 3
    end = readme.index("<!-- config-reference:end -->")
    assert readme[start:end].strip() == reference_markdown().strip(), (
        "README configuration reference is stale: regenerate it from connector.config.reference_markdown()"
    )


def test_the_store_is_sqlite_unless_a_postgresql_url_is_given_and_its_password_may_come_from_a_file(
    config_file, tmp_path
):
    assert load_config(config_file, environ={}).store.url == ""
    secret = tmp_path / "store.password"
    secret.write_text("s3cret\n")
    text = config_file.read_text()
    config_file.write_text(
        text + f'\n[store]\nurl = "postgresql://node@db.example:5432/connector"\npassword_file = "{secret}"\n'
        "pool_size = 6\n"
    )
    config = load_config(config_file, environ={})
    assert (config.store.url, config.store.pool_size, config.store_password()) == (
        "postgresql://node@db.example:5432/connector",
        6,
        "s3cret",
    )
    overridden = load_config(config_file, environ={"CONNECTOR__STORE__URL": "postgres://other/db"})
    assert overridden.store.url == "postgres://other/db"


@pytest.mark.parametrize(
    "store,where",
    [
        ('url = "mysql://node@db/connector"', "store.url"),
        ('url = "postgresql://db/x"\npool_size = 1', "store.pool_size"),
        ('password_file = "{secret}"', "store.password_file"),  # a password for no PostgreSQL
        ('url = "postgresql://db/x"\npassword_file = "/nonexistent/password"', "store.password_file"),
        ('url = "postgresql://db/x"\nreplica_lease = 0.5', "store.replica_lease"),
        ('url = "postgresql://db/x"\nsweep_interval = 0', "store.sweep_interval"),
    ],
)
def test_a_bad_store_configuration_is_refused_naming_the_key(config_file, tmp_path, store, where):
    secret = tmp_path / "store.password"
    secret.write_text("s3cret")
    config_file.write_text(config_file.read_text() + "\n[store]\n" + store.format(secret=secret) + "\n")
    with pytest.raises(ConfigError) as err:
        load_config(config_file, environ={})
    assert err.value.where == where, err.value


def test_replicas_share_ports_only_where_every_listener_has_a_fixed_one(config_file):
    text = config_file.read_text().replace("[node]", "[node]\nreuse_port = true", 1)
    config_file.write_text(text)
    with pytest.raises(ConfigError) as err:  # the data listener would take any free port
        load_config(config_file, environ={})
    assert err.value.where == "data.listen" and "reuse_port" in err.value.reason
    config = load_config(config_file, environ={"CONNECTOR__DATA__LISTEN": "127.0.0.1:9444"})
    assert config.node.reuse_port and config.data.listen == Listen("127.0.0.1", 9444)
    with pytest.raises(ConfigError) as err:
        load_config(
            config_file,
            environ={"CONNECTOR__DATA__LISTEN": "127.0.0.1:9444", "CONNECTOR__PROTOCOL__LISTEN": "0.0.0.0:0"},
        )
    assert err.value.where == "protocol.listen"


def test_the_evidence_archive_folder_is_below_the_data_folder_unless_set_and_must_be_a_folder(config_file, tmp_path):
    config = load_config(config_file, environ={})
    assert config.evidence.archive_dir is None
    assert config.evidence_archive_dir == config.node.data_dir / "evidence-archives"

    # Set (replicas on several machines name one shared volume): a path, relative ones from the file's folder.
    text = config_file.read_text()
    config_file.write_text(text + '\n[evidence]\narchive_dir = "shared/archives"\n')
    assert load_config(config_file, environ={}).evidence_archive_dir == tmp_path / "shared" / "archives"
    shared = load_config(config_file, environ={"CONNECTOR__EVIDENCE__ARCHIVE_DIR": "/mnt/evidence"})
    assert shared.evidence_archive_dir == Path("/mnt/evidence")

    (tmp_path / "a-file").write_text("not a folder")
    for value, code, said in (("a-file", "config.invalid", "is not a folder"), (7, "config.type", "a path string")):
        with pytest.raises(ConfigError) as err:
            load_config(config_file, environ={"CONNECTOR__EVIDENCE__ARCHIVE_DIR": repr(value).replace("'", '"')})
        assert err.value.code == code and err.value.where == "evidence.archive_dir", err.value
        assert said in err.value.reason, err.value
