"""cloud-init NoCloud seeds: what may be asked, the documents, and the ISO."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pycdlib
import pytest

from tashi.agent.drivers.base import SeedFiles
from tashi.agent.drivers.storage.seed import write_seed
from tashi.domain.errors import InvalidInput
from tashi.domain.models import Seed
from tashi.domain.seeds import check_seed, meta_data, user_data

KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB0 alice@laptop"


def test_no_seed_unless_asked_and_the_hostname_defaults_to_the_name() -> None:
    assert check_seed(None, "", (), "web") is None
    assert check_seed(None, "#!/bin/sh\n", (), "Web-1") == Seed("web-1", "#!/bin/sh\n")
    assert check_seed("db.lab", "", (f" {KEY}\n",), "x") == Seed("db.lab", "", (KEY,))


@pytest.mark.parametrize(("hostname", "data", "keys", "why"), [
    ("-bad", "", (), "invalid hostname '-bad'"),
    ("a" * 64, "", (), "invalid hostname"),
    ("ok", "x" * (64 * 1024 + 1), (), "user-data is 65537 bytes; at most 65536"),
    ("ok", "a\0b", (), "user-data must be text"),
    ("ok", "", ("not a key",), "SSH key 1 is not a public key line"),
    ("ok", "", (f"{KEY}\nssh-rsa AAAA injected",), "SSH key 1 is not a public key line"),
    ("ok", "", (KEY,) * 17, "17 SSH keys; at most 16"),
])
def test_bad_seeds_are_refused(hostname: str, data: str, keys: tuple[str, ...],
                               why: str) -> None:
    with pytest.raises(InvalidInput, match=why):
        check_seed(hostname, data, keys, "web")


def test_meta_data_quotes_what_it_holds() -> None:
    seed = Seed("web-7", "", (KEY,))
    assert meta_data(seed, 12) == ('instance-id: "tashi-12"\nlocal-hostname: "web-7"\n'
                                   f'public-keys:\n  - "{KEY}"\n')
    assert user_data(seed) == "#cloud-config\n{}\n"
    assert user_data(Seed("x", "#!/bin/sh\necho hi\n")) == "#!/bin/sh\necho hi\n"


def test_the_seed_iso_is_labelled_cidata_with_both_files(tmp_path: Path) -> None:
    path = tmp_path / "seed.iso"
    write_seed(path, SeedFiles("local-hostname: web\n", "#!/bin/sh\necho hi\n"))
    with path.open("rb") as f:
        f.seek(32808)
        assert f.read(6) == b"cidata"  # the volume label the guest (and cloud-init) look for
    iso = pycdlib.PyCdlib()
    iso.open(str(path))
    try:
        for name, text in (("meta-data", b"local-hostname: web\n"),
                           ("user-data", b"#!/bin/sh\necho hi\n")):
            out = tmp_path / name
            iso.get_file_from_iso(str(out), rr_path=f"/{name}")
            assert out.read_bytes() == text
    finally:
        iso.close()
    found = subprocess.run(["blkid", "-o", "value", "-s", "LABEL", str(path)],
                           capture_output=True, text=True, check=True)
    assert found.stdout.strip() == "cidata"
