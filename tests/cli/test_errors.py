"""The command line as users run it: one-line errors, exit status 2, no tracebacks."""

import signal
import subprocess
import sys
import time
import urllib.request

from nodekit import make_participant, write_config


def run(*args, timeout=30):
    return subprocess.run([sys.executable, "-m", "connector", *args], capture_output=True, text=True, timeout=timeout)


def assert_one_line_error(result, *fragments):
    assert result.returncode == 2, result
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def test_wrong_usage_is_one_line_and_exit_2():
    assert_one_line_error(run("pki", "issue", "--authority", "x"), "required")
    assert_one_line_error(run("frobnicate"), "invalid choice")


def test_bad_configuration_names_the_key(authority, tmp_path):
    path = write_config(make_participant(authority, tmp_path, "org-a"), tmp_path)
    path.write_text(path.read_text().replace('level = "warning"', 'level = "shouty"'))
    assert_one_line_error(run("serve", "--config", str(path)), "log.level")


def test_missing_config_file_is_named(tmp_path):
    assert_one_line_error(run("serve", "--config", str(tmp_path / "none.toml")), "none.toml")


def test_pki_commands_work_from_the_command_line(tmp_path):
    auth = tmp_path / "auth"
    assert run("pki", "init-authority", "--dir", str(auth), "--name", "Fed").returncode == 0
    r = run(
        "pki",
        "issue",
        "--authority",
        str(auth),
        "--participant-id",
        "did:web:localhost%3A8443:a",
        "--host",
        "localhost",
        "--out",
        str(tmp_path / "a"),
        "--country",
        "JP",
    )
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "a" / "tls.cert.pem").exists()
    assert (
        run("pki", "revoke", "--authority", str(auth), "--participant-id", "did:web:localhost%3A8443:a").returncode == 0
    )
    assert_one_line_error(
        run("pki", "revoke", "--authority", str(auth), "--participant-id", "did:web:localhost%3A8443:nobody"),
        "never issued",
    )


def test_serve_runs_until_sigterm_and_refuses_a_port_in_use(authority, tmp_path):
    p = make_participant(authority, tmp_path, "org-a")
    path = write_config(p, tmp_path)
    proc = subprocess.Popen(
        [sys.executable, "-m", "connector", "serve", "--config", str(path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.time() + 20
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{p.management_port}/check/readiness") as r:
                    assert r.status == 200
                    break
            except OSError:
                if time.time() > deadline or proc.poll() is not None:
                    raise AssertionError(proc.stderr.read() if proc.poll() is not None else "did not start") from None
                time.sleep(0.1)
        # A second node on the same ports: refused in one line naming the key.
        clash = tmp_path / "clash.toml"
        clash.write_text(path.read_text().replace("var-org-a", "var-clash"))
        assert_one_line_error(run("serve", "--config", str(clash)), "already in use", "protocol.listen")
        # A second node on the same data folder: refused too.
        same_dir = tmp_path / "samedir.toml"
        from nodekit import free_port

        text = path.read_text().replace(f"127.0.0.1:{p.protocol_port}", f"127.0.0.1:{free_port()}")
        same_dir.write_text(text.replace(f"127.0.0.1:{p.management_port}", f"127.0.0.1:{free_port()}"))
        assert_one_line_error(run("serve", "--config", str(same_dir)), "already running", "node.data_dir")
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err
    assert "Traceback" not in err
