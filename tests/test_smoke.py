from conftest import netc, write_spec


def test_version():
    r = netc("--version")
    assert r.returncode == 0 and r.stdout.startswith("netc ")


def test_check_ok(tmp_path):
    spec = write_spec(tmp_path, "container db { expose 5432 }\ncontainer web { link db; publish 8080:80 }\n")
    r = netc("check", str(spec))
    assert r.returncode == 0, r.stderr
    assert r.stderr == ""
