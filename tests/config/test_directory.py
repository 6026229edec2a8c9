from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

import pytest

from lateen.api import ConfigKey
from lateen.config import DirectoryStore, EventType

SVC = """\
apiVersion: v1
kind: Service
metadata: {{name: {name}, namespace: default}}
spec:
  ports: [{{name: http, port: {port}}}]
"""

NS_A = ConfigKey("", "Namespace", "", "a")


def svc_key(name: str) -> ConfigKey:
    return ConfigKey("", "Service", "default", name)


def ns(name: str) -> str:
    return f"apiVersion: v1\nkind: Namespace\nmetadata: {{name: {name}}}\n"


def test_loads_every_yaml_file_recursively_and_skips_hidden(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "a.yaml").write_text(SVC.format(name="one", port=80))
    (tmp_path / "sub" / "b.yml").write_text(SVC.format(name="two", port=81) + "---\n" + ns("a"))
    (tmp_path / ".hidden.yaml").write_text(SVC.format(name="three", port=82))
    (tmp_path / "notes.txt").write_text("not config")
    store = DirectoryStore(tmp_path)
    events = store.load()
    assert sorted(e.key for e in events) == sorted([svc_key("one"), svc_key("two"), NS_A])
    assert all(e.type is EventType.ADD for e in events)
    assert store.errors == {}


@pytest.mark.parametrize(
    ("broken", "message"),
    [
        ("a: [\n", "invalid YAML at line 2"),
        (SVC.format(name="one", port=80) + "  bogus: 1\n", "spec.bogus: unknown field"),
        (SVC.format(name="one", port=80).replace("kind: Service", "kind: Servise"), "unknown kind"),
    ],
    ids=["invalid-yaml", "unknown-field", "unknown-kind"],
)
def test_broken_edit_keeps_last_good_object_and_reports(tmp_path: Path, broken: str, message: str) -> None:
    f = tmp_path / "a.yaml"
    f.write_text(SVC.format(name="one", port=80))
    (tmp_path / "b.yaml").write_text(SVC.format(name="two", port=81))
    store = DirectoryStore(tmp_path)
    store.load()
    good = store.get(svc_key("one"))
    assert good is not None
    f.write_text(broken)
    events = store.reload([f])
    assert events == []
    assert store.get(svc_key("one")) == good
    assert store.get(svc_key("two")) is not None
    assert any(message in str(e) for e in store.errors[f]), store.errors[f]
    # fixing the file clears the error and applies the new version
    f.write_text(SVC.format(name="one", port=90))
    events = store.reload([f])
    assert [(e.type, e.key) for e in events] == [(EventType.UPDATE, svc_key("one"))]
    assert f not in store.errors


def test_one_bad_object_does_not_block_the_rest_of_its_file(tmp_path: Path) -> None:
    f = tmp_path / "a.yaml"
    f.write_text(SVC.format(name="one", port=80) + "---\n" + SVC.format(name="two", port=0).replace("port: 0", "port: x"))
    store = DirectoryStore(tmp_path)
    store.load()
    assert store.get(svc_key("one")) is not None
    assert store.get(svc_key("two")) is None
    assert store.errors[f]


def test_delete_file_removes_its_objects(tmp_path: Path) -> None:
    f = tmp_path / "a.yaml"
    f.write_text(SVC.format(name="one", port=80))
    store = DirectoryStore(tmp_path)
    store.load()
    f.unlink()
    events = store.reload([f])
    assert [(e.type, e.key) for e in events] == [(EventType.DELETE, svc_key("one"))]


def test_removing_a_document_from_a_file_deletes_it(tmp_path: Path) -> None:
    f = tmp_path / "a.yaml"
    f.write_text(SVC.format(name="one", port=80) + "---\n" + SVC.format(name="two", port=81))
    store = DirectoryStore(tmp_path)
    store.load()
    f.write_text(SVC.format(name="one", port=80))
    events = store.reload([f])
    assert [(e.type, e.key) for e in events] == [(EventType.DELETE, svc_key("two"))]


def test_large_file_with_many_objects(tmp_path: Path) -> None:
    f = tmp_path / "big.yaml"
    docs = [SVC.format(name=f"svc-{i}", port=8000 + i % 1000) for i in range(5000)]
    f.write_text("---\n".join(docs) + "# " + "x" * (10 * 1024 * 1024) + "\n")
    assert f.stat().st_size > 10 * 1024 * 1024
    store = DirectoryStore(tmp_path)
    store.load()
    assert len(store.snapshot()) == 5000


async def test_watch_picks_up_added_edited_and_deleted_files(tmp_path: Path) -> None:
    store = DirectoryStore(tmp_path)
    store.load()
    seen: list[tuple[EventType, ConfigKey]] = []
    changed = asyncio.Event()

    def handler(events: list) -> None:  # type: ignore[type-arg]
        seen.extend((e.type, e.key) for e in events)
        changed.set()

    store.subscribe(handler)
    stop = asyncio.Event()
    task = asyncio.create_task(store.run(stop))
    try:
        await asyncio.sleep(0.3)
        f = tmp_path / "a.yaml"
        for action in ("add", "edit", "delete"):
            changed.clear()
            if action == "add":
                f.write_text(SVC.format(name="one", port=80))
            elif action == "edit":
                f.write_text(SVC.format(name="one", port=81))
            else:
                f.unlink()
            await asyncio.wait_for(changed.wait(), 5)
        assert seen == [
            (EventType.ADD, svc_key("one")),
            (EventType.UPDATE, svc_key("one")),
            (EventType.DELETE, svc_key("one")),
        ]
    finally:
        stop.set()
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(task, 5)


async def test_several_roots_files_and_folders_are_loaded_and_watched(tmp_path: Path) -> None:
    folder = tmp_path / "platform"
    folder.mkdir()
    (folder / "a.yaml").write_text(SVC.format(name="one", port=80))
    single = tmp_path / "extra" / "gw.yaml"
    single.parent.mkdir()
    single.write_text(SVC.format(name="two", port=81))
    (single.parent / "ignored.yaml").write_text(SVC.format(name="three", port=82))
    store = DirectoryStore([folder, single])
    store.load()
    assert sorted(k.name for k in store.snapshot()) == ["one", "two"]
    changed = asyncio.Event()
    store.subscribe(lambda events: changed.set())
    stop = asyncio.Event()
    task = asyncio.create_task(store.run(stop))
    try:
        await asyncio.sleep(0.3)
        (single.parent / "ignored.yaml").write_text(SVC.format(name="three", port=83))
        tmp = single.parent / ".gw.tmp"
        tmp.write_text(SVC.format(name="two", port=91))
        tmp.replace(single)  # replaced by rename, as editors do
        await asyncio.wait_for(changed.wait(), 5)
        svc = store.get(svc_key("two"))
        assert svc is not None and svc.spec["spec"]["ports"][0]["port"] == 91
        assert store.get(svc_key("three")) is None
    finally:
        stop.set()
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(task, 5)


async def test_files_written_right_into_a_new_folder_are_picked_up(tmp_path: Path) -> None:
    """mkdir + write at once. The watch on a new folder can come after the write (seen under
    load in CI, not reproducible here on demand); the store rescans a folder it sees created,
    and this checks the outcome: every file in the new folders is read."""
    store = DirectoryStore(tmp_path)
    store.load()
    stop = asyncio.Event()
    task = asyncio.create_task(store.run(stop))
    try:
        await asyncio.sleep(0.3)
        for i in range(5):
            d = tmp_path / f"kind-{i}" / "ns"
            d.mkdir(parents=True)
            (d / "svc.yaml").write_text(SVC.format(name=f"svc-{i}", port=80))
        deadline = asyncio.get_running_loop().time() + 5
        while len(store.snapshot()) < 5 and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.05)
        assert sorted(k.name for k in store.snapshot()) == [f"svc-{i}" for i in range(5)]
    finally:
        stop.set()
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(task, 5)
