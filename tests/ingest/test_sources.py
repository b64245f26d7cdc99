"""The source walker: plain files, folders (.gitignore, vendored folders, symlinks), zips."""

from __future__ import annotations

import os
import time
import zipfile
from pathlib import Path

import pytest

from ingest.errors import CorruptFile, IngestError, TooLarge, UnreadableFile
from ingest.readers import read
from ingest.sources import SourceItem, SourceLimits, format_size, iter_sources
from ingest.types import DocKind, Skipped, Source
from tests.support.fixtures import MiB, make_pdf, make_repo, make_zip, make_zip_bomb, write_text


def items(*paths: Path, limits: SourceLimits | None = None) -> list[SourceItem]:
    if limits is None:
        return list(iter_sources(list(paths)))
    return list(iter_sources(list(paths), limits=limits))


def sources(found: list[SourceItem]) -> dict[str, Source]:
    return {i.name: i for i in found if isinstance(i, Source)}


def skipped(found: list[SourceItem]) -> dict[str, str]:
    return {i.name: i.reason for i in found if isinstance(i, Skipped)}


def errors(found: list[SourceItem]) -> dict[str, IngestError]:
    return {i.name: i for i in found if isinstance(i, IngestError)}


# --- plain files ----------------------------------------------------------------------------


def test_plain_file(tmp_path: Path) -> None:
    path = make_pdf(tmp_path / "a report.pdf", ["hello"])
    (src,) = items(path)
    assert isinstance(src, Source)
    assert src.name == "a report.pdf"
    assert src.source_key == str(path.resolve())
    assert src.path == path.resolve()
    assert src.size == path.stat().st_size
    assert not src.in_codebase
    with src.open() as fh:
        assert fh.read() == path.read_bytes()


def test_plain_file_keeps_the_name_given_through_a_symlink(tmp_path: Path) -> None:
    target = write_text(tmp_path / "real" / "target.txt", "x\n")
    link = tmp_path / "shown name.txt"
    link.symlink_to(target)
    (src,) = items(link)
    assert isinstance(src, Source)
    assert src.name == "shown name.txt" and src.source_key == str(target.resolve())


def test_missing_path(tmp_path: Path) -> None:
    missing = tmp_path / "nope.pdf"
    (err,) = items(missing)
    assert isinstance(err, UnreadableFile)
    assert err.name == str(missing) and err.reason == "no such file or folder"


def test_plain_file_over_the_document_limit(tmp_path: Path) -> None:
    path = write_text(tmp_path / "big.txt", "x" * 5000)
    (err,) = items(path, limits=SourceLimits(max_file_bytes=1000))
    assert isinstance(err, TooLarge) and "4.9 KB is over the 1000 bytes limit" in err.reason


def test_format_size() -> None:
    assert format_size(int(3.1 * MiB)) == "3.1 MB"
    assert format_size(2 * MiB) == "2 MB"
    assert format_size(512 * 1024) == "512 KB"
    assert format_size(17) == "17 bytes"
    assert format_size(2 * 1024 * MiB) == "2 GB"


# --- folders --------------------------------------------------------------------------------


def test_repo_walk_honours_gitignore_and_skips_with_reasons(tmp_path: Path) -> None:
    found = items(make_repo(tmp_path / "repo"))
    assert sorted(sources(found)) == [
        "repo/.gitignore",
        "repo/README.md",
        "repo/docs/guide.md",
        "repo/src/.gitignore",
        "repo/src/app.py",
        "repo/src/generated_keep.py",  # negation in the nested .gitignore
        "repo/src/keep.log",  # root ignores *.log; src/.gitignore re-includes it
        "repo/src/util.js",
    ]
    assert skipped(found) == {
        "repo/.git": "version-control folder",
        "repo/assets/blob.xyz": "binary file",
        "repo/assets/logo.png": "binary file",
        "repo/build": "vendored, build or cache folder (build)",
        "repo/data/big.json": "3.1 MB is over the 2 MB limit for source files",
        "repo/empty.py": "empty file (0 bytes)",
        "repo/node_modules": "vendored, build or cache folder (node_modules)",
        "repo/tmp": "ignored by .gitignore",
    }
    assert errors(found) == {}
    names = [i.name for i in found]
    assert names == sorted(names)  # deterministic, depth-first in sorted order
    assert all(s.in_codebase for s in sources(found).values())
    app = sources(found)["repo/src/app.py"]
    assert app.source_key == str((tmp_path / "repo" / "src" / "app.py").resolve())
    assert read(app).language == "python"


def test_walk_is_deterministic(tmp_path: Path) -> None:
    root = make_repo(tmp_path / "repo")
    assert [i.name for i in items(root)] == [i.name for i in items(root)]


def test_gitignore_anchoring_and_folder_rules(tmp_path: Path) -> None:
    root = tmp_path / "proj"
    write_text(root / ".gitignore", "/top.txt\nlogs/\n*.tmp\n!important.tmp\n")
    for rel in ["top.txt", "sub/top.txt", "logs/a.txt", "sub/logs/b.txt", "x.tmp"]:
        write_text(root / rel, "x\n")
    write_text(root / "important.tmp", "keep\n")
    write_text(root / "sub" / "logs.txt", "a file named like the folder rule\n")
    found = items(root)
    assert sorted(sources(found)) == [
        "proj/.gitignore",
        "proj/important.tmp",
        "proj/sub/logs.txt",
        "proj/sub/top.txt",  # "/top.txt" is anchored to the root
    ]
    assert skipped(found) == {
        "proj/logs": "ignored by .gitignore",
        "proj/sub/logs": "ignored by .gitignore",
    }


def test_python_virtualenv_and_egg_info_are_skipped(tmp_path: Path) -> None:
    root = tmp_path / "p"
    write_text(root / "myenv" / "pyvenv.cfg", "home = /usr\n")
    write_text(root / "myenv" / "lib" / "x.py", "x = 1\n")
    write_text(root / "pkg.egg-info" / "PKG-INFO", "Name: pkg\n")
    write_text(root / "main.py", "x = 1\n")
    found = items(root)
    assert list(sources(found)) == ["p/main.py"]
    assert skipped(found) == {
        "p/myenv": "Python virtual environment",
        "p/pkg.egg-info": "vendored, build or cache folder (pkg.egg-info)",
    }


def test_unicode_and_spaces_in_paths(tmp_path: Path) -> None:
    root = tmp_path / "my docs ü"
    write_text(root / "naïve résumé.md", "# Überblick\n\nText.\n")
    write_text(root / "sub dir" / "日本語 ファイル.txt", "こんにちは\n")
    found = items(root)
    assert sorted(sources(found)) == [
        "my docs ü/naïve résumé.md",
        "my docs ü/sub dir/日本語 ファイル.txt",
    ]
    doc = read(sources(found)["my docs ü/naïve résumé.md"])
    blocks = list(doc.blocks)
    assert doc.kind is DocKind.MARKDOWN and blocks[0].locator.heading_path == ("Überblick",)


def test_dot_folder_name_uses_the_real_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "project"
    write_text(root / "a.txt", "x\n")
    monkeypatch.chdir(root)
    assert list(sources(items(Path(".")))) == ["project/a.txt"]


def test_file_vanishing_between_listing_and_reading(tmp_path: Path) -> None:
    root = tmp_path / "d"
    for name in ("a.txt", "b.txt", "c.txt"):
        write_text(root / name, f"{name}\n")
    walk = iter_sources([root])
    first = next(walk)  # the folder is now listed
    assert isinstance(first, Source) and first.name == "d/a.txt"
    (root / "b.txt").unlink()
    rest = list(walk)
    assert isinstance(rest[0], UnreadableFile) and rest[0].name == "d/b.txt"
    assert "moved or deleted" in rest[0].reason
    assert isinstance(rest[1], Source) and rest[1].name == "d/c.txt"


# --- symlinks -------------------------------------------------------------------------------


def _tree_with_links(tmp_path: Path) -> Path:
    outside = write_text(tmp_path / "outside" / "secret.txt", "outside\n")
    root = tmp_path / "root"
    write_text(root / "a" / "file.txt", "inside\n")
    (root / "a" / "up").symlink_to("..")  # a folder link back to an ancestor
    (root / "loop1").symlink_to("loop2")  # a link loop
    (root / "loop2").symlink_to("loop1")
    (root / "self").symlink_to("self")
    (root / "escape.txt").symlink_to(outside)
    (root / "escape_dir").symlink_to(outside.parent)
    (root / "dangling").symlink_to(root / "missing")
    (root / "alias.txt").symlink_to(root / "a" / "file.txt")
    (root / "alias_dir").symlink_to(root / "a")
    return root


@pytest.mark.timeout(20)
def test_symlinks_are_not_followed_by_default(tmp_path: Path) -> None:
    found = items(_tree_with_links(tmp_path))
    assert list(sources(found)) == ["root/a/file.txt"]
    reasons = skipped(found)
    assert reasons["root/a/up"].startswith("symbolic link loop")
    assert reasons["root/loop1"] == "symbolic link loop; not followed"
    assert reasons["root/self"] == "symbolic link loop; not followed"
    assert "outside the folder" in reasons["root/escape.txt"]
    assert "outside the folder" in reasons["root/escape_dir"]
    assert reasons["root/dangling"].startswith("broken symbolic link")
    assert reasons["root/alias.txt"].startswith("symbolic link; not followed")


@pytest.mark.timeout(20)
def test_followed_symlinks_stay_inside_and_never_loop(tmp_path: Path) -> None:
    root = _tree_with_links(tmp_path)
    found = items(root, limits=SourceLimits(follow_symlinks=True))
    assert sorted(sources(found)) == ["root/a/file.txt", "root/alias.txt"]
    reasons = skipped(found)
    assert "outside the folder" in reasons["root/escape.txt"]
    assert reasons["root/a/up"].startswith("symbolic link loop")
    assert reasons["root/alias_dir"] == "symbolic link to a folder already read; not followed"
    assert sources(found)["root/alias.txt"].source_key == str((root / "a" / "file.txt").resolve())


@pytest.mark.timeout(20)
def test_followed_folder_link_is_walked_once(tmp_path: Path) -> None:
    root = tmp_path / "r"
    write_text(root / "z_real" / "x.txt", "x\n")
    (root / "a_link").symlink_to(root / "z_real")
    found = items(root, limits=SourceLimits(follow_symlinks=True))
    assert list(sources(found)) == ["r/a_link/x.txt"]  # sorted: the link comes first
    assert skipped(found) == {"r/z_real": "folder already read through a symbolic link"}


# --- zip archives ---------------------------------------------------------------------------


def test_zip_members_are_sources_read_lazily(tmp_path: Path) -> None:
    archive = make_zip(
        tmp_path / "bundle v2.zip",
        {
            "docs/readme.md": "# Read me\n",
            "src/main.py": "def main():\n    pass\n",
            "src/.gitignore": "*.gen.py\n",
            "src/x.gen.py": "ignored = 1\n",
            ".gitignore": "build_out/\n",
            "build_out/x.txt": "ignored\n",
            "node_modules/m/index.js": "x\n",
            "img.png": b"\x89PNG\r\n\x1a\n" + bytes(100),
            "blob.bin2": bytes(range(256)),
            "empty.txt": "",
        },
    )
    before = sorted(p.name for p in tmp_path.iterdir())
    found = items(archive)
    assert sorted(sources(found)) == [
        "bundle v2/.gitignore",
        "bundle v2/docs/readme.md",
        "bundle v2/src/.gitignore",
        "bundle v2/src/main.py",
    ]
    assert skipped(found) == {
        "bundle v2/blob.bin2": "binary file",
        "bundle v2/build_out": "ignored by .gitignore",
        "bundle v2/empty.txt": "empty file (0 bytes)",
        "bundle v2/img.png": "binary file",
        "bundle v2/node_modules": "vendored, build or cache folder (node_modules)",
    }
    main = sources(found)["bundle v2/src/main.py"]
    assert main.source_key == f"{archive.resolve()}!src/main.py"
    assert main.path is None and main.in_codebase
    doc = read(main)
    assert doc.kind is DocKind.CODE and "".join(b.text for b in doc.blocks).startswith("def main")
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # nothing extracted


def test_zip_unsafe_member_paths(tmp_path: Path) -> None:
    archive = make_zip(
        tmp_path / "evil.zip",
        {
            "../escape.txt": "x",
            "a/../../escape2.txt": "x",
            "/etc/passwd_copy": "x",
            "C:/windows.txt": "x",
            "..\\backslash.txt": "x",
            "fine.txt": "ok\n",
        },
    )
    found = items(archive)
    assert list(sources(found)) == ["evil/fine.txt"]
    reasons = skipped(found)
    assert len(reasons) == 5
    assert all(r.startswith("unsafe path in archive") for r in reasons.values())


def test_zip_inside_zip_is_not_expanded(tmp_path: Path) -> None:
    inner = make_zip(tmp_path / "inner.zip", {"deep.txt": "deep\n"})
    outer = make_zip(tmp_path / "outer.zip", {"inner.zip": inner.read_bytes(), "a.txt": "a\n"})
    found = items(outer)
    assert list(sources(found)) == ["outer/a.txt"]
    assert skipped(found) == {"outer/inner.zip": "nested archive not expanded"}


@pytest.mark.timeout(30)
def test_zip_bomb_is_refused_quickly(tmp_path: Path) -> None:
    bomb = make_zip_bomb(tmp_path / "bomb.zip", size=300 * MiB)
    assert bomb.stat().st_size < 2 * MiB
    started = time.perf_counter()
    (err,) = items(bomb)
    assert time.perf_counter() - started < 1.0  # judged from the headers, nothing inflated
    assert isinstance(err, TooLarge) and err.name == "bomb/bomb.txt"  # names the member
    assert "1,029x when unpacked, over the 200x limit (possible zip bomb)" in err.reason


def test_zip_bomb_of_many_small_members_is_refused_as_a_whole(tmp_path: Path) -> None:
    archive = tmp_path / "swarm.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        for i in range(8):  # each under the 1 MiB grace, together well over it
            zf.writestr(f"z{i}.txt", bytes(MiB - 1))
    (err,) = items(archive)
    assert isinstance(err, TooLarge) and err.name == "swarm.zip"
    assert "over the 200x limit" in err.reason


def test_zip_member_ratio_is_judged_per_member(tmp_path: Path) -> None:
    archive = tmp_path / "mixed.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("zeros.txt", bytes(3 * MiB))  # ~3000x
        zf.writestr("noise.txt", os.urandom(3 * MiB).hex())  # ~2x, keeps the overall low
        zf.writestr("ok.txt", "fine\n")
    found = items(archive, limits=SourceLimits(max_code_file_bytes=16 * MiB))
    assert isinstance(errors(found)["mixed/zeros.txt"], TooLarge)
    assert "mixed/ok.txt" in sources(found)


def test_zip_limits_on_totals_and_member_count(tmp_path: Path) -> None:
    archive = make_zip(tmp_path / "many.zip", {f"f{i}.txt": "x" * 100 for i in range(20)})
    (err,) = items(archive, limits=SourceLimits(max_zip_members=10))
    assert isinstance(err, TooLarge) and "20 entries, over the 10 limit" in err.reason
    (err,) = items(archive, limits=SourceLimits(max_zip_total_bytes=1000))
    assert isinstance(err, TooLarge) and "would expand to 2 KB" in err.reason
    assert err.name == "many.zip"


def test_zip_member_over_the_size_limit_is_skipped(tmp_path: Path) -> None:
    archive = make_zip(tmp_path / "z.zip", {"big.py": os.urandom(4000).hex()})
    found = items(archive, limits=SourceLimits(max_code_file_bytes=1000))
    assert skipped(found) == {"z/big.py": "7.8 KB is over the 1000 bytes limit for source files"}


def test_corrupt_zip(tmp_path: Path) -> None:
    path = tmp_path / "broken.zip"
    path.write_bytes(b"PK\x03\x04" + os.urandom(500))
    (err,) = items(path)
    assert isinstance(err, CorruptFile) and err.name == "broken.zip"
    assert "not a valid .zip archive" in err.reason


def test_archives_found_in_a_folder_are_not_expanded(tmp_path: Path) -> None:
    root = tmp_path / "d"
    make_zip(root / "inner.zip", {"a.txt": "a\n"})
    found = items(root)
    assert skipped(found) == {
        "d/inner.zip": "archive not expanded (add the archive itself to read its files)"
    }


def test_known_files_are_not_opened_to_sniff(tmp_path: Path) -> None:
    """A caller that already holds a file's bytes (same key, same fingerprint) gets its
    Source without the walker reading it: re-adding an unchanged codebase only stats it."""
    import os

    repo = tmp_path / "repo"
    repo.mkdir()
    target = repo / "a.py"
    target.write_text("x = 1\n" * 4)
    old = 1_600_000_000 * 10**9
    os.utime(target, ns=(old, old))
    (before,) = [s for s in iter_sources([repo]) if isinstance(s, Source)]
    # Other bytes, same size, same mtime: only reading the file could tell.
    target.write_bytes(b"\x00\x01\x02\x03\x04\x05" * 4)
    os.utime(target, ns=(old, old))
    known = {(before.source_key, before.fingerprint)}
    (sniffed,) = list(iter_sources([repo]))
    assert isinstance(sniffed, Skipped) and "binary" in sniffed.reason
    (trusted,) = list(iter_sources([repo], known=lambda key, fp: (key, fp) in known))
    assert isinstance(trusted, Source) and trusted.fingerprint == before.fingerprint
